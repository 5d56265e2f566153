import logging

import pytest
import stripe
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from billing.models import AuditEntry, Event, PaymentMethod
from billing.services.subscriptions import ItemSpec, subscription_create
from tests.billing.helpers import rows_containing
from tests.factories.billing import ACTOR, CustomerFactory, PriceFactory, card

SECRET_NUMBER = "4000002760000016"  # Stripe's German Visa test card: succeeds, easy to search for


def server_log(caplog) -> str:
    """What this server logged (the SDK itself logs its request body at DEBUG, client-side)."""
    client_side = ("stripe", "urllib3", "httpx", "httpcore")
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(client_side))


def raw_card(number="4242424242424242", **overrides) -> dict:
    return {"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "314", **overrides}}


def test_create_retrieve_attach_update_detach(client):
    customer = client.v1.customers.create({"email": "ada@example.com"})
    pm = client.v1.payment_methods.create(
        {**raw_card(SECRET_NUMBER), "billing_details": {"name": "Ada"}, "metadata": {"source": "test"}}
    )
    assert pm.id.startswith("pm_") and pm.object == "payment_method" and pm.type == "card"
    assert (pm.card.brand, pm.card.last4, pm.card.country, pm.card.exp_year) == ("visa", "0016", "DE", 2034)
    assert pm.customer is None and pm.billing_details.name == "Ada" and pm.metadata.source == "test"
    assert client.v1.payment_methods.retrieve(pm.id).card.fingerprint == pm.card.fingerprint

    attached = client.v1.payment_methods.attach(pm.id, {"customer": customer.id})
    assert attached.customer == customer.id
    assert Event.objects.filter(type="payment_method.attached", data_object__id=pm.id).exists()

    updated = client.v1.payment_methods.update(
        pm.id,
        {
            "billing_details": {"email": "ada@example.com", "address": {"country": "de", "city": "Berlin"}},
            "card": {"exp_month": 3, "exp_year": 2036},
            "metadata": {"source": "", "tier": "gold"},
        },
    )
    assert updated.billing_details.name == "Ada" and updated.billing_details.email == "ada@example.com"
    assert updated.billing_details.address.country == "DE" and updated.billing_details.address.city == "Berlin"
    assert (updated.card.exp_month, updated.card.exp_year) == (3, 2036)
    assert updated.metadata.to_dict() == {"tier": "gold"}
    event = Event.objects.get(type="payment_method.updated")
    assert set(event.previous_attributes) == {"billing_details", "card", "metadata"}
    assert event.previous_attributes["card"]["exp_year"] == 2034
    assert AuditEntry.objects.filter(action="payment_method.update", actor_type="api_key").exists()

    cleared = client.v1.payment_methods.update(pm.id, {"billing_details": {"name": "", "address": ""}})
    assert cleared.billing_details.name is None and cleared.billing_details.address is None

    detached = client.v1.payment_methods.detach(pm.id)
    assert detached.customer is None
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.payment_methods.detach(pm.id)
    assert error.value.http_status == 400 and "not attached" in error.value.user_message
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.payment_methods.update(pm.id, {"metadata": {"a": "b"}})
    assert "save this PaymentMethod to a customer" in error.value.user_message


def test_sepa_debit(client):
    customer = client.v1.customers.create({"email": "iban@example.com"})
    pm = client.v1.payment_methods.create(
        {"type": "sepa_debit", "sepa_debit": {"iban": "DE89 3704 0044 0532 0130 00"}, "billing_details": {"name": "B"}}
    )
    assert pm.type == "sepa_debit" and pm.sepa_debit.last4 == "3000" and pm.sepa_debit.country == "DE"
    assert pm.sepa_debit.bank_code == "37040044"
    assert client.v1.payment_methods.attach(pm.id, {"customer": customer.id}).customer == customer.id
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.payment_methods.create({"type": "sepa_debit", "sepa_debit": {"iban": "DE00123"}})
    assert error.value.param == "sepa_debit[iban]" and error.value.code == "invalid_iban"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.payment_methods.update(pm.id, {"card": {"exp_month": 1}})
    assert error.value.param == "card"


def test_attaching_a_test_token_creates_the_method(client, merchant):
    customer = client.v1.customers.create({"email": "token@example.com"})
    pm = client.v1.payment_methods.attach("pm_card_mastercard", {"customer": customer.id})
    assert pm.id.startswith("pm_") and pm.id != "pm_card_mastercard"
    assert (pm.card.brand, pm.card.last4, pm.customer) == ("mastercard", "4444", customer.id)
    assert client.v1.customers.payment_methods.retrieve(customer.id, pm.id).id == pm.id
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.payment_methods.attach("pm_card_nonsense", {"customer": customer.id})
    assert error.value.http_status == 404 and error.value.param == "payment_method"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.payment_methods.retrieve("pm_card_visa")
    assert error.value.http_status == 404


def test_declining_card_at_attach_is_a_card_error(client):
    customer = client.v1.customers.create({"email": "decline@example.com"})
    with pytest.raises(stripe.CardError) as error:
        client.v1.payment_methods.attach("pm_card_chargeDeclined", {"customer": customer.id})
    assert error.value.http_status == 402 and error.value.code == "card_declined"
    assert error.value.error.decline_code == "generic_decline"
    assert not PaymentMethod.objects.exists()  # the token's method was rolled back with the attach

    pm = client.v1.payment_methods.create(raw_card("4000000000009995"))
    with pytest.raises(stripe.CardError) as error:
        client.v1.payment_methods.attach(pm.id, {"customer": customer.id})
    assert error.value.error.decline_code == "insufficient_funds"
    assert client.v1.payment_methods.retrieve(pm.id).customer is None


@pytest.mark.parametrize(
    ("card_params", "param", "code"),
    [
        ({"number": "4242424242424241"}, "card[number]", "incorrect_number"),
        ({"number": "4242"}, "card[number]", "incorrect_number"),
        ({"exp_year": 2020}, "card[exp_year]", "invalid_expiry_year"),
        ({"exp_month": 13}, "card[exp_month]", "invalid_expiry_month"),
        ({"cvc": "12"}, "card[cvc]", "invalid_cvc"),
        ({"exp_year": 123456}, "card[exp_year]", "parameter_invalid_integer"),
        ({"brand": "visa"}, "card[brand]", "parameter_unknown"),
    ],
)
def test_bad_card_input_is_a_4xx_that_does_not_echo_the_number(client, caplog, card_params, param, code):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.payment_methods.create(raw_card(**card_params))
    assert (error.value.http_status, error.value.param, error.value.code) == (400, param, code)
    number = card_params.get("number", "4242424242424242")
    assert number not in str(error.value.json_body) and number not in server_log(caplog)
    assert not PaymentMethod.objects.exists()


def test_other_bad_input(client):
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.payment_methods.create({"type": "card"})
    assert error.value.code == "parameter_missing" and error.value.param == "card"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.payment_methods.create({"type": "paypal"})
    assert error.value.param == "type"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.payment_methods.create({**raw_card(), "sepa_debit": {"iban": "DE89370400440532013000"}})
    assert error.value.param == "sepa_debit"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.payment_methods.create({**raw_card(), "billing_details": {"email": "nope"}})
    assert error.value.param == "billing_details[email]"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.payment_methods.create({**raw_card(), "customer": "cus_x"})
    assert error.value.code == "parameter_unknown"
    pm = client.v1.payment_methods.create(raw_card())
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.payment_methods.attach(pm.id, {})
    assert error.value.code == "parameter_missing" and error.value.param == "customer"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.payment_methods.attach(pm.id, {"customer": "cus_missing"})
    assert error.value.http_status == 404 and error.value.param == "customer"
    first = client.v1.customers.create({"email": "one@example.com"})
    second = client.v1.customers.create({"email": "two@example.com"})
    client.v1.payment_methods.attach(pm.id, {"customer": first.id})
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.payment_methods.attach(pm.id, {"customer": second.id})
    assert error.value.code == "payment_method_already_attached"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.payment_methods.update(pm.id, {"card": {"exp_year": 2001}})
    assert error.value.param == "card[exp_year]"


def test_keep_one_rule(client, merchant):
    customer = CustomerFactory(account=merchant)
    only = card(customer)
    price = PriceFactory(account=merchant, product__account=merchant)
    subscription_create(customer=customer, items=[ItemSpec(price, 1)], actor=ACTOR)
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.payment_methods.detach(only.id)
    assert error.value.http_status == 400 and error.value.param == "payment_method"
    assert error.value.code == "last_payment_method"
    assert "Add a new payment method first, then remove this one." in error.value.user_message
    second = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    assert client.v1.payment_methods.detach(only.id).customer is None
    assert client.v1.customers.retrieve(customer.id).invoice_settings.default_payment_method == second.id


def test_lists_and_customer_paths(client, merchant):
    customer = client.v1.customers.create({"email": "lists@example.com"})
    other = client.v1.customers.create({"email": "other@example.com"})
    visa = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    sepa = client.v1.payment_methods.create({"type": "sepa_debit", "sepa_debit": {"iban": "AT611904300234573201"}})
    client.v1.payment_methods.attach(sepa.id, {"customer": customer.id})
    client.v1.payment_methods.attach("pm_card_amex", {"customer": other.id})
    loose = client.v1.payment_methods.create(raw_card())

    listed = client.v1.payment_methods.list({"customer": customer.id})
    assert [pm.id for pm in listed.data] == [sepa.id, visa.id] and listed.url == "/v1/payment_methods"
    assert [pm.id for pm in client.v1.payment_methods.list({"customer": customer.id, "type": "card"}).data] == [visa.id]
    assert client.v1.payment_methods.list({"customer": customer.id, "type": "us_bank_account"}).data == []
    assert loose.id in [pm.id for pm in client.v1.payment_methods.list().data]
    everything = list(client.v1.payment_methods.list({"limit": 1}).auto_paging_iter())
    assert len(everything) == 4

    by_customer = client.v1.customers.payment_methods.list(customer.id, {"type": "sepa_debit"})
    assert [pm.id for pm in by_customer.data] == [sepa.id]
    assert by_customer.url == f"/v1/customers/{customer.id}/payment_methods"
    assert len(client.v1.customers.payment_methods.list(customer.id).data) == 2
    assert client.v1.customers.payment_methods.retrieve(customer.id, visa.id).card.last4 == "4242"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.customers.payment_methods.retrieve(other.id, visa.id)
    assert error.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.customers.payment_methods.list("cus_missing")
    assert error.value.http_status == 404 and error.value.param == "customer"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_methods.list({"customer": customer.id, "color": "red"})


def test_expand_customer(client):
    customer = client.v1.customers.create({"email": "expand@example.com"})
    pm = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    expanded = client.v1.payment_methods.retrieve(pm.id, {"expand": ["customer"]})
    assert expanded.customer.email == "expand@example.com"


def test_tenant_isolation(client, other_client):
    customer = client.v1.customers.create({"email": "mine@example.com"})
    pm = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    theirs = other_client.v1.customers.create({"email": "theirs@example.com"})
    for call in (
        lambda: other_client.v1.payment_methods.retrieve(pm.id),
        lambda: other_client.v1.payment_methods.update(pm.id, {"metadata": {"x": "y"}}),
        lambda: other_client.v1.payment_methods.detach(pm.id),
        lambda: other_client.v1.payment_methods.attach(pm.id, {"customer": theirs.id}),
        lambda: other_client.v1.payment_methods.list({"customer": customer.id}),
        lambda: other_client.v1.customers.payment_methods.list(customer.id),
        lambda: other_client.v1.customers.payment_methods.retrieve(customer.id, pm.id),
        lambda: client.v1.payment_methods.attach(pm.id, {"customer": theirs.id}),
    ):
        with pytest.raises(stripe.InvalidRequestError) as error:
            call()
        assert error.value.http_status == 404
    assert other_client.v1.payment_methods.list().data == []
    assert PaymentMethod.objects.get(pk=pm.id).customer_id == customer.id


def test_live_mode_needs_a_processor_and_sees_no_test_data(client, live_server, merchant):
    live = stripe.StripeClient(merchant.live_secret, base_addresses={"api": live_server.url}, max_network_retries=0)
    customer = live.v1.customers.create({"email": "live@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as error:
        live.v1.payment_methods.create(raw_card())
    assert error.value.http_status == 400 and error.value.param == "card[number]"
    assert error.value.code == "raw_card_data_not_allowed" and error.value.json_body["error"]["type"] == (
        "invalid_request_error"
    )
    assert "4242424242424242" not in str(error.value.json_body)
    # Without a processor set up for live mode, the answer names the missing setting.
    with pytest.raises(stripe.InvalidRequestError) as error:
        live.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    assert error.value.code == "processor_not_configured" and "Payment processors" in error.value.user_message
    with pytest.raises(stripe.InvalidRequestError) as error:
        live.v1.payment_methods.create({"type": "sepa_debit", "sepa_debit": {"iban": "DE89370400440532013000"}})
    assert error.value.code == "processor_not_configured"
    test_pm = client.v1.payment_methods.create(raw_card())
    with pytest.raises(stripe.InvalidRequestError) as error:
        live.v1.payment_methods.retrieve(test_pm.id)
    assert error.value.http_status == 404
    assert live.v1.payment_methods.list().data == []
    assert not PaymentMethod.objects.filter(livemode=True).exists()


def test_raw_card_data_is_stored_nowhere(client, caplog):
    caplog.set_level(logging.DEBUG)
    customer = client.v1.customers.create({"email": "pci@example.com"})
    pm = client.v1.payment_methods.create(raw_card(SECRET_NUMBER, cvc="9731"))
    client.v1.payment_methods.attach(pm.id, {"customer": customer.id})
    client.v1.payment_methods.update(pm.id, {"metadata": {"k": "v"}})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_methods.create(raw_card(SECRET_NUMBER, exp_year=2001, cvc="9731"))
    assert PaymentMethod.objects.get(pk=pm.id).card_last4 == "0016"
    assert rows_containing("0016")  # the scan does find what is stored
    assert rows_containing(SECRET_NUMBER) == []
    assert rows_containing("9731", whole=True) == []
    assert SECRET_NUMBER not in server_log(caplog)


def _api_get(merchant, path: str, data: dict):
    response = Client().get(path, data, HTTP_AUTHORIZATION=f"Bearer {merchant.test_secret}")
    assert response.status_code == 200, response.content
    return response.json()


def test_list_queries_do_not_grow_with_rows(transactional_db, merchant, django_assert_max_num_queries):
    customer = CustomerFactory(account=merchant)
    requests = [
        ("/v1/payment_methods", {"customer": customer.id, "limit": 100, "expand[]": "data.customer"}),
        (f"/v1/customers/{customer.id}/payment_methods", {"limit": 100, "type": "card"}),
    ]
    for _ in range(3):
        card(customer, default=False)
    counts = []
    for path, data in requests:
        with CaptureQueriesContext(connection) as queries:
            assert len(_api_get(merchant, path, data)["data"]) == 3
        counts.append(len(queries))
    for _ in range(57):
        card(customer, default=False)
    for (path, data), count in zip(requests, counts, strict=True):
        with django_assert_max_num_queries(count):
            assert len(_api_get(merchant, path, data)["data"]) == 60
