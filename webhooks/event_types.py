"""Event types an endpoint may subscribe to: what the billing engine emits plus Stripe's other common types.

Keep ``EMITTED`` in step with the ``emit("…")`` and ``events.record(type="…")`` calls in ``billing``,
``configurations``, ``portal`` and ``checkout`` (a test greps for them).
Types only in ``STRIPE_OTHER`` are accepted so integrations written for Stripe can register the same
endpoint unchanged; they simply never fire here yet.
"""

from django.utils.translation import gettext

WILDCARD = "*"

# Sent by our "Send test event" action; never emitted by the billing engine, not subscribable.
TEST_EVENT = "webhook_endpoint.test_event"

EMITTED = frozenset(
    {
        "billing_portal.configuration.created",
        "billing_portal.configuration.updated",
        "billing_portal.session.created",
        "charge.captured",
        "charge.failed",
        "charge.refund.updated",
        "charge.refunded",
        "charge.succeeded",
        "charge.updated",
        "checkout.session.async_payment_failed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.completed",
        "checkout.session.expired",
        "coupon.created",
        "coupon.deleted",
        "coupon.updated",
        "customer.created",
        "customer.deleted",
        "customer.discount.deleted",
        "customer.subscription.created",
        "customer.subscription.deleted",
        "customer.subscription.pending_update_applied",
        "customer.subscription.pending_update_expired",
        "customer.subscription.resumed",
        "customer.subscription.updated",
        "customer.tax_id.created",
        "customer.tax_id.deleted",
        "customer.updated",
        "invoice.created",
        "invoice.deleted",
        "invoice.finalized",
        "invoice.marked_uncollectible",
        "invoice.paid",
        "invoice.payment_action_required",
        "invoice.payment_failed",
        "invoice.payment_succeeded",
        "invoice.sent",
        "invoice.updated",
        "invoice.voided",
        "invoiceitem.created",
        "invoiceitem.deleted",
        "mandate.updated",
        "payment_intent.amount_capturable_updated",
        "payment_intent.canceled",
        "payment_intent.created",
        "payment_intent.payment_failed",
        "payment_intent.processing",
        "payment_intent.requires_action",
        "payment_intent.succeeded",
        "payment_method.attached",
        "payment_method.detached",
        "payment_method.updated",
        "price.created",
        "price.updated",
        "product.created",
        "product.deleted",
        "product.updated",
        "promotion_code.created",
        "promotion_code.updated",
        "setup_intent.canceled",
        "setup_intent.created",
        "setup_intent.requires_action",
        "setup_intent.setup_failed",
        "setup_intent.succeeded",
        "refund.created",
        "refund.failed",
        "refund.updated",
        "tax_rate.created",
        "tax_rate.updated",
        "test_helpers.test_clock.advancing",
        "test_helpers.test_clock.created",
        "test_helpers.test_clock.deleted",
        "test_helpers.test_clock.internal_failure",
        "test_helpers.test_clock.ready",
    }
)

STRIPE_OTHER = frozenset(
    {
        "account.updated",
        "charge.dispute.closed",
        "charge.dispute.created",
        "charge.expired",
        "charge.pending",
        "credit_note.created",
        "credit_note.updated",
        "credit_note.voided",
        "customer.discount.created",
        "customer.discount.updated",
        "customer.subscription.paused",
        "customer.subscription.trial_will_end",
        "customer.tax_id.updated",
        "invoice.finalization_failed",
        "invoice.overdue",
        "invoice.upcoming",
        "invoice.will_be_due",
        "payment_method.automatically_updated",
        "plan.created",
        "plan.deleted",
        "plan.updated",
        "price.deleted",
        "subscription_schedule.aborted",
        "subscription_schedule.canceled",
        "subscription_schedule.completed",
        "subscription_schedule.created",
        "subscription_schedule.expiring",
        "subscription_schedule.released",
        "subscription_schedule.updated",
    }
)

KNOWN = EMITTED | STRIPE_OTHER


def choices() -> list[tuple[str, str]]:
    """For forms: the wildcard first, then every known type, emitted ones marked."""
    not_emitted = gettext("%(type)s (not emitted yet)")
    return [(WILDCARD, gettext("* (all events)"))] + [
        (name, name if name in EMITTED else not_emitted % {"type": name}) for name in sorted(KNOWN)
    ]
