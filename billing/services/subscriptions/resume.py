"""Resuming a paused subscription (Stripe's ``status=paused``, not a pause of payment collection): a new period
starts now and is invoiced at once."""

from billing import audit, clock
from billing.audit import Actor
from billing.exceptions import InvalidRequest, StateConflict
from billing.models import Subscription
from billing.periods import period_end
from billing.services.common import emit, render
from billing.services.door import service
from billing.services.subscriptions.change import ChangeOptions, collect_now, invoice_now
from billing.services.subscriptions.lines import period_lines
from billing.services.subscriptions.state import take


@service
def subscription_resume(
    *, subscription: Subscription, actor: Actor, billing_cycle_anchor: str = "now", payment_behavior: str = ""
) -> Subscription:
    """Resume a paused subscription: it is active again in a period that starts now (``billing_cycle_anchor=now``,
    Stripe's default), invoiced and charged at once; records ``customer.subscription.resumed`` and ``.updated``."""
    if billing_cycle_anchor != "now":
        raise InvalidRequest(
            "Only billing_cycle_anchor=now is supported: a resumed subscription starts a new period now.",
            param="billing_cycle_anchor",
        )
    subscription = take(subscription)
    if subscription.status != Subscription.Status.PAUSED:
        raise StateConflict(
            f"Only a paused subscription can be resumed; this one is {subscription.status}. (To resume payment "
            'collection, update the subscription with pause_collection="".)',
            param="subscription",
        )
    before = render(subscription)
    now = clock.now()
    interval, count = subscription.interval()
    subscription.status = Subscription.Status.ACTIVE
    subscription.billing_cycle_anchor = now
    subscription.period_index = 1
    subscription.current_period_start = now
    subscription.current_period_end = period_end(now, interval, count, 1)
    subscription.save()
    invoice = invoice_now(subscription, period_lines(subscription, now, subscription.current_period_end, trial=False))
    options = ChangeOptions(
        payment_behavior="error_if_incomplete" if payment_behavior == "error_if_incomplete" else "allow_incomplete"
    )
    collect_now(subscription, invoice, options)
    subscription.refresh_from_db()
    emit("customer.subscription.resumed", subscription)
    emit("customer.subscription.updated", subscription, before=before)
    audit.record(actor, "subscription.resume", subscription, {"invoice": invoice.id})
    return subscription
