"""Pausing and resuming payment collection (``pause_collection``): the status stays what it is."""

import datetime as dt

from django.utils.translation import gettext_lazy as _

from billing import audit, clock
from billing.audit import Actor
from billing.exceptions import InvalidRequest
from billing.models import Subscription
from billing.services.common import emit, render
from billing.services.door import service
from billing.services.subscriptions.state import take


def check_pause(behavior: str, resumes_at: dt.datetime | None) -> None:
    if behavior not in Subscription.PauseBehavior.values:
        raise InvalidRequest(
            "Invalid pause_collection[behavior]: must be one of keep_as_draft, mark_uncollectible or void.",
            param="pause_collection[behavior]",
        )
    if resumes_at is not None and resumes_at <= clock.now():
        raise InvalidRequest(
            _("pause_collection[resumes_at] must be in the future."), param="pause_collection[resumes_at]"
        )


@service
def subscription_pause_collection(
    *,
    subscription: Subscription,
    actor: Actor,
    behavior: str,
    resumes_at: dt.datetime | None = None,
    expected_version: str | None = None,
) -> Subscription:
    """Set or change ``pause_collection``; the status stays what it is."""
    check_pause(behavior, resumes_at)
    subscription = take(
        subscription,
        expected_version=expected_version,
        ended=_("Payment collection cannot be paused on a canceled subscription."),
    )
    pause_locked(subscription, actor, behavior, resumes_at)
    return subscription


def pause_locked(subscription: Subscription, actor: Actor, behavior: str, resumes_at: dt.datetime | None) -> None:
    before = render(subscription)
    subscription.pause_collection_behavior = behavior
    subscription.pause_collection_resumes_at = resumes_at
    subscription.save(update_fields=["pause_collection_behavior", "pause_collection_resumes_at"])
    if before["pause_collection"] != subscription.pause_collection:
        emit("customer.subscription.updated", subscription, before=before)
    audit.record(
        actor, "subscription.pause_collection", subscription, {"pause_collection": subscription.pause_collection}
    )


@service
def subscription_resume_collection(
    *, subscription: Subscription, actor: Actor, expected_version: str | None = None
) -> Subscription:
    """Clear ``pause_collection`` (nothing to do when collection is not paused)."""
    subscription = take(subscription, expected_version=expected_version, ended=None)
    resume_locked(subscription, actor)
    return subscription


def resume_locked(subscription: Subscription, actor: Actor) -> None:
    if not subscription.collection_paused:
        return
    before = render(subscription)
    subscription.pause_collection_behavior = ""
    subscription.pause_collection_resumes_at = None
    subscription.save(update_fields=["pause_collection_behavior", "pause_collection_resumes_at"])
    emit("customer.subscription.updated", subscription, before=before)
    audit.record(actor, "subscription.resume_collection", subscription, {"pause_collection": None})
