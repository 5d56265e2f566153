"""Refunds of charges, with the processor called outside every transaction and lock.

A refund has two transactions, as a payment attempt has (``billing.services.payments``). The first locks the charge,
reserves the amount on it (``amount_refunded``: two refunds at once can never give back more than was charged) and
writes a ``pending`` refund whose idempotency key is the charge id and the refund's number on it. After it commits,
the processor is asked with that key; a second short transaction records the answer: succeeded, failed (the
reservation is released) or still pending. A crash or an unreachable processor in between leaves the refund pending:
the billing cycle sends it again with the same key, and the processor answers from its record of the first call, so
nothing is refunded twice.
"""

import datetime as dt
import logging

from django.conf import settings
from django.utils import translation
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from billing import audit, money
from billing.audit import SYSTEM, Actor
from billing.exceptions import BillingError, GatewayUnavailable, InvalidRequest, StateConflict
from billing.gateways import Gateway, gateway_for
from billing.gateways.base import RefundResult
from billing.models import Charge, PaymentIntent, Refund
from billing.services.common import emit, lock, merge_metadata, render, same_tenant, save_changes, validate_metadata
from billing.services.door import after_commit, service

logger = logging.getLogger(__name__)

# Statuses in which the processor has not given its final answer (and Stripe allows a cancel).
OPEN = (Refund.Status.PENDING, Refund.Status.REQUIRES_ACTION)


def refund_gateway(charge: Charge) -> Gateway:
    """The processor that took the charge's money (the one place that chooses it)."""
    return gateway_for(charge.account_id, charge.livemode)


# ---------------------------------------------------------------------------------------------- the first transaction


def _charge_of(payment_intent: PaymentIntent) -> Charge:
    """Stripe refunds a PaymentIntent's latest succeeded charge."""
    charge = (
        Charge.objects.filter(payment_intent_id=payment_intent.pk, status=Charge.Status.SUCCEEDED)
        .order_by("-id")
        .first()
    )
    if charge is None:
        raise StateConflict(
            f"PaymentIntent {payment_intent.pk} does not have a successful charge to refund.",
            param="payment_intent",
            code="charge_not_refundable",
        )
    return charge


def _display(amount: int, currency: str):
    """The amount as the active language writes it (English in the API's message)."""
    return lazy(lambda: money.format_amount(amount, currency, translation.get_language() or "en"), str)()


def check_refundable(charge: Charge, amount: int | None) -> int:
    """The amount to refund (default: what is left) on the locked ``charge``, or Stripe's error."""
    if charge.status != Charge.Status.SUCCEEDED:
        raise StateConflict(
            _("Charge %(id)s has not succeeded; only succeeded charges can be refunded."),
            params={"id": charge.pk},
            param="charge",
            code="charge_not_refundable",
        )
    if not charge.captured:
        raise StateConflict(
            _("Charge %(id)s has not been captured; cancel its PaymentIntent to release the authorization."),
            params={"id": charge.pk},
            param="charge",
            code="charge_not_refundable",
        )
    left = charge.amount - charge.amount_refunded
    if left <= 0:
        raise StateConflict(
            _("Charge %(id)s has already been refunded."),
            params={"id": charge.pk},
            param="charge",
            code="charge_already_refunded",
        )
    if amount is None:
        return left
    if amount < 1:
        raise InvalidRequest(_("Invalid amount: must be at least 1."), param="amount", code="parameter_invalid_integer")
    if error := money.charge_amount_error(amount, charge.currency):
        raise InvalidRequest(error, param="amount", code="invalid_charge_amount")
    if amount > left:
        raise InvalidRequest(
            _("Refund amount (%(amount)s) is greater than unrefunded amount on charge (%(left)s)"),
            params={"amount": _display(amount, charge.currency), "left": _display(left, charge.currency)},
            param="amount",
            code="amount_too_large",
        )
    return amount


@service
def refund_create(
    *,
    charge: Charge | None = None,
    payment_intent: PaymentIntent | None = None,
    amount: int | None = None,
    reason: str = "",
    metadata: dict | None = None,
    actor: Actor,
    note: str = "",
) -> Refund:
    """Refund ``amount`` (default: all that is left) of a succeeded charge, given itself or its PaymentIntent. The
    returned refund is the pending row; the processor's answer is recorded once the transaction has committed.
    ``note``: why staff refunded, kept in the audit entry."""
    if (charge is None) == (payment_intent is None):
        raise InvalidRequest(
            "You must pass exactly one of these parameters: charge or payment_intent.",
            param="charge" if charge is None else "payment_intent",
            code="parameter_missing" if charge is None else "parameter_invalid",
        )
    if reason and reason not in Refund.Reason.values:
        raise InvalidRequest(f"Invalid reason: must be one of {', '.join(Refund.Reason.values)}.", param="reason")
    metadata = validate_metadata(metadata)
    if payment_intent is not None:
        charge = _charge_of(payment_intent)
    same_tenant(charge, payment_intent)
    charge = lock(Charge, charge.pk)
    amount = check_refundable(charge, amount)
    charge.amount_refunded += amount  # reserved now; released if the processor refuses
    charge.save(update_fields=["amount_refunded"])
    number = Refund.objects.filter(charge_id=charge.pk).count() + 1
    refund = Refund.objects.create(
        account_id=charge.account_id,
        livemode=charge.livemode,
        charge=charge,
        payment_intent_id=charge.payment_intent_id,
        amount=amount,
        currency=charge.currency,
        reason=reason,
        metadata=metadata,
        idempotency_key=f"{charge.pk}:refund:{number}",
    )
    changes = {"charge": charge.pk, "amount": amount, "reason": reason}
    audit.record(actor, "refund.create", refund, {**changes, "note": note} if note else changes)
    emit("refund.created", refund)
    after_commit(lambda: refund_send(refund.pk))
    return refund


