"""Cursor pagination by id (ids sort by creation), newest first, as Stripe lists do."""

from collections.abc import Callable
from typing import Protocol

from django.db.models import QuerySet

from api import errors


class Rows(Protocol):
    """What a list reads, with its filters: whether an id is among them, and a stretch of them by id."""

    def has(self, pk: str) -> bool: ...

    def newest(self, count: int, *, below: str | None = None) -> list:
        """Up to ``count`` rows, newest first (only those with an id under ``below``)."""

    def oldest(self, count: int, *, above: str) -> list:
        """Up to ``count`` rows with an id over ``above``, oldest first."""


class QuerysetRows:
    def __init__(self, queryset: QuerySet):
        self.queryset = queryset

    def has(self, pk: str) -> bool:
        return self.queryset.filter(pk=pk).exists()

    def newest(self, count: int, *, below: str | None = None) -> list:
        queryset = self.queryset if below is None else self.queryset.filter(pk__lt=below)
        return list(queryset.order_by("-pk")[:count])

    def oldest(self, count: int, *, above: str) -> list:
        return list(self.queryset.filter(pk__gt=above).order_by("pk")[:count])


def page(
    rows: QuerySet | Rows,
    params: dict,
    *,
    url: str,
    render,
    label: str,
    prepare: Callable[[list], None] | None = None,
) -> dict:
    """``rows``: a queryset, or the ``Rows`` of a list that reads them its own way. ``prepare`` gets the page's rows
    before they are rendered (to load what rendering them reads, at once)."""
    if isinstance(rows, QuerySet):
        rows = QuerysetRows(rows)
    limit = params.get("limit") or 10
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        raise errors.invalid(
            "ending_before", "You may only specify one of these parameters: starting_after, ending_before."
        )
    for cursor, param in ((after, "starting_after"), (before, "ending_before")):
        if cursor and not rows.has(cursor):
            raise errors.no_such(label, cursor, param=param)
    if before:
        found = rows.oldest(limit + 1, above=before)
        has_more = len(found) > limit
        found = list(reversed(found[:limit]))
    else:
        found = rows.newest(limit + 1, below=after or None)
        has_more = len(found) > limit
        found = found[:limit]
    if prepare is not None:
        prepare(found)
    return {"object": "list", "data": [render(row) for row in found], "has_more": has_more, "url": url}
