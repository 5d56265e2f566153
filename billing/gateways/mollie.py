"""The Mollie adapter: PaymentIntents and SetupIntents on Mollie's Payments, Customers, Mandates and Refunds APIs.

Method references (what ``PaymentMethod.gateway_reference`` keeps):

- ``token:tkn_…``: a Mollie Components card token, not yet used. Card numbers never reach us: they are typed into
  Mollie's hosted fields, which hand the page a single-use token. The first payment (or a setup) spends it.
- ``sepa:<fingerprint>:<ciphertext>``: an IBAN we checked, kept encrypted (``billing.crypto``) only until its
  mandate exists: Mollie has no customer-less mandate, so :meth:`MollieGateway.setup` creates it later with Mollie's
  Create mandate API, for the customer the setup names. Only the mandate is kept afterwards (the method's reference
  becomes ``mandate:…``). ``sepa=SepaInput(...)`` given to setup must be the same IBAN.
- ``mandate:cst_…:mdt_…``: a Mollie customer and one of its mandates (from a paid first card payment or a SEPA
  mandate): chargeable off-session with ``sequenceType=recurring``.

Payment and setup references are Mollie payment ids (``tr_…``); a SEPA setup's reference is its ``mandate:…``
reference; refund references are Mollie refund ids (``re_…``).

Card setups are first payments of €0.00: Mollie accepts zero-amount first payments for cards (and PayPal); the
customer authenticates (3-D Secure) at the payment's checkout URL and Mollie creates the mandate once it is paid.
"""

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime
from urllib.parse import parse_qs

from django.conf import settings
from mollie.api.client import Client
from mollie.api.error import Error as MollieError
from mollie.api.error import RequestSetupError, ResponseError
from mollie.api.objects.customer import Customer
from mollie.api.objects.payment import Payment
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from billing import crypto
from billing.exceptions import (
    CardDeclined,
    GatewayUnavailable,
    InvalidRequest,
    LiveModeNotAllowed,
    NotFound,
    StateConflict,
)
from billing.gateways.base import (
    CardInput,
    ChargeResult,
    CustomerRef,
    HostedFields,
    MethodDetails,
    PaymentResult,
    ProcessorEvent,
    RefundResult,
    SepaInput,
    SetupResult,
)
from billing.money import exponent

# Countries of the SEPA Direct Debit scheme: the EU, the EEA, its other members, territories on their country's scheme.
_SEPA = (
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO CH GB MC SM VA AD GI GG JE IM "
    "AX GF GP MQ RE YT BL MF PM"
)
SEPA_COUNTRIES = frozenset(_SEPA.split())

# Mollie's ``details.failureReason`` of a failed card payment -> Stripe's (failure code, decline code).
CARD_FAILURES = {
    "authentication_abandoned": ("payment_intent_authentication_failure", ""),
    "authentication_failed": ("payment_intent_authentication_failure", ""),
    "authentication_required": ("authentication_required", "authentication_required"),
    "authentication_unavailable_acs": ("payment_intent_authentication_failure", ""),
    "card_declined": ("card_declined", "generic_decline"),
    "card_expired": ("expired_card", "expired_card"),
    "inactive_card": ("card_declined", "invalid_account"),
    "insufficient_funds": ("card_declined", "insufficient_funds"),
    "invalid_cvv": ("incorrect_cvc", "incorrect_cvc"),
    "invalid_card_holder_name": ("card_declined", "generic_decline"),
    "invalid_card_number": ("incorrect_number", "incorrect_number"),
    "invalid_card_type": ("card_declined", "card_not_supported"),
    "possible_fraud": ("card_declined", "fraudulent"),
    "refused_by_issuer": ("card_declined", "do_not_honor"),
    "unknown_reason": ("card_declined", "generic_decline"),
}

# A failed SEPA debit's ISO 20022 reason (``details.bankReasonCode``) -> Stripe's SEPA failure code.
SEPA_FAILURES = {
    "AM04": "insufficient_funds",
    "AC01": "incorrect_account_holder_name",
    "AC04": "account_closed",
    "AC06": "bank_account_restricted",
    "AG01": "bank_account_restricted",
    "MD01": "debit_not_authorized",
    "MD06": "debit_disputed",
    "MD07": "account_closed",
    "MS02": "debit_not_authorized",
}

