"""Payment method pages: add a card or a SEPA account, make one the default, remove one (keep-one rule), the
payment_method_update deep link, and card data that never comes back out."""

import datetime as dt
import json
import logging
import re

import pytest
import time_machine

from billing.audit import Actor
from billing.gateways import SepaInput
from billing.models import AuditEntry, Event, PaymentMethod
from billing.services.payment_methods import payment_method_attach, payment_method_create
from billing.services.processors import processor_account_set
from tests.billing.helpers import subscribed
from tests.factories.billing import CustomerFactory, card
from tests.factories.portal import RETURN_URL, full_configuration, open_portal

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
ADD = "/p/payment-methods/new"
FLOW = {"type": "payment_method_update"}


@pytest.fixture(autouse=True)
def _now():
    # Ticking, so payment methods added one after another have increasing ids ("newest" is well defined).
    with time_machine.travel(T0 + dt.timedelta(days=3), tick=True):
        yield


@pytest.fixture
def customer(db):
    """An active EUR subscription paid by a Visa ending 4242 (the default)."""
    subscription = subscribed(T0, amount=1500)
    full_configuration(subscription.account)
    return subscription.customer


def card_form(number="4242 4242 4242 4242", **overrides) -> dict:
    return {"type": "card", "number": number, "expiry": "12 / 30", "cvc": "123", "name": "Jane Doe"} | overrides


def input_tag(html: str, element_id: str) -> str:
    at = html.index(f'id="{element_id}"')
    return html[html.rindex("<input", 0, at) : html.index(">", at) + 1]


def add_card(client, number="4242 4242 4242 4242", **overrides):
    return client.post(ADD, card_form(number, make_default="on", **overrides))


def test_add_page_offers_card_and_sepa_with_test_numbers(customer):
    response = open_portal(customer).get(ADD)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="type" value="card"' in html and 'name="type" value="sepa_debit"' in html
    assert "EUR only" in html
    assert 'autocomplete="cc-number"' in html and 'autocomplete="cc-exp"' in html
    assert 'autocomplete="cc-csc"' in html and 'autocomplete="cc-name"' in html
    assert html.count('inputmode="numeric"') == 3
    assert "4242 4242 4242 4242" in html and "DE89 3704 0044 0532 0130 00" in html  # the test-mode hint
    assert "authorise" in html and customer.account.name in html  # the SEPA mandate names the business
    assert "checked" in input_tag(html, "id_make_default")
    assert "Back to overview" in html
    assert "csrfmiddlewaretoken" in html


def test_add_a_card_attaches_it_and_makes_it_the_default(customer, django_capture_on_commit_callbacks):
    client = open_portal(customer)
    with django_capture_on_commit_callbacks(execute=True):
        response = add_card(client, "5555 5555 5555 4444")
    assert response.status_code == 303
    assert response["Location"] == "/p/"
    added = PaymentMethod.objects.get(customer=customer, card_last4="4444")
    assert added.card_brand == "mastercard"
    assert (added.card_exp_month, added.card_exp_year) == (12, 2030)
    assert added.billing_details == {"name": "Jane Doe"}
    customer.refresh_from_db()
    assert customer.default_payment_method_id == added.pk
    attached = Event.objects.get(type="payment_method.attached", data_object__id=added.pk)
    assert attached.data_object["customer"] == customer.pk
    audit = AuditEntry.objects.get(action="payment_method.attach", object_id=added.pk)
    assert audit.actor_type == AuditEntry.ActorType.CUSTOMER
    assert audit.actor_id == customer.pk
    assert AuditEntry.objects.filter(
        action="customer.default_payment_method", object_id=customer.pk, actor_type="customer"
    ).exists()

    overview = client.get("/p/").content.decode()
    assert "Payment method added." in overview
    assert "Mastercard •••• 4444" in overview


def test_add_a_card_without_making_it_the_default(customer):
    before = customer.default_payment_method_id
    response = open_portal(customer).post(ADD, card_form("5555 5555 5555 4444"))  # checkbox left unchecked
    assert response.status_code == 303
    assert PaymentMethod.objects.filter(customer=customer, card_last4="4444").exists()
    customer.refresh_from_db()
    assert customer.default_payment_method_id == before


def test_a_declined_card_shows_the_reason_and_leaves_nothing(customer):
    count = PaymentMethod.objects.filter(account=customer.account).count()
    response = add_card(open_portal(customer), "4000 0000 0000 0002")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Your card was declined." in html
    assert 'role="alert"' in html
    assert PaymentMethod.objects.filter(account=customer.account).count() == count
    assert not Event.objects.filter(type="payment_method.attached", data_object__card__last4="0002").exists()


