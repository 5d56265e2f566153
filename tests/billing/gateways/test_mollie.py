"""The Mollie adapter against a local HTTP server that answers as Mollie's API does (bodies from its reference)."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.exceptions import GatewayUnavailable, InvalidRequest, LiveModeNotAllowed
from billing.gateways.base import CustomerRef, SepaInput
from billing.gateways.mollie import MollieGateway, mollie_amount
from billing.money import exponent
from tests.billing.processor_stubs import API_KEY, FIXTURES, WEBHOOK_URL, MollieStub

RETURN_URL = "https://portal.example.org/return"
TOKEN = "tkn_UqAvArS3gw"
IBAN = "DE89370400440532013000"
MANDATE = "mandate:cst_8wmqcHMN4U:mdt_h3gAaD5zP"


@pytest.fixture
def mollie():
    with MollieStub() as stub:
        yield stub


def customer(reference: str = "") -> CustomerRef:
    return CustomerRef(id="cus_A", email="customer@example.org", name="Customer A", reference=reference)


# Payments -------------------------------------------------------------------------------------------------------------


def test_an_on_session_card_payment_is_a_first_payment_that_sends_the_customer_to_mollies_checkout(mollie):
    mollie.answer("POST", "customers", "customer_created", status=201)
    mollie.answer("POST", "payments", "payment_first_open", status=201)

    result = mollie.gateway().pay(
        reference=f"token:{TOKEN}",
        amount=1000,
        currency="eur",
        livemode=False,
        idempotency_key="pi_1:1",
        off_session=False,
        customer=customer(),
        return_url=RETURN_URL,
        setup_future_usage=True,
        description="Invoice in_1",
    )

    assert result.status == "requires_action"
    assert result.action_url == "https://www.mollie.com/checkout/credit-card/embedded/WDqYK6vllg"
    assert (result.reference, result.customer_reference) == ("tr_WDqYK6vllg", "cst_8wmqcHMN4U")
    created, paid = mollie.requests
    assert (created["method"], created["path"]) == ("POST", "/v2/customers")
    assert created["json"] == {"name": "Customer A", "email": "customer@example.org", "metadata": {"customer": "cus_A"}}
    assert created["headers"]["idempotency-key"] == "pi_1:1:customer"
    assert (paid["method"], paid["path"]) == ("POST", "/v2/payments")
    assert paid["headers"]["idempotency-key"] == "pi_1:1"
    assert paid["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert paid["json"] == {
        "amount": {"currency": "EUR", "value": "10.00"},
        "description": "Invoice in_1",
        "webhookUrl": WEBHOOK_URL,
        "method": "creditcard",
        "cardToken": TOKEN,
        "redirectUrl": RETURN_URL,
        "sequenceType": "first",
        "customerId": "cst_8wmqcHMN4U",
    }


def test_an_authorization_only_payment_asks_mollie_for_a_manual_capture(mollie):
    mollie.answer("POST", "payments", "payment_first_open", status=201)

    mollie.gateway().pay(
        reference=f"token:{TOKEN}",
        amount=1000,
        currency="EUR",
        livemode=False,
        idempotency_key="pi_1:1",
        off_session=False,
        customer=customer("cst_8wmqcHMN4U"),
        return_url=RETURN_URL,
        capture=False,
    )

    (paid,) = mollie.requests  # the customer is known to Mollie already: none is created
    assert paid["json"]["captureMode"] == "manual"


@pytest.mark.parametrize(
    ("amount", "currency", "value"), [(123456, "eur", "1234.56"), (1500, "jpy", "1500"), (1234, "kwd", "1.234")]
)
def test_an_off_session_payment_with_a_mandate_is_a_recurring_payment(mollie, amount, currency, value):
    mollie.answer("POST", "payments", "payment_recurring_paid", status=201)

    result = mollie.gateway().pay(
        reference=MANDATE,
        amount=amount,
        currency=currency,
        livemode=False,
        idempotency_key="pi_2:1",
        off_session=True,
        customer=customer("cst_8wmqcHMN4U"),
        description="Invoice in_2",
    )

    assert result.status == "succeeded"
    assert (result.reference, result.customer_reference, result.method_reference) == (
        "tr_7UhSN1zuXS",
        "cst_8wmqcHMN4U",
        "",
    )
    (paid,) = mollie.requests
    assert paid["headers"]["idempotency-key"] == "pi_2:1"
    assert paid["json"] == {
        "amount": {"currency": currency.upper(), "value": value},
        "description": "Invoice in_2",
        "webhookUrl": WEBHOOK_URL,
        "sequenceType": "recurring",
        "customerId": "cst_8wmqcHMN4U",
        "mandateId": "mdt_h3gAaD5zP",
    }


def test_a_declined_recurring_payment_fails_with_stripes_decline_code(mollie):
    mollie.answer("POST", "payments", "payment_failed_insufficient_funds", status=201)

    result = mollie.gateway().pay(
        reference=MANDATE, amount=1000, currency="EUR", livemode=False, idempotency_key="pi_2:2", off_session=True
    )

    assert (result.status, result.failure_code, result.decline_code) == (
        "failed",
        "card_declined",
        "insufficient_funds",
    )
    assert result.failure_message == "The card has insufficient funds."


@pytest.mark.parametrize("reference", [f"token:{TOKEN}", "sepa:0123456789abcdef"])
def test_off_session_without_a_mandate_fails_with_authentication_required_and_asks_nothing(mollie, reference):
    result = mollie.gateway().pay(
        reference=reference,
        amount=1000,
        currency="EUR",
        livemode=False,
        idempotency_key="pi_3:1",
        off_session=True,
        customer=customer("cst_8wmqcHMN4U"),
    )

    assert (result.status, result.failure_code) == ("failed", "authentication_required")
    assert result.customer_reference == "cst_8wmqcHMN4U"
    assert mollie.requests == []


@pytest.mark.parametrize("reference", ["mandate:cst_8wmqcHMN4U", "mandate:mdt_h3gAaD5zP:cst_8wmqcHMN4U", "card_123"])
def test_a_reference_that_is_not_ours_is_refused_without_asking_mollie(mollie, reference):
    with pytest.raises(InvalidRequest):
        mollie.gateway().pay(
            reference=reference,
            amount=1000,
            currency="EUR",
            livemode=False,
            idempotency_key="pi_5:1",
            off_session=False,
        )
    assert mollie.requests == []


def test_capturing_an_authorized_payment_posts_a_capture_of_the_amount(mollie):
    mollie.answer("GET", "payments/tr_ncaPcAhuUV", "payment_authorized")
    mollie.answer("POST", "payments/tr_ncaPcAhuUV/captures", "capture_pending", status=201)

    result = mollie.gateway().capture(reference="tr_ncaPcAhuUV", amount=750, livemode=False, idempotency_key="cap_1")

    assert (result.status, result.reference) == ("processing", "tr_ncaPcAhuUV")
    capture = mollie.requests[-1]
    assert capture["json"] == {"amount": {"currency": "EUR", "value": "7.50"}}
    assert capture["headers"]["idempotency-key"] == "cap_1"


def test_canceling_an_authorized_payment_releases_the_authorization(mollie):
    mollie.answer("GET", "payments/tr_ncaPcAhuUV", "payment_authorized")
    mollie.answer("POST", "payments/tr_ncaPcAhuUV/release-authorization", status=202, body=b"{}")

    mollie.gateway().cancel(reference="tr_ncaPcAhuUV", livemode=False)

    assert [(r["method"], r["path"]) for r in mollie.requests] == [
        ("GET", "/v2/payments/tr_ncaPcAhuUV"),
        ("POST", "/v2/payments/tr_ncaPcAhuUV/release-authorization"),
    ]


@pytest.mark.parametrize(("fixture", "status"), [("refund_pending", "pending"), ("refund_refunded", "succeeded")])
def test_a_refund_is_pending_until_mollie_has_refunded_it(mollie, fixture, status):
    mollie.answer("POST", "payments/tr_5B8cwPMGnU/refunds", fixture, status=201)

    result = mollie.gateway().refund(
        reference="tr_5B8cwPMGnU",
        amount=595,
        currency="eur",
        livemode=False,
        idempotency_key="re_1",
        reason="Order #33",
    )

    assert (result.status, result.reference) == (status, "re_4qqhO89gsT")
    (refund,) = mollie.requests
    assert refund["json"] == {"amount": {"currency": "EUR", "value": "5.95"}, "description": "Order #33"}
    assert refund["headers"]["idempotency-key"] == "re_1"


# Setups ---------------------------------------------------------------------------------------------------------------


def test_a_card_setup_is_a_zero_amount_first_payment_authenticated_at_mollies_checkout(mollie):
    mollie.answer("POST", "payments", "payment_setup_open", status=201)

    result = mollie.gateway().setup(
        reference=f"token:{TOKEN}",
        livemode=False,
        idempotency_key="seti_1",
        customer=customer("cst_8wmqcHMN4U"),
        return_url=RETURN_URL,
    )

    assert (result.status, result.reference) == ("requires_action", "tr_44aKxzEbr8")
    assert result.action_url == "https://www.mollie.com/checkout/credit-card/embedded/44aKxzEbr8"
    (paid,) = mollie.requests
    assert paid["json"]["amount"] == {"currency": "EUR", "value": "0.00"}
    assert paid["json"]["sequenceType"] == "first"
    assert paid["json"]["metadata"] == {"purpose": "setup"}


def test_a_sepa_setup_creates_the_mandate_with_mollie_and_keeps_only_the_mandate(mollie):
    mollie.answer("POST", "customers/cst_4qqhO89gsT/mandates", "mandate_directdebit_valid", status=201)
    gateway = mollie.gateway()

    details = gateway.tokenize_sepa(SepaInput(f"{IBAN[:4]} {IBAN[4:8]} {IBAN[8:]}"), livemode=False)
    result = gateway.setup(
        reference=details.reference,
        livemode=False,
        idempotency_key="seti_2",
        customer=CustomerRef(id="cus_B", name="John Doe", reference="cst_4qqhO89gsT"),
        mandate={"customer_acceptance": {"type": "online", "accepted_at": 1700000000}},
        sepa=SepaInput(IBAN),
    )

    assert (details.type, details.last4, details.bank_code, details.country) == ("sepa_debit", "3000", "37040044", "DE")
    assert IBAN not in details.reference and details.reference.startswith("sepa:")
    assert result.status == "succeeded"
    assert result.method_reference == result.reference == "mandate:cst_4qqhO89gsT:mdt_pWUnw6pkBN"
    assert result.mandate_reference == "mdt_pWUnw6pkBN"
    (created,) = mollie.requests
    assert (created["method"], created["path"]) == ("POST", "/v2/customers/cst_4qqhO89gsT/mandates")
    assert created["json"] == {
        "method": "directdebit",
        "consumerName": "John Doe",
        "consumerAccount": IBAN,
        "signatureDate": "2023-11-14",
    }
    assert created["headers"]["idempotency-key"] == "seti_2:mandate"


def test_a_sepa_setup_later_uses_the_iban_kept_encrypted_until_the_mandate_exists(mollie):
    mollie.answer("POST", "customers/cst_4qqhO89gsT/mandates", "mandate_directdebit_valid", status=201)
    gateway = mollie.gateway()
    details = gateway.tokenize_sepa(SepaInput(IBAN), livemode=False)

    result = gateway.setup(
        reference=details.reference,
        livemode=False,
        idempotency_key="seti_5",
        customer=CustomerRef(id="cus_B", name="John Doe", reference="cst_4qqhO89gsT"),
    )

    assert IBAN not in details.reference and IBAN[-8:] not in details.reference
    assert result.status == "succeeded" and result.method_reference.startswith("mandate:")
    assert mollie.requests[-1]["json"]["consumerAccount"] == IBAN


def test_a_sepa_setup_refuses_an_iban_other_than_the_tokenized_one(mollie):
    gateway = mollie.gateway()
    details = gateway.tokenize_sepa(SepaInput(IBAN), livemode=False)

    with pytest.raises(InvalidRequest, match="not the one"):
        gateway.setup(
            reference=details.reference,
            livemode=False,
            idempotency_key="seti_3",
            customer=customer("cst_4qqhO89gsT"),
            sepa=SepaInput("AT611904300234573201"),
        )
    assert mollie.requests == []


# Webhooks -------------------------------------------------------------------------------------------------------------


def test_a_webhook_is_verified_by_fetching_the_payment_and_reports_the_mandate_of_a_paid_first_payment(mollie):
    mollie.answer("GET", "payments/tr_WDqYK6vllg", "payment_first_paid")

    (event,) = mollie.gateway().parse_webhook(body=b"id=tr_WDqYK6vllg", headers={}, livemode=False)

    assert (event.id, event.kind, event.reference) == ("mollie:tr_WDqYK6vllg:paid", "payment", "tr_WDqYK6vllg")
    assert event.payment.status == "succeeded"
    assert event.payment.method_reference == MANDATE
    assert [(r["method"], r["path"]) for r in mollie.requests] == [("GET", "/v2/payments/tr_WDqYK6vllg")]


def test_a_webhook_for_a_setup_payment_is_a_setup_event(mollie):
    mollie.answer("GET", "payments/tr_44aKxzEbr8", "payment_setup_open")

    (event,) = mollie.gateway().parse_webhook(body=b"id=tr_44aKxzEbr8", headers={}, livemode=False)

    assert (event.kind, event.setup.status) == ("setup", "requires_action")


def test_a_webhook_for_a_payment_with_refunds_reports_each_refund(mollie):
    mollie.answer("GET", "payments/tr_5B8cwPMGnU", "payment_paid_with_refunds")
    mollie.answer("GET", "payments/tr_5B8cwPMGnU/refunds", "refunds_list")

    payment, refund = mollie.gateway().parse_webhook(body=b"id=tr_5B8cwPMGnU", headers={}, livemode=False)

    assert (payment.kind, payment.payment.status) == ("payment", "succeeded")
    assert (refund.id, refund.kind, refund.reference) == ("mollie:re_4qqhO89gsT:refunded", "refund", "re_4qqhO89gsT")
    assert refund.refund.status == "succeeded"
    assert mollie.requests[-1]["query"] == "limit=250"


@pytest.mark.parametrize("body", [b"", b"id=", b"id=cst_8wmqcHMN4U", b"id=tr_../../customers", b"\xff"])
def test_a_webhook_that_names_no_mollie_payment_is_refused_without_asking_mollie(mollie, body):
    with pytest.raises(InvalidRequest):
        mollie.gateway().parse_webhook(body=body, headers={}, livemode=False)
    assert mollie.requests == []


def test_a_webhook_for_a_payment_mollie_does_not_know_is_refused(mollie):
    mollie.answer("GET", "payments/tr_doesnotexist", "error_404", status=404)

    with pytest.raises(InvalidRequest, match="does not know"):
        mollie.gateway().parse_webhook(body=b"id=tr_doesnotexist", headers={}, livemode=False)


# Errors ---------------------------------------------------------------------------------------------------------------


def recurring(gateway: MollieGateway):
    return gateway.pay(
        reference=MANDATE, amount=1000, currency="EUR", livemode=False, idempotency_key="pi_4:1", off_session=True
    )


@pytest.mark.parametrize(
    ("status", "body"),
    [(503, (FIXTURES / "error_503.json").read_bytes()), (502, b"<html><body>502 Bad Gateway</body></html>")],
)
def test_a_mollie_outage_is_gateway_unavailable(mollie, status, body):
    mollie.answer("POST", "payments", status=status, body=body)

    with pytest.raises(GatewayUnavailable):
        recurring(mollie.gateway())


def test_a_mollie_that_answers_too_late_is_gateway_unavailable(mollie):
    mollie.answer("POST", "payments", "payment_recurring_paid", status=201, delay=1.0)

    with pytest.raises(GatewayUnavailable):
        recurring(mollie.gateway(timeout=0.2))


def test_a_mollie_that_cannot_be_reached_is_gateway_unavailable(mollie):
    gateway = mollie.gateway()
    mollie.server.shutdown()
    mollie.server.server_close()

    with pytest.raises(GatewayUnavailable):
        gateway.check_connection()


def test_a_refused_request_is_invalid_with_mollies_message(mollie):
    mollie.answer("POST", "payments", "error_422", status=422)

    with pytest.raises(InvalidRequest) as raised:
        recurring(mollie.gateway())

    assert raised.value.message == "Mollie: The amount is higher than the maximum"
    assert raised.value.param == "amount"


def test_an_iban_echoed_in_mollies_message_is_redacted(mollie):
    mollie.answer("POST", "customers/cst_4qqhO89gsT/mandates", "error_422_consumer_account", status=422)
    gateway = mollie.gateway()
    details = gateway.tokenize_sepa(SepaInput(IBAN), livemode=False)

    with pytest.raises(InvalidRequest) as raised:
        gateway.setup(
            reference=details.reference,
            livemode=False,
            idempotency_key="seti_4",
            customer=customer("cst_4qqhO89gsT"),
            sepa=SepaInput(IBAN),
        )

    assert IBAN not in str(raised.value) and "DE89…3000" in raised.value.message
    assert raised.value.__context__ is None and raised.value.__cause__ is None


def test_check_connection_reads_the_keys_profile_and_reports_a_refused_key(mollie):
    mollie.answer("GET", "profiles/me", "profile_me")
    assert mollie.gateway().check_connection() == "pfl_QkEhN94Ba"
    assert mollie.requests[-1]["path"] == "/v2/profiles/me"

    with pytest.raises(InvalidRequest, match="belongs to profile pfl_QkEhN94Ba"):
        mollie.gateway(profile_id="pfl_other").check_connection()

    mollie.answer("GET", "profiles/me", "error_401", status=401)
    with pytest.raises(InvalidRequest, match="refused the API key"):
        mollie.gateway().check_connection()


# Modes, methods and amounts -------------------------------------------------------------------------------------------


def test_the_keys_mode_must_be_the_requested_mode(mollie):
    test_gateway, live_gateway = mollie.gateway(), mollie.gateway(api_key="live_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM")

    test_gateway.check_mode(livemode=False)
    live_gateway.check_mode(livemode=True)
    with pytest.raises(LiveModeNotAllowed, match="test API key"):
        test_gateway.check_mode(livemode=True)
    with pytest.raises(LiveModeNotAllowed, match="live API key"):
        recurring(live_gateway)
    assert mollie.requests == []


def test_a_malformed_api_key_is_refused_without_quoting_it():
    with pytest.raises(InvalidRequest) as raised:
        MollieGateway(api_key="sk_secret_value")
    assert "sk_secret_value" not in str(raised.value)


@pytest.mark.parametrize(
    ("currency", "country", "types"),
    [("EUR", "DE", ["card", "sepa_debit"]), ("eur", "us", ["card"]), ("USD", "DE", ["card"]), ("EUR", "", ["card"])],
)
def test_sepa_debit_is_offered_in_euros_to_sepa_countries_only(currency, country, types):
    gateway = MollieGateway(api_key=API_KEY)
    assert gateway.payment_method_types(currency=currency, country=country, livemode=False) == types


@pytest.mark.parametrize(
    ("amount", "currency", "value"),
    [
        (1000, "eur", "10.00"),
        (5, "EUR", "0.05"),
        (0, "eur", "0.00"),
        (1234, "jpy", "1234"),
        (1234, "kwd", "1.234"),
        (5, "kwd", "0.005"),
        (10**17 + 1, "eur", "1000000000000000.01"),
    ],
)
def test_amounts_are_sent_as_strings_with_the_currencys_decimals(amount, currency, value):
    assert mollie_amount(amount, currency) == {"currency": currency.upper(), "value": value}


@given(amount=st.integers(min_value=0, max_value=10**18), currency=st.sampled_from(["eur", "jpy", "kwd", "usd", "clp"]))
def test_an_amount_string_is_exactly_the_minor_units(amount, currency):
    value = mollie_amount(amount, currency)["value"]
    assert Decimal(value).scaleb(exponent(currency)) == amount
    assert len(value.partition(".")[2]) == exponent(currency)


def test_card_numbers_are_refused_and_a_components_token_is_a_card_method():
    gateway = MollieGateway(api_key=API_KEY)

    with pytest.raises(InvalidRequest, match="Mollie Components"):
        gateway.tokenize_card(object(), livemode=False)
    details = gateway.from_token(TOKEN, livemode=False)

    assert (details.type, details.reference, details.brand, details.last4) == ("card", f"token:{TOKEN}", "", "")
    assert details.fingerprint and TOKEN not in details.fingerprint
    with pytest.raises(InvalidRequest):
        gateway.from_token("pm_card_visa", livemode=False)
