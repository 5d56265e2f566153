"""The Stripe adapter end to end: a second instance of our own server (``live_server``) plays the merchant's Stripe
account, driven through the official SDK; a stub stands in where our server has no endpoint (refunds) and where
Stripe fails (5xx, timeouts).

This directory has no ``__init__.py`` on purpose: ``tests/billing/gateways.py`` (misbehaving processors) keeps its
import path, ``tests.billing.gateways``, which a package of the same name would shadow."""

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe
from django.test import Client

from billing.exceptions import GatewayUnavailable, InvalidRequest, LiveModeNotAllowed
from billing.gateways.base import CardInput, CustomerRef, SepaInput
from billing.gateways.stripe import StripeGateway
from billing.services.accounts import api_key_create
from tests.billing.helpers import left_for
from tests.factories.billing import AccountFactory
from webhooks.signing import stripe_signature_header

WHSEC = "whsec_c3RyaXBlLWFkYXB0ZXItdGVzdHMtc2lnbmluZy1zZWNyZXQ="
ADA = CustomerRef(id="cus_ours_ada", email="ada@example.com", name="Ada Lovelace")
# As billing.services.intents.common.clean_mandate_data stores it (``accepted_at`` left out for our server, which
# answers 500 to mandate_data[customer_acceptance][accepted_at]; Stripe takes it, see test_mandate_data_sent).
MANDATE = {"type": "online", "online": {"ip_address": "203.0.113.7", "user_agent": "pytest"}}


# Stripe's documented Refund object (https://docs.stripe.com/api/refunds/object).
REFUND = {
    "id": "re_1Nispe2eZvKYlo2Cd31jOCgZ",
    "object": "refund",
    "amount": 1000,
    "balance_transaction": "txn_1Nispe2eZvKYlo2CYezqFhEx",
    "charge": "ch_1NirD82eZvKYlo2CIvbtLWuY",
    "created": 1692942318,
    "currency": "usd",
    "destination_details": {
        "card": {
            "reference": "123456789012",
            "reference_status": "available",
            "reference_type": "acquirer_reference_number",
            "type": "refund",
        },
        "type": "card",
    },
    "metadata": {},
    "payment_intent": "pi_1GszsK2eZvKYlo2CfhZyoZLp",
    "reason": None,
    "receipt_number": None,
    "source_transfer_reversal": None,
    "status": "succeeded",
    "transfer_reversal": None,
}


