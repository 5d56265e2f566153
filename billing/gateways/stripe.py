"""Stripe used as a payment processor only: the merchant's own Stripe account takes the money, we do the billing.

Calls go through the official SDK to the merchant's account, outside our transactions. References are Stripe's ids
(``pm_…``, ``cus_…``, ``pi_…``, ``seti_…``, ``re_…``). Card and bank data are typed into Stripe's Payment Element and
never reach us in live mode; in test mode Stripe's test cards and tokens are turned into PaymentMethods of the
account, so our test-mode API keeps working with Stripe configured.

3-D Secure: customer-present confirmations always carry a ``return_url`` (the caller's, else the portal's address) so
that Stripe answers ``next_action.redirect_to_url`` rather than ``use_stripe_sdk`` (which only Stripe.js handles).
Off-session, Stripe fails a payment that needs the customer with ``authentication_required``.

Retries: the SDK retries a failed send or a 5xx twice with the same ``Idempotency-Key``, then we raise
GatewayUnavailable and our caller asks again later with that key, which Stripe answers from its record of the first
request. The SDK logs request and response bodies at DEBUG (emails; test card numbers): a filter on its logger drops
them. ``STRIPE_LOG=debug`` still prints them to stderr: never set it in production.
"""

import hashlib
import logging
from contextlib import contextmanager

import stripe
from django.conf import settings

from billing import clock
from billing.exceptions import CardDeclined, GatewayUnavailable, InvalidRequest, LiveModeNotAllowed
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
from billing.gateways.test import SEPA_COUNTRIES, TEST_TOKENS

logger = logging.getLogger(__name__)

MAX_NETWORK_RETRIES = 2
TEST_KEYS = ("sk_test_", "rk_test_")
LIVE_KEYS = ("sk_live_", "rk_live_")
REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
PAYMENT_CHANGES = (
    "succeeded",
    "payment_failed",
    "processing",
    "requires_action",
    "canceled",
    "amount_capturable_updated",
)
PAYMENT_EVENTS = frozenset(f"payment_intent.{name}" for name in PAYMENT_CHANGES)
SETUP_EVENTS = frozenset(
    f"setup_intent.{name}" for name in ("succeeded", "setup_failed", "requires_action", "canceled")
)
# Events whose object is a refund. ``charge.refunded`` carries the charge (and its refunds, when listed).
REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"})


