"""Updating a subscription: its plain fields, and the API's update, which may change fields, the pause, the
cancellation and the items at once, as one action in one transaction."""

import datetime as dt

from billing import audit, clock, pricing
from billing.audit import Actor
from billing.exceptions import InvalidRequest, StateConflict
from billing.models import Subscription
from billing.services.common import emit, merge_metadata, render, same_tenant
from billing.services.door import service
from billing.services.subscriptions.cancel import cancel_locked, check_cancellation_details, reactivate_locked
from billing.services.subscriptions.change import ChangeOptions, change_items_locked, collect_now, invoice_now
from billing.services.subscriptions.lines import ItemChange, item_amount, proration_line, save_pending, tax_rate_for
from billing.services.subscriptions.pause import check_pause, pause_locked, resume_locked
from billing.services.subscriptions.state import take

UNCHANGED = object()
ENDED = "A canceled subscription can no longer be updated."


@service
def subscription_update_fields(
    *,
    subscription: Subscription,
    actor: Actor,
    default_payment_method=UNCHANGED,
    metadata=UNCHANGED,
    default_tax_rates=UNCHANGED,
    cancel_at=UNCHANGED,
    cancellation_details=UNCHANGED,
    proration_behavior: str = "create_prorations",
    expected_version: str | None = None,
) -> Subscription:
    """Plain field changes: default payment method, metadata (merged), default tax rates,
    ``cancel_at`` (a moment or None; moving it inside the current period prorates as ``proration_behavior`` says)
    and cancellation details."""
    subscription = take(subscription, expected_version=expected_version)
    fields_locked(
        subscription,
        actor,
        default_payment_method=default_payment_method,
        metadata=metadata,
        default_tax_rates=default_tax_rates,
        cancel_at=cancel_at,
        cancellation_details=cancellation_details,
        proration_behavior=proration_behavior,
    )
    return subscription


def _set_default_payment_method(subscription: Subscription, payment_method) -> None:
    if payment_method is not None:
        same_tenant(subscription, payment_method)
        if payment_method.customer_id != subscription.customer_id:
            raise InvalidRequest(
                f"The customer does not have a payment method with the ID {payment_method.id}.",
                param="default_payment_method",
            )
    subscription.default_payment_method = payment_method


def _effective_end(subscription: Subscription, cancel_at: dt.datetime | None) -> dt.datetime:
    """Where the current period's service ends: at ``cancel_at`` when it falls inside the period, else its end."""
    start, end = subscription.current_period_start, subscription.current_period_end
    return cancel_at if cancel_at is not None and start < cancel_at < end else end


def cancel_at_prorations(subscription: Subscription, old_end: dt.datetime, new_end: dt.datetime) -> list:
    """What moving the end of service from ``old_end`` to ``new_end`` credits (earlier) or charges (later) for the
    current period, by the second (docs.stripe.com/api/subscriptions/update#update_subscription-cancel_at: "If set
    to a date before the current period ends, this will cause a proration if prorations have been enabled"). Each
    line is the difference of two rounded prorations, so the credits of several moves add up to the credit of one."""
    start, end = subscription.current_period_start, subscription.current_period_end
    defaults = list(subscription.default_tax_rates.all())
    lines = []
    for item in subscription.items.select_related("price__product").prefetch_related("tax_rates"):
        amount = item_amount(item.price, item.quantity)
        change = pricing.prorate(amount, start, end, old_end) - pricing.prorate(amount, start, end, new_end)
        if not change:
            continue
        rate = tax_rate_for(item.tax_rates.all(), defaults)
        label = "Unused time on" if change < 0 else "Remaining time on"
        lines.append(
            proration_line(label, item.price, item.quantity, change, min(old_end, new_end), max(old_end, new_end), rate)
        )
    return lines


def _set_cancel_at(subscription: Subscription, cancel_at: dt.datetime | None, proration_behavior: str) -> None:
    if cancel_at is not None:
        cancel_at = clock.whole_seconds(cancel_at)
        if cancel_at <= clock.now():
            raise InvalidRequest("cancel_at must be in the future.", param="cancel_at")
    old_end = _effective_end(subscription, subscription.cancel_at)
    new_end = _effective_end(subscription, cancel_at)
    subscription.cancel_at = cancel_at
    subscription.canceled_at = clock.now() if cancel_at else None
    if cancel_at:
        subscription.cancellation_reason = Subscription.CancellationReason.CANCELLATION_REQUESTED
    if proration_behavior == "none" or old_end == new_end or subscription.status == Subscription.Status.TRIALING:
        return
    lines = cancel_at_prorations(subscription, old_end, new_end)
    if not lines:
        return
    if proration_behavior == "always_invoice":
        collect_now(subscription, invoice_now(subscription, lines), ChangeOptions())
    else:
        for line in lines:
            save_pending(subscription, line)