REFUND_STATUSES = {
    "queued": "pending",
    "pending": "pending",
    "processing": "pending",
    "refunded": "succeeded",
    "failed": "failed",
    "canceled": "failed",
}

SETUP_PURPOSE = "setup"
_SHARED = tuple(field.name for field in fields(SetupResult) if field.name not in ("status", "mandate_reference"))
_API_KEY = re.compile(r"^(live|test)_\w+$")
_PAYMENT_ID = re.compile(r"^tr_[A-Za-z0-9]+$")
_IBAN_LIKE = re.compile(r"\b([A-Z]{2}\d{2})[ ]?((?:[A-Z0-9][ ]?){8,28})([A-Z0-9]{4})\b")
_CARD_TOKEN = re.compile(r"tkn_[A-Za-z0-9]+")


def mollie_amount(amount: int, currency: str) -> dict:
    """Integer minor units -> Mollie's amount object, with exactly the currency's decimals (none for JPY)."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError("amount must be an integer number of minor units")
    digits = exponent(currency)
    major, minor = divmod(abs(amount), 10**digits)
    value = f"{major}.{minor:0{digits}d}" if digits else str(major)
    return {"currency": currency.upper(), "value": f"-{value}" if amount < 0 else value}


def redact(text: str) -> str:
    """Keep IBANs and card tokens out of messages: Mollie's error details may echo what it was sent."""
    text = _IBAN_LIKE.sub(lambda match: f"{match.group(1)}…{match.group(3)}", text or "")
    return _CARD_TOKEN.sub("tkn_…", text)


def _fingerprint(kind: str, secret_value: str) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"{kind}:{secret_value}".encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


def _link(obj: dict, name: str) -> str:
    return ((obj.get("_links") or {}).get(name) or {}).get("href") or ""


def _mandate_reference(customer_id: str, mandate_id: str) -> str:
    return f"mandate:{customer_id}:{mandate_id}"


def _parse_mandate(reference: str) -> tuple[str, str]:
    _, customer_id, mandate_id = [*reference.split(":"), "", ""][:3]
    if not customer_id.startswith("cst_") or not mandate_id.startswith("mdt_") or reference.count(":") != 2:
        raise InvalidRequest("This is not a Mollie mandate reference.", param="payment_method")
    return customer_id, mandate_id


def _map_error(err: MollieError) -> Exception:
    """A mollie-api-python error -> ours. Network errors, timeouts, 5xx and 429 are retried later with the same
    idempotency key; 4xx carry Mollie's (redacted) detail."""
    if isinstance(err, RequestSetupError):
        return InvalidRequest(f"The Mollie request could not be prepared: {redact(str(err))}")
    if not isinstance(err, ResponseError):  # connection refused, timeout, unreadable answer (an HTML 502 page)
        return GatewayUnavailable("Mollie could not be reached; nothing was charged. Try again later.")
    status = err.status or 0
    if status >= 500 or status == 429:
        return GatewayUnavailable(f"Mollie is unavailable (HTTP {status}); nothing was charged. Try again later.")
    if status in (401, 403):
        return InvalidRequest(
            f"Mollie refused the API key (HTTP {status}): check the Mollie API key in the gateway settings.",
            code="gateway_authentication_failed",
        )
    if status == 404:
        return NotFound(f"Mollie: {redact(str(err))}")
    return InvalidRequest(f"Mollie: {redact(str(err))}", param=err.field)