class _WithoutBodies(logging.Filter):
    """Drops the SDK's DEBUG records of request and response bodies."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "Post details" not in message and "API response body" not in message


_sdk_logger = logging.getLogger("stripe")
if not any(isinstance(f, _WithoutBodies) for f in _sdk_logger.filters):
    _sdk_logger.addFilter(_WithoutBodies())


def _field(obj, *path: str):
    """``obj.a.b`` or None when a step is missing (Stripe leaves out what does not apply)."""
    for name in path:
        if obj is None:
            return None
        obj = getattr(obj, name, None)
    return obj


def _id(value) -> str:
    """An id field that may be expanded into its object."""
    return value if isinstance(value, str) else (_field(value, "id") or "")


def _message(error: stripe.StripeError) -> str:
    return _field(error.error, "message") or error.user_message or "Stripe refused the request."


@contextmanager
def _answers(action: str):
    """Stripe's errors as ours: unreachable, 5xx, rate limits and concurrent use of an idempotency key are
    GatewayUnavailable (ask again later with the same key); the rest are the request's fault. Callers that turn card
    errors into results catch ``stripe.CardError`` inside the block."""
    try:
        yield
    except stripe.StripeError as error:
        status = error.http_status
        logger.warning(
            "Stripe refused to %s: %s %s (request %s)", action, type(error).__name__, status, error.request_id
        )
        if isinstance(error, stripe.AuthenticationError):
            raise InvalidRequest(
                "The Stripe secret key was refused. Check the key in the payment processor settings.",
                param="stripe_secret_key",
                code="processor_key_refused",
            ) from None
        if isinstance(error, stripe.CardError):
            raise CardDeclined(_message(error), decline_code=_field(error.error, "decline_code"), code=error.code)
        unavailable = (stripe.APIConnectionError, stripe.RateLimitError)
        if isinstance(error, unavailable) or status is None or status >= 500 or status == 409:
            raise GatewayUnavailable(
                f"Stripe could not be reached to {action} ({type(error).__name__}). Try again later: a repeated "
                "request with the same idempotency key is answered from the first one.",
            ) from None
        if isinstance(error, stripe.PermissionError):
            raise InvalidRequest(
                f"The Stripe key may not {action}: {_message(error)} Use a secret key, or give the restricted key "
                "this permission.",
                param="stripe_secret_key",
                code="processor_permission_denied",
            ) from None
        raise InvalidRequest(_message(error), param=_field(error.error, "param"), code=error.code) from None


def _details(pm) -> MethodDetails:
    """What we keep of a Stripe PaymentMethod (a card's or a bank account's fields: the other's are absent)."""
    if pm.type in ("card", "sepa_debit"):
        inner = getattr(pm, pm.type)
        return MethodDetails(
            type=pm.type,
            reference=pm.id,
            fingerprint=_field(inner, "fingerprint") or "",
            country=_field(inner, "country") or "",
            brand=_field(inner, "brand") or "",
            last4=_field(inner, "last4") or "",
            exp_month=_field(inner, "exp_month"),
            exp_year=_field(inner, "exp_year"),
            funding=_field(inner, "funding") or "",
            bank_code=_field(inner, "bank_code") or "",
        )
    raise InvalidRequest(
        f"Stripe payment methods of type {pm.type} are not supported here; card and sepa_debit are.",
        param="payment_method",
        code="payment_method_invalid_parameter",
    )


def _action_url(intent) -> str:
    """Where the customer authenticates: ``redirect_to_url`` (we always send a return_url, so Stripe gives one)."""
    url = _field(intent, "next_action", "redirect_to_url", "url")
    if url:
        return url
    stripe_js = _field(intent, "next_action", "use_stripe_sdk", "stripe_js")
    return stripe_js if isinstance(stripe_js, str) else ""


def _payment_result(intent, *, reference: str = "", customer_reference: str = "") -> PaymentResult:
    """A Stripe PaymentIntent as our answer. ``reference``: the method we asked to pay with; a different one on the
    intent (Stripe turned a test token into a PaymentMethod) comes back as ``method_reference``."""
    method = _id(_field(intent, "payment_method"))
    common = {
        "reference": intent.id,
        "customer_reference": customer_reference or _id(_field(intent, "customer")),
        "method_reference": method if reference and method and method != reference else "",
    }
    status = intent.status
    if status in ("succeeded", "processing", "requires_capture"):
        return PaymentResult(status=status, **common)
    if status == "requires_action":
        return PaymentResult(status="requires_action", action_url=_action_url(intent), **common)
    return PaymentResult(**_failure(intent, "last_payment_error", "payment"), **common)


def _setup_result(intent, *, customer_reference: str = "") -> SetupResult:
    common = {
        "reference": intent.id,
        "method_reference": _id(_field(intent, "payment_method")),
        "customer_reference": customer_reference or _id(_field(intent, "customer")),
    }
    status = intent.status
    if status == "succeeded":
        return SetupResult(status="succeeded", mandate_reference=_id(_field(intent, "mandate")), **common)
    if status == "processing":
        return SetupResult(status="processing", **common)
    if status == "requires_action":
        return SetupResult(status="requires_action", action_url=_action_url(intent), **common)
    return SetupResult(**_failure(intent, "last_setup_error", "setup"), **common)


def _failure(intent, error_field: str, noun: str) -> dict:
    """A failed result's fields: canceled, or ``requires_payment_method`` after a decline or failed authentication
    (Stripe's last error says which), or never confirmed."""
    if intent.status == "canceled":
        return {"status": "failed", "failure_code": "canceled", "failure_message": f"The {noun} was canceled."}
    error = _field(intent, error_field)
    return {
        "status": "failed",
        "failure_code": _field(error, "code") or f"{noun}_not_completed",
        "decline_code": _field(error, "decline_code") or "",
        "failure_message": _field(error, "message") or f"The {noun} was not completed (status {intent.status}).",
    }


def _declined(error: stripe.CardError, intent_field: str) -> dict:
    """Stripe's card error as a failed result's fields; ``intent_field`` names the intent it carries."""
    body = error.error
    return {
        "status": "failed",
        "reference": _id(_field(body, intent_field)),
        "failure_code": error.code or _field(body, "code") or "card_declined",
        "decline_code": _field(body, "decline_code") or "",
        "failure_message": _message(error),
    }


def _refund_result(refund) -> RefundResult:
    status = refund.status
    if status == "succeeded":
        return RefundResult(status="succeeded", reference=refund.id)
    if status in ("failed", "canceled"):
        reason = _field(refund, "failure_reason") or status
        return RefundResult(status="failed", reference=refund.id, failure_reason=reason)
    return RefundResult(status="pending", reference=refund.id)  # pending, requires_action


def _customer_acceptance(mandate: dict) -> dict:
    """Our stored ``customer_acceptance`` (None values included) as Stripe's ``mandate_data`` parameter."""
    acceptance = mandate.get("customer_acceptance", mandate)
    kind = acceptance.get("type") or "online"
    out: dict = {"type": kind}
    if acceptance.get("accepted_at"):
        out["accepted_at"] = int(acceptance["accepted_at"])
    online = acceptance.get("online") or {}
    out[kind] = {k: online[k] for k in ("ip_address", "user_agent") if online.get(k)} if kind == "online" else {}
    return {"customer_acceptance": out}


def _return_url(return_url: str) -> str:
    return return_url or f"{settings.PORTAL_BASE_URL}/p/"


def _header(headers: dict, name: str) -> str | None:
    wanted = {name.lower(), "http_" + name.lower().replace("-", "_")}  # request.headers or request.META
    for key, value in headers.items():
        if key.lower() in wanted:
            return value
    return None


class StripeGateway:
    """The gateway interface on a merchant's Stripe account. One instance per account and mode (see
    ``billing.gateways.gateway_for``); thread-safe: the SDK client keeps no per-request state."""

    def __init__(
        self,
        *,
        secret_key: str,
        webhook_secret: str = "",
        publishable_key: str = "",
        api_base: str | None = None,
        timeout: float = 20.0,
    ):
        if not secret_key.startswith(TEST_KEYS + LIVE_KEYS):
            raise InvalidRequest(
                "A Stripe secret key starts with sk_test_, sk_live_, rk_test_ or rk_live_.", param="stripe_secret_key"
            )
        self.livemode = secret_key.startswith(LIVE_KEYS)
        self.publishable_key = publishable_key
        self._webhook_secret = webhook_secret
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=MAX_NETWORK_RETRIES,
            http_client=stripe.HTTPXClient(timeout=timeout, allow_sync_methods=True),
        )

    def __repr__(self) -> str:  # the key stays out of tracebacks and logs
        return f"StripeGateway({'live' if self.livemode else 'test'} mode)"

    @property
    def takes_live_payments(self) -> bool:
        return self.livemode

    def check_mode(self, *, livemode: bool) -> None:
        if livemode != self.livemode:
            key, asked = ("live", "test") if self.livemode else ("test", "live")
            raise LiveModeNotAllowed(
                f"The configured Stripe key is a {key}-mode key; it cannot take {asked}-mode payments. Configure a "
                f"{asked}-mode key for {asked} mode.",
                param="livemode",
            )

    def check_connection(self) -> None:
        """One cheap authenticated call: InvalidRequest for a refused key, GatewayUnavailable if Stripe is away."""
        with _answers("list customers"):
            self._client.v1.customers.list({"limit": 1})

    # Payment methods --------------------------------------------------------------------------------------------

    def tokenize_card(self, card: CardInput, *, livemode: bool) -> MethodDetails:
        """Test mode only: Stripe accepts its test card numbers through the API there. In live mode card numbers are
        typed into Stripe's Payment Element and never reach this server."""
        self._test_mode_only(livemode, "card[number]")
        params = {"number": card.number, "exp_month": card.exp_month, "exp_year": card.exp_year}
        if card.cvc:
            params["cvc"] = card.cvc
        with _answers("save the card"):
            try:
                pm = self._client.v1.payment_methods.create({"type": "card", "card": params})
            except stripe.CardError as error:  # Stripe names the field: "number", "exp_month", "cvc"…
                param = f"card[{(error.param or 'number').removeprefix('card[').rstrip(']')}]"
                raise InvalidRequest(_message(error), param=param, code=error.code) from None
        return _details(pm)

    def tokenize_sepa(self, sepa: SepaInput, *, livemode: bool) -> MethodDetails:
        """Test mode only, as :meth:`tokenize_card`."""
        self._test_mode_only(livemode, "sepa_debit[iban]")
        with _answers("save the bank account"):
            pm = self._client.v1.payment_methods.create({"type": "sepa_debit", "sepa_debit": {"iban": sepa.iban}})
        return _details(pm)

    def _test_mode_only(self, livemode: bool, param: str) -> None:
        if livemode:
            raise InvalidRequest(
                "Card and bank details never reach this server with Stripe: collect them with Stripe's Payment "
                "Element and pass the PaymentMethod (pm_…) it gives.",
                param=param,
                code="raw_card_data_not_allowed",
            )
        self.check_mode(livemode=livemode)

    def from_token(self, token: str, *, livemode: bool) -> MethodDetails:
        """A ``pm_…`` of the merchant's Stripe account (from the Payment Element). In test mode Stripe's test tokens
        (``pm_card_visa``…) become a PaymentMethod of the account made from the token's test card."""
        self.check_mode(livemode=livemode)
        if not livemode and token in TEST_TOKENS:
            year = clock.now().year + 3
            return self.tokenize_card(CardInput(TEST_TOKENS[token], 12, year, "123"), livemode=False)
        if not token.startswith("pm_"):
            raise InvalidRequest(
                "Expected a Stripe PaymentMethod id (pm_…) from Stripe's Payment Element.",
                param="payment_method",
                code="resource_missing",
            )
        with _answers("look up the payment method"):
            try:
                pm = self._client.v1.payment_methods.retrieve(token)
            except stripe.InvalidRequestError as error:
                if error.http_status != 404:
                    raise
                raise InvalidRequest(
                    f"No such PaymentMethod on the Stripe account: '{token}'",
                    param="payment_method",
                    code="resource_missing",
                ) from None
        return _details(pm)

    def hosted_fields(self, *, livemode: bool) -> HostedFields:
        """Stripe's Payment Element (Stripe.js with the account's publishable key)."""
        self.check_mode(livemode=livemode)
        return HostedFields(kind="stripe", publishable_key=self.publishable_key, testmode=not self.livemode)

    def verify(self, details_reference: str, *, livemode: bool) -> None:
        """No call: this runs inside our transaction, and Stripe checks the card when :meth:`pay` or :meth:`setup`
        attaches it to the Stripe customer (a declining card fails there, as a declined result)."""
        self.check_mode(livemode=livemode)

    def payment_method_types(self, *, currency: str, country: str, livemode: bool) -> list[str]:
        if currency.lower() == "eur" and (not country or country.upper() in SEPA_COUNTRIES):
            return ["card", "sepa_debit"]
        return ["card"]

    # Customers and methods on Stripe ----------------------------------------------------------------------------

    def _customer(self, customer: CustomerRef | None) -> str:
        """The Stripe customer mirroring ours, created on first use. The creation's idempotency key is made of our
        customer and the data sent, so two payments racing for a new customer get one Stripe customer."""
        if customer is None:
            return ""
        if customer.reference:
            return customer.reference
        params: dict = {"metadata": {"our_customer": customer.id}}
        if customer.email:
            params["email"] = customer.email
        if customer.name:
            params["name"] = customer.name
        digest = hashlib.sha256(f"{customer.email}\n{customer.name}".encode()).hexdigest()[:16]
        created = self._client.v1.customers.create(params, {"idempotency_key": f"customer-{customer.id}-{digest}"})
        return created.id

    def _method(self, reference: str, customer_id: str, idempotency_key: str) -> tuple[str, str]:
        """(type, Stripe customer) for paying with ``reference``: attached to the customer first, so that it stays
        usable for later off-session payments. A method already attached to a customer pays with that customer."""
        if reference in TEST_TOKENS and not self.livemode:
            return "card", customer_id  # Stripe makes a PaymentMethod of the token at confirmation
        pm = self._client.v1.payment_methods.retrieve(reference)
        attached = _id(_field(pm, "customer"))
        if attached and customer_id and attached != customer_id:
            raise InvalidRequest(
                "The payment method is attached to another customer on the Stripe account.",
                param="payment_method",
                code="payment_method_invalid_parameter",
            )
        if not attached and customer_id:
            self._client.v1.payment_methods.attach(
                reference, {"customer": customer_id}, {"idempotency_key": f"{idempotency_key}-attach"}
            )
        return pm.type, customer_id or attached

    # PaymentIntents ---------------------------------------------------------------------------------------------

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
        """A PaymentIntent created and confirmed in one request whose Idempotency-Key is ``idempotency_key``.

        SEPA: Stripe debits with the mandate of an earlier :meth:`setup`; ``pay`` takes no mandate, so a first
        customer-present SEPA payment needs the Payment Element (or a setup) to collect it."""
        self.check_mode(livemode=livemode)
        customer_id = ""
        with _answers("take the payment"):
            try:
                customer_id = self._customer(customer)
                kind, customer_id = self._method(reference, customer_id, idempotency_key)
                params: dict = {
                    "amount": amount,
                    "currency": currency.lower(),
                    "payment_method": reference,
                    "payment_method_types": [kind],
                    "confirm": True,
                    **({"customer": customer_id} if customer_id else {}),
                    **({"off_session": True} if off_session else {"return_url": _return_url(return_url)}),
                    **({} if capture else {"capture_method": "manual"}),
                    **({"setup_future_usage": "off_session"} if setup_future_usage else {}),
                    **({"description": description} if description else {}),
                }
                intent = self._client.v1.payment_intents.create(params, {"idempotency_key": idempotency_key})
            except stripe.CardError as error:
                return PaymentResult(**_declined(error, "payment_intent"), customer_reference=customer_id)
        return _payment_result(intent, reference=reference, customer_reference=customer_id)

    def charge(
        self, *, reference: str, amount: int, currency: str, livemode: bool, idempotency_key: str
    ) -> ChargeResult:
        """An off-session payment as a charge. A SEPA debit still ``processing`` is reported with ``payment_pending``
        and its reference: the invoice waits for Stripe's webhook (or the billing cycle's poll) with the bank's
        answer."""
        result = self.pay(
            reference=reference,
            amount=amount,
            currency=currency,
            livemode=livemode,
            idempotency_key=idempotency_key,
            off_session=True,
        )
        if result.status == "succeeded":
            return ChargeResult(succeeded=True, reference=result.reference)
        if result.status == "processing":
            return ChargeResult(False, result.reference, "payment_pending", "The payment is not final yet.")
        failure = {name: getattr(result, name) for name in ("failure_code", "failure_message", "decline_code")}
        return ChargeResult(succeeded=False, reference=result.reference, **failure)

    def payment_status(self, *, reference: str, livemode: bool) -> PaymentResult:
        self.check_mode(livemode=livemode)
        with _answers("look up the payment"):
            intent = self._client.v1.payment_intents.retrieve(reference)
        return _payment_result(intent)

    def capture(self, *, reference: str, amount: int, livemode: bool, idempotency_key: str) -> PaymentResult:
        self.check_mode(livemode=livemode)
        with _answers("capture the payment"):
            intent = self._client.v1.payment_intents.capture(
                reference, {"amount_to_capture": amount}, {"idempotency_key": idempotency_key}
            )
        return _payment_result(intent)

    def cancel(self, *, reference: str, livemode: bool) -> None:
        """Idempotent: a payment canceled already is fine."""
        self.check_mode(livemode=livemode)
        with _answers("cancel the payment"):
            try:
                self._client.v1.payment_intents.cancel(reference)
            except stripe.InvalidRequestError:
                if self._client.v1.payment_intents.retrieve(reference).status != "canceled":
                    raise

    def refund(
        self, *, reference: str, amount: int, currency: str, livemode: bool, idempotency_key: str, reason: str = ""
    ) -> RefundResult:
        """A Refund of the PaymentIntent ``reference`` (Stripe takes the currency from it). Stripe's reasons pass as
        ``reason``; any other text goes into the refund's metadata."""
        self.check_mode(livemode=livemode)
        if amount <= 0:
            raise InvalidRequest("Refund amount must be positive.", param="amount")
        params: dict = {"payment_intent": reference, "amount": amount}
        if reason in REFUND_REASONS:
            params["reason"] = reason
        elif reason:
            params["metadata"] = {"reason": reason[:500]}
        with _answers("refund the payment"):
            refund = self._client.v1.refunds.create(params, {"idempotency_key": idempotency_key})
        return _refund_result(refund)

    # SetupIntents -----------------------------------------------------------------------------------------------

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
        """A SetupIntent for off-session use, created and confirmed in one request (SEPA: with the customer's
        acceptance of the mandate; its Stripe id comes back as ``mandate_reference``)."""
        self.check_mode(livemode=livemode)
        customer_id = ""
        with _answers("save the payment method"):
            try:
                customer_id = self._customer(customer)
                kind, customer_id = self._method(reference, customer_id, idempotency_key)
                params: dict = {
                    "payment_method": reference,
                    "payment_method_types": [kind],
                    "usage": "off_session",
                    "confirm": True,
                    "return_url": _return_url(return_url),
                    **({"customer": customer_id} if customer_id else {}),
                    **({"mandate_data": _customer_acceptance(mandate)} if mandate and kind == "sepa_debit" else {}),
                }
                intent = self._client.v1.setup_intents.create(params, {"idempotency_key": idempotency_key})
            except stripe.CardError as error:
                return SetupResult(**_declined(error, "setup_intent"), customer_reference=customer_id)
        return _setup_result(intent, customer_reference=customer_id)

    def setup_status(self, *, reference: str, livemode: bool) -> SetupResult:
        self.check_mode(livemode=livemode)
        with _answers("look up the setup"):
            intent = self._client.v1.setup_intents.retrieve(reference)
        return _setup_result(intent)

    # Webhooks ---------------------------------------------------------------------------------------------------

    def parse_webhook(self, *, body: bytes, headers: dict, livemode: bool) -> list[ProcessorEvent]:
        """Verify ``Stripe-Signature`` with the endpoint's signing secret and reduce the event to what we apply.

        Other event types answer ``[]``. ``mandate.updated`` (a SEPA mandate revoked or made inactive) is among them:
        there is no mandate kind of ProcessorEvent; the next debit then fails with Stripe's answer."""
        if not self._webhook_secret:
            raise InvalidRequest(
                "No Stripe webhook signing secret (whsec_…) is configured for this account, so Stripe's webhooks "
                "cannot be verified. Add it in the payment processor settings.",
                param="stripe_webhook_secret",
            )
        try:
            event = stripe.Webhook.construct_event(body, _header(headers, "Stripe-Signature"), self._webhook_secret)
        except stripe.SignatureVerificationError:
            raise InvalidRequest(
                "The Stripe-Signature header does not match the body: not a webhook of this Stripe account, or the "
                "signing secret is wrong.",
                param="Stripe-Signature",
            ) from None
        except ValueError:
            raise InvalidRequest("The webhook body is not a JSON event.") from None
        if bool(_field(event, "livemode")) != livemode:
            raise InvalidRequest("The webhook is from Stripe's other mode than this endpoint's.", param="livemode")
        return _events(event)


def _events(event) -> list[ProcessorEvent]:
    kind, obj = event.type, event.data.object
    if kind in PAYMENT_EVENTS:
        return [ProcessorEvent(id=event.id, kind="payment", reference=obj.id, payment=_payment_result(obj))]
    if kind in SETUP_EVENTS:
        return [ProcessorEvent(id=event.id, kind="setup", reference=obj.id, setup=_setup_result(obj))]
    if kind in REFUND_EVENTS:
        return [ProcessorEvent(id=event.id, kind="refund", reference=obj.id, refund=_refund_result(obj))]
    if kind == "charge.refunded":
        # One event may name several refunds (listed only if the endpoint's API version includes them): each gets
        # an id of its own, so applying one does not mark the others applied.
        refunds = _field(obj, "refunds", "data") or []
        return [
            ProcessorEvent(
                id=f"{event.id}:{refund.id}", kind="refund", reference=refund.id, refund=_refund_result(refund)
            )
            for refund in refunds
        ]
    return []
