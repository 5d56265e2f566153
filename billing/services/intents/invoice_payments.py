"""An invoice's payment is a PaymentIntent (Stripe's since 2019): created at the invoice's first attempt (or when a
subscription starts ``default_incomplete``), reused by every later attempt, and brought to the state of the
attempt's charge by the engine in ``billing.services.payments``."""

from billing.models import Invoice, PaymentIntent, PaymentMethod, Subscription
from billing.representations import hosted_invoice_url
from billing.services.common import emit, lock, render
from billing.services.door import service
from billing.services.intents.common import error_object, redirect_action

Status = PaymentIntent.Status
AUTHENTICATION_REQUIRED = "authentication_required"


def invoice_intent(invoice: Invoice) -> PaymentIntent | None:
    """The invoice's PaymentIntent, if it has one (cached on the invoice for the rest of the transaction)."""
    if hasattr(invoice, "_intent"):
        return invoice._intent
    intent = None if invoice._state.adding else PaymentIntent.objects.filter(invoice_id=invoice.pk).first()
    invoice._intent = intent
    return intent


def intent_for_attempt(invoice: Invoice, pm: PaymentMethod | None, *, status: str = Status.PROCESSING):
    """The invoice's PaymentIntent made ready for the attempt being started (created at the first; one INSERT in a
    renewal). ``status`` is ``processing`` while the processor is asked, ``requires_payment_method`` or
    ``requires_confirmation`` when the customer is to confirm it (``default_incomplete``)."""
    intent = invoice_intent(invoice)
    if intent is None:
        intent = PaymentIntent(
            account_id=invoice.account_id,
            livemode=invoice.livemode,
            invoice=invoice,
            customer_id=invoice.customer_id,
            amount=invoice.amount_remaining,
            currency=invoice.currency,
            payment_method=pm,
            payment_method_types=invoice.payment_method_types or ([pm.type] if pm is not None else ["card"]),
            status=status,
            off_session=status == Status.PROCESSING,
            attempt_count=invoice.attempt_count,
            description=_description(invoice),
        )
        intent.save(force_insert=True)
        intent._latest_charge = None
        invoice._intent = intent
        emit("payment_intent.created", intent)
        return intent
    intent.status = status
    intent.amount = invoice.amount_remaining
    intent.payment_method = pm
    if pm is not None and pm.type not in intent.payment_method_types:
        intent.payment_method_types = [*intent.payment_method_types, pm.type]
    intent.attempt_count = invoice.attempt_count
    intent.off_session = status == Status.PROCESSING
    intent.last_payment_error = None
    intent.next_action = None
    intent.save(
        update_fields=[
            "status",
            "amount",
            "payment_method",
            "payment_method_types",
            "attempt_count",
            "off_session",
            "last_payment_error",
            "next_action",
        ]
    )
    return intent


def _description(invoice: Invoice) -> str:
    if invoice.billing_reason == Invoice.BillingReason.SUBSCRIPTION_CREATE:
        return "Subscription creation"
    if invoice.billing_reason in (Invoice.BillingReason.SUBSCRIPTION_CYCLE, Invoice.BillingReason.SUBSCRIPTION_UPDATE):
        return "Subscription update" if invoice.billing_reason == "subscription_update" else "Subscription cycle"
    return "Invoice payment"


def intent_paid(intent: PaymentIntent | None, *, reference: str = "") -> None:
    """The invoice's payment succeeded (the charge's update is the caller's)."""
    if intent is None or intent.status == Status.SUCCEEDED:
        return
    intent.status = Status.SUCCEEDED
    intent.amount_received = intent.amount
    intent.processor_reference = reference or intent.processor_reference
    intent.last_payment_error = None
    intent.next_action = None
    intent.save(update_fields=["status", "amount_received", "processor_reference", "last_payment_error", "next_action"])
    emit("payment_intent.succeeded", intent)


