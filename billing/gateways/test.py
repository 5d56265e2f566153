"""The built-in test gateway: Stripe's test cards, ``pm_card_*`` tokens and test IBANs. Test mode only."""

import hashlib
import hmac
import secrets
import time

from django.conf import settings
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from billing.exceptions import CardDeclined, InvalidRequest, LiveModeNotAllowed
from billing.gateways.base import CardInput, ChargeResult, MethodDetails, SepaInput, luhn_valid

SUCCEED = "succeed"
DECLINE = "generic_decline"
INSUFFICIENT = "insufficient_funds"
EXPIRED = "expired_card"
INCORRECT_CVC = "incorrect_cvc"
FAIL_ON_CHARGE = "fail_on_charge"

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
}

# Stripe's SEPA test IBANs: these succeed or fail; any other valid IBAN succeeds.
TEST_IBANS = {
    "AT611904300234573201": SUCCEED,
    "DE89370400440532013000": SUCCEED,
    "AT861904300235473202": FAIL_ON_CHARGE,
    "DE62370400440532013001": FAIL_ON_CHARGE,
}

MESSAGES = {
    DECLINE: ("card_declined", "generic_decline", "Your card was declined."),
    INSUFFICIENT: ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    EXPIRED: ("expired_card", "expired_card", "Your card has expired."),
    INCORRECT_CVC: ("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."),
    FAIL_ON_CHARGE: ("card_declined", "generic_decline", "Your card was declined."),
}


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


def _behaviour(reference: str) -> str:
    for behaviour in (FAIL_ON_CHARGE, INSUFFICIENT, DECLINE, EXPIRED, INCORRECT_CVC, SUCCEED):
        if reference.startswith(f"test_{behaviour}_"):
            return behaviour
    return DECLINE


class TestGateway:
    """Implements the gateway interface without moving money. Refuses live mode."""

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
            reference=_reference(TEST_IBANS.get(compact, SUCCEED)),
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

    def verify(self, reference: str, *, livemode: bool) -> None:
        self._test_mode_only(livemode)
        behaviour = _behaviour(reference)
        if behaviour in (SUCCEED, FAIL_ON_CHARGE):
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
        if behaviour == SUCCEED:
            # Idempotent as a processor is: the same key gets the same charge back, never a second one.
            return ChargeResult(succeeded=True, reference=f"test_charge_{_fingerprint('charge', idempotency_key)}")
        code, decline_code, message = MESSAGES[behaviour]
        return ChargeResult(succeeded=False, failure_code=code, failure_message=message, decline_code=decline_code)
