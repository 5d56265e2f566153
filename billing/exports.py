"""CSV exports for the back office: subscriptions as rows that spreadsheets open cleanly, streamed in chunks.

Two writers produce the same bytes: on PostgreSQL the database formats the cells and writes the CSV itself
(``COPY (SELECT …) TO STDOUT``), elsewhere Python's csv module writes the cells of ``subscription_rows``."""

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from itertools import islice

from django.core.exceptions import EmptyResultSet
from django.db import connections, transaction
from django.db.models import F, Func, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, TextField
from django.db.models.functions import Coalesce

from billing import money
from billing.models import Price, SubscriptionItem

HEADER = (
    "subscription_id",
    "customer_id",
    "customer_email",
    "customer_name",
    "status",
    "pause_collection_behavior",
    "pause_collection_resumes_at",
    "current_period_end",
    "price_ids",
    "amount",
    "currency",
    "created",
    # The cancellation offer ladder: the reason chosen in the survey and the offer types accepted / declined
    # (space-separated, in the order the customer answered them).
    "cancellation_feedback",
    "retention_offers_accepted",
    "retention_offers_declined",
)
DELIMITERS = {"comma": ",", "semicolon": ";"}
# Where cells are separated by ";", spreadsheets read "," as the decimal mark: amounts are written "149,00".
DECIMAL_COMMA_DELIMITER = ";"
# Spreadsheets read a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = frozenset(("=", "+", "-", "@", "\t", "\r"))
CHUNK_SIZE = 2_000
BUFFER_SIZE = 64 * 1024
BOM = "\ufeff"

_COLUMNS = (
    "id",
    "customer_id",
    "customer__email",
    "customer__name",
    "status",
    "pause_collection_behavior",
    "pause_collection_resumes_at",
    "current_period_end",
    "export_amount",
    "currency",
    "created",
    "cancellation_feedback",
    "retention",
)


def delimiter_named(name: str) -> str:
    """``"comma"`` -> ``","``, ``"semicolon"`` -> ``";"``; raises ``ValueError`` for anything else."""
    try:
        return DELIMITERS[name]
    except KeyError:
        raise ValueError(f"Unknown delimiter {name!r}: use one of {', '.join(DELIMITERS)}.") from None


def default_delimiter(language: str | None) -> str:
    """German, French, Spanish, Italian and Dutch spreadsheets read ``,`` as the decimal separator and expect ``;``
    between cells."""
    return ";" if (language or "").lower()[:2] in {"de", "fr", "es", "it", "nl"} else ","


