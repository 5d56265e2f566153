"""Taking a subscription for a change: its row lock, the optimistic version check and the rule that an ended
subscription changes no more."""

from django.utils.translation import gettext_lazy as _

from billing.exceptions import StateConflict
from billing.models import Subscription
from billing.services.common import lock


def subscription_version(subscription: Subscription) -> str:
    """What a page or a preview shows the subscription at. Every save bumps it (items, discounts and pending
    changes are saved with their subscription), so an action carrying it (``expected_version``) applies only to
    the subscription the customer saw: a form sent twice, or after anything else changed it, changes nothing."""
    return str(subscription.version)


def take(
    subscription_or_pk,
    *,
    expected_version: str | int | None = None,
    ended: str | None = _("A canceled subscription can no longer be updated."),
) -> Subscription:
    """The subscription, locked; ``StateConflict`` (code ``subscription_changed``) when it is no longer the version
    the caller saw, and (unless ``ended`` is None) when it has ended."""
    pk = getattr(subscription_or_pk, "pk", subscription_or_pk)
    subscription = lock(Subscription, pk)
    if expected_version is not None and subscription_version(subscription) != str(expected_version):
        raise StateConflict(
            _("This subscription has changed since the page was shown; look at it again before changing it."),
            param="subscription",
            code="subscription_changed",
        )
    if ended is not None and subscription.is_ended:
        raise StateConflict(ended, param="subscription")
    return subscription