# ---------------------------------------------------------------------------------------------- the processor


def call_processor(refund: Refund) -> RefundResult | None:
    """Ask the processor to pay the money back (no transaction is open). None when it could not be reached: the
    refund stays pending and is sent again with the same key."""
    charge = refund.charge
    try:
        return refund_gateway(charge).refund(
            reference=charge.gateway_reference,
            amount=refund.amount,
            currency=refund.currency,
            livemode=refund.livemode,
            idempotency_key=refund.idempotency_key,
            reason=refund.reason,
        )
    except GatewayUnavailable as error:
        logger.warning("processor unavailable for refund %s: %s", refund.pk, error.message)
        return None
    except BillingError as error:  # refused outright: nothing was paid back
        logger.warning("processor refused refund %s: %s", refund.pk, error.message)
        return RefundResult(status="failed", failure_reason="unknown")
    except Exception:
        logger.exception("processor call for refund %s failed", refund.pk)
        return None


def refund_send(refund_id: str) -> Refund | None:
    """Send a pending refund to the processor (again: same key) and record the answer."""
    refund = (
        Refund.objects.select_related("charge")
        .filter(pk=refund_id, status=Refund.Status.PENDING, processor_reference="")
        .first()
    )
    if refund is None:
        return None
    result = call_processor(refund)
    if result is None:
        return refund
    return refund_settle(refund_id=refund_id, result=result)


def refund_resume(*, refund_id: str) -> None:
    """The billing cycle's resend of a refund whose processor call was lost."""
    refund_send(refund_id)


def stale_pending_refunds(now: dt.datetime):
    """Pending refunds the processor never answered, old enough that the call that started them has ended."""
    cutoff = now - dt.timedelta(seconds=settings.BILLING_PAYMENT_PENDING_SECONDS)
    return Refund.objects.filter(status=Refund.Status.PENDING, processor_reference="", created__lte=cutoff)


# ---------------------------------------------------------------------------------------------- the second transaction


@service
def refund_settle(*, refund_id: str, result: RefundResult) -> Refund | None:
    """Record the processor's answer for a refund (a second answer changes nothing). A processor webhook that
    settles a pending refund later calls this too."""
    charge_id = Refund.objects.filter(pk=refund_id).values_list("charge_id", flat=True).first()
    if charge_id is None:
        return None
    charge = lock(Charge, charge_id)  # lock order: charge, then its refunds
    refund = lock(Refund, refund_id)
    if result.status == "pending" or (refund.status not in OPEN and refund.status != Refund.Status.CANCELED):
        if result.reference and not refund.processor_reference and refund.status in OPEN:
            refund.processor_reference = result.reference  # reached the processor: its webhook settles it
            refund.save(update_fields=["processor_reference"])
        return refund
    before = render(refund)
    if refund.status == Refund.Status.CANCELED:
        if result.status != "succeeded":
            return refund
        # Canceled while the processor was paying it back: the money went back all the same.
        charge.amount_refunded += refund.amount
        audit.record(SYSTEM, "refund.succeeded_after_cancel", refund, {"amount": refund.amount})
    refund.processor_reference = result.reference
    if result.status == "succeeded":
        refund.status = Refund.Status.SUCCEEDED
    else:
        refund.status = Refund.Status.FAILED
        refund.failure_reason = result.failure_reason or "unknown"
        charge.amount_refunded -= refund.amount
    charge.save(update_fields=["amount_refunded"])
    refund.save(update_fields=["status", "processor_reference", "failure_reason"])
    emit("refund.updated" if refund.status == Refund.Status.SUCCEEDED else "refund.failed", refund, before=before)
    emit("charge.refund.updated", refund, before=before)
    if refund.status == Refund.Status.SUCCEEDED:
        emit("charge.refunded", charge)
    return refund


# ---------------------------------------------------------------------------------------------- other doors


@service
def refund_cancel(*, refund: Refund, actor: Actor) -> Refund:
    """Cancel a refund the processor has not settled (Stripe: only then); the reserved amount is released."""
    charge = lock(Charge, refund.charge_id)
    refund = lock(Refund, refund.pk)
    if refund.status not in OPEN:
        raise StateConflict(
            f"Refund {refund.pk} has status {refund.status}; only a pending refund or one that requires action "
            "can be canceled.",
            param="refund",
            code="refund_not_cancelable" if refund.status != Refund.Status.CANCELED else "refund_already_canceled",
        )
    before = render(refund)
    refund.status = Refund.Status.CANCELED
    refund.save(update_fields=["status"])
    charge.amount_refunded -= refund.amount
    charge.save(update_fields=["amount_refunded"])
    audit.record(actor, "refund.cancel", refund, {"amount": refund.amount})
    emit("refund.updated", refund, before=before)
    emit("charge.refund.updated", refund, before=before)
    return refund


@service
def refund_update(*, refund: Refund, metadata: dict | str, actor: Actor) -> Refund:
    """Only a refund's metadata can change (Stripe's rule)."""
    refund = lock(Refund, refund.pk)
    before = render(refund)
    refund.metadata = merge_metadata(refund.metadata, metadata)
    return save_changes(refund, before, ["metadata"], actor=actor, action="refund.update", event="refund.updated")
