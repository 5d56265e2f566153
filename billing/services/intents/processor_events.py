"""The payment processors' webhooks: verified by the account's own adapter, then each event applied once, through the
paths that record a processor's answer when we ask it ourselves (the poll of processing payments, the customer's
return from authenticating, a refund's answer). A receipt written in the same transaction makes a repeated delivery,
or two at once, change nothing twice."""

import logging

from billing import audit
from billing.audit import Actor
from billing.exceptions import BillingError, GatewayUnavailable, InvalidRequest
from billing.gateways import Gateway, webhook_gateways
from billing.gateways.base import ProcessorEvent
from billing.models import Charge, PaymentIntent, ProcessorAccount, ProcessorEventReceipt, Refund, SetupIntent
from billing.services.common import lock
from billing.services.door import service
from billing.services.intents import payment_intents, setup_intents
from billing.services.refunds import refund_settle

logger = logging.getLogger(__name__)

PROCESSORS = (ProcessorAccount.Processor.STRIPE, ProcessorAccount.Processor.MOLLIE)
WEBHOOK = Actor.system("processor webhook")
WAITING = ("requires_action", "processing")
# How far a payment or setup has come. An answer only moves it forward: ``processing`` arriving after we recorded
# ``succeeded``, or ``requires_action`` after ``processing``, is older news.
STAGE = {"requires_action": 0, "processing": 1, "requires_capture": 2, "succeeded": 2, "failed": 2}
SIGNATURE_PARAM = "Stripe-Signature"


def processor_webhook_receive(*, processor: str, account_id: str, body: bytes, headers: dict) -> list[str]:
    """Verify a webhook posted to the account's address for ``processor`` and apply its events; what became of each
    (see :func:`processor_event_apply`).

    Not a door: verifying may ask the processor (Mollie's webhook only names a payment), outside any transaction;
    each event is applied by a door of its own. Raises InvalidRequest for a request that is not the processor's
    for this account, GatewayUnavailable when the processor could not be asked (it delivers the webhook again)."""
    livemode, events = _verified(processor, account_id, body, headers)
    return [
        processor_event_apply(account_id=account_id, livemode=livemode, processor=processor, event=event)
        for event in events
    ]


def _verified(processor: str, account_id: str, body: bytes, headers: dict) -> tuple[bool, list[ProcessorEvent]]:
    """The mode whose configured processor verifies the webhook, and its events. The address names the account but
    not the mode: Stripe signs each mode's events with that mode's secret, and Mollie's payments are found only with
    the key of their mode, so each of the account's modes with this processor is tried (live mode first)."""
    candidates = webhook_gateways(account_id, processor) if processor in PROCESSORS else []
    if not candidates:
        raise InvalidRequest(
            "No payment processor of this kind is set up for this account: this address takes no webhooks from it.",
            param="processor",
        )
    refused: list[BillingError] = []
    unavailable = None
    for livemode, gateway in candidates:
        try:
            return livemode, _parse(gateway, body, headers, livemode)
        except GatewayUnavailable as error:
            unavailable = error
        except BillingError as error:
            refused.append(error)
    if unavailable is not None:
        raise unavailable  # the mode that could not ask may be the webhook's own: let the processor retry
    # A mode whose secret verified the signature explains more than one whose secret did not.
    telling = [error for error in refused if error.param != SIGNATURE_PARAM] or refused
    raise telling[0]


def _parse(gateway: Gateway, body: bytes, headers: dict, livemode: bool) -> list[ProcessorEvent]:
    try:
        return gateway.parse_webhook(body=body, headers=headers, livemode=livemode)
    except BillingError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        # Verified, but not shaped as this processor's events are.
        logger.warning("processor webhook not understood: %s", type(error).__name__)
        raise InvalidRequest("The webhook is not an event of this payment processor.") from None


# ---------------------------------------------------------------------------------------------- applying one event


MODELS = {"payment": PaymentIntent, "setup": SetupIntent, "refund": Refund}


def _ours(account_id: str, livemode: bool, event: ProcessorEvent) -> str:
    """The id of our object the event is about, or ``""`` when it is none of ours."""
    model = MODELS.get(event.kind)
    if model is None or not event.reference:
        return ""
    rows = model.objects.filter(account_id=account_id, livemode=livemode, processor_reference=event.reference)
    return rows.values_list("pk", flat=True).first() or ""


@service
def processor_event_apply(*, account_id: str, livemode: bool, processor: str, event: ProcessorEvent) -> str:
    """Apply one verified event of the account's processor: ``applied``; ``ignored`` when it is about none of our
    objects or older than what we recorded; ``duplicate`` when it was received before."""
    # First: a second delivery of the event waits here until the first one's transaction has ended.
    receipt, created = ProcessorEventReceipt.objects.get_or_create(
        account_id=account_id,
        processor=processor,
        event_id=event.id,
        defaults={"livemode": livemode, "object_id": lambda: _ours(account_id, livemode, event)},
    )
    if not created:
        return "duplicate"
    object_id = receipt.object_id
    if not object_id:
        return "ignored"
    changed = APPLY[event.kind](object_id, event)
    if changed is None:
        return "ignored"
    answer = event.payment or event.setup or event.refund
    audit.record(WEBHOOK, "processor_event.apply", changed, {"event": event.id, "status": answer.status})
    return "applied"


def _apply_payment(intent_id: str, event: ProcessorEvent) -> PaymentIntent | None:
    """The payment's answer, recorded as :func:`payment_intents.payment_intent_refresh` records it (the invoice it
    pays is paid, or its attempt failed, exactly as when the billing cycle's poll asks)."""
    result = event.payment
    payment_intents._lock_invoice_of(intent_id)  # lock order: subscription, invoice, payment intent, charge
    intent = lock(PaymentIntent, intent_id)
    if intent.status not in WAITING or STAGE.get(result.status, -1) <= STAGE[intent.status]:
        if intent.status == PaymentIntent.Status.SUCCEEDED and result.status == "failed":
            # A debit the processor first reported processing (taken as paid) was returned by the bank later.
            logger.warning("processor reports payment %s failed after it succeeded: not changed", intent_id)
        return None
    pending = (
        Charge.objects.filter(payment_intent_id=intent_id, status=Charge.Status.PENDING)
        .values_list("pk", "gateway_reference")
        .first()
    )
    if pending is not None and pending[1] != event.reference:
        return None  # an earlier attempt's answer; or the current attempt's call has not been answered itself yet
    return payment_intents._record(intent_id, result, charge_id=pending[0] if pending else None)


def _apply_setup(intent_id: str, event: ProcessorEvent) -> SetupIntent | None:
    result = event.setup
    intent = lock(SetupIntent, intent_id)
    if intent.status not in WAITING or STAGE.get(result.status, -1) <= STAGE[intent.status]:
        return None
    return setup_intents._record(intent_id, result)


def _apply_refund(refund_id: str, event: ProcessorEvent) -> Refund | None:
    """A refund the processor settled after it answered ``pending`` (see :func:`refunds.refund_settle`)."""
    before = Refund.objects.filter(pk=refund_id).values_list("status", flat=True).first()
    refund = refund_settle(refund_id=refund_id, result=event.refund)
    return refund if refund is not None and refund.status != before else None


APPLY = {"payment": _apply_payment, "setup": _apply_setup, "refund": _apply_refund}
