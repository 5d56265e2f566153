"""Shared list filters."""

import datetime as dt

from billing.clock import from_unix

LOOKUPS = {"gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte"}
# The last second a datetime can hold (9999-12-31T23:59:59Z); range bounds beyond it mean "no bound".
MAX_UNIX = 253402300799
LAST_MICROSECOND = dt.timedelta(microseconds=999_999)


def _moment(seconds: int) -> dt.datetime:
    return from_unix(min(seconds, MAX_UNIX))


def time_range(queryset, field: str, value):
    """``created=<unix>`` (that second) or ``created[gte]=…&created[lt]=…`` (Stripe's range filter)."""
    if value is None:
        return queryset
    if isinstance(value, int):
        start = _moment(value)
        return queryset.filter(**{f"{field}__gte": start, f"{field}__lte": start + LAST_MICROSECOND})
    # Stored times carry microseconds, the API's are whole seconds: lte 10 includes 10.5, gt 10 excludes it.
    end_of = {"gt": LAST_MICROSECOND, "lte": LAST_MICROSECOND}
    return queryset.filter(
        **{f"{field}__{LOOKUPS[op]}": _moment(bound) + end_of.get(op, dt.timedelta()) for op, bound in value.items()}
    )
