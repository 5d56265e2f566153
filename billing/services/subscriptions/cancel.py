"""Canceling a subscription (now or at the period end), undoing a pending cancellation, ending it, and dropping a
change that was waiting for the period end."""

import datetime as dt
from collections.abc import Sequence

from django.utils.translation import gettext_lazy as _

from billing import audit, clock, pricing
from billing.audit import Actor
from billing.exceptions import InvalidRequest, StateConflict
from billing.models import Subscription
from billing.services.common import emit, render
from billing.services.door import service
from billing.services.subscriptions.change import ChangeOptions, collect_now, invoice_now
from billing.services.subscriptions.lines import item_amount, pending_lines, proration_line, save_pending, tax_rate_for
from billing.services.subscriptions.pending import discard_locked
from billing.services.subscriptions.retention import OfferDecision, retention_locked
from billing.services.subscriptions.state import take
from billing.services.subscriptions.usage import usage_lines

MAX_COMMENT = 5000


def check_cancellation_details(feedback: str, comment: str) -> None:
    if feedback and feedback not in Subscription.CancellationFeedback.values:
        raise InvalidRequest(
            f"Invalid cancellation_details[feedback]: {feedback}", param="cancellation_details[feedback]"
        )
    if len(comment or "") > MAX_COMMENT:
        raise InvalidRequest(
            f"cancellation_details[comment] must be at most {MAX_COMMENT} characters.",
            param="cancellation_details[comment]",
        )


@service
def subscription_cancel(
    *,
    subscription: Subscription,
    actor: Actor,
    at_period_end: bool,
    feedback: str = "",
    comment: str = "",
    prorate: bool = False,
    invoice_now: bool = False,
    expected_version: str | None = None,
    declined_offers: Sequence[OfferDecision] | None = None,
) -> Subscription:
    """Cancel now (``customer.subscription.deleted``) or at the period end (an update, undoable). ``prorate``
    credits the unused time; ``invoice_now`` invoices pending items (that credit) at once. ``declined_offers``
    (the portal's cancellation offer ladder, possibly empty): the offers declined by cancelling, recorded with the
    cancellation and its reason in ``retention``."""
    check_cancellation_details(feedback, comment)
    subscription = take(
        subscription, expected_version=expected_version, ended=_("This subscription is already canceled.")
    )
    if declined_offers is not None:
        retention_locked(subscription, declined_offers, reason=feedback, canceled=True)
    cancel_locked(
        subscription,
        actor,
        at_period_end=at_period_end,
        feedback=feedback,
        comment=comment,
        prorate=prorate,
        invoice_pending=invoice_now,
    )
    return subscription


def cancel_locked(
    subscription: Subscription,
    actor: Actor,
    *,
    at_period_end: bool,
    feedback: str = "",
    comment: str = "",
    prorate: bool = False,
    invoice_pending: bool = False,
) -> None:
    before = render(subscription)
    now = clock.now()
    subscription.canceled_at = now
    subscription.cancellation_feedback = feedback or ""
    subscription.cancellation_comment = comment or ""
    subscription.cancellation_reason = Subscription.CancellationReason.CANCELLATION_REQUESTED
    if at_period_end:
        subscription.cancel_at_period_end = True
        subscription.save()
        emit("customer.subscription.updated", subscription, before=before)
    else:
        if prorate and subscription.status != Subscription.Status.TRIALING:
            _credit_unused_time(subscription, now)
        end_locked(subscription, at=now, before=before)
        if invoice_pending:
            _invoice_final(subscription, now)
    audit.record(
        actor,
        "subscription.cancel",
        subscription,
        {"at_period_end": at_period_end, "feedback": feedback, "comment": comment, "prorate": prorate},
    )


def _invoice_final(subscription: Subscription, now: dt.datetime) -> None:
    """Stripe's ``invoice_now``: a final invoice for the un-invoiced usage and the pending prorations."""
    usage = usage_lines(subscription, subscription.current_period_start, min(now, subscription.current_period_end))
    if pending_lines(subscription) or any(line.quantity for line in usage):
        collect_now(subscription, invoice_now(subscription, usage), ChangeOptions())


def _credit_unused_time(subscription: Subscription, at: dt.datetime) -> None:
    defaults = list(subscription.default_tax_rates.all())
    start, end = subscription.current_period_start, subscription.current_period_end
    for item in subscription.items.select_related("price__product").prefetch_related("tax_rates"):
        credit = pricing.prorate(item_amount(item.price, item.quantity), start, end, at)
        if credit:
            rate = tax_rate_for(item.tax_rates.all(), defaults)
            save_pending(
                subscription, proration_line("Unused time on", item.price, item.quantity, -credit, at, end, rate)
            )


def end_locked(subscription: Subscription, *, at: dt.datetime, before: dict | None = None) -> None:
    before = before or render(subscription)
    discard_locked(subscription)  # a change waiting for its payment never applies to an ended subscription
    subscription.status = Subscription.Status.CANCELED
    subscription.ended_at = at
    subscription.canceled_at = subscription.canceled_at or at
    subscription.cancel_at_period_end = False
    subscription.cancel_at = None
    subscription.pause_collection_behavior = ""
    subscription.pause_collection_resumes_at = None
    subscription.scheduled_change = None
    if not subscription.cancellation_reason:
        subscription.cancellation_reason = Subscription.CancellationReason.CANCELLATION_REQUESTED
    subscription.save()
    emit("customer.subscription.deleted", subscription, before=before)


@service
def subscription_reactivate(
    *, subscription: Subscription, actor: Actor, expected_version: str | None = None
) -> Subscription:
    """Undo a pending cancellation ("Don't cancel")."""
    subscription = take(
        subscription,
        expected_version=expected_version,
        ended=_("A canceled subscription cannot be renewed; create a new one."),
    )
    reactivate_locked(subscription, actor)
    return subscription


def reactivate_locked(subscription: Subscription, actor: Actor) -> None:
    if not subscription.cancellation_pending:
        raise StateConflict(_("This subscription is not scheduled to cancel."), param="cancel_at_period_end")
    before = render(subscription)
    subscription.cancel_at_period_end = False
    subscription.cancel_at = None
    subscription.canceled_at = None
    subscription.cancellation_comment = ""
    subscription.cancellation_feedback = ""
    subscription.cancellation_reason = ""
    subscription.save()
    emit("customer.subscription.updated", subscription, before=before)
    audit.record(actor, "subscription.reactivate", subscription)


@service
def subscription_cancel_scheduled_change(
    *, subscription: Subscription, actor: Actor, expected_version: str | None = None
) -> Subscription:
    """Keep the current items: drop the change that was waiting for the period end (nothing to do without one)."""
    subscription = take(subscription, expected_version=expected_version, ended=None)
    if not subscription.scheduled_change:
        return subscription
    dropped = subscription.scheduled_change
    subscription.scheduled_change = None
    subscription.save(update_fields=["scheduled_change"])
    audit.record(actor, "subscription.cancel_scheduled_change", subscription, {"scheduled_change": dropped})
    return subscription