def fields_locked(subscription: Subscription, actor: Actor, **fields) -> None:
    """The plain field changes of ``subscription_update_fields`` on a locked subscription."""
    before = render(subscription)
    if fields["default_payment_method"] is not UNCHANGED:
        _set_default_payment_method(subscription, fields["default_payment_method"])
    if fields["metadata"] is not UNCHANGED:
        subscription.metadata = merge_metadata(subscription.metadata, fields["metadata"])
    if fields["cancel_at"] is not UNCHANGED:
        _set_cancel_at(subscription, fields["cancel_at"], fields.get("proration_behavior") or "create_prorations")
    details = fields["cancellation_details"]
    if details is not UNCHANGED:
        feedback = details.get("feedback", subscription.cancellation_feedback)
        check_cancellation_details(feedback, details.get("comment", ""))
        subscription.cancellation_feedback = feedback
        subscription.cancellation_comment = details.get("comment", subscription.cancellation_comment)
    if fields["default_tax_rates"] is not UNCHANGED:
        for rate in fields["default_tax_rates"]:
            same_tenant(subscription, rate)
        subscription.default_tax_rates.set(fields["default_tax_rates"])
    after = render(subscription)
    if after != before:
        subscription.save()
        emit("customer.subscription.updated", subscription, before=before)
        audit.record(
            actor, "subscription.update", subscription, {k: after[k] for k in after if after[k] != before.get(k)}
        )


def subscription_update(
    *,
    subscription: Subscription,
    actor: Actor,
    fields: dict | None = None,
    pause_collection=UNCHANGED,
    cancel_at_period_end: bool | None = None,
    cancellation_details: dict | None = None,
    changes: list[ItemChange] | None = None,
    change_options: ChangeOptions | None = None,
    expected_version: str | None = None,
) -> Subscription:
    """Stripe's subscription update as one action: plain ``fields`` (see ``subscription_update_fields``), then
    ``pause_collection`` (``{"behavior", "resumes_at"}``, or None to resume), then ``cancel_at_period_end`` (True
    cancels at the period end with ``cancellation_details``, False withdraws a pending cancellation), then the item
    ``changes`` (which may invoice and charge). One transaction: a refused part changes nothing."""
    if pause_collection not in (UNCHANGED, None):
        check_pause(pause_collection["behavior"], pause_collection.get("resumes_at"))
    details = cancellation_details or {}
    if cancel_at_period_end:
        check_cancellation_details(details.get("feedback") or "", details.get("comment") or "")
    return _update(
        subscription=subscription,
        actor=actor,
        fields=fields or {},
        pause_collection=pause_collection,
        cancel_at_period_end=cancel_at_period_end,
        cancellation_details=details,
        changes=changes,
        change_options=change_options or ChangeOptions(),
        expected_version=expected_version,
    )


def _refuse_if_ended(subscription: Subscription, message: str, param: str = "subscription") -> None:
    if subscription.is_ended:
        raise StateConflict(message, param=param)


@service
def _update(*, subscription, actor, fields, pause_collection, cancel_at_period_end, cancellation_details, changes,
            change_options, expected_version) -> Subscription:  # fmt: skip
    subscription = take(subscription, expected_version=expected_version, ended=None)
    if fields:
        _refuse_if_ended(subscription, ENDED)
        fields_locked(
            subscription,
            actor,
            **{key: fields.get(key, UNCHANGED) for key in FIELD_NAMES},
            proration_behavior=fields.get("proration_behavior") or change_options.proration_behavior,
        )
    if pause_collection is not UNCHANGED:
        if pause_collection is None:
            resume_locked(subscription, actor)
        else:
            message = "Payment collection cannot be paused on a canceled subscription."
            _refuse_if_ended(subscription, message, "pause_collection")
            pause_locked(subscription, actor, pause_collection["behavior"], pause_collection.get("resumes_at"))
    if cancel_at_period_end is True:
        _refuse_if_ended(subscription, "This subscription is already canceled.")
        cancel_locked(
            subscription,
            actor,
            at_period_end=True,
            feedback=cancellation_details.get("feedback") or "",
            comment=cancellation_details.get("comment") or "",
        )
    elif cancel_at_period_end is False and subscription.cancellation_pending:
        reactivate_locked(subscription, actor)
    if changes is not None:
        from billing.services.subscriptions.renew import catch_up_locked  # renew builds on this package's modules

        _refuse_if_ended(subscription, ENDED)
        if catch_up_locked(subscription):
            subscription.refresh_from_db()
        _refuse_if_ended(subscription, ENDED)
        change_items_locked(subscription, changes, actor, change_options)
    return subscription


FIELD_NAMES = ("default_payment_method", "metadata", "default_tax_rates", "cancel_at", "cancellation_details")
