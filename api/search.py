"""Stripe's search query language -> Django Q objects.

``status:"active" AND -pause_collection.behavior:null``, ``metadata["plan"]:"gold"``,
``created>1700000000``, ``canceled_at:null``. Clauses are joined by AND or OR (not both),
at most 10, no parentheses; ``-`` negates a clause; ``~`` is a substring match (≥ 3 characters).
"""

import base64
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Q

from api import errors

MAX_CLAUSES = 10

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<joiner>AND|OR)(?=\s|$)
    | (?P<clause>
        (?P<neg>-)?
        (?P<field>metadata\[(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\]|[a-z_]+(?:\.[a-z_]+)*)
        (?P<op>>=|<=|:|~|>|<)
        (?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|-?\d+(?:\.\d+)?|null)
      )
    )""",
    re.VERBOSE | re.IGNORECASE,
)


def _error(message: str) -> errors.ApiError:
    return errors.ApiError(message, param="query", code="parameter_invalid_string")


@dataclass
class Clause:
    negated: bool
    field: str
    op: str
    value: object  # str, int, or None for null


def _unquote(raw: str):
    if raw.lower() == "null":
        return None
    if raw[0] in "\"'":
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    return int(float(raw)) if "." in raw else int(raw)


def parse(query: str) -> tuple[list[Clause], str]:
    query = (query or "").strip()
    if not query:
        raise _error('Search query is empty. Use field:value, e.g. status:"active".')
    position, clauses, joiners = 0, [], set()
    expect_clause = True
    while position < len(query):
        match = _TOKEN.match(query, position)
        if not match or match.end() == position:
            raise _error(f"Query syntax error near '{query[position : position + 30].strip()}'.")
        if match.group("joiner"):
            if expect_clause:
                raise _error(f"Query syntax error: unexpected {match.group('joiner')}.")
            joiners.add(match.group("joiner").upper())
            expect_clause = True
        else:
            if not expect_clause:
                raise _error("Query syntax error: join clauses with AND or OR.")
            field = match.group("field")
            if field.lower().startswith("metadata["):
                field = "metadata." + _unquote(field[9:-1])
            clauses.append(Clause(bool(match.group("neg")), field, match.group("op"), _unquote(match.group("value"))))
            expect_clause = False
        position = match.end()
        while position < len(query) and query[position].isspace():
            position += 1
    if expect_clause:
        raise _error("Query syntax error: the query ends with AND or OR.")
    if len(joiners) > 1:
        raise _error("Query syntax error: you cannot mix AND and OR in one query.")
    if len(clauses) > MAX_CLAUSES:
        raise _error(f"A search query can have at most {MAX_CLAUSES} clauses.")
    return clauses, (joiners.pop() if joiners else "AND")


@dataclass
class SearchField:
    kind: str  # "string", "number", "metadata"
    to_q: Callable[[str, object], Q] | None = None  # custom translation (op, value) -> Q
    lookup: str = ""


TIMESTAMP_LOOKUPS = {":": "exact", ">": "gt", "<": "lt", ">=": "gte", "<=": "lte"}


def timestamp_bound(name: str, op: str, value) -> tuple[str, dt.datetime]:
    """A timestamp clause as a Django lookup and its moment: ``>`` and ``1700000000`` -> ``("gt", …)``.

    For fields whose Q comes from a shared QuerySet definition (``to_q``) rather than a plain lookup."""
    from billing.clock import from_unix

    if not isinstance(value, int) or not 0 <= value <= 253402300799:
        raise _error(f"{name} needs a unix timestamp between 0 and 253402300799.")
    lookup = TIMESTAMP_LOOKUPS.get(op)
    if lookup is None:
        raise _error(f"'{op}' is not supported for {name}.")
    return lookup, from_unix(value)


def _number_q(lookup: str, op: str, value) -> Q:
    if value is None:
        if op != ":":
            raise _error(f"{lookup} supports only ':' with null.")
        return Q(**{f"{lookup}__isnull": True})
    suffix, moment = timestamp_bound(lookup, op, value)
    return Q(**{f"{lookup}__{suffix}": moment})


def to_q(clauses: list[Clause], joiner: str, fields: dict[str, SearchField]) -> Q:
    combined = Q()
    for clause in clauses:
        name = "metadata" if clause.field.startswith("metadata.") else clause.field
        spec = fields.get(name)
        if spec is None:
            raise _error(
                f"Field '{clause.field}' is not supported in search queries. Supported: {', '.join(sorted(fields))}."
            )
        if spec.to_q is not None:
            q = spec.to_q(clause.op, clause.value)
        elif spec.kind == "number":
            q = _number_q(spec.lookup, clause.op, clause.value)
        elif spec.kind == "metadata":
            key = clause.field.split(".", 1)[1]
            if clause.value is None:
                q = ~Q(metadata__has_key=key)
            elif clause.op == "~":
                if len(str(clause.value)) < 3:
                    raise _error("Substring matches (~) need at least 3 characters.")
                q = Q(**{f"metadata__{key}__icontains": str(clause.value)})
            elif clause.op == ":":
                q = Q(**{f"metadata__{key}": str(clause.value)})
            else:
                raise _error(f"'{clause.op}' is not supported for metadata.")
        else:
            if clause.op != ":" or not isinstance(clause.value, str | type(None)):
                raise _error(
                    f'{clause.field} supports only exact matches with a quoted string, e.g. {clause.field}:"value".'
                )
            q = Q(**{f"{spec.lookup}__isnull": True}) if clause.value is None else Q(**{spec.lookup: clause.value})
        q = ~q if clause.negated else q
        combined = (combined | q) if joiner == "OR" and combined else (combined & q)
    return combined


def integer_q(lookup: str) -> Callable[[str, object], Q]:
    """A clause on a plain number (an amount, not a timestamp): ``amount>1000``, ``amount:500``."""

    def to_q(op: str, value) -> Q:
        if not isinstance(value, int):
            raise _error(f"{lookup} needs a whole number, e.g. {lookup}>1000.")
        suffix = TIMESTAMP_LOOKUPS.get(op)
        if suffix is None:
            raise _error(f"'{op}' is not supported for {lookup}.")
        return Q(**{f"{lookup}__{suffix}": value})

    return to_q


def search_page(queryset, params: dict, *, url: str, render) -> dict:
    """One page of a search result, newest first; ``page`` is the opaque cursor of the previous page's end."""
    limit = params.get("limit") or 10
    rows_qs = queryset.order_by("-pk")
    if params.get("page"):
        try:
            cursor = base64.urlsafe_b64decode(params["page"].encode()).decode()
        except (ValueError, UnicodeDecodeError):
            raise errors.invalid("page", "Invalid page cursor: use the next_page value of the previous result.")
        rows_qs = rows_qs.filter(pk__lt=cursor)
    rows = list(rows_qs[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    result = {
        "object": "search_result",
        "data": [render(row) for row in rows],
        "has_more": has_more,
        "next_page": base64.urlsafe_b64encode(rows[-1].pk.encode()).decode() if has_more else None,
        "url": url,
    }
    expand = params.get("expand") or []
    if "total_count" in expand:
        result["total_count"] = min(queryset.count(), 10000)
        params["expand"] = [e for e in expand if e != "total_count"]
    return result
