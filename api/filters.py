"""Shared list filters."""

import datetime as dt

from billing.clock import from_unix

# The last second a datetime can hold (9999-12-31T23:59:59Z); range bounds beyond it mean "no bound".
MAX_UNIX = 253402300799
LAST_MICROSECOND = dt.timedelta(microseconds=999_999)


def _moment(seconds: int) -> dt.datetime:
    return from_unix(min(seconds, MAX_UNIX))


OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
LOOKUPS = {operator: lookup for lookup, operator in OPERATORS.items()}


def time_bounds(field: str, value) -> list[tuple[str, str, dt.datetime]]:
    """``created=<unix>`` (that second) or ``created[gte]=…&created[lt]=…`` (Stripe's range filter), as
    ``(field, operator, moment)`` triples (``billing.statements.rows_where``'s ``bounds``)."""
    if value is None:
        return []
    if isinstance(value, int):
        start = _moment(value)
        return [(field, ">=", start), (field, "<=", start + LAST_MICROSECOND)]
    # Stored times carry microseconds, the API's are whole seconds: lte 10 includes 10.5, gt 10 excludes it.
    end_of = {"gt": LAST_MICROSECOND, "lte": LAST_MICROSECOND}
    return [(field, OPERATORS[op], _moment(bound) + end_of.get(op, dt.timedelta())) for op, bound in value.items()]


def time_range(queryset, field: str, value):
    """The rows of ``queryset`` within ``time_bounds(field, value)``."""
    return queryset.filter(
        **{f"{name}__{LOOKUPS[operator]}": moment for name, operator, moment in time_bounds(field, value)}
    )
