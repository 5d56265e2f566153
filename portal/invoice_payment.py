"""Paying an open invoice with a saved method the customer chose, while they are present: the one path of the hosted
invoice page and the portal's pay page. Their bank may ask them to authenticate first (3-D Secure): the answer is
then the bank's page, which sends them back to ``return_url``, where :func:`outcome_after_return` tells the rest."""

from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.audit import Actor
from billing.exceptions import BillingError, GatewayUnavailable, StateConflict
from billing.models import Invoice, PaymentIntent, PaymentMethod
from billing.services.intents import payment_intent_refresh
from billing.services.intents.invoice_payments import invoice_intent, invoice_pay_on_session
from portal.access import client_ip

PAID, PROCESSING, ACTION, FAILED, CLOSED = "paid", "processing", "action", "failed", "closed"

# Stripe's decline codes, as a customer should read them. Codes that would tell a fraudster too much
# (lost_card, stolen_card, fraudulent, …) read as a plain decline, as Stripe recommends.
DECLINE_MESSAGES = {
    "insufficient_funds": gettext_lazy("Your card has insufficient funds."),
    "expired_card": gettext_lazy("Your card has expired."),
    "incorrect_cvc": gettext_lazy("Your card's security code is incorrect."),
    "processing_error": gettext_lazy("An error occurred while processing your card. Please try again."),
    "card_velocity_exceeded": gettext_lazy("Your card has exceeded its limit. Please use another payment method."),
}
NOT_CONFIRMED_CODES = ("payment_intent_authentication_failure", "authentication_required")


@dataclass(frozen=True)
class Outcome:
    """Where a payment stands for the customer: ``paid``; ``processing`` (the bank answers later: SEPA Direct
    Debit, or a processor that did not answer in time); ``action`` (authenticate at ``redirect_to``); ``failed``
    (nothing was paid, ``error`` says why); ``closed`` (the invoice is not open for payment)."""

    status: str
    error: str = ""
    redirect_to: str = ""


def not_confirmed() -> str:
    return _("The payment was not confirmed with your bank. Please try again or choose another payment method.")


def not_open() -> str:
    return _("This invoice is not open for payment.")


def failure_message(error: dict | None) -> str:
    """Why a payment failed, in the customer's language (never the processor's English text)."""
    error = error or {}
    if error.get("code") in NOT_CONFIRMED_CODES:
        return not_confirmed()
    if error.get("payment_method_type") == PaymentMethod.Type.SEPA_DEBIT:
        return _("Your bank declined the payment.")
    return str(DECLINE_MESSAGES.get(error.get("decline_code") or "", _("Your card was declined.")))


def _refusal(error: BillingError) -> Outcome:
    """A payment refused before the processor was asked: nothing was charged."""
    if isinstance(error, StateConflict) and error.code == "invoice_not_payable":
        return Outcome(CLOSED, not_open())
    if isinstance(error, StateConflict):  # another tab's payment of this invoice is under way
        return Outcome(FAILED, _("A payment of this invoice is already under way. Please wait a moment and reload."))
    if isinstance(error, GatewayUnavailable):
        return Outcome(
            FAILED,
            _("The payment could not be processed right now and nothing was charged. Please try again later."),
        )
    return Outcome(FAILED, _("The invoice could not be paid. Please try again later."))


def _mandate_data(request: HttpRequest, method: PaymentMethod) -> dict | None:
    """Debiting a bank account needs the customer's acceptance of the mandate: they are here and pay with it."""
    if method.type != PaymentMethod.Type.SEPA_DEBIT:
        return None
    online = {"ip_address": client_ip(request) or "-", "user_agent": request.headers.get("User-Agent") or "-"}
    return {"customer_acceptance": {"type": "online", "online": online}}


def _outcome(intent: PaymentIntent) -> Outcome:
    if intent.status == PaymentIntent.Status.SUCCEEDED:
        return Outcome(PAID)
    if intent.status == PaymentIntent.Status.PROCESSING:
        return Outcome(PROCESSING)
    if intent.status == PaymentIntent.Status.REQUIRES_ACTION and intent.next_action:
        return Outcome(ACTION, redirect_to=intent.next_action["redirect_to_url"]["url"])
    return Outcome(FAILED, failure_message(intent.last_payment_error))


def pay(
    request: HttpRequest, invoice: Invoice, method: PaymentMethod, *, return_url: str, actor: Actor | None = None
) -> Outcome:
    """Pay ``invoice`` with ``method`` (one of the invoice customer's, checked by the caller's form). The service
    locks the invoice: a second submit, in this tab or another, charges nothing. ``actor``: who pays (default: the
    customer)."""
    try:
        intent = invoice_pay_on_session(
            invoice=invoice,
            payment_method=method,
            return_url=return_url,
            mandate_data=_mandate_data(request, method),
            actor=actor,
        )
    except BillingError as error:
        return _refusal(error)
    return _outcome(intent)


def outcome_after_return(invoice: Invoice) -> Outcome:
    """The customer is back from their bank's page: the invoice is paid, or why not. A processor that has not told
    us yet (its webhook is on the way) is asked."""
    intent = invoice_intent(invoice)
    if intent is not None and intent.status == PaymentIntent.Status.REQUIRES_ACTION:
        intent = payment_intent_refresh(intent=intent)
        invoice.refresh_from_db(fields=["status"])
    if invoice.status == Invoice.Status.PAID:
        return Outcome(PAID)
    if invoice.status != Invoice.Status.OPEN:
        return Outcome(CLOSED, not_open())
    if intent is not None and intent.status == PaymentIntent.Status.PROCESSING:
        return Outcome(PROCESSING)
    if intent is not None and intent.status == PaymentIntent.Status.REQUIRES_PAYMENT_METHOD:
        return Outcome(FAILED, failure_message(intent.last_payment_error))
    return Outcome(FAILED, not_confirmed())  # back without confirming (the browser's back button, say)