def _failure(payment: dict) -> tuple[str, str, str]:
    """(failure code, decline code, message) of a failed, canceled or expired Mollie payment."""
    status, details = payment.get("status"), payment.get("details") or {}
    if status == "expired":
        return "payment_intent_payment_attempt_expired", "", "The payment was not completed in time."
    if status == "canceled":
        return "payment_intent_payment_attempt_failed", "", "The payment was canceled."
    if reason := details.get("failureReason"):
        code, decline = CARD_FAILURES.get(reason, ("card_declined", "generic_decline"))
        return code, decline, details.get("failureMessage") or "Your card was declined."
    if bank_code := details.get("bankReasonCode"):
        message = details.get("bankReason") or "The bank could not process the debit."
        return SEPA_FAILURES.get(bank_code, "generic_could_not_process"), "", message
    if payment.get("method") == "creditcard":
        return "card_declined", "generic_decline", "Your card was declined."
    return "payment_intent_payment_attempt_failed", "", "The payment failed."


def _first_mandate(payment: dict) -> str:
    """The ``mandate:…`` reference a paid (or authorized) first payment created, or ""."""
    done = payment.get("sequenceType") == "first" and payment.get("status") in ("paid", "authorized")
    if not (done and payment.get("mandateId") and payment.get("customerId")):
        return ""
    return _mandate_reference(payment["customerId"], payment["mandateId"])


def payment_result(payment: dict, *, customer_reference: str = "") -> PaymentResult:
    """Mollie's payment -> our answer: open (with a checkout link) -> requires_action, pending -> processing,
    authorized -> requires_capture, paid -> succeeded, failed/canceled/expired -> failed."""
    status, checkout = payment.get("status"), _link(payment, "checkout")
    common = {"reference": payment["id"], "customer_reference": customer_reference or payment.get("customerId") or ""}
    if status == "paid":
        return PaymentResult(status="succeeded", method_reference=_first_mandate(payment), **common)
    if status == "authorized":
        return PaymentResult(status="requires_capture", method_reference=_first_mandate(payment), **common)
    if status == "open" and checkout:
        return PaymentResult(status="requires_action", action_url=checkout, **common)
    if status in ("open", "pending"):
        return PaymentResult(status="processing", **common)
    code, decline, message = _failure(payment)
    return PaymentResult(status="failed", failure_code=code, decline_code=decline, failure_message=message, **common)


def setup_result(payment: dict) -> SetupResult:
    """A card setup's first payment -> SetupResult (authorized or paid: the mandate exists)."""
    result = payment_result(payment)
    status = "succeeded" if result.status == "requires_capture" else result.status
    mandate_id = result.method_reference.rsplit(":", 1)[-1] if result.method_reference else ""
    return SetupResult(status=status, mandate_reference=mandate_id, **{name: getattr(result, name) for name in _SHARED})


def mandate_setup_result(mandate: dict, customer_id: str) -> SetupResult:
    """Mollie's mandate (valid, pending or invalid) -> SetupResult."""
    reference = _mandate_reference(customer_id, mandate["id"])
    status = {"valid": "succeeded", "pending": "processing"}.get(mandate.get("status"), "failed")
    failure = ("mandate_invalid", "The bank account could not be set up for direct debits.")
    code, message = failure if status == "failed" else ("", "")
    return SetupResult(
        status=status,
        reference=reference,
        method_reference=reference,
        mandate_reference=mandate["id"],
        failure_code=code,
        failure_message=message,
        customer_reference=customer_id,
    )


def _authentication_required(reference: str, customer_reference: str) -> PaymentResult:
    code, message = "authentication_required", "The customer must be present to authenticate this payment."
    failure = {"failure_code": code, "decline_code": code, "failure_message": message}
    return PaymentResult(status="failed", reference=reference, customer_reference=customer_reference, **failure)


def refund_result(refund: dict) -> RefundResult:
    status = REFUND_STATUSES.get(refund.get("status"), "pending")
    reason = f"Mollie reports the refund {refund.get('status')}." if status == "failed" else ""
    return RefundResult(status=status, reference=refund["id"], failure_reason=reason)


def _event(kind: str, obj: dict, **answer) -> ProcessorEvent:
    return ProcessorEvent(id=f"mollie:{obj['id']}:{obj.get('status')}", kind=kind, reference=obj["id"], **answer)


