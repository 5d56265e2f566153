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
class HostedFields:
    """What the customer's browser needs to collect card or bank details in the processor's own fields (an iframe),
    so that our pages only ever receive a payment-method token.

    ``kind``: ``vault`` (the test gateway's hosted fields, ``vault/``), ``stripe`` (Stripe's Payment Element, with
    ``publishable_key``) or ``mollie`` (Mollie Components, with ``profile_id``); ``types``: the payment method types
    these fields can collect."""

    kind: str
    publishable_key: str = ""
    profile_id: str = ""
    testmode: bool = True
    types: tuple[str, ...] = ("card", "sepa_debit")


@dataclass(frozen=True)
class ChargeResult:
    succeeded: bool
    reference: str = ""
    failure_code: str = ""
    failure_message: str = ""
    decline_code: str = ""


@dataclass(frozen=True)
class CustomerRef:
    """What a processor may know of one of our customers (to mirror it: Stripe and Mollie keep customers)."""

    id: str
    email: str = ""
    name: str = ""
    reference: str = ""  # the processor's id of this customer, once it has one


@dataclass(frozen=True)
class PaymentResult:
    """A processor's answer about one payment (a charge attempt of a PaymentIntent).

    ``status``: ``succeeded``, ``failed``, ``requires_action`` (the customer must authenticate at ``action_url``;
    impossible off-session, where it is ``failed`` with ``authentication_required``), ``processing`` (debits such as
    SEPA: the outcome arrives later, through the processor's webhook or :meth:`Gateway.payment_status`) or
    ``requires_capture`` (authorized, capture later)."""

    status: str
    reference: str = ""
    action_url: str = ""
    failure_code: str = ""
    failure_message: str = ""
    decline_code: str = ""
    method_reference: str = ""  # a new handle for the method when the payment changed it (a mandate was created)
    customer_reference: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


@dataclass(frozen=True)
class SetupResult:
    """A processor's answer about saving a method for later off-session payments (a SetupIntent).

    ``status``: ``succeeded``, ``failed``, ``requires_action`` (authenticate at ``action_url``) or ``processing``."""

    status: str
    reference: str = ""
    method_reference: str = ""
    mandate_reference: str = ""
    action_url: str = ""
    failure_code: str = ""
    failure_message: str = ""
    decline_code: str = ""
    customer_reference: str = ""


@dataclass(frozen=True)
class RefundResult:
    """``status``: ``succeeded``, ``pending`` (the processor settles it later) or ``failed``."""

    status: str
    reference: str = ""
    failure_reason: str = ""


@dataclass(frozen=True)
class ProcessorEvent:
    """A processor's webhook, verified and reduced to what we apply: which of our objects it concerns and the
    answer it now carries. ``id`` makes applying it idempotent."""

    id: str
    kind: str  # "payment", "setup" or "refund"
    reference: str
    payment: PaymentResult | None = None
    setup: SetupResult | None = None
    refund: RefundResult | None = None


class Gateway(Protocol):
    def tokenize_card(self, card: CardInput, *, livemode: bool) -> MethodDetails: ...

    def tokenize_sepa(self, sepa: SepaInput, *, livemode: bool) -> MethodDetails: ...

    def from_token(self, token: str, *, livemode: bool) -> MethodDetails: ...

    def hosted_fields(self, *, livemode: bool) -> HostedFields:
        """How customers type card and bank details for this processor (never into our pages)."""

    def verify(self, details_reference: str, *, livemode: bool) -> None:
        """Raise CardDeclined if the method cannot be attached for future use."""

    def check_mode(self, *, livemode: bool) -> None:
        """Raise LiveModeNotAllowed if this processor cannot charge in the mode (asked before an attempt is written)."""

    def charge(
        self, *, reference: str, amount: int, currency: str, livemode: bool, idempotency_key: str
    ) -> ChargeResult:
        """Charge ``amount`` minor units. A decline is a result; GatewayUnavailable means nothing happened. The same
        ``idempotency_key`` must get the first call's answer back, never a second charge."""

    # PaymentIntents and SetupIntents -------------------------------------------------------------------------------
    # Every call below happens outside our transactions; ``idempotency_key`` makes a repeated call (after a crash or
    # a lost answer) return the first call's answer. GatewayUnavailable means the processor could not be reached (a
    # timeout or a 5xx): the caller keeps its attempt pending and asks again later with the same key.

    def payment_method_types(self, *, currency: str, country: str, livemode: bool) -> list[str]:
        """The payment method types this processor offers for a payment in ``currency`` from a customer in
        ``country`` (ISO 3166 alpha-2 or ""), e.g. ``["card", "sepa_debit"]``; SEPA only in EUR and SEPA countries."""

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
        """Take (or with ``capture=False`` authorize) ``amount`` from the method ``reference``. Off-session a
        method that needs authentication fails with ``authentication_required``; on-session it answers
        ``requires_action`` with the page where the customer authenticates and comes back to ``return_url``."""

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
        """Save the method ``reference`` for off-session payments (authenticating now where the issuer asks;
        a SEPA mandate from ``mandate``: Stripe's ``customer_acceptance``)."""

    def payment_status(self, *, reference: str, livemode: bool) -> PaymentResult:
        """The current state of a payment that was ``requires_action`` or ``processing`` (after the customer came
        back from authenticating, or to poll)."""

    def setup_status(self, *, reference: str, livemode: bool) -> SetupResult:
        """The current state of a setup that was ``requires_action`` or ``processing``."""

    def capture(self, *, reference: str, amount: int, livemode: bool, idempotency_key: str) -> PaymentResult:
        """Capture ``amount`` of an authorized (``requires_capture``) payment."""

    def cancel(self, *, reference: str, livemode: bool) -> None:
        """Give up a payment that has not succeeded (releases an authorization)."""

    def refund(
        self, *, reference: str, amount: int, currency: str, livemode: bool, idempotency_key: str, reason: str = ""
    ) -> RefundResult:
        """Refund ``amount`` of the succeeded payment ``reference``."""

    def parse_webhook(self, *, body: bytes, headers: dict, livemode: bool) -> list[ProcessorEvent]:
        """Verify a webhook from the processor (signature, or by fetching what it names) and say what changed.
        Raises InvalidRequest when the request is not the processor's."""


def luhn_valid(number: str) -> bool:
    """The check digit of a card number (ISO/IEC 7812), for a clear error before asking the gateway."""
    total = 0
    for i, digit in enumerate(reversed(number)):
        n = int(digit)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0
