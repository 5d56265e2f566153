"""The built-in test gateway: Stripe's test cards, ``pm_card_*`` tokens and test IBANs. Test mode only."""

import hashlib
import hmac
import secrets
import time

from django.conf import settings
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from billing.exceptions import CardDeclined, InvalidRequest, LiveModeNotAllowed
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
    luhn_valid,
)

SUCCEED = "succeed"
DECLINE = "generic_decline"
INSUFFICIENT = "insufficient_funds"
EXPIRED = "expired_card"
INCORRECT_CVC = "incorrect_cvc"
FAIL_ON_CHARGE = "fail_on_charge"
# 3-D Secure: needs authentication on setup and for on-session payments; once set up, off-session payments pass.
AUTH_ON_SETUP = "auth_on_setup"
# The same card after an authenticated setup.
AUTH_SET_UP = "auth_set_up"
# 3-D Secure on every payment: off-session payments fail with authentication_required.
AUTH_ALWAYS = "auth_always"
# SEPA Direct Debit: every payment is ``processing`` first; the bank's answer comes later.
SEPA_SUCCEED = "sepa_succeed"
SEPA_FAIL = "sepa_fail"

# number -> (brand, country, funding, behaviour)
TEST_CARDS = {
    "4242424242424242": ("visa", "US", "credit", SUCCEED),
    "4000056655665556": ("visa", "US", "debit", SUCCEED),
    "4000002760000016": ("visa", "DE", "credit", SUCCEED),
    "5555555555554444": ("mastercard", "US", "credit", SUCCEED),
    "2223003122003222": ("mastercard", "US", "credit", SUCCEED),
    "5200828282828210": ("mastercard", "US", "debit", SUCCEED),
    "378282246310005": ("amex", "US", "credit", SUCCEED),
    "4000000000000002": ("visa", "US", "credit", DECLINE),
    "4000000000009995": ("visa", "US", "credit", INSUFFICIENT),
    "4000000000000069": ("visa", "US", "credit", EXPIRED),
    "4000000000000127": ("visa", "US", "credit", INCORRECT_CVC),
    "4000000000000341": ("visa", "US", "credit", FAIL_ON_CHARGE),
    "4000002500003155": ("visa", "IE", "credit", AUTH_ON_SETUP),
    "4000002760003184": ("visa", "DE", "credit", AUTH_ALWAYS),
    "4000000000003220": ("visa", "US", "credit", AUTH_ALWAYS),
}

TEST_TOKENS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_visa_debit": "4000056655665556",
    "pm_card_de": "4000002760000016",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_mastercard_debit": "5200828282828210",
    "pm_card_amex": "378282246310005",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_threeDSecure2Required": "4000000000003220",
}

# Stripe's SEPA test IBANs: these succeed or fail; any other valid IBAN succeeds.
TEST_IBANS = {
    "AT611904300234573201": SEPA_SUCCEED,
    "DE89370400440532013000": SEPA_SUCCEED,
    "AT861904300235473202": SEPA_FAIL,
    "DE62370400440532013001": SEPA_FAIL,
}

MESSAGES = {
    DECLINE: ("card_declined", "generic_decline", "Your card was declined."),
    INSUFFICIENT: ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    EXPIRED: ("expired_card", "expired_card", "Your card has expired."),
    INCORRECT_CVC: ("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."),
    FAIL_ON_CHARGE: ("card_declined", "generic_decline", "Your card was declined."),
    SEPA_FAIL: ("insufficient_funds", "insufficient_funds", "The customer's account has insufficient funds."),
}
AUTHENTICATION_REQUIRED = (
    "authentication_required",
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
)
AUTHENTICATION_FAILED = (
    "payment_intent_authentication_failure",
    "",
    "The provided payment method has failed authentication. Provide a new payment method to attempt this payment "
    "again.",
)
SEPA_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CH",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GB",
        "GI",
        "GR",
        "HR",
        "HU",
        "IE",
        "IS",
        "IT",
        "LI",
        "LT",
        "LU",
        "LV",
        "MC",
        "MT",
        "NL",
        "NO",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
        "SM",
        "VA",
    ]
)