@pytest.mark.parametrize(
    ("number", "english", "german"),
    [
        ("4000 0000 0000 9995", "Your card has insufficient funds.", "Ihre Karte ist nicht ausreichend gedeckt."),
        ("4000 0000 0000 0069", "Your card has expired.", "Ihre Karte ist abgelaufen."),
        ("4000 0000 0000 0002", "Your card was declined.", "Ihre Karte wurde abgelehnt."),
    ],
)
def test_decline_reasons_in_english_and_german(customer, number, english, german):
    assert english in add_card(open_portal(customer), number).content.decode()
    assert german in add_card(open_portal(customer, locale="de"), number).content.decode()


def test_card_number_and_cvc_never_come_back(customer, caplog, django_capture_on_commit_callbacks):
    """Neither the page after a decline, nor logs, events or audit entries hold the number or the CVC."""
    caplog.set_level(logging.DEBUG)
    client = open_portal(customer)
    with django_capture_on_commit_callbacks(execute=True):
        declined = add_card(client, "4000 0000 0000 0069", cvc="987")
        accepted = add_card(client, "4000 0027 6000 0016", cvc="987")
    assert accepted.status_code == 303
    html = declined.content.decode()
    assert "Your card has expired." in html
    for secret in ("4000000000000069", "4000 0000 0000 0069", "4000002760000016", "4000 0027 6000 0016"):
        assert secret not in html
        assert secret not in caplog.text
    assert 'value="987"' not in html
    assert 'value="12 / 30"' in html  # the rest of the form is kept
    stored = json.dumps(
        [list(Event.objects.values_list("data_object", flat=True)), list(AuditEntry.objects.values("changes"))],
        default=str,
    )
    assert "4000002760000016" not in stored
    # The CVC standing alone (three digits also turn up, by chance, inside random ids and client secrets).
    assert not re.search(r"(?<![0-9A-Za-z_])987(?![0-9A-Za-z_])", stored)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"number": "4242 4242 4242 4241"}, "number", "This card number is not valid."),
        ({"number": "4242"}, "number", "This card number is not valid."),
        ({"number": ""}, "number", "Enter your card number."),
        ({"expiry": "01 / 26"}, "expiry", "This card has expired."),
        ({"expiry": "13 / 30"}, "expiry", "Enter the expiry date as MM / YY"),
        ({"expiry": "soon"}, "expiry", "Enter the expiry date as MM / YY"),
        ({"cvc": "12"}, "cvc", "The security code has 3 or 4 digits."),
        ({"name": ""}, "name", "Enter the name on the card."),
    ],
)
def test_invalid_card_details_are_explained_next_to_the_field(customer, overrides, field, message):
    count = PaymentMethod.objects.filter(account=customer.account).count()
    response = open_portal(customer).post(ADD, card_form(**overrides))
    assert response.status_code == 400
    html = response.content.decode()
    assert f'<p class="field-error" id="id_{field}_error">{message}' in html
    tag = input_tag(html, f"id_{field}")
    assert 'aria-invalid="true"' in tag
    assert f"id_{field}_error" in tag  # aria-describedby
    assert PaymentMethod.objects.filter(account=customer.account).count() == count


def test_invalid_card_details_in_german(customer):
    response = open_portal(customer, locale="de").post(ADD, card_form("4242 4242 4242 4241", expiry="01/20"))
    html = response.content.decode()
    assert "Diese Kartennummer ist ungültig." in html
    assert "Diese Karte ist abgelaufen." in html


def test_add_a_sepa_account(customer):
    response = open_portal(customer).post(
        ADD,
        {
            "type": "sepa_debit",
            "iban": "DE89 3704 0044 0532 0130 00",
            "account_holder": "Jane Doe",
            "make_default": "on",
        },
    )
    assert response.status_code == 303
    added = PaymentMethod.objects.get(customer=customer, type="sepa_debit")
    assert added.sepa_last4 == "3000"
    assert added.sepa_bank_code == "37040044"
    assert added.billing_details == {"name": "Jane Doe"}
    customer.refresh_from_db()
    assert customer.default_payment_method_id == added.pk