def intent_failed(intent: PaymentIntent | None, *, code: str, decline_code: str, message: str, charge_id: str = ""):
    """The invoice's attempt failed. Off-session, a card that needs the customer (3-D Secure) leaves the intent
    ``requires_action``: the customer authenticates on the hosted invoice page (Stripe's behaviour)."""
    if intent is None:
        return
    intent.last_payment_error = error_object(
        intent, code=code or "card_declined", message=message, decline_code=decline_code, pm=intent.payment_method
    )
    if charge_id:
        intent.last_payment_error["charge"] = charge_id
    if code == AUTHENTICATION_REQUIRED:
        intent.status = Status.REQUIRES_ACTION
        intent.next_action = redirect_action(intent, hosted_invoice_url(intent.invoice))
        event = "payment_intent.requires_action"
    else:
        intent.status = Status.REQUIRES_PAYMENT_METHOD
        intent.next_action = None
        event = "payment_intent.payment_failed"
    intent.save(update_fields=["status", "last_payment_error", "next_action"])
    emit(event, intent)


def needs_authentication(intent: PaymentIntent | None) -> bool:
    return intent is not None and intent.status == Status.REQUIRES_ACTION


def invoice_pay_on_session(
    *,
    invoice: Invoice,
    payment_method: PaymentMethod,
    return_url: str,
    mandate_data: dict | None = None,
    actor=None,
) -> PaymentIntent:
    """The customer pays an open invoice themselves (the hosted invoice page, the portal): the invoice's
    PaymentIntent is confirmed on-session with the method they chose, so their bank may ask them to authenticate
    (the intent then answers ``requires_action`` with the page to go to, and comes back to ``return_url``).
    ``mandate_data``: the customer's acceptance, for a bank account debited without a mandate yet (SEPA).
    ``actor``: who pays, for the audit log (default: the customer; staff acting as the customer in the portal)."""
    from billing.audit import Actor
    from billing.services.intents.payment_intents import payment_intent_confirm

    intent = _ready_for_customer(invoice_id=invoice.pk, payment_method_id=payment_method.pk)
    return payment_intent_confirm(
        intent=intent,
        actor=actor or Actor.customer(invoice.customer),
        payment_method=payment_method,
        off_session=False,
        return_url=return_url,
        mandate_data=mandate_data,
        raise_on_failure=False,
    )


@service
def _ready_for_customer(*, invoice_id: str, payment_method_id: str) -> PaymentIntent:
    from billing.exceptions import InvalidRequest, StateConflict
    from billing.services.common import lock

    invoice = lock(Invoice, invoice_id)
    if invoice.status not in (Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE) or invoice.amount_remaining <= 0:
        raise StateConflict(f"This invoice is {invoice.status}: there is nothing to pay.", code="invoice_not_payable")
    pm = PaymentMethod.objects.filter(pk=payment_method_id, customer_id=invoice.customer_id).first()
    if not invoice.can_be_paid_with(pm):
        raise InvalidRequest("This payment method cannot pay this invoice.", param="payment_method")
    intent = invoice_intent(invoice)
    if intent is not None and intent.status not in PaymentIntent.OPEN:
        raise StateConflict("A payment of this invoice is already under way.", code="payment_intent_unexpected_state")
    return intent_for_attempt(invoice, pm, status=Status.REQUIRES_CONFIRMATION)


def save_default_payment_method(invoice: Invoice, charge) -> None:
    """``payment_settings.save_default_payment_method=on_subscription``: the method that paid becomes the
    subscription's default (attached to the customer if it was not yet)."""
    if not invoice.subscription_id or charge.payment_method_id is None:
        return
    subscription = lock(Subscription, invoice.subscription_id)
    if subscription.payment_settings.get("save_default_payment_method") != "on_subscription":
        return
    pm = charge.payment_method
    if pm.customer_id is None:
        pm.customer_id = invoice.customer_id
        pm.save(update_fields=["customer"])
        emit("payment_method.attached", pm)
    if subscription.default_payment_method_id != pm.pk:
        before = render(subscription)
        subscription.default_payment_method = pm
        subscription.save(update_fields=["default_payment_method"])
        emit("customer.subscription.updated", subscription, before=before)
