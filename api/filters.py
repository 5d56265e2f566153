"""Shared list filters."""

import datetime as dt

from billing.clock import from_unix

LOOKUPS = {"gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte"}


def time_range(queryset, field: str, value):
    """``created=<unix>`` (that second) or ``created[gte]=…&created[lt]=…`` (Stripe's range filter)."""
    if value is None:
        return queryset
    if isinstance(value, int):
        start = from_unix(value)
        return queryset.filter(**{f"{field}__gte": start, f"{field}__lte": start + dt.timedelta(microseconds=999_999)})
    return queryset.filter(**{f"{field}__{LOOKUPS[op]}": from_unix(bound) for op, bound in value.items()})
