"""Capturing an authorized PaymentIntent and canceling one (the processor is asked before the transaction that
records it)."""

from billing import audit, clock
from billing.audit import Actor
from billing.exceptions import InvalidRequest
from billing.gateways.base import PaymentResult
from billing.models import Charge, PaymentIntent
from billing.money import charge_amount_error
from billing.services.common import emit, lock
from billing.services.door import service
from billing.services.intents.common import gateway_of, unexpected_state

Status = PaymentIntent.Status
CANCELABLE = (*PaymentIntent.OPEN, Status.REQUIRES_CAPTURE)


def payment_intent_capture(
    *, intent: PaymentIntent, actor: Actor, amount_to_capture: int | None = None
) -> PaymentIntent:
    if intent.status != Status.REQUIRES_CAPTURE:
        raise unexpected_state(intent, "capture", "captured", [Status.REQUIRES_CAPTURE])
    amount = intent.amount_capturable if amount_to_capture is None else amount_to_capture
    if not 1 <= amount <= intent.amount_capturable:
        raise InvalidRequest(
            f"The amount_to_capture must be between 1 and the amount capturable ({intent.amount_capturable}).",
            param="amount_to_capture",
            code="amount_too_large" if amount > intent.amount_capturable else "parameter_invalid_integer",
        )
    if error := charge_amount_error(amount, intent.currency):
        raise InvalidRequest(error, param="amount_to_capture", code="invalid_charge_amount")
    result = gateway_of(intent).capture(
        reference=intent.processor_reference,
        amount=amount,
        livemode=intent.livemode,
        idempotency_key=f"{intent.pk}:capture",
    )
    return _captured(intent.pk, amount, result, actor)


@service
def _captured(intent_id: str, amount: int, result: PaymentResult, actor: Actor) -> PaymentIntent:
    intent = lock(PaymentIntent, intent_id)
    if intent.status != Status.REQUIRES_CAPTURE:
        raise unexpected_state(intent, "capture", "captured", [Status.REQUIRES_CAPTURE])
    charge = intent.charges.filter(status=Charge.Status.SUCCEEDED, captured=False).order_by("-id").first()
    if charge is not None:
        charge.captured = True
        charge.amount_captured = amount
        charge.amount_refunded = charge.amount - amount  # the rest of the authorization is released
        charge.gateway_reference = result.reference or charge.gateway_reference
        charge.save()
        emit("charge.captured", charge)
    intent.status = Status.SUCCEEDED
    intent.amount_received = amount
    intent.amount_capturable = 0
    intent.processor_reference = result.reference or intent.processor_reference
    intent.save()
    emit("payment_intent.succeeded", intent)
    audit.record(actor, "payment_intent.capture", intent, {"amount": amount})
    return intent


def payment_intent_cancel(*, intent: PaymentIntent, actor: Actor, cancellation_reason: str = "") -> PaymentIntent:
    if intent.status not in CANCELABLE:
        raise unexpected_state(intent, "cancel", "canceled", CANCELABLE)
    if intent.processor_reference and intent.status in (Status.REQUIRES_ACTION, Status.REQUIRES_CAPTURE):
        gateway_of(intent).cancel(reference=intent.processor_reference, livemode=intent.livemode)
    return _canceled(intent.pk, cancellation_reason or "", actor)


@service
def _canceled(intent_id: str, reason: str, actor: Actor) -> PaymentIntent:
    intent = lock(PaymentIntent, intent_id)
    if intent.status not in CANCELABLE:
        raise unexpected_state(intent, "cancel", "canceled", CANCELABLE)
    if intent.status == Status.REQUIRES_CAPTURE:
        for charge in intent.charges.filter(status=Charge.Status.SUCCEEDED, captured=False):
            charge.amount_refunded = charge.amount  # the authorization is released
            charge.save(update_fields=["amount_refunded"])
            emit("charge.refunded", charge)
    intent.status = Status.CANCELED
    intent.canceled_at = clock.now()
    intent.cancellation_reason = reason
    intent.amount_capturable = 0
    intent.next_action = None
    intent.save()
    emit("payment_intent.canceled", intent)
    audit.record(actor, "payment_intent.cancel", intent, {"cancellation_reason": reason})
    return intent