def _brand(number: str) -> str:
    if number.startswith(("34", "37")):
        return "amex"
    if number[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(number[:4]) <= 2720:
        return "mastercard"
    if number.startswith("4"):
        return "visa"
    return "unknown"


def _fingerprint(kind: str, secret_value: str) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"{kind}:{secret_value}".encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


def _reference(behaviour: str) -> str:
    return f"test_{behaviour}_{secrets.token_hex(8)}"


BEHAVIOURS = (
    FAIL_ON_CHARGE,
    INSUFFICIENT,
    DECLINE,
    EXPIRED,
    INCORRECT_CVC,
    AUTH_ON_SETUP,
    AUTH_SET_UP,
    AUTH_ALWAYS,
    SEPA_SUCCEED,
    SEPA_FAIL,
    SUCCEED,
)


def _behaviour(reference: str) -> str:
    for behaviour in BEHAVIOURS:
        if reference.startswith(f"test_{behaviour}_"):
            return behaviour
    return DECLINE


def _failed(kind: tuple[str, str, str], reference: str = "") -> PaymentResult:
    code, decline_code, message = kind
    return PaymentResult(
        status="failed", reference=reference, failure_code=code, decline_code=decline_code, failure_message=message
    )


# A payment's or setup's reference carries what the simulated bank will answer when asked again:
# ``testpay_<state>_<behaviour>_<key digest>`` with state ``action`` (waiting for the customer), ``processing``
# (waiting for the bank), ``ok`` or ``fail``.
def _payment_reference(state: str, behaviour: str, key: str) -> str:
    return f"testpay_{state}_{behaviour}_{_fingerprint('payment', key)}"


def _payment_state(reference: str) -> tuple[str, str]:
    parts = reference.split("_")
    if len(parts) < 4 or parts[0] != "testpay":
        raise InvalidRequest("Unknown test payment.", param="payment_intent")
    return parts[1], "_".join(parts[2:-1])


class TestGateway:
    """Implements the gateway interface without moving money. Refuses live mode."""

    takes_live_payments = False

    def _test_mode_only(self, livemode: bool) -> None:
        if livemode:
            raise LiveModeNotAllowed(
                "The test gateway cannot be used in live mode. Configure a real payment gateway "
                "(BILLING_GATEWAY) for live payments."
            )

    def check_mode(self, *, livemode: bool) -> None:
        self._test_mode_only(livemode)

    def tokenize_card(self, card: CardInput, *, livemode: bool) -> MethodDetails:
        self._test_mode_only(livemode)
        number = "".join(ch for ch in card.number if ch.isdigit())
        if not 12 <= len(number) <= 19 or not luhn_valid(number):
            raise InvalidRequest("Your card number is incorrect.", param="card[number]", code="incorrect_number")
        if not 1 <= int(card.exp_month) <= 12:
            raise InvalidRequest(
                "Your card's expiration month is invalid.", param="card[exp_month]", code="invalid_expiry_month"
            )
        year = int(card.exp_year)
        year = year + 2000 if year < 100 else year
        from billing import clock

        today = clock.now()
        if (year, int(card.exp_month)) < (today.year, today.month):
            raise InvalidRequest(
                "Your card's expiration year is invalid.", param="card[exp_year]", code="invalid_expiry_year"
            )
        cvc = "".join(ch for ch in str(card.cvc) if ch.isdigit())
        if card.cvc and not 3 <= len(cvc) <= 4:
            raise InvalidRequest("Your card's security code is invalid.", param="card[cvc]", code="invalid_cvc")
        brand, country, funding, behaviour = TEST_CARDS.get(number, (_brand(number), "US", "credit", SUCCEED))
        return MethodDetails(
            type="card",
            reference=_reference(behaviour),
            fingerprint=_fingerprint("card", number),
            country=country,
            brand=brand,
            last4=number[-4:],
            exp_month=int(card.exp_month),
            exp_year=year,
            funding=funding,
        )

    def tokenize_sepa(self, sepa: SepaInput, *, livemode: bool) -> MethodDetails:
        self._test_mode_only(livemode)
        try:
            iban = IBAN(sepa.iban)
        except SchwiftyException:
            raise InvalidRequest("The IBAN you entered is invalid.", param="sepa_debit[iban]", code="invalid_iban")
        compact = iban.compact
        return MethodDetails(
            type="sepa_debit",
            reference=_reference(TEST_IBANS.get(compact, SEPA_SUCCEED)),
            fingerprint=_fingerprint("iban", compact),
            country=iban.country_code,
            last4=compact[-4:],
            bank_code=iban.bank_code or "",
        )

    def from_token(self, token: str, *, livemode: bool) -> MethodDetails:
        self._test_mode_only(livemode)
        number = TEST_TOKENS.get(token)
        if number is None:
            raise InvalidRequest(f"No such PaymentMethod: '{token}'", param="payment_method", code="resource_missing")
        from billing import clock

        return self.tokenize_card(CardInput(number, 12, clock.now().year + 3, "123"), livemode=livemode)

    def hosted_fields(self, *, livemode: bool) -> HostedFields:
        """Our own hosted fields (``vault/``, on its own origin) play the part Stripe.js plays for Stripe."""
        self._test_mode_only(livemode)
        return HostedFields(kind="vault", testmode=True)

    def verify(self, reference: str, *, livemode: bool) -> None:
        self._test_mode_only(livemode)
        behaviour = _behaviour(reference)
        if behaviour in (SUCCEED, FAIL_ON_CHARGE, AUTH_ON_SETUP, AUTH_SET_UP, AUTH_ALWAYS, SEPA_SUCCEED, SEPA_FAIL):
            return
        code, decline_code, message = MESSAGES[behaviour]
        raise CardDeclined(message, decline_code=decline_code)

    def charge(
        self, *, reference: str, amount: int, currency: str, livemode: bool, idempotency_key: str
    ) -> ChargeResult:
        self._test_mode_only(livemode)
        if settings.BILLING_TEST_GATEWAY_LATENCY_MS:
            time.sleep(settings.BILLING_TEST_GATEWAY_LATENCY_MS / 1000)  # a processor's answer time, for benchmarks
        behaviour = _behaviour(reference)
        if behaviour in (SUCCEED, AUTH_SET_UP, SEPA_SUCCEED):
            # Idempotent as a processor is: the same key gets the same charge back, never a second one.
            return ChargeResult(succeeded=True, reference=f"test_charge_{_fingerprint('charge', idempotency_key)}")
        if behaviour in (AUTH_ON_SETUP, AUTH_ALWAYS):
            code, decline_code, message = AUTHENTICATION_REQUIRED
        else:
            code, decline_code, message = MESSAGES[behaviour]
        return ChargeResult(succeeded=False, failure_code=code, failure_message=message, decline_code=decline_code)

    # PaymentIntents and SetupIntents ------------------------------------------------------------------------------
    # Authentication happens on our own hosted page, which plays the issuer's part: ``authenticate`` records the
    # customer's choice there. Everything else is derived from the references, so the simulation keeps no state.

    def payment_method_types(self, *, currency: str, country: str, livemode: bool) -> list[str]:
        if currency.lower() == "eur" and (not country or country.upper() in SEPA_COUNTRIES):
            return ["card", "sepa_debit"]
        return ["card"]

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
        self._test_mode_only(livemode)
        if settings.BILLING_TEST_GATEWAY_LATENCY_MS:
            time.sleep(settings.BILLING_TEST_GATEWAY_LATENCY_MS / 1000)
        behaviour = _behaviour(reference)
        needs_authentication = behaviour == AUTH_ALWAYS or (behaviour == AUTH_ON_SETUP and not off_session)
        if behaviour == AUTH_SET_UP and not off_session:
            needs_authentication = True  # on-session payments still ask the issuer, as with Stripe's 3155 card
        if needs_authentication:
            if off_session:
                return _failed(AUTHENTICATION_REQUIRED, _payment_reference("fail", behaviour, idempotency_key))
            return PaymentResult(
                status="requires_action", reference=_payment_reference("action", behaviour, idempotency_key)
            )
        if behaviour == AUTH_ON_SETUP:  # off-session without an authenticated setup
            return _failed(AUTHENTICATION_REQUIRED, _payment_reference("fail", behaviour, idempotency_key))
        return self._outcome(behaviour, idempotency_key, capture=capture)

    def _outcome(self, behaviour: str, key: str, *, capture: bool = True) -> PaymentResult:
        if behaviour in (SEPA_SUCCEED, SEPA_FAIL):
            return PaymentResult(status="processing", reference=_payment_reference("processing", behaviour, key))
        if behaviour in (SUCCEED, AUTH_SET_UP, AUTH_ON_SETUP, AUTH_ALWAYS):
            state = "ok" if capture else "authorized"
            return PaymentResult(
                status="succeeded" if capture else "requires_capture",
                reference=_payment_reference(state, behaviour, key),
            )
        return _failed(MESSAGES[behaviour], _payment_reference("fail", behaviour, key))

    def authenticate(self, *, reference: str, succeeded: bool, livemode: bool) -> PaymentResult:
        """The customer's choice on the simulated issuer page for a payment that was ``requires_action``."""
        self._test_mode_only(livemode)
        state, behaviour = _payment_state(reference)
        if state != "action":
            return self.payment_status(reference=reference, livemode=livemode)
        key = reference.rsplit("_", 1)[1]
        if not succeeded:
            return _failed(AUTHENTICATION_FAILED, _payment_reference("fail", behaviour, key))
        return self._outcome(behaviour, key)

    def payment_status(self, *, reference: str, livemode: bool) -> PaymentResult:
        self._test_mode_only(livemode)
        state, behaviour = _payment_state(reference)
        if state == "action":
            return PaymentResult(status="requires_action", reference=reference)
        if state == "processing":  # the simulated bank answers the first time it is asked again
            key = reference.rsplit("_", 1)[1]
            if behaviour == SEPA_FAIL:
                return _failed(MESSAGES[SEPA_FAIL], _payment_reference("fail", behaviour, key))
            return PaymentResult(status="succeeded", reference=_payment_reference("ok", behaviour, key))
        if state == "authorized":
            return PaymentResult(status="requires_capture", reference=reference)
        if state == "ok":
            return PaymentResult(status="succeeded", reference=reference)
        return _failed(MESSAGES.get(behaviour, MESSAGES[DECLINE]), reference)

    def setup(
        self,
        *,
        reference: str,
        livemode: bool,
        idempotency_key: str,
        customer: CustomerRef | None = None,
        return_url: str = "",
        mandate: dict | None = None,
    ) -> SetupResult:
        self._test_mode_only(livemode)
        behaviour = _behaviour(reference)
        if behaviour in (AUTH_ON_SETUP, AUTH_ALWAYS):
            return SetupResult(status="requires_action", reference=_payment_reference("action", behaviour, reference))
        if behaviour in MESSAGES and behaviour not in (FAIL_ON_CHARGE, SEPA_FAIL):
            code, decline_code, message = MESSAGES[behaviour]
            return SetupResult(status="failed", failure_code=code, decline_code=decline_code, failure_message=message)
        mandate_reference = f"test_mandate_{_fingerprint('mandate', idempotency_key)}" if mandate else ""
        return SetupResult(status="succeeded", method_reference=reference, mandate_reference=mandate_reference)

    def authenticate_setup(self, *, reference: str, method_reference: str, succeeded: bool, livemode: bool):
        """The customer's choice on the simulated issuer page for a setup that was ``requires_action``."""
        self._test_mode_only(livemode)
        if not succeeded:
            code, _decline, message = AUTHENTICATION_FAILED
            return SetupResult(
                status="failed", failure_code="setup_intent_authentication_failure", failure_message=message
            )
        behaviour = _behaviour(method_reference)
        if behaviour == AUTH_ON_SETUP:  # from now on off-session payments pass
            method_reference = method_reference.replace(f"test_{AUTH_ON_SETUP}_", f"test_{AUTH_SET_UP}_", 1)
        return SetupResult(status="succeeded", reference=reference, method_reference=method_reference)

    def setup_status(self, *, reference: str, livemode: bool) -> SetupResult:
        self._test_mode_only(livemode)
        return SetupResult(status="requires_action", reference=reference)

    def capture(self, *, reference: str, amount: int, livemode: bool, idempotency_key: str) -> PaymentResult:
        self._test_mode_only(livemode)
        state, behaviour = _payment_state(reference)
        if state not in ("authorized", "ok"):
            raise InvalidRequest("This payment cannot be captured.", code="payment_intent_unexpected_state")
        return PaymentResult(status="succeeded", reference=reference.replace("testpay_authorized_", "testpay_ok_", 1))

    def cancel(self, *, reference: str, livemode: bool) -> None:
        self._test_mode_only(livemode)

    def refund(
        self, *, reference: str, amount: int, currency: str, livemode: bool, idempotency_key: str, reason: str = ""
    ) -> RefundResult:
        self._test_mode_only(livemode)
        if amount <= 0:
            raise InvalidRequest("Refund amount must be positive.", param="amount")
        return RefundResult(status="succeeded", reference=f"test_refund_{_fingerprint('refund', idempotency_key)}")

    def parse_webhook(self, *, body: bytes, headers: dict, livemode: bool) -> list[ProcessorEvent]:
        raise InvalidRequest("The test gateway sends no webhooks.")
