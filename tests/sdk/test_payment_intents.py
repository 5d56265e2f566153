"""Stripe's documented PaymentIntent and SetupIntent flows, run by the official SDK against our server with the
test gateway's cards (3-D Secure on our simulated issuer page)."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe
from django.test import Client

from billing.models import Charge, Event, Mandate, PaymentIntent
from tests.billing.helpers import left_for

SEPA_ACCEPTANCE = {
    "customer_acceptance": {"type": "online", "online": {"ip_address": "203.0.113.7", "user_agent": "pytest"}}
}


def authenticate(url: str, outcome: str = "complete"):
    """Press a button on the simulated issuer page, as the browser test does in Chromium."""
    parts = urlsplit(url)
    client = Client(enforce_csrf_checks=False)
    page = client.get(f"{parts.path}?{parts.query}")
    assert page.status_code == 200
    secret = parse_qs(parts.query)["client_secret"][0]
    return client.post(parts.path, {"client_secret": secret, "outcome": outcome})


@pytest.fixture
def customer(client):
    return client.v1.customers.create({"email": "ada@example.com"})


def test_setup_intent_with_pm_card_visa_succeeds_and_attaches(client, customer):
    intent = client.v1.setup_intents.create(
        {"customer": customer.id, "payment_method": "pm_card_visa", "confirm": True, "usage": "off_session"}
    )
    assert intent.object == "setup_intent" and intent.status == "succeeded"
    assert re.fullmatch(r"seti_\w+_secret_[0-9a-f]{64}", intent.client_secret)
    pm = client.v1.payment_methods.retrieve(intent.payment_method)
    assert pm.customer == customer.id
    assert Event.objects.filter(type="setup_intent.succeeded", data_object__id=intent.id).exists()


def test_setup_intent_needing_authentication_completes_on_the_issuer_page(client, customer):
    intent = client.v1.setup_intents.create(
        {
            "customer": customer.id,
            "payment_method": "pm_card_authenticationRequiredOnSetup",
            "confirm": True,
            "return_url": "https://shop.example/done?step=2",
        }
    )
    assert intent.status == "requires_action"
    assert intent.next_action.type == "redirect_to_url"
    response = authenticate(intent.next_action.redirect_to_url.url)
    back = urlsplit(left_for(response))
    assert (back.netloc, back.path) == ("shop.example", "/done")
    query = parse_qs(back.query)
    assert query["setup_intent"] == [intent.id] and query["redirect_status"] == ["succeeded"] and query["step"] == ["2"]
    intent = client.v1.setup_intents.retrieve(intent.id)
    assert intent.status == "succeeded"
    # Set up with authentication: later off-session payments pass without the customer.
    payment = client.v1.payment_intents.create(
        {
            "amount": 2000,
            "currency": "eur",
            "customer": customer.id,
            "payment_method": intent.payment_method,
            "off_session": True,
            "confirm": True,
        }
    )
    assert payment.status == "succeeded" and payment.amount_received == 2000
    assert Charge.objects.get(pk=payment.latest_charge).status == "succeeded"


def test_payment_intent_authentication_required_every_time(client, customer):
    intent = client.v1.payment_intents.create(
        {
            "amount": 1999,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": "pm_card_authenticationRequired",
            "setup_future_usage": "off_session",
            "return_url": "https://shop.example/return",
            "confirm": True,
        }
    )
    assert intent.status == "requires_action" and intent.latest_charge is None
    response = authenticate(intent.next_action.redirect_to_url.url)
    assert "redirect_status=succeeded" in left_for(response)
    intent = client.v1.payment_intents.retrieve(intent.id)
    assert intent.status == "succeeded" and intent.latest_charge.startswith("ch_")
    pm = client.v1.payment_methods.retrieve(intent.payment_method)
    assert pm.customer == customer.id  # setup_future_usage attached it

    # Off-session, this card always needs the customer: authentication_required, 402 with the intent.
    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.create(
            {
                "amount": 1999,
                "currency": "usd",
                "customer": customer.id,
                "payment_method": pm.id,
                "off_session": True,
                "confirm": True,
            }
        )
    error = raised.value.error
    assert error.code == "authentication_required" and error.decline_code == "authentication_required"
    assert error.payment_intent.status == "requires_payment_method"
    assert error.payment_intent.last_payment_error.code == "authentication_required"


def test_failed_authentication_leaves_the_intent_for_another_method(client, customer):
    intent = client.v1.payment_intents.create(
        {"amount": 500, "currency": "eur", "payment_method": "pm_card_threeDSecure2Required", "confirm": True}
    )
    response = authenticate(intent.next_action.redirect_to_url.url, "fail")
    assert response.status_code == 200  # no return_url: the page says so
    intent = client.v1.payment_intents.retrieve(intent.id)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.code == "payment_intent_authentication_failure"
    intent = client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    assert intent.status == "succeeded"


@pytest.mark.parametrize(
    ("token", "decline_code"),
    [("pm_card_chargeDeclined", "generic_decline"), ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds")],
)
def test_off_session_declines(client, customer, token, decline_code):
    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.create(
            {
                "amount": 1000,
                "currency": "usd",
                "customer": customer.id,
                "payment_method": token,
                "off_session": True,
                "confirm": True,
            }
        )
    error = raised.value.error
    assert error.code == "card_declined" and error.decline_code == decline_code
    intent = client.v1.payment_intents.retrieve(error.payment_intent.id)
    assert intent.status == "requires_payment_method"
    charge = Charge.objects.get(pk=intent.latest_charge)
    assert charge.status == "failed" and charge.decline_code == decline_code


def test_off_session_success_manual_capture_and_cancel(client, customer):
    pm = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    intent = client.v1.payment_intents.create(
        {
            "amount": 4200,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": pm.id,
            "off_session": True,
            "confirm": True,
        }
    )
    assert intent.status == "succeeded" and intent.amount_received == 4200
    held = client.v1.payment_intents.create(
        {
            "amount": 3000,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": pm.id,
            "capture_method": "manual",
            "confirm": True,
        }
    )
    assert held.status == "requires_capture" and held.amount_capturable == 3000
    captured = client.v1.payment_intents.capture(held.id, {"amount_to_capture": 2500})
    assert captured.status == "succeeded" and captured.amount_received == 2500
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.cancel(captured.id)
    assert raised.value.error.code == "payment_intent_unexpected_state"
    open_one = client.v1.payment_intents.create({"amount": 700, "currency": "usd"})
    canceled = client.v1.payment_intents.cancel(open_one.id, {"cancellation_reason": "abandoned"})
    assert canceled.status == "canceled" and canceled.cancellation_reason == "abandoned"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.confirm(canceled.id, {"payment_method": "pm_card_visa"})
    assert raised.value.error.code == "payment_intent_unexpected_state"


def test_sepa_setup_with_a_mandate_then_processing_payment(client, customer):
    pm = client.v1.payment_methods.create({"type": "sepa_debit", "sepa_debit": {"iban": "DE89370400440532013000"}})
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.setup_intents.create(
            {"customer": customer.id, "payment_method": pm.id, "payment_method_types": ["sepa_debit"], "confirm": True}
        )
    assert raised.value.error.param == "mandate_data"
    intent = client.v1.setup_intents.create(
        {
            "customer": customer.id,
            "payment_method": pm.id,
            "payment_method_types": ["sepa_debit"],
            "mandate_data": SEPA_ACCEPTANCE,
            "confirm": True,
        }
    )
    assert intent.status == "succeeded" and intent.mandate.startswith("mandate_")
    mandate = Mandate.objects.get(pk=intent.mandate)
    assert mandate.status == "active" and mandate.customer_acceptance["online"]["ip_address"] == "203.0.113.7"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.create(
            {
                "amount": 1000,
                "currency": "usd",
                "customer": customer.id,
                "payment_method": pm.id,
                "payment_method_types": ["sepa_debit"],
            }
        )
    assert raised.value.error.param == "currency"
    payment = client.v1.payment_intents.create(
        {
            "amount": 1000,
            "currency": "eur",
            "customer": customer.id,
            "payment_method": pm.id,
            "payment_method_types": ["sepa_debit"],
            "off_session": True,
            "confirm": True,
        }
    )
    assert payment.status == "processing"
    from billing.services.intents.payment_intents import payment_intents_poll

    assert payment_intents_poll(None) == 1
    assert client.v1.payment_intents.retrieve(payment.id).status == "succeeded"


def test_failing_iban_goes_processing_then_fails(client, customer):
    pm = client.v1.payment_methods.create({"type": "sepa_debit", "sepa_debit": {"iban": "AT861904300235473202"}})
    payment = client.v1.payment_intents.create(
        {
            "amount": 1000,
            "currency": "eur",
            "customer": customer.id,
            "payment_method": pm.id,
            "payment_method_types": ["sepa_debit"],
            "mandate_data": SEPA_ACCEPTANCE,
            "confirm": True,
        }
    )
    assert payment.status == "processing"
    from billing.services.intents.payment_intents import payment_intents_poll

    payment_intents_poll(None)
    payment = client.v1.payment_intents.retrieve(payment.id)
    assert payment.status == "requires_payment_method" and payment.last_payment_error.code == "insufficient_funds"
    assert Event.objects.filter(type="payment_intent.payment_failed", data_object__id=payment.id).exists()


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"amount": 0, "currency": "usd"}, "amount", None),
        ({"amount": -5, "currency": "usd"}, "amount", None),
        ({"amount": 10, "currency": "usd"}, "amount", "amount_too_small"),
        ({"currency": "usd"}, "amount", "parameter_missing"),
        ({"amount": 100, "currency": "usd", "payment_method": "pm_nope"}, "payment_method", "resource_missing"),
        ({"amount": 100, "currency": "usd", "payment_method_types": ["bitcoin"]}, "payment_method_types[0]", None),
        ({"amount": 100, "currency": "usd", "customer": "cus_missing"}, "customer", "resource_missing"),
    ],
)
def test_bad_input_answers_stripe_errors(client, params, param, code):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.create(params)
    assert raised.value.error.param == param
    if code:
        assert raised.value.error.code == code
    assert not PaymentIntent.objects.exists()


def test_foreign_tenant_ids_are_missing(client, other_client, customer):
    intent = client.v1.payment_intents.create({"amount": 100, "currency": "usd", "customer": customer.id})
    for call in (
        lambda: other_client.v1.payment_intents.retrieve(intent.id),
        lambda: other_client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"}),
        lambda: other_client.v1.payment_intents.create({"amount": 100, "currency": "usd", "customer": customer.id}),
    ):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            call()
        assert raised.value.http_status == 404
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_payment_method"


def test_lists_and_update(client, customer):
    first = client.v1.payment_intents.create({"amount": 100, "currency": "usd", "customer": customer.id})
    client.v1.payment_intents.create({"amount": 200, "currency": "usd"})
    listed = client.v1.payment_intents.list({"customer": customer.id})
    assert [i.id for i in listed.data] == [first.id]
    updated = client.v1.payment_intents.update(first.id, {"amount": 150, "metadata": {"order": "42"}})
    assert updated.amount == 150 and updated.metadata["order"] == "42"
    setup = client.v1.setup_intents.create({"customer": customer.id})
    assert [s.id for s in client.v1.setup_intents.list({"customer": customer.id}).data] == [setup.id]
    assert client.v1.setup_intents.cancel(setup.id).status == "canceled"


def test_search_payment_intents(client, customer):
    wanted = client.v1.payment_intents.create(
        {"amount": 4200, "currency": "eur", "customer": customer.id, "metadata": {"order": "77"}}
    )
    client.v1.payment_intents.create({"amount": 100, "currency": "usd"})
    found = client.v1.payment_intents.search(
        {"query": f'customer:"{customer.id}" AND status:"requires_payment_method" AND amount>=4000'}
    )
    assert found.object == "search_result" and [i.id for i in found.data] == [wanted.id]
    assert [i.id for i in client.v1.payment_intents.search({"query": 'metadata["order"]:"77"'}).data] == [wanted.id]
    assert client.v1.payment_intents.search({"query": 'currency:"gbp"'}).data == []
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.search({"query": 'colour:"red"'})
    assert raised.value.param == "query"