def escape_cell(value: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula by prefixing ``'``."""
    return f"'{value}" if value[:1] in FORMULA_TRIGGERS else value


def iso_utc(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def major_units(amount: int | None, currency: str) -> str:
    """``1500, "eur"`` -> ``"15.00"``; ``500, "jpy"`` -> ``"500"``; ``1500, "kwd"`` -> ``"1.500"``."""
    return format(money.to_major(amount or 0, currency), "f")


def _amount_per_period() -> Coalesce:
    """The subscription's licensed items at list price for one period (before discounts and tax)."""
    items = (
        SubscriptionItem.objects.filter(subscription=OuterRef("pk"))
        .order_by()
        .values("subscription")
        .annotate(
            total=Sum(
                F("quantity") * F("price__unit_amount"),
                filter=Q(price__recurring_usage_type=Price.UsageType.LICENSED),
            )
        )
        .values("total")
    )
    return Coalesce(Subquery(items, output_field=IntegerField()), 0)


def _price_ids_subquery() -> Subquery:
    from django.contrib.postgres.aggregates import StringAgg

    items = (
        SubscriptionItem.objects.filter(subscription=OuterRef("pk"))
        .order_by()
        .values("subscription")
        .annotate(ids=StringAgg("price_id", delimiter=" ", order_by="id"))
        .values("ids")
    )
    return Subquery(items)


def _chunks(iterable: Iterable, size: int) -> Iterator[list]:
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _price_ids_for(subscription_ids: list[str], using: str) -> dict[str, str]:
    ids: dict[str, list[str]] = {}
    items = (
        SubscriptionItem.objects.using(using)
        .filter(subscription_id__in=subscription_ids)
        .order_by("subscription_id", "id")
        .values_list("subscription_id", "price_id")
    )
    for subscription_id, price_id in items:
        ids.setdefault(subscription_id, []).append(price_id)
    return {key: " ".join(value) for key, value in ids.items()}


def subscription_rows(queryset: QuerySet, *, chunk_size: int = CHUNK_SIZE) -> Iterator[tuple[str, ...]]:
    """The export's cells (``HEADER`` order) for every row of ``queryset``, in its order.

    One streamed query on PostgreSQL (price ids aggregated in a subquery); elsewhere one more query
    per chunk for the price ids. Memory stays constant in the number of rows."""
    queryset = queryset.annotate(export_amount=_amount_per_period())
    vendor = connections[queryset.db].vendor
    if vendor == "postgresql":
        rows = queryset.annotate(export_price_ids=_price_ids_subquery()).values_list(*_COLUMNS, "export_price_ids")
        for row in rows.iterator(chunk_size=chunk_size):
            yield _cells(row[:-1], row[-1] or "")
        return
    for chunk in _chunks(queryset.values_list(*_COLUMNS).iterator(chunk_size=chunk_size), chunk_size):
        price_ids = _price_ids_for([row[0] for row in chunk], queryset.db)
        for row in chunk:
            yield _cells(row, price_ids.get(row[0], ""))


def _cells(row: tuple, price_ids: str) -> tuple[str, ...]:
    (sub_id, customer_id, email, name, status, behavior, resumes_at, period_end, amount, currency, created) = row[:11]
    feedback, retention = row[11], row[12] or {}
    offers = retention.get("offers") or []
    return (
        sub_id,
        customer_id,
        email or "",
        name or "",
        status,
        behavior,
        iso_utc(resumes_at),
        iso_utc(period_end),
        price_ids,
        major_units(amount, currency),
        currency,
        iso_utc(created),
        feedback or "",
        " ".join(offer["type"] for offer in offers if offer.get("outcome") == "accepted"),
        " ".join(offer["type"] for offer in offers if offer.get("outcome") == "declined"),
    )


def csv_chunks(rows: Iterable[tuple[str, ...]], *, delimiter: str = ",") -> Iterator[str]:
    """The CSV text in pieces of about ``BUFFER_SIZE`` characters: a UTF-8 byte order mark (so Excel
    reads UTF-8), the header, then ``rows`` with every cell escaped against formula injection. With the ``;``
    delimiter the amount has a decimal comma ("149,00"), as the spreadsheets that expect ``;`` read it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    buffer.write(BOM)
    writer.writerow(HEADER)
    if delimiter == DECIMAL_COMMA_DELIMITER:
        rows = _with_decimal_comma(rows, HEADER.index("amount"))
    for row in rows:
        # escape_cell, inlined: this loop runs once per cell of the export.
        writer.writerow([f"'{cell}" if cell[:1] in FORMULA_TRIGGERS else cell for cell in row])
        if buffer.tell() >= BUFFER_SIZE:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _with_decimal_comma(rows: Iterable[tuple[str, ...]], column: int) -> Iterator[tuple[str, ...]]:
    for row in rows:
        yield (*row[:column], row[column].replace(".", ","), *row[column + 1 :])


def write_csv(rows: Iterable[tuple[str, ...]], out, *, delimiter: str = ",") -> int:
    """Write the CSV of ``rows`` to the text stream ``out``; returns the number of rows."""
    counted = 0

    def counting():
        nonlocal counted
        for row in rows:
            counted += 1
            yield row

    for chunk in csv_chunks(counting(), delimiter=delimiter):
        out.write(chunk)
    return counted


def subscription_csv(queryset: QuerySet, *, delimiter: str = ",") -> Iterator[bytes]:
    """The export of ``queryset`` (its rows in its order) as UTF-8 CSV in pieces: the bytes of ``csv_chunks`` of
    ``subscription_rows``. On PostgreSQL the database formats and writes the rows (one ``COPY``), which is
    several times faster than Python's csv module; memory stays constant in the number of rows either way."""
    if delimiter not in DELIMITERS.values():
        raise ValueError(f"Unknown delimiter {delimiter!r}.")
    if connections[queryset.db].vendor == "postgresql" and not queryset.query.distinct:
        # (A DISTINCT query selects its ordering's columns too; the csv module writes those exports.)
        return _copy_chunks(queryset, delimiter)
    return (chunk.encode() for chunk in csv_chunks(subscription_rows(queryset), delimiter=delimiter))


# ---------------------------------------------------------------------------------------------- PostgreSQL
# The SELECT formats every cell as ``_cells``, ``csv_chunks`` and ``escape_cell`` do, and COPY's CSV quotes as
# csv.writer does (a cell holding the delimiter, a double quote, "\r" or "\n" is quoted, its quotes doubled).
# Two differences are taken care of:
# - COPY writes NULL as an empty cell but "" as a quoted one (""): a cell that can be "" is NULL instead.
# - COPY ends a row with "\n", csv.writer with "\r\n" and keeps a "\n" inside a quoted cell as it is. The
#   SELECT writes a cell's "\n" as "\r\n"; the stream then turns every "\n" into "\r\n" and "\r\r\n" back into
#   "\n". The end of a row never follows a "\r": a last cell holding "\r" is quoted.
# Ids are generated tokens (``billing.ids``), statuses and currencies come from fixed lists, dates start with
# a digit and amounts are never negative: those cells need neither escaping nor NULLIF.

_SQL_FORMULA_TRIGGERS = ", ".join(
    f"'{char}'" if char.isprintable() else f"E'\\x{ord(char):02x}'" for char in sorted(FORMULA_TRIGGERS)
)
_ISO_UTC = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


def _sql_text_cell(value: str) -> str:
    """SQL for the CSV cell of the text ``value`` (SQL without parameters): escaped against formulas as
    ``escape_cell`` does, "\\n" written "\\r\\n", "" as NULL."""
    escaped = f"CASE WHEN left({value}, 1) IN ({_SQL_FORMULA_TRIGGERS}) THEN '''' || {value} ELSE {value} END"
    return f"NULLIF(replace({escaped}, E'\\n', E'\\r\\n'), '')"


class _TextCell(Func):
    """A free-text column (customer email, name) as its CSV cell."""

    output_field = TextField()

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        if params:
            raise ValueError("A text cell is a column, without parameters.")
        return _sql_text_cell(sql), []


class _ChoiceCell(Func):
    """A choice column that may be blank as its CSV cell (blank as NULL)."""

    template = "NULLIF(%(expressions)s, '')"
    output_field = TextField()


class _IsoUtcCell(Func):
    """A moment as ``iso_utc`` writes it."""

    template = _ISO_UTC.format("%(expressions)s")
    output_field = TextField()


class _MajorUnitsCell(Func):
    """``major_units(amount, currency)``, with a decimal comma if ``decimal_comma``."""

    output_field = TextField()

    def __init__(self, amount, currency, *, decimal_comma: bool):
        super().__init__(amount, currency)
        self.decimal_comma = decimal_comma

    def as_sql(self, compiler, connection, **extra_context):
        amount, amount_params = compiler.compile(self.source_expressions[0])
        currency, currency_params = compiler.compile(self.source_expressions[1])

        def listed(currencies: frozenset[str]) -> str:
            if not all(code.isalpha() for code in currencies):
                raise ValueError("Currency codes are letters.")
            return ", ".join(f"'{code}'" for code in sorted(currencies))

        # The factor's scale is the exponent: 1999 * 0.01 = 19.99, 0 * 0.01 = 0.00, 500 * 1 = 500.
        factor = (
            f"CASE WHEN lower({currency}) IN ({listed(money.ZERO_DECIMAL)}) THEN 1 "
            f"WHEN lower({currency}) IN ({listed(money.THREE_DECIMAL)}) THEN 0.001 ELSE 0.01 END"
        )
        sql = f"(({amount})::numeric * {factor})::text"
        if self.decimal_comma:
            sql = f"replace({sql}, '.', ',')"
        return sql, [*amount_params, *currency_params, *currency_params]


class _OffersCell(Func):
    """The types of the retention offers answered ``outcome``, space-separated in the order answered (as
    ``_cells``), from the ``retention`` JSON column."""

    output_field = TextField()
    OUTCOMES = ("accepted", "declined")

    def __init__(self, retention, *, outcome: str):
        if outcome not in self.OUTCOMES:
            raise ValueError(f"Unknown outcome {outcome!r}.")
        super().__init__(retention)
        self.outcome = outcome

    def as_sql(self, compiler, connection, **extra_context):
        retention, params = compiler.compile(self.source_expressions[0])
        if params:
            raise ValueError("The retention cell reads a column, without parameters.")
        offers = f"({retention} -> 'offers')"
        # Only compiled column SQL and constants go into the text; the outcome is a parameter.
        types = (
            "SELECT string_agg(offer.value ->> 'type', ' ' ORDER BY offer.position) AS types "  # noqa: S608
            f"FROM jsonb_array_elements({offers}) WITH ORDINALITY AS offer(value, position) "
            "WHERE offer.value ->> 'outcome' = %s"
        )
        sql = (
            f"CASE WHEN jsonb_typeof({offers}) = 'array' "  # noqa: S608
            f"THEN (SELECT {_sql_text_cell('answered.types')} FROM ({types}) AS answered) END"
        )
        return sql, [self.outcome]


def _copy_cells(*, decimal_comma: bool) -> dict:
    """The export's cells as SQL expressions, in ``HEADER`` order."""
    cells = {
        "subscription_id": F("pk"),
        "customer_id": F("customer_id"),
        "customer_email": _TextCell("customer__email"),
        "customer_name": _TextCell("customer__name"),
        "status": F("status"),
        "pause_collection_behavior": _ChoiceCell("pause_collection_behavior"),
        "pause_collection_resumes_at": _IsoUtcCell("pause_collection_resumes_at"),
        "current_period_end": _IsoUtcCell("current_period_end"),
        "price_ids": _price_ids_subquery(),
        "amount": _MajorUnitsCell(_amount_per_period(), "currency", decimal_comma=decimal_comma),
        "currency": F("currency"),
        "created": _IsoUtcCell("created"),
        "cancellation_feedback": _ChoiceCell("cancellation_feedback"),
        "retention_offers_accepted": _OffersCell("retention", outcome="accepted"),
        "retention_offers_declined": _OffersCell("retention", outcome="declined"),
    }
    assert tuple(cells) == HEADER
    return {f"csv_{name}": expression for name, expression in cells.items()}


def _copy_chunks(queryset: QuerySet, delimiter: str) -> Iterator[bytes]:
    connection = connections[queryset.db]
    cells = _copy_cells(decimal_comma=delimiter == DECIMAL_COMMA_DELIMITER)
    rows = queryset.annotate(**cells).values_list(*cells)
    # The header ends as COPY's rows do; _crlf turns the "\n" into "\r\n".
    buffer = bytearray((BOM + delimiter.join(HEADER) + "\n").encode())
    try:
        select, params = rows.query.get_compiler(using=queryset.db).as_sql()
    except EmptyResultSet:  # a filter that can match nothing (``pk__in=[]``)
        yield _crlf(buffer)
        return
    statement = f"COPY ({select}) TO STDOUT WITH (FORMAT csv, DELIMITER '{delimiter}')"
    with transaction.atomic(using=queryset.db), connection.cursor() as cursor:
        # The per-row subqueries put the plan's cost far past jit_above_cost, and compiling the expressions (in
        # every parallel worker) takes more time than it saves on a scan like this one: without JIT the export
        # of 100 000 subscriptions takes about 30 % less of the database's CPU. SET LOCAL: this COPY only.
        cursor.execute("SET LOCAL jit = off")
        with connection.wrap_database_errors, cursor.cursor.copy(statement, params) as copy:
            for block in copy:  # one row each
                buffer += block
                if len(buffer) >= BUFFER_SIZE:
                    end = buffer.rfind(b"\n") + 1
                    yield _crlf(buffer[:end])
                    del buffer[:end]
    yield _crlf(buffer)


def _crlf(data: bytes | bytearray) -> bytes:
    """COPY's rows, ended "\\n", as csv.writer ends them ("\\r\\n"); a cell's "\\n", written "\\r\\n" by the
    SELECT, back as "\\n"."""
    return bytes(data).replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\n")
