"""Tenant-scoped reads of endpoints, events and deliveries (for the API and the admin).

Every function takes the account and mode; someone else's row and a missing row both raise NotFound.
"""

from django.db.models import Q, QuerySet

from billing.exceptions import NotFound
from billing.models import Account, Event
from webhooks import event_types
from webhooks.models import Delivery, WebhookEndpoint


def _get(queryset: QuerySet, pk, label: str):
    try:
        return queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"No such {label}: '{pk}'", param="id")


def webhook_endpoint_list(*, account: Account, livemode: bool) -> QuerySet[WebhookEndpoint]:
    """Newest first (ids order by creation)."""
    return WebhookEndpoint.objects.filter(account=account, livemode=livemode).order_by("-id")


def webhook_endpoint_get(*, account: Account, livemode: bool, endpoint_id: str) -> WebhookEndpoint:
    return _get(webhook_endpoint_list(account=account, livemode=livemode), endpoint_id, "webhook endpoint")


def event_list(*, account: Account, livemode: bool, types: list[str] | None = None) -> QuerySet[Event]:
    """Events newest first, without our synthetic test events (Stripe lists none either).

    ``types`` filters by exact type or by a ``prefix.*`` pattern as in Stripe's ``types[]``."""
    events = Event.objects.filter(account=account, livemode=livemode).exclude(type=event_types.TEST_EVENT)
    if types:
        exact = [t for t in types if not t.endswith(".*")]
        prefixes = [t[:-1] for t in types if t.endswith(".*")]
        condition = None
        for prefix in prefixes:
            condition = (condition | Q(type__startswith=prefix)) if condition else Q(type__startswith=prefix)
        if exact:
            condition = (condition | Q(type__in=exact)) if condition else Q(type__in=exact)
        events = events.filter(condition)
    return events.order_by("-id")


def event_get(*, account: Account, livemode: bool, event_id: str) -> Event:
    return _get(Event.objects.filter(account=account, livemode=livemode), event_id, "event")


def delivery_list(*, account: Account, livemode: bool) -> QuerySet[Delivery]:
    return (
        Delivery.objects.filter(account=account, livemode=livemode).select_related("event", "endpoint").order_by("-id")
    )


def delivery_get(*, account: Account, livemode: bool, delivery_id: int) -> Delivery:
    return _get(delivery_list(account=account, livemode=livemode), delivery_id, "webhook delivery")
