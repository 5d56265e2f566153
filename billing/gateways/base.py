"""The gateway interface every payment service provider adapter implements."""

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CardInput:
    """Raw card data as typed by a person. Lives only for the duration of one call: never stored."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str

    def __repr__(self) -> str:  # keeps card data out of tracebacks and logs
        return f"CardInput(number='…{self.number[-4:]}', exp_month={self.exp_month}, exp_year={self.exp_year})"


@dataclass(frozen=True)
class SepaInput:
    iban: str

    def __repr__(self) -> str:
        return f"SepaInput(iban='…{self.iban[-4:]}')"


@dataclass(frozen=True)
class MethodDetails:
    """What we may keep of a payment method."""

    type: str
    reference: str
    fingerprint: str
    country: str = ""
    brand: str = ""
    last4: str = ""
    exp_month: int | None = None
    exp_year: int | None = None
    funding: str = ""
    bank_code: str = ""


@dataclass(frozen=True)
class ChargeResult:
    succeeded: bool
    reference: str = ""
    failure_code: str = ""
    failure_message: str = ""
    decline_code: str = ""


class Gateway(Protocol):
    def tokenize_card(self, card: CardInput, *, livemode: bool) -> MethodDetails: ...

    def tokenize_sepa(self, sepa: SepaInput, *, livemode: bool) -> MethodDetails: ...

    def from_token(self, token: str, *, livemode: bool) -> MethodDetails: ...

    def verify(self, details_reference: str, *, livemode: bool) -> None:
        """Raise CardDeclined if the method cannot be attached for future use."""

    def check_mode(self, *, livemode: bool) -> None:
        """Raise LiveModeNotAllowed if this processor cannot charge in the mode (asked before an attempt is written)."""

    def charge(
        self, *, reference: str, amount: int, currency: str, livemode: bool, idempotency_key: str
    ) -> ChargeResult:
        """Charge ``amount`` minor units. A decline is a result; GatewayUnavailable means nothing happened. The same
        ``idempotency_key`` must get the first call's answer back, never a second charge."""


def luhn_valid(number: str) -> bool:
    """The check digit of a card number (ISO/IEC 7812), for a clear error before asking the gateway."""
    total = 0
    for i, digit in enumerate(reversed(number)):
        n = int(digit)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0