def test_sepa_needs_a_valid_iban_and_a_holder(customer):
    response = open_portal(customer).post(ADD, {"type": "sepa_debit", "iban": "DE89 3704 0044 0532 0130 01"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "This IBAN is not valid." in html
    assert "Enter the account holder&#x27;s name." in html
    assert not PaymentMethod.objects.filter(customer=customer, type="sepa_debit").exists()


def test_sepa_is_refused_for_a_customer_billed_in_another_currency(db):
    subscription = subscribed(T0, currency="usd")
    full_configuration(subscription.account)
    response = open_portal(subscription.customer).post(
        ADD, {"type": "sepa_debit", "iban": "DE89370400440532013000", "account_holder": "Jane Doe"}
    )
    assert response.status_code == 400
    assert "SEPA Direct Debit can only pay in euros." in response.content.decode()


def test_make_default(customer):
    other = card(customer, "5555555555554444", default=False)
    client = open_portal(customer)
    response = client.post(f"/p/payment-methods/{other.pk}/default")
    assert response.status_code == 303
    assert response["Location"] == "/p/"
    customer.refresh_from_db()
    assert customer.default_payment_method_id == other.pk
    assert "Mastercard •••• 4444 is now your default payment method." in client.get("/p/").content.decode()
    assert AuditEntry.objects.filter(action="customer.default_payment_method", actor_type="customer").exists()
    assert client.get(f"/p/payment-methods/{other.pk}/default").status_code == 405


def test_remove_asks_first_then_removes(customer):
    other = card(customer, "5555555555554444", default=False)
    client = open_portal(customer)
    page = client.get(f"/p/payment-methods/{other.pk}/remove")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Remove Mastercard •••• 4444?" in html
    assert 'class="button button-danger"' in html
    response = client.post(f"/p/payment-methods/{other.pk}/remove")
    assert response.status_code == 303
    other.refresh_from_db()
    assert other.customer_id is None
    assert Event.objects.filter(type="payment_method.detached", data_object__id=other.pk).exists()
    assert AuditEntry.objects.get(action="payment_method.detach", object_id=other.pk).actor_type == "customer"
    assert "Mastercard •••• 4444 has been removed." in client.get("/p/").content.decode()


def test_removing_the_default_says_which_method_takes_over(customer):
    first = customer.default_payment_method
    card(customer, "5555555555554444", default=False)
    client = open_portal(customer)
    page = client.get(f"/p/payment-methods/{first.pk}/remove").content.decode()
    assert "Mastercard •••• 4444 will become your default payment method." in page
    client.post(f"/p/payment-methods/{first.pk}/remove")
    customer.refresh_from_db()
    assert customer.default_payment_method.card_last4 == "4444"
    overview = client.get("/p/").content.decode()
    assert "Visa •••• 4242 has been removed. Mastercard •••• 4444 is now your default payment method." in overview


def test_remove_in_german(customer):
    other = card(customer, "5555555555554444", default=False)
    client = open_portal(customer, locale="de")
    html = client.get(f"/p/payment-methods/{other.pk}/remove").content.decode()
    assert "Mastercard •••• 4444 entfernen?" in html
    client.post(f"/p/payment-methods/{other.pk}/remove")
    assert "Mastercard •••• 4444 wurde entfernt." in client.get("/p/").content.decode()


KEEP_ONE = "This payment method pays for an active subscription. Add another payment method before removing it."


def test_the_last_payment_method_of_an_active_subscription_cannot_be_removed(customer):
    only = customer.default_payment_method
    client = open_portal(customer)
    page = client.get(f"/p/payment-methods/{only.pk}/remove")
    assert page.status_code == 200
    html = page.content.decode()
    assert KEEP_ONE in html
    assert "button-danger" not in html
    assert 'href="/p/payment-methods/new"' in html

    response = client.post(f"/p/payment-methods/{only.pk}/remove")
    assert response.status_code == 409
    assert KEEP_ONE in response.content.decode()
    only.refresh_from_db()
    assert only.customer_id == customer.pk

    german = open_portal(customer, locale="de").post(f"/p/payment-methods/{only.pk}/remove")
    assert "Mit dieser Zahlungsmethode wird ein aktives Abonnement bezahlt." in german.content.decode()


def test_a_sepa_account_does_not_count_for_a_subscription_in_dollars(db):
    subscription = subscribed(T0, currency="usd")
    full_configuration(subscription.account)
    customer = subscription.customer
    sepa = payment_method_create(
        account=customer.account,
        livemode=False,
        actor=Actor.system("test"),
        sepa=SepaInput(iban="DE89370400440532013000"),
    )
    payment_method_attach(payment_method=sepa, customer=customer, actor=Actor.system("test"))
    response = open_portal(customer).post(f"/p/payment-methods/{customer.default_payment_method_id}/remove")
    assert response.status_code == 409
    assert KEEP_ONE in response.content.decode()


def test_someone_elses_payment_method_is_not_found(customer):
    stranger = CustomerFactory(account=customer.account)
    theirs = card(stranger)
    client = open_portal(customer)
    assert client.post(f"/p/payment-methods/{theirs.pk}/default").status_code == 404
    assert client.get(f"/p/payment-methods/{theirs.pk}/remove").status_code == 404
    assert client.post(f"/p/payment-methods/{theirs.pk}/remove").status_code == 404
    assert client.post("/p/payment-methods/pm_unknown/remove").status_code == 404
    theirs.refresh_from_db()
    assert theirs.customer_id == stranger.pk
    stranger.refresh_from_db()
    assert stranger.default_payment_method_id == theirs.pk


def test_payment_method_pages_need_the_feature(db):
    subscription = subscribed(T0)
    full_configuration(subscription.account, features={"payment_method_update": {"enabled": False}})
    customer = subscription.customer
    pm = customer.default_payment_method
    client = open_portal(customer)
    assert client.get(ADD).status_code == 404
    assert client.post(ADD, card_form()).status_code == 404
    assert client.post(f"/p/payment-methods/{pm.pk}/default").status_code == 404
    assert client.get(f"/p/payment-methods/{pm.pk}/remove").status_code == 404
    assert client.post(f"/p/payment-methods/{pm.pk}/remove").status_code == 404
    assert PaymentMethod.objects.filter(customer=customer).count() == 1


def _flow(after_completion: dict) -> dict:
    return {"flow_data": FLOW | {"after_completion": after_completion}}


def test_flow_opens_on_the_add_page_without_the_way_back(customer):
    client = open_portal(customer, **_flow({"type": "hosted_confirmation"}))
    assert client.get("/p/")["Location"] == ADD
    html = client.get(ADD).content.decode()
    assert "Back to overview" not in html
    assert 'name="make_default"' not in html  # in a flow the new method always becomes the default


def test_flow_with_hosted_confirmation_ends_on_the_done_page(customer):
    client = open_portal(customer, **_flow({"type": "hosted_confirmation"}))
    response = client.post(ADD, card_form("5555 5555 5555 4444"))  # no make_default: still the default
    assert response.status_code == 303
    assert response["Location"] == "/p/done"
    customer.refresh_from_db()
    assert customer.default_payment_method.card_last4 == "4444"
    assert client.get("/p/done").status_code == 200
    assert client.get(ADD)["Location"] == "/p/done"  # the flow is over
    assert client.get("/p/")["Location"] == "/p/done"


def test_flow_with_redirect_returns_to_the_merchant(customer):
    target = "https://merchant.example/thanks"
    client = open_portal(customer, **_flow({"type": "redirect", "redirect": {"return_url": target}}))
    response = client.post(ADD, card_form("5555 5555 5555 4444"))
    assert response.status_code == 303
    assert response["Location"] == target


def test_flow_with_portal_homepage_opens_the_portal(customer):
    client = open_portal(customer, **_flow({"type": "portal_homepage"}))
    response = client.post(ADD, card_form("5555 5555 5555 4444"))
    assert response["Location"] == "/p/"
    assert client.get("/p/").status_code == 200
    assert client.get(ADD).status_code == 200
    customer.refresh_from_db()
    assert customer.default_payment_method.card_last4 == "4444"


def test_a_declined_card_keeps_the_flow_open(customer):
    client = open_portal(customer, **_flow({"type": "hosted_confirmation"}))
    assert client.post(ADD, card_form("4000 0000 0000 0002")).status_code == 400
    assert client.get("/p/")["Location"] == ADD
    assert client.get(ADD).status_code == 200


def test_cancel_in_a_flow_goes_back_to_the_merchant(customer):
    html = open_portal(customer, **_flow({"type": "hosted_confirmation"})).get(ADD).content.decode()
    assert f'href="{RETURN_URL}"' in html


def test_add_page_in_german(customer):
    html = open_portal(customer, locale="de").get(ADD).content.decode()
    assert "Zahlungsmethode hinzufügen" in html
    assert "Kartennummer" in html
    assert "SEPA-Lastschrift" in html
    assert "Nur EUR" in html


def test_live_mode_shows_no_test_numbers_and_explains_a_refusal_in_plain_words(db):
    customer = CustomerFactory(livemode=True)
    full_configuration(customer.account, livemode=True)
    processor_account_set(
        account=customer.account,
        livemode=True,
        processor="mollie",
        actor=Actor.system("test"),
        mollie_api_key="live_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM",
    )
    client = open_portal(customer)
    page = client.get(ADD).content.decode()
    assert "test-hint" not in page and "4000 0000 0000 0002" not in page
    response = client.post(ADD, card_form())
    assert response.status_code == 400
    html = response.content.decode()
    assert "This payment method could not be added." in html
    assert "test gateway" not in html  # the service's own (English, technical) message stays inside
    assert not PaymentMethod.objects.filter(account=customer.account).exists()


def test_queries_do_not_grow_with_the_number_of_payment_methods(customer, django_assert_max_num_queries):
    client = open_portal(customer)
    first = customer.default_payment_method
    for number in ("5555555555554444", "378282246310005", "4000056655665556", "2223003122003222"):
        card(customer, number, default=False)
    with django_assert_max_num_queries(6):
        assert client.get(ADD).status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get(f"/p/payment-methods/{first.pk}/remove").status_code == 200