class StubStripe:
    """Answers every request with ``status`` and ``body`` (after ``delay`` seconds); ``requests`` holds
    (method, path, headers, form) of each."""

    def __init__(self, status: int = 200, body: dict | str | None = None, delay: float = 0.0):
        self.status, self.body, self.delay = status, body if body is not None else {}, delay
        self.requests: list[tuple[str, str, dict, dict]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode()) if length else {}
                stub.requests.append((self.command, self.path, dict(self.headers), form))
                if stub.delay:
                    time.sleep(stub.delay)
                payload = stub.body if isinstance(stub.body, str) else json.dumps(stub.body)
                self.send_response(stub.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Request-Id", "req_stub")
                self.end_headers()
                self.wfile.write(payload.encode())

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def keys(transactional_db):
    """The merchant's account on "Stripe" (our second instance): its test and live secret keys."""
    account = AccountFactory()
    return api_key_create(account=account, livemode=False)[1], api_key_create(account=account, livemode=True)[1]


@pytest.fixture
def gateway(live_server, keys) -> StripeGateway:
    return StripeGateway(
        secret_key=keys[0], webhook_secret=WHSEC, publishable_key="pk_test_x", api_base=live_server.url
    )


@pytest.fixture
def on_stripe(live_server, keys) -> stripe.StripeClient:
    """What the merchant sees in their Stripe account."""
    return stripe.StripeClient(keys[0], base_addresses={"api": live_server.url}, max_network_retries=0)


def authenticate(url: str, outcome: str = "complete"):
    """The customer's button on the issuer page that ``action_url`` opens."""
    parts = urlsplit(url)
    secret = parse_qs(parts.query)["client_secret"][0]
    return Client().post(parts.path, {"client_secret": secret, "outcome": outcome})


def pay(gateway, reference, *, key="pay-1", customer=ADA, off_session=True, **kwargs):
    arguments = {"amount": 2000, "currency": "usd", "livemode": False, "idempotency_key": key, **kwargs}
    return gateway.pay(reference=reference, off_session=off_session, customer=customer, **arguments)


def signed(body: bytes, secret: str = WHSEC) -> dict:
    return {"Stripe-Signature": stripe_signature_header(body, [secret], int(time.time()))}


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# ------------------------------------------------------------------------------------------------ payment methods


def test_from_token_reads_a_payment_method_of_the_stripe_account(gateway, on_stripe):
    pm = on_stripe.v1.payment_methods.create(
        {"type": "card", "card": {"number": "5555555555554444", "exp_month": 8, "exp_year": 2031, "cvc": "123"}}
    )
    details = gateway.from_token(pm.id, livemode=False)
    assert (details.type, details.reference, details.brand, details.last4) == ("card", pm.id, "mastercard", "4444")
    assert (details.exp_month, details.exp_year, details.fingerprint) == (8, 2031, pm.card.fingerprint)
    # Stripe's test tokens become a PaymentMethod of the merchant's account.
    visa = gateway.from_token("pm_card_visa", livemode=False)
    assert (
        visa.reference.startswith("pm_") and on_stripe.v1.payment_methods.retrieve(visa.reference).card.last4 == "4242"
    )
    with pytest.raises(InvalidRequest) as raised:
        gateway.from_token("pm_unknown", livemode=False)
    assert raised.value.code == "resource_missing" and raised.value.param == "payment_method"
    with pytest.raises(LiveModeNotAllowed):
        gateway.from_token(pm.id, livemode=True)


def test_raw_card_and_bank_data_only_in_test_mode_and_never_in_logs(gateway, live_server, keys, caplog):
    caplog.set_level(logging.DEBUG)
    details = gateway.tokenize_card(CardInput("4000002760000016", 12, 2030, "123"), livemode=False)
    assert (details.brand, details.country, details.last4) == ("visa", "DE", "0016")
    assert "4000002760000016" not in caplog.text
    with pytest.raises(InvalidRequest) as raised:
        gateway.tokenize_card(CardInput("4242424242424241", 12, 2030, "123"), livemode=False)
    assert raised.value.param == "card[number]" and "4242424242424241" not in raised.value.message
    sepa = gateway.tokenize_sepa(SepaInput("DE89370400440532013000"), livemode=False)
    assert (sepa.type, sepa.country, sepa.last4) == ("sepa_debit", "DE", "3000")
    live = StripeGateway(secret_key=keys[1], api_base=live_server.url)
    with pytest.raises(InvalidRequest) as raised:
        live.tokenize_card(CardInput("4242424242424242", 12, 2030, "123"), livemode=True)
    assert raised.value.code == "raw_card_data_not_allowed"
    with pytest.raises(LiveModeNotAllowed):
        live.check_mode(livemode=False)
    gateway.check_mode(livemode=False)
    assert gateway.takes_live_payments is False and live.takes_live_payments is True
    assert keys[0] not in repr(gateway)


def test_payment_method_types():
    gateway = StripeGateway(secret_key="sk_test_unused")
    assert gateway.payment_method_types(currency="eur", country="DE", livemode=False) == ["card", "sepa_debit"]
    assert gateway.payment_method_types(currency="eur", country="", livemode=False) == ["card", "sepa_debit"]
    assert gateway.payment_method_types(currency="eur", country="US", livemode=False) == ["card"]
    assert gateway.payment_method_types(currency="usd", country="DE", livemode=False) == ["card"]


# ------------------------------------------------------------------------------------------------ payments


def test_off_session_payment_mirrors_the_customer_and_succeeds(gateway, on_stripe):
    method = gateway.from_token("pm_card_visa", livemode=False)
    result = pay(gateway, method.reference, description="Invoice 7")
    assert result.status == "succeeded" and result.reference.startswith("pi_")
    assert result.customer_reference.startswith("cus_") and result.method_reference == ""
    intent = on_stripe.v1.payment_intents.retrieve(result.reference)
    assert (intent.status, intent.amount, intent.customer) == ("succeeded", 2000, result.customer_reference)
    mirrored = on_stripe.v1.customers.retrieve(result.customer_reference)
    assert mirrored.email == ADA.email and mirrored.name == ADA.name
    assert mirrored.metadata["our_customer"] == ADA.id
    assert on_stripe.v1.payment_methods.retrieve(method.reference).customer == mirrored.id  # kept for renewals
    # Once we know Stripe's id, the next payment uses it: still one customer on Stripe.
    known = CustomerRef(id=ADA.id, email=ADA.email, name=ADA.name, reference=mirrored.id)
    assert pay(gateway, method.reference, key="pay-2", customer=known).status == "succeeded"
    assert len(on_stripe.v1.customers.list().data) == 1
    assert gateway.payment_status(reference=result.reference, livemode=False).status == "succeeded"
    # The billing cycle's charge: off-session, the Stripe customer found from the method.
    charged = gateway.charge(
        reference=method.reference, amount=900, currency="usd", livemode=False, idempotency_key="c-1"
    )
    assert charged.succeeded and on_stripe.v1.payment_intents.retrieve(charged.reference).customer == mirrored.id


def test_the_same_idempotency_key_makes_one_payment(gateway, on_stripe):
    method = gateway.from_token("pm_card_visa", livemode=False)
    first = pay(gateway, method.reference, key="renewal-in_1:1")
    again = pay(gateway, method.reference, key="renewal-in_1:1")
    assert again.reference == first.reference and again.status == "succeeded"
    assert len(on_stripe.v1.payment_intents.list().data) == 1
    assert len(on_stripe.v1.customers.list().data) == 1


def test_declines_are_failed_results(gateway, on_stripe):
    declining = gateway.from_token("pm_card_chargeDeclined", livemode=False)
    result = pay(gateway, declining.reference)  # Stripe refuses to attach it to the customer
    assert (result.status, result.failure_code, result.decline_code) == ("failed", "card_declined", "generic_decline")
    assert result.failure_message == "Your card was declined."
    # A test token confirmed directly: Stripe's decline carries the PaymentIntent.
    result = pay(gateway, "pm_card_chargeDeclinedInsufficientFunds", key="pay-2")
    assert (result.status, result.decline_code) == ("failed", "insufficient_funds")
    intent = on_stripe.v1.payment_intents.retrieve(result.reference)
    assert intent.status == "requires_payment_method" and intent.last_payment_error.decline_code == "insufficient_funds"
    status = gateway.payment_status(reference=result.reference, livemode=False)
    assert (status.status, status.decline_code) == ("failed", "insufficient_funds")


def test_authentication_on_session_then_status_and_off_session_failure(gateway, on_stripe):
    method = gateway.from_token("pm_card_authenticationRequired", livemode=False)
    result = pay(gateway, method.reference, off_session=False, return_url="https://shop.example/back")
    assert result.status == "requires_action" and result.reference.startswith("pi_")
    assert result.action_url.startswith(f"http://testserver/authenticate/{result.reference}?client_secret=")
    assert gateway.payment_status(reference=result.reference, livemode=False).status == "requires_action"
    response = authenticate(result.action_url)
    assert left_for(response).startswith("https://shop.example/back?")
    assert gateway.payment_status(reference=result.reference, livemode=False).status == "succeeded"
    # Off-session this card always needs its holder.
    result = pay(gateway, method.reference, key="pay-2")
    assert (result.status, result.failure_code, result.decline_code) == (
        "failed",
        "authentication_required",
        "authentication_required",
    )
    assert on_stripe.v1.payment_intents.retrieve(result.reference).status == "requires_payment_method"


def test_manual_capture_and_cancel(gateway, on_stripe):
    method = gateway.from_token("pm_card_visa", livemode=False)
    held = pay(gateway, method.reference, capture=False)
    assert held.status == "requires_capture"
    captured = gateway.capture(reference=held.reference, amount=1500, livemode=False, idempotency_key="cap-1")
    assert captured.status == "succeeded"
    assert on_stripe.v1.payment_intents.retrieve(held.reference).amount_received == 1500
    other = pay(gateway, method.reference, key="pay-2", capture=False)
    gateway.cancel(reference=other.reference, livemode=False)
    gateway.cancel(reference=other.reference, livemode=False)  # twice is fine
    assert on_stripe.v1.payment_intents.retrieve(other.reference).status == "canceled"
    status = gateway.payment_status(reference=other.reference, livemode=False)
    assert (status.status, status.failure_code) == ("failed", "canceled")
    with pytest.raises(InvalidRequest) as raised:
        gateway.cancel(reference=captured.reference, livemode=False)  # succeeded: not cancelable
    assert raised.value.code == "payment_intent_unexpected_state"


# ------------------------------------------------------------------------------------------------ setups


def test_setup_saves_a_card_for_off_session_payments(gateway, on_stripe):
    method = gateway.from_token("pm_card_visa", livemode=False)
    result = gateway.setup(reference=method.reference, livemode=False, idempotency_key="seti-1", customer=ADA)
    assert result.status == "succeeded" and result.reference.startswith("seti_")
    assert result.method_reference == method.reference and result.customer_reference.startswith("cus_")
    intent = on_stripe.v1.setup_intents.retrieve(result.reference)
    assert (intent.status, intent.customer, intent.usage) == ("succeeded", result.customer_reference, "off_session")
    assert gateway.setup_status(reference=result.reference, livemode=False).status == "succeeded"


def test_setup_with_authentication(gateway):
    method = gateway.from_token("pm_card_authenticationRequiredOnSetup", livemode=False)
    result = gateway.setup(
        reference=method.reference,
        livemode=False,
        idempotency_key="seti-1",
        customer=ADA,
        return_url="https://s.example/",
    )
    assert result.status == "requires_action" and f"/authenticate/{result.reference}?" in result.action_url
    assert authenticate(result.action_url).status_code == 303
    done = gateway.setup_status(reference=result.reference, livemode=False)
    assert done.status == "succeeded" and done.method_reference == method.reference


def test_sepa_setup_with_a_mandate_then_a_processing_debit(gateway, on_stripe):
    method = gateway.tokenize_sepa(SepaInput("DE89370400440532013000"), livemode=False)
    result = gateway.setup(
        reference=method.reference, livemode=False, idempotency_key="seti-1", customer=ADA, mandate=MANDATE
    )
    assert result.status == "succeeded" and result.mandate_reference.startswith("mandate_")
    assert on_stripe.v1.setup_intents.retrieve(result.reference).mandate == result.mandate_reference
    known = CustomerRef(id=ADA.id, reference=result.customer_reference)
    debit = pay(gateway, method.reference, customer=known, currency="eur")
    assert debit.status == "processing"
    # The billing cycle's charge of the same method: not final yet, so not a success (nor a failure).
    renewal = gateway.charge(
        reference=method.reference, amount=900, currency="eur", livemode=False, idempotency_key="renewal-1"
    )
    assert (renewal.succeeded, renewal.failure_code) == (False, "payment_pending") and renewal.reference.startswith(
        "pi_"
    )


def test_mandate_data_sent():
    answer = {
        "id": "seti_1",
        "object": "setup_intent",
        "status": "succeeded",
        "type": "sepa_debit",
        "mandate": "mandate_1",
    }
    with StubStripe(body={**answer, "payment_method": "pm_1", "customer": None}) as stub:
        gateway = StripeGateway(secret_key="sk_test_stub", api_base=stub.url)
        result = gateway.setup(
            reference="pm_1", livemode=False, idempotency_key="seti-9", mandate={**MANDATE, "accepted_at": 1735689600}
        )
    assert result.mandate_reference == "mandate_1"
    method, path, headers, form = stub.requests[-1]
    assert (method, path, headers["Idempotency-Key"]) == ("POST", "/v1/setup_intents", "seti-9")
    acceptance = "mandate_data[customer_acceptance]"
    assert form[f"{acceptance}[type]"] == ["online"] and form[f"{acceptance}[accepted_at]"] == ["1735689600"]
    assert form[f"{acceptance}[online][ip_address]"] == ["203.0.113.7"]
    assert form["payment_method_types[0]"] == ["sepa_debit"] and form["usage"] == ["off_session"]


# ------------------------------------------------------------------------------------------------ refunds (stub)


def test_refund_against_stripe_s_documented_answer():
    with StubStripe(body=REFUND) as stub:
        gateway = StripeGateway(secret_key="sk_test_stub", api_base=stub.url)
        result = gateway.refund(
            reference="pi_1GszsK2eZvKYlo2CfhZyoZLp",
            amount=1000,
            currency="usd",
            livemode=False,
            idempotency_key="refund-1",
            reason="requested_by_customer",
        )
    assert (result.status, result.reference) == ("succeeded", "re_1Nispe2eZvKYlo2Cd31jOCgZ")
    method, path, headers, form = stub.requests[0]
    assert (method, path, headers["Idempotency-Key"]) == ("POST", "/v1/refunds", "refund-1")
    assert form == {
        "payment_intent": ["pi_1GszsK2eZvKYlo2CfhZyoZLp"],
        "amount": ["1000"],
        "reason": ["requested_by_customer"],
    }


@pytest.mark.parametrize(
    ("status", "ours"), [("pending", "pending"), ("requires_action", "pending"), ("failed", "failed")]
)
def test_refund_statuses(status, ours):
    with StubStripe(body={**REFUND, "status": status, "failure_reason": "expired_or_canceled_card"}) as stub:
        gateway = StripeGateway(secret_key="sk_test_stub", api_base=stub.url)
        result = gateway.refund(
            reference="pi_1", amount=10, currency="usd", livemode=False, idempotency_key="r", reason="goodwill"
        )
    assert result.status == ours
    assert stub.requests[0][3]["metadata[reason]"] == ["goodwill"]  # not one of Stripe's reasons
    if ours == "failed":
        assert result.failure_reason == "expired_or_canceled_card"


# ------------------------------------------------------------------------------------------------ failures


def test_unreachable_stripe_is_unavailable():
    gateway = StripeGateway(secret_key="sk_test_any", api_base=closed_port_url(), timeout=1)
    with pytest.raises(GatewayUnavailable):
        pay(gateway, "pm_card_visa")
    with pytest.raises(GatewayUnavailable):
        gateway.check_connection()


def test_a_5xx_is_retried_with_the_same_key_then_unavailable():
    error = {"error": {"type": "api_error", "message": "Something went wrong on Stripe's end."}}
    with StubStripe(status=500, body=error) as stub:
        gateway = StripeGateway(secret_key="sk_test_stub", api_base=stub.url)
        with pytest.raises(GatewayUnavailable):
            gateway.capture(reference="pi_1", amount=100, livemode=False, idempotency_key="cap-7")
    assert len(stub.requests) == 3  # the first try and the SDK's two retries
    assert {headers["Idempotency-Key"] for _, _, headers, _ in stub.requests} == {"cap-7"}


def test_a_timeout_is_unavailable():
    with StubStripe(body={}, delay=1) as stub:
        gateway = StripeGateway(secret_key="sk_test_stub", api_base=stub.url, timeout=0.2)
        with pytest.raises(GatewayUnavailable):
            gateway.payment_status(reference="pi_1", livemode=False)


def test_check_connection(gateway, live_server):
    gateway.check_connection()
    refused = StripeGateway(secret_key="sk_test_not_a_key_of_this_account", api_base=live_server.url)
    with pytest.raises(InvalidRequest) as raised:
        refused.check_connection()
    assert raised.value.message.startswith("The Stripe secret key was refused")
    assert "sk_test_not_a_key" not in raised.value.message
    with pytest.raises(InvalidRequest):
        StripeGateway(secret_key="pk_test_publishable")


# ------------------------------------------------------------------------------------------------ webhooks


def stripe_event(on_stripe, kind: str) -> bytes:
    """The event as "Stripe" would POST it to the merchant's endpoint."""
    return json.dumps(on_stripe.v1.events.list({"type": kind}).data[0].to_dict()).encode()


def test_webhooks_from_stripe_s_own_events(gateway, on_stripe):
    method = gateway.from_token("pm_card_visa", livemode=False)
    paid = pay(gateway, method.reference)
    body = stripe_event(on_stripe, "payment_intent.succeeded")
    [event] = gateway.parse_webhook(body=body, headers=signed(body), livemode=False)
    assert (event.id, event.kind, event.reference) == (json.loads(body)["id"], "payment", paid.reference)
    assert event.payment.status == "succeeded" and event.payment.customer_reference == paid.customer_reference
    set_up = gateway.setup(reference=method.reference, livemode=False, idempotency_key="seti-1", customer=ADA)
    body = stripe_event(on_stripe, "setup_intent.succeeded")
    [event] = gateway.parse_webhook(
        body=body, headers={"stripe-signature": signed(body)["Stripe-Signature"]}, livemode=False
    )
    assert (event.kind, event.reference, event.setup.status) == ("setup", set_up.reference, "succeeded")
    pay(gateway, "pm_card_chargeDeclined", key="pay-2", customer=None)
    body = stripe_event(on_stripe, "payment_intent.payment_failed")
    [event] = gateway.parse_webhook(body=body, headers=signed(body), livemode=False)
    assert (event.payment.status, event.payment.decline_code) == ("failed", "generic_decline")
    body = stripe_event(on_stripe, "customer.created")
    assert gateway.parse_webhook(body=body, headers=signed(body), livemode=False) == []
    with pytest.raises(InvalidRequest):
        gateway.parse_webhook(body=body, headers=signed(body), livemode=True)  # the endpoint of the other mode


def refund_event(kind: str, obj: dict) -> bytes:
    event = {"id": "evt_1", "object": "event", "type": kind, "livemode": False, "created": 1, "data": {"object": obj}}
    return json.dumps(event).encode()


def test_refund_webhooks():
    gateway = StripeGateway(secret_key="sk_test_any", webhook_secret=WHSEC)
    body = refund_event("refund.updated", {**REFUND, "status": "failed", "failure_reason": "lost_or_stolen_card"})
    [event] = gateway.parse_webhook(body=body, headers=signed(body), livemode=False)
    assert (event.id, event.kind, event.reference) == ("evt_1", "refund", REFUND["id"])
    assert (event.refund.status, event.refund.failure_reason) == ("failed", "lost_or_stolen_card")
    second = {**REFUND, "id": "re_2", "status": "pending"}
    charge = {"id": "ch_1", "object": "charge", "refunds": {"object": "list", "data": [REFUND, second]}}
    body = refund_event("charge.refunded", charge)
    events = gateway.parse_webhook(body=body, headers=signed(body), livemode=False)
    assert [(e.id, e.refund.status) for e in events] == [
        (f"evt_1:{REFUND['id']}", "succeeded"),
        ("evt_1:re_2", "pending"),
    ]


def test_webhook_signatures():
    gateway = StripeGateway(secret_key="sk_test_any", webhook_secret=WHSEC)
    body = refund_event("refund.updated", REFUND)
    for headers in ({}, signed(body, "whsec_other"), signed(body + b" ")):
        with pytest.raises(InvalidRequest) as raised:
            gateway.parse_webhook(body=body, headers=headers, livemode=False)
        assert raised.value.param == "Stripe-Signature"
    with pytest.raises(InvalidRequest) as raised:
        StripeGateway(secret_key="sk_test_any").parse_webhook(body=body, headers=signed(body), livemode=False)
    assert raised.value.param == "stripe_webhook_secret"
