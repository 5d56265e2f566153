"""/v1/events: the last 30 days of events, in the same envelope the webhooks deliver."""

import datetime as dt
import re

from django.db.models import Count

from api import errors
from api import params as p
from api.filters import time_range
from api.pagination import page
from api.router import operation
from billing import clock
from billing.models import Event
from webhooks import event_types
from webhooks import representations as webhook_representations
from webhooks.models import Delivery

RETENTION = dt.timedelta(days=30)
TAGS = ["Events"]


def render_event(event: Event, *, pending: int | None = None) -> dict:
    """Stripe's event object. The envelope is the webhooks' own (one shape for both); ``context`` is
    Stripe's newer nullable field, null until we have Stripe-Context."""
    data = webhook_representations.event(event, pending=pending)
    data.setdefault("context", None)
    return data


def _recent(ctx):
    return ctx.scope(Event).filter(created__gte=clock.now() - RETENTION)


def _type_filter(queryset, pattern: str):
    """``type`` is an exact name or a group with ``*`` as wildcard (``customer.subscription.*``)."""
    if "*" not in pattern:
        return queryset.filter(type=pattern)
    regex = "^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$"
    return queryset.filter(type__regex=regex)


@operation(
    "GET",
    "/v1/events",
    params={
        **p.LIST,
        "type": p.String(max_length=100, description="An event type, or a group with * as wildcard."),
        "types": p.Array(p.String(max_length=100), max_items=20, description="Up to 20 exact event types."),
        "created": p.Range(),
    },
    response="list[event]",
    summary="List events of the last 30 days",
    tags=TAGS,
)
def list_(ctx, params):
    if "type" in params and "types" in params:
        raise errors.invalid("types", "You may only specify one of these parameters: type, types.")
    # Test events sent from the admin reach one endpoint only; like Stripe's, they are not listed.
    queryset = _recent(ctx).exclude(type=event_types.TEST_EVENT)
    if "type" in params:
        queryset = _type_filter(queryset, params["type"])
    if params.get("types"):
        queryset = queryset.filter(type__in=params["types"])
    queryset = time_range(queryset, "created", params.get("created"))
    listed = page(queryset, params, url="/v1/events", render=lambda event: event, label="event")
    pending = _pending_counts([event.pk for event in listed["data"]])
    listed["data"] = [render_event(event, pending=pending.get(event.pk, 0)) for event in listed["data"]]
    return listed


@operation(
    "GET", "/v1/events/{id}", params={"expand": p.EXPAND}, response="event", summary="Retrieve an event", tags=TAGS
)
def retrieve(ctx, params, id):
    return render_event(ctx.get(Event, id, "event", queryset=_recent(ctx)))


def _pending_counts(event_ids: list[str]) -> dict[str, int]:
    """``pending_webhooks`` for a page of events in one query."""
    if not event_ids:
        return {}
    rows = (
        Delivery.objects.filter(event_id__in=event_ids, status=Delivery.Status.PENDING)
        .values("event_id")
        .annotate(n=Count("id"))
    )
    return {row["event_id"]: row["n"] for row in rows}
