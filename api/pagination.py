"""Cursor pagination by id (ids sort by creation), newest first, as Stripe lists do."""

from collections.abc import Callable

from api import errors


def page(
    queryset, params: dict, *, url: str, render, label: str, prepare: Callable[[list], None] | None = None
) -> dict:
    """``prepare`` gets the page's rows before they are rendered (to load what rendering them reads, at once)."""
    limit = params.get("limit") or 10
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        raise errors.invalid(
            "ending_before", "You may only specify one of these parameters: starting_after, ending_before."
        )
    for cursor, param in ((after, "starting_after"), (before, "ending_before")):
        if cursor and not queryset.filter(pk=cursor).exists():
            raise errors.no_such(label, cursor, param=param)
    if before:
        rows = list(queryset.filter(pk__gt=before).order_by("pk")[: limit + 1])
        has_more = len(rows) > limit
        rows = list(reversed(rows[:limit]))
    else:
        if after:
            queryset = queryset.filter(pk__lt=after)
        rows = list(queryset.order_by("-pk")[: limit + 1])
        has_more = len(rows) > limit
        rows = rows[:limit]
    if prepare is not None:
        prepare(rows)
    return {"object": "list", "data": [render(row) for row in rows], "has_more": has_more, "url": url}