class MollieGateway:
    """Implements the gateway interface on Mollie. The API key's mode (``test_…``/``live_…``) is the gateway's."""

    def __init__(
        self,
        *,
        api_key: str,
        webhook_url: str = "",
        profile_id: str = "",
        api_endpoint: str | None = None,
        timeout: float = 10.0,
    ):
        api_key = api_key.strip()
        if not _API_KEY.match(api_key):  # checked here: the client's own error would quote the key
            raise InvalidRequest("A Mollie API key starts with test_ or live_.", param="api_key")
        self.livemode = api_key.startswith("live_")
        self.webhook_url = webhook_url
        self.profile_id = profile_id
        self.client = Client(api_endpoint=api_endpoint or "", timeout=timeout)
        self.client.set_api_key(api_key)

    # Plumbing --------------------------------------------------------------------------------------------------------

    def _call(self, fn: Callable, *args, **kwargs):
        """Run one Mollie call, translating its errors (raised outside the handler, so Mollie's unredacted error is
        not chained to ours)."""
        try:
            return fn(*args, **kwargs)
        except MollieError as err:
            mapped = _map_error(err)
        raise mapped

    def check_mode(self, *, livemode: bool) -> None:
        if livemode != self.livemode:
            key, wanted = ("live" if self.livemode else "test"), ("live" if livemode else "test")
            raise LiveModeNotAllowed(
                f"The Mollie gateway is configured with a {key} API key ({key}_…) and cannot be used in {wanted} "
                f"mode. Configure a {wanted}_… Mollie API key for {wanted} mode."
            )

    def check_connection(self) -> str:
        """A cheap authenticated call (the key's profile); returns the profile id."""
        profile = self._call(self.client.profiles.get, "me")
        if self.profile_id and profile.get("id") != self.profile_id:
            raise InvalidRequest(
                f"The Mollie API key belongs to profile {profile.get('id')}, not to {self.profile_id}.",
                param="profile_id",
            )
        return profile.get("id") or ""

    def _ensure_customer(self, customer: CustomerRef | None, idempotency_key: str) -> str:
        """Mollie's id of ``customer``, creating the Mollie customer the first time."""
        if customer is None:
            return ""
        if customer.reference:
            return customer.reference
        data = {"metadata": {"customer": customer.id}}
        data.update({key: value for key, value in (("name", customer.name), ("email", customer.email)) if value})
        created = self._call(self.client.customers.create, data, idempotency_key=f"{idempotency_key}:customer")
        return created["id"]

    def _payment_data(self, *, amount: int, currency: str, description: str, capture: bool) -> dict:
        data = {"amount": mollie_amount(amount, currency), "description": description or "Payment"}
        if self.webhook_url:
            data["webhookUrl"] = self.webhook_url
        if not capture:
            data["captureMode"] = "manual"
        return data

    # Payment methods -------------------------------------------------------------------------------------------------

    def tokenize_card(self, card: CardInput, *, livemode: bool) -> MethodDetails:
        raise InvalidRequest(
            "Card numbers are not accepted here: with Mollie, cards are collected with Mollie Components (card "
            "fields hosted by Mollie). Send the card token (tkn_…) they return instead.",
            param="card",
        )

    def tokenize_sepa(self, sepa: SepaInput, *, livemode: bool) -> MethodDetails:
        """Check the IBAN and describe it; nothing is sent to Mollie yet (see the module docstring)."""
        self.check_mode(livemode=livemode)
        iban = self._parse_iban(sepa)
        return MethodDetails(
            type="sepa_debit",
            reference=f"sepa:{_fingerprint('iban', iban.compact)}:{crypto.encrypt(iban.compact)}",
            fingerprint=_fingerprint("iban", iban.compact),
            country=iban.country_code,
            last4=iban.compact[-4:],
            bank_code=iban.bank_code or "",
        )

    def _parse_iban(self, sepa: SepaInput) -> IBAN:
        try:
            iban = IBAN(sepa.iban)
        except SchwiftyException:
            raise InvalidRequest("The IBAN you entered is invalid.", param="sepa_debit[iban]", code="invalid_iban")
        if iban.country_code not in SEPA_COUNTRIES:
            raise InvalidRequest(
                "Mollie can only debit bank accounts in SEPA countries.", param="sepa_debit[iban]", code="invalid_iban"
            )
        return iban

    def from_token(self, token: str, *, livemode: bool) -> MethodDetails:
        """A Mollie Components card token. Brand and last 4 digits are Mollie's until the first payment."""
        self.check_mode(livemode=livemode)
        if not re.fullmatch(r"tkn_[A-Za-z0-9]+", token or ""):
            raise InvalidRequest(
                "This is not a Mollie Components card token (tkn_…).", param="payment_method", code="resource_missing"
            )
        return MethodDetails(type="card", reference=f"token:{token}", fingerprint=_fingerprint("card_token", token))

    def hosted_fields(self, *, livemode: bool) -> HostedFields:
        """Mollie Components: card fields only (Mollie hosts no IBAN field, and an IBAN must not reach our pages)."""
        self.check_mode(livemode=livemode)
        return HostedFields(kind="mollie", profile_id=self.profile_id, testmode=not self.livemode, types=("card",))

    def verify(self, details_reference: str, *, livemode: bool) -> None:
        """A mandate must still be valid; a token or a checked IBAN is verified by the payment or setup that uses it."""
        self.check_mode(livemode=livemode)
        if not details_reference.startswith("mandate:"):
            return
        customer_id, mandate_id = _parse_mandate(details_reference)
        mandate = self._call(Customer({"id": customer_id}, self.client).mandates.get, mandate_id)
        if mandate.get("status") == "invalid":
            raise CardDeclined("This payment method can no longer be charged.", decline_code="generic_decline")

    def payment_method_types(self, *, currency: str, country: str, livemode: bool) -> list[str]:
        if currency.upper() == "EUR" and country.upper() in SEPA_COUNTRIES:
            return ["card", "sepa_debit"]
        return ["card"]

    # Payments --------------------------------------------------------------------------------------------------------

    def pay(
        self,
        *,
        reference: str,
        amount: int,
        currency: str,
        livemode: bool,
        idempotency_key: str,
        off_session: bool,
        customer: CustomerRef | None = None,
        return_url: str = "",
        capture: bool = True,
        setup_future_usage: bool = False,
        description: str = "",
    ) -> PaymentResult:
        """``mandate:`` -> a recurring payment; ``token:`` on-session -> a first payment (a oneoff one without a
        customer); off-session without a mandate -> failed with ``authentication_required``."""
        self.check_mode(livemode=livemode)
        data = self._payment_data(amount=amount, currency=currency, description=description, capture=capture)
        if reference.startswith("mandate:"):
            customer_id, mandate_id = _parse_mandate(reference)
            data.update({"sequenceType": "recurring", "customerId": customer_id, "mandateId": mandate_id})
            payment = self._call(self.client.payments.create, data, idempotency_key=idempotency_key)
            result = payment_result(payment, customer_reference=customer_id)
            if off_session and result.action_url:  # no one is there to authenticate
                return _authentication_required(result.reference, customer_id)
            return result
        if off_session:  # a token or a checked IBAN without a mandate
            return _authentication_required("", customer.reference if customer else "")
        if not reference.startswith("token:"):
            raise InvalidRequest(
                "This payment method must be set up (a SEPA mandate) before it can be charged.", param="payment_method"
            )
        if not return_url:
            raise InvalidRequest("A return URL is required: the customer may have to authenticate.", param="return_url")
        if setup_future_usage and customer is None:
            raise InvalidRequest("A customer is required to save the card for later.", param="customer")
        customer_id = self._ensure_customer(customer, idempotency_key)
        data.update({"method": "creditcard", "cardToken": reference.split(":", 1)[1], "redirectUrl": return_url})
        # A token is single use: with a customer, make it a first payment so the card stays chargeable.
        data.update({"sequenceType": "first", "customerId": customer_id} if customer_id else {})
        payment = self._call(self.client.payments.create, data, idempotency_key=idempotency_key)
        return payment_result(payment, customer_reference=customer_id)

    def charge(
        self, *, reference: str, amount: int, currency: str, livemode: bool, idempotency_key: str
    ) -> ChargeResult:
        """The synchronous interface: an off-session payment. An answer that is not final yet (a SEPA debit) is not
        a success: it is reported with ``payment_pending`` and its reference, to follow with payment_status()."""
        result = self.pay(
            reference=reference,
            amount=amount,
            currency=currency,
            livemode=livemode,
            idempotency_key=idempotency_key,
            off_session=True,
        )
        code, message = result.failure_code, result.failure_message
        if result.status not in ("succeeded", "failed"):
            code, message = "payment_pending", "The payment is not final yet."
        return ChargeResult(result.succeeded, result.reference, code, message, result.decline_code)

    def payment_status(self, *, reference: str, livemode: bool) -> PaymentResult:
        self.check_mode(livemode=livemode)
        return payment_result(self._call(self.client.payments.get, reference))

    def capture(self, *, reference: str, amount: int, livemode: bool, idempotency_key: str) -> PaymentResult:
        self.check_mode(livemode=livemode)
        payment = self._call(self.client.payments.get, reference)
        if payment.get("status") != "authorized":
            raise StateConflict(f"Only an authorized payment can be captured; this one is {payment.get('status')}.")
        data = {"amount": mollie_amount(amount, payment["amount"]["currency"])}
        capture = self._call(Payment(payment, self.client).captures.create, data, idempotency_key=idempotency_key)
        status = {"succeeded": "succeeded", "failed": "failed"}.get(capture.get("status"), "processing")
        code, message = ("capture_failed", "Mollie could not capture the payment.") if status == "failed" else ("", "")
        return PaymentResult(status, reference, failure_code=code, failure_message=message)

    def cancel(self, *, reference: str, livemode: bool) -> None:
        """Release an authorization or cancel a cancelable payment; an open card payment expires on its own."""
        self.check_mode(livemode=livemode)
        payment = self._call(self.client.payments.get, reference)
        status = payment.get("status")
        if status == "paid":
            raise StateConflict("A paid payment cannot be canceled; refund it instead.")
        if status == "authorized":
            self._call(self.client.payments.release_authorization, reference)
        elif payment.get("isCancelable"):
            self._call(self.client.payments.delete, reference)

    def refund(
        self, *, reference: str, amount: int, currency: str, livemode: bool, idempotency_key: str, reason: str = ""
    ) -> RefundResult:
        self.check_mode(livemode=livemode)
        data = {"amount": mollie_amount(amount, currency)}
        if reason:
            data["description"] = reason
        payment = Payment({"id": reference}, self.client)
        return refund_result(self._call(payment.refunds.create, data, idempotency_key=idempotency_key))

    # Setups ----------------------------------------------------------------------------------------------------------

    def setup(
        self,
        *,
        reference: str,
        livemode: bool,
        idempotency_key: str,
        customer: CustomerRef | None = None,
        return_url: str = "",
        mandate: dict | None = None,
        sepa: SepaInput | None = None,
        account_holder: str = "",
    ) -> SetupResult:
        """``token:`` -> a €0.00 first card payment (requires_action at Mollie's checkout); ``sepa:`` with the IBAN
        again in ``sepa`` -> a SEPA mandate in the name of ``account_holder`` (or the customer's);
        ``mandate:`` -> already set up (its current state)."""
        self.check_mode(livemode=livemode)
        if reference.startswith("mandate:"):
            return self.setup_status(reference=reference, livemode=livemode)
        if customer is None:
            raise InvalidRequest(
                "Mollie saves payment methods for a customer: a customer is required.", param="customer"
            )
        if reference.startswith("sepa:"):
            return self._setup_sepa(reference, idempotency_key, customer, mandate, sepa, account_holder)
        if not reference.startswith("token:"):
            raise InvalidRequest("This is not a Mollie payment method reference.", param="payment_method")
        if not return_url:
            raise InvalidRequest("A return URL is required: the customer authenticates the card.", param="return_url")
        customer_id = self._ensure_customer(customer, idempotency_key)
        data = self._payment_data(amount=0, currency="EUR", description="Card verification", capture=True)
        data.update(
            {
                "method": "creditcard",
                "cardToken": reference.split(":", 1)[1],
                "sequenceType": "first",
                "customerId": customer_id,
                "redirectUrl": return_url,
                "metadata": {"purpose": SETUP_PURPOSE},
            }
        )
        return setup_result(self._call(self.client.payments.create, data, idempotency_key=idempotency_key))

    def _setup_sepa(
        self,
        reference: str,
        idempotency_key: str,
        customer: CustomerRef,
        mandate: dict | None,
        sepa: SepaInput | None,
        account_holder: str,
    ) -> SetupResult:
        _, fingerprint, ciphertext = (reference.split(":", 2) + ["", ""])[:3]
        if sepa is None:
            if not ciphertext:
                raise InvalidRequest(
                    "Mollie needs the IBAN once to create the SEPA mandate: provide it again with the setup.",
                    param="sepa_debit[iban]",
                )
            sepa = SepaInput(crypto.decrypt(ciphertext))
        iban = self._parse_iban(sepa)
        if not hmac.compare_digest(fingerprint, _fingerprint("iban", iban.compact)):
            raise InvalidRequest("This IBAN is not the one of this payment method.", param="sepa_debit[iban]")
        holder = account_holder or customer.name
        if not holder:
            raise InvalidRequest(
                "The account holder's name is required for a SEPA mandate.", param="billing_details[name]"
            )
        accepted_at = ((mandate or {}).get("customer_acceptance") or {}).get("accepted_at")
        if not isinstance(accepted_at, datetime):  # Stripe's customer_acceptance carries a Unix timestamp
            accepted_at = datetime.fromtimestamp(int(accepted_at), UTC) if accepted_at else datetime.now(UTC)
        customer_id = self._ensure_customer(customer, idempotency_key)
        data = {
            "method": "directdebit",
            "consumerName": holder,
            "consumerAccount": iban.compact,
            "signatureDate": accepted_at.date().isoformat(),
        }
        mandates = Customer({"id": customer_id}, self.client).mandates
        created = self._call(mandates.create, data, idempotency_key=f"{idempotency_key}:mandate")
        return mandate_setup_result(created, customer_id)

    def setup_status(self, *, reference: str, livemode: bool) -> SetupResult:
        self.check_mode(livemode=livemode)
        if reference.startswith("mandate:"):
            customer_id, mandate_id = _parse_mandate(reference)
            mandate = self._call(Customer({"id": customer_id}, self.client).mandates.get, mandate_id)
            return mandate_setup_result(mandate, customer_id)
        return setup_result(self._call(self.client.payments.get, reference))

    # Webhooks --------------------------------------------------------------------------------------------------------

    def parse_webhook(self, *, body: bytes, headers: dict, livemode: bool) -> list[ProcessorEvent]:
        """Mollie posts ``id=tr_…`` (form-encoded, unsigned) when a payment's status changes and when one of its
        refunds reaches processing, refunded or failed. Fetching the payment from Mollie with our key is the
        verification. Event ids are ``mollie:<id>:<status>``: the same state twice is the same event."""
        self.check_mode(livemode=livemode)
        try:
            ids = parse_qs(body.decode(), strict_parsing=True).get("id") or [""]
        except (UnicodeDecodeError, ValueError):
            ids = [""]
        if not _PAYMENT_ID.match(ids[0]):
            raise InvalidRequest("This is not a Mollie webhook: it names no Mollie payment.")
        try:
            payment = self._call(self.client.payments.get, ids[0])
        except NotFound:
            raise InvalidRequest("This is not a Mollie webhook: Mollie does not know this payment.") from None
        if (payment.get("metadata") or {}).get("purpose") == SETUP_PURPOSE:
            events = [_event("setup", payment, setup=setup_result(payment))]
        else:
            events = [_event("payment", payment, payment=payment_result(payment))]
        if _link(payment, "refunds"):  # only payments with refunds link them
            refunds = self._call(Payment(payment, self.client).refunds.list, limit=250)
            events += [_event("refund", refund, refund=refund_result(refund)) for refund in refunds]
        return events
