"""Payment method pages: add a card or a SEPA account through the processor's hosted fields (the test gateway's
vault here; Stripe and Mollie in test_payment_methods_processors.py), 3-D Secure on the bank's page, make one the
default, remove one (keep-one rule), the payment_method_update deep link, and card data that never reaches the
portal."""

import datetime as dt
import json
import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.test import Client

from billing.audit import Actor
from billing.exceptions import GatewayUnavailable
from billing.gateways import SepaInput
from billing.gateways.test import TestGateway as BuiltInTestGateway
from billing.models import AuditEntry, Event, Mandate, PaymentMethod, SetupIntent
from billing.services.payment_methods import payment_method_attach, payment_method_create
from billing.services.processors import processor_account_delete, processor_account_set
from tests.billing.helpers import subscribed
from tests.factories.billing import CustomerFactory, card
from tests.factories.portal import RETURN_URL, full_configuration, open_portal
from tests.portal.leaving import left_for
from tests.portal.payment_fields import (
    ADD,
    add,
    add_card,
    card_fields,
    vault_frames,
    vault_payment_method,
    vault_post,
    vault_token,
)

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
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


def attached(customer) -> list[str]:
    return sorted(PaymentMethod.objects.filter(customer=customer).values_list("card_last4", flat=True))


def authenticate(response, outcome: str = "complete"):
    """The customer's button on the test gateway's 3-D Secure page that ``response`` redirects to."""
    url = urlsplit(response["Location"])
    secret = parse_qs(url.query)["client_secret"][0]
    return Client().post(url.path, {"client_secret": secret, "outcome": outcome})


def back(portal: Client, response):
    """Following the bank page's redirect back to the portal."""
    url = urlsplit(response["Location"])
    assert url.netloc == "testserver", response["Location"]
    return portal.get(f"{url.path}?{url.query}")


# ---------------------------------------------------------------------------------------------- the page


def test_the_add_page_frames_the_vault_and_holds_no_card_field(customer):
    response = open_portal(customer).get(ADD)
    assert response.status_code == 200
    html = response.content.decode()
    frames = vault_frames(html)
    assert set(frames) == {"card", "sepa_debit"}
    for kind, url in frames.items():
        assert url.startswith("http://testserver/vault/fields?t=") and url.endswith(f"&type={kind}")
    assert 'name="type" value="card"' in html and 'name="type" value="sepa_debit"' in html
    assert "EUR only" in html
    assert 'type="hidden" name="payment_method"' in html
    for card_field in ('name="number"', 'name="cvc"', 'name="iban"', 'name="expiry"', "cc-number", "cc-csc"):
        assert card_field not in html
    assert "<noscript>" in html and "need JavaScript" in html
    assert re.search(r'<script src="/static/js/payment-fields.js" nonce="[^"]+" defer>', html)
    assert 'title="Card details"' in html and 'title="Bank account details"' in html
    assert 'id="id_make_default" checked' in html
    assert "Back to overview" in html and "csrfmiddlewaretoken" in html
    policy = response["Content-Security-Policy"]
    assert "frame-src http://testserver" in policy and "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"


def test_the_vault_token_carries_the_customer_the_page_and_its_language(customer):
    from billing.gateways.vault import vault_grant

    html = open_portal(customer, locale="de").get(ADD).content.decode()
    grant = vault_grant(vault_token(html))
    assert (grant.account_id, grant.customer_id, grant.livemode) == (customer.account_id, customer.id, False)
    assert grant.parent_origin == "http://testserver"
    assert (grant.locale, grant.types) == ("de", ("card", "sepa_debit"))
    assert grant.business_name == customer.account.name
    assert len(grant.nonce) >= 43  # 256 bits


def test_the_frame_of_another_page_is_not_opened_by_this_page(customer, settings):
    """Only the vault's pages, on the vault's origin, may be framed here: no other page's CSP changes."""
    assert "frame-src" not in open_portal(customer).get("/p/")["Content-Security-Policy"]


def test_sepa_is_offered_only_for_euros_from_a_sepa_country(db):
    dollars = subscribed(T0, currency="usd")
    full_configuration(dollars.account)
    html = open_portal(dollars.customer).get(ADD).content.decode()
    assert set(vault_frames(html)) == {"card"}
    assert 'value="sepa_debit"' not in html and "EUR only" not in html
    assert '<input type="hidden" name="type" value="card">' in html  # one type: no choice to make
    response = open_portal(dollars.customer).post(ADD, {"type": "sepa_debit", "payment_method": "pm_x"})
    assert response.status_code == 400

    american = subscribed(T0, currency="eur")
    full_configuration(american.account)
    american.customer.address = {"country": "US", "city": "Boston"}
    american.customer.save(update_fields=["address"])
    assert set(vault_frames(open_portal(american.customer).get(ADD).content.decode())) == {"card"}


def test_add_page_in_german(customer):
    html = open_portal(customer, locale="de").get(ADD).content.decode()
    assert "Zahlungsmethode hinzufügen" in html
    assert "SEPA-Lastschrift" in html and "Nur EUR" in html
    assert 'title="Kartendaten"' in html
    assert "JavaScript" in html


# ---------------------------------------------------------------------------------------------- adding


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
    setup = SetupIntent.objects.get(payment_method=added)
    assert (setup.status, setup.customer_id, setup.usage) == ("succeeded", customer.pk, "off_session")
    attached_event = Event.objects.get(type="payment_method.attached", data_object__id=added.pk)
    assert attached_event.data_object["customer"] == customer.pk
    for action, object_id in (
        ("payment_method.create", added.pk),
        ("setup_intent.confirm", setup.pk),
        ("customer.default_payment_method", customer.pk),
    ):
        entries = AuditEntry.objects.filter(
            action=action, object_id=object_id, actor_type=AuditEntry.ActorType.CUSTOMER
        )
        assert entries.filter(actor_id=customer.pk).count() == 1, action

    overview = client.get("/p/").content.decode()
    assert "Payment method added." in overview
    assert "Mastercard •••• 4444" in overview


def test_add_a_card_without_making_it_the_default(customer):
    before = customer.default_payment_method_id
    response = add_card(open_portal(customer), "5555 5555 5555 4444", make_default=False)
    assert response.status_code == 303
    assert PaymentMethod.objects.filter(customer=customer, card_last4="4444").exists()
    customer.refresh_from_db()
    assert customer.default_payment_method_id == before


def test_a_declined_card_shows_the_reason_and_is_not_added(customer):
    response = add_card(open_portal(customer), "4000 0000 0000 0002")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Your card was declined." in html
    assert 'role="alert"' in html
    assert vault_frames(html)  # fresh fields to try again
    assert attached(customer) == ["4242"]
    assert not Event.objects.filter(type="payment_method.attached", data_object__card__last4="0002").exists()
    assert SetupIntent.objects.get(customer=customer).status == "requires_payment_method"


@pytest.mark.parametrize(
    ("number", "english", "german"),
    [
        ("4000 0000 0000 9995", "Your card has insufficient funds.", "Ihre Karte ist nicht ausreichend gedeckt."),
        ("4000 0000 0000 0069", "Your card has expired.", "Ihre Karte ist abgelaufen."),
        ("4000 0000 0000 0002", "Your card was declined.", "Ihre Karte wurde abgelehnt."),
        ("4000 0000 0000 0127", "The security code is incorrect.", "Die Prüfnummer ist falsch."),
    ],
)
def test_decline_reasons_in_english_and_german(customer, number, english, german):
    assert english in add_card(open_portal(customer), number).content.decode()
    assert german in add_card(open_portal(customer, locale="de"), number).content.decode()


def test_a_card_that_asks_for_authentication_is_added_once_the_customer_confirms(customer):
    client = open_portal(customer)
    response = add_card(client, "4000 0025 0000 3155")
    assert response.status_code == 303
    assert re.match(r"^http://testserver/authenticate/seti_\w+\?client_secret=seti_", response["Location"])
    assert attached(customer) == ["4242"]  # not before the bank said yes

    confirmed = authenticate(response)
    assert confirmed.status_code == 303
    landed = back(client, confirmed)
    assert landed.status_code == 303 and landed["Location"] == "/p/"
    assert attached(customer) == ["3155", "4242"]
    customer.refresh_from_db()
    assert customer.default_payment_method.card_last4 == "3155"
    assert "Payment method added." in client.get("/p/").content.decode()
    # Off-session payments with it now pass: the setup was authenticated.
    assert "auth_set_up" in customer.default_payment_method.gateway_reference


def test_a_failed_authentication_sends_the_customer_back_with_a_message(customer):
    client = open_portal(customer, locale="de")
    response = add_card(client, "4000 0025 0000 3155")
    landed = back(client, authenticate(response, "fail"))
    assert landed.status_code == 303 and landed["Location"] == ADD
    assert attached(customer) == ["4242"]
    html = client.get(ADD).content.decode()
    assert "Ihre Bank hat diese Zahlungsmethode nicht bestätigt" in html


def test_coming_back_without_confirming_adds_nothing(customer):
    client = open_portal(customer)
    response = add_card(client, "4000 0025 0000 3155")
    intent = SetupIntent.objects.get(customer=customer)
    landed = client.get(f"/p/payment-methods/new/return?setup_intent_id={intent.id}&default=1")
    assert landed["Location"] == ADD
    assert "did not confirm" in client.get(ADD).content.decode()
    assert attached(customer) == ["4242"]
    assert response.status_code == 303


def test_the_return_page_only_knows_the_customers_own_setups(customer):
    other = subscribed(T0, account=customer.account).customer
    stranger = open_portal(other)
    add_card(stranger, "4000 0025 0000 3155")
    theirs = SetupIntent.objects.get(customer=other)
    client = open_portal(customer)
    assert client.get(f"/p/payment-methods/new/return?setup_intent_id={theirs.id}").status_code == 404
    assert client.get("/p/payment-methods/new/return?setup_intent_id=seti_nothing").status_code == 404
    assert client.get("/p/payment-methods/new/return").status_code == 404


def test_add_a_sepa_account_with_its_mandate(customer):
    response = add(
        open_portal(customer),
        "sepa_debit",
        {"iban": "DE89 3704 0044 0532 0130 00", "account_holder": "Jane Doe"},
        HTTP_USER_AGENT="Mozilla/5.0 (test)",
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 303
    added = PaymentMethod.objects.get(customer=customer, type="sepa_debit")
    assert (added.sepa_last4, added.sepa_bank_code) == ("3000", "37040044")
    assert added.billing_details == {"name": "Jane Doe"}
    customer.refresh_from_db()
    assert customer.default_payment_method_id == added.pk
    mandate = Mandate.objects.get(payment_method=added)
    acceptance = mandate.customer_acceptance
    assert (mandate.status, acceptance["type"]) == ("active", "online")
    assert acceptance["online"] == {"ip_address": "203.0.113.9", "user_agent": "Mozilla/5.0 (test)"}
    assert Event.objects.filter(type="mandate.updated", data_object__id=mandate.pk).exists()


def test_next_leads_to_a_portal_page_after_adding(customer):
    client = open_portal(customer)
    page = f"{ADD}?next=/p/invoices/in_123/pay"
    html = client.get(page).content.decode()
    assert 'action="/p/payment-methods/new?next=%2Fp%2Finvoices%2Fin_123%2Fpay"' in html
    assert add_card(client, "5555 5555 5555 4444", page=page)["Location"] == "/p/invoices/in_123/pay"
    # Through the bank's page too.
    response = add_card(client, "4000 0025 0000 3155", page=page)
    assert back(client, authenticate(response))["Location"] == "/p/invoices/in_123/pay"


@pytest.mark.parametrize(
    "target", ["https://evil.example/p/", "//evil.example/p/", "/admin/", "/p/../admin/", "/p/\\evil", "javascript:x"]
)
def test_next_never_leaves_the_portal(customer, target):
    client = open_portal(customer)
    page = f"{ADD}?next={target}"
    assert add_card(client, "5555 5555 5555 4444", page=page)["Location"] == "/p/"


# ---------------------------------------------------------------------------------------------- what the form takes


def test_without_javascript_nothing_arrives_and_the_page_says_why(customer):
    response = open_portal(customer).post(ADD, {"type": "card", "make_default": "on"})
    assert response.status_code == 400
    assert "need JavaScript" in response.content.decode()
    assert attached(customer) == ["4242"]


@pytest.mark.parametrize("kind", ["unknown", "attached", "other_account", "live", "sepa_as_card", "garbage"])
def test_only_an_unused_payment_method_of_the_portals_own_fields_is_taken(customer, kind):
    client = open_portal(customer)
    if kind == "unknown":
        pm = "pm_doesnotexist"
    elif kind == "attached":
        pm = card(CustomerFactory(account=customer.account), default=False).pk
    elif kind == "other_account":
        other = subscribed(T0)
        full_configuration(other.account)
        pm = vault_payment_method(open_portal(other.customer))
    elif kind == "live":
        pm = PaymentMethod.objects.create(account=customer.account, livemode=True, type="card", card_last4="1111").pk
    elif kind == "sepa_as_card":
        pm = vault_payment_method(client, "sepa_debit")
    else:
        pm = "<script>alert(1)</script>"
    response = client.post(ADD, {"type": "card", "payment_method": pm, "make_default": "on"})
    assert response.status_code == 400
    assert "could not be" in response.content.decode()
    assert attached(customer) == ["4242"]


def test_card_data_never_reaches_the_portal_and_is_kept_nowhere(customer, caplog, django_capture_on_commit_callbacks):
    """The vault takes the number; the portal's form never sees it; logs, events and audit entries do not hold it."""
    caplog.set_level(logging.DEBUG)
    client = open_portal(customer)
    token = vault_token(client.get(ADD).content.decode())
    with django_capture_on_commit_callbacks(execute=True):
        declined = vault_post(token, "card", card_fields("4000 0000 0000 0069", cvc="987"))
        accepted = add_card(client, "4000 0027 6000 0016")
    assert declined.status_code == 200  # expired at the bank: the setup says so, not the vault
    assert accepted.status_code == 303
    for secret in ("4000000000000069", "4000 0000 0000 0069", "4000002760000016", "4000 0027 6000 0016"):
        assert secret not in declined.content.decode()
        assert secret not in caplog.text
    stored = json.dumps(
        [list(Event.objects.values_list("data_object", flat=True)), list(AuditEntry.objects.values("changes"))],
        default=str,
    )
    assert "4000002760000016" not in stored
    # The CVC standing alone (three digits also turn up, by chance, inside random ids and client secrets).
    assert not re.search(r"(?<![0-9A-Za-z_])987(?![0-9A-Za-z_])", stored)


class SetupUnavailable(BuiltInTestGateway):
    """A processor that cannot be reached when asked to save a payment method."""

    def setup(self, **kwargs):
        raise GatewayUnavailable("The payment gateway did not answer.")


def test_a_processor_that_does_not_answer_adds_nothing_and_says_so(customer, settings):
    client = open_portal(customer)
    pm = vault_payment_method(client, "card", card_fields("5555 5555 5555 4444"))
    settings.BILLING_GATEWAY = f"{__name__}.SetupUnavailable"
    response = client.post(ADD, {"type": "card", "payment_method": pm, "make_default": "on"})
    assert response.status_code == 400
    assert "We could not reach the payment provider. Nothing was saved" in response.content.decode()
    assert attached(customer) == ["4242"]
    assert SetupIntent.objects.get(customer=customer).status == "requires_confirmation"


def test_live_mode_without_a_processor_says_so_and_shows_no_fields(db):
    customer = CustomerFactory(livemode=True)
    full_configuration(customer.account, livemode=True)
    # A live session needs a processor to start; the merchant then removes it while the customer is in the portal.
    row = processor_account_set(
        account=customer.account,
        livemode=True,
        processor="mollie",
        actor=Actor.system("test"),
        mollie_api_key="live_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM",
    )
    client = open_portal(customer)
    processor_account_delete(processor_account=row, actor=Actor.system("test"))
    page = client.get(ADD)
    html = page.content.decode()
    assert page.status_code == 200
    assert "Payment methods cannot be added here at the moment." in html
    assert "<iframe" not in html and "test-hint" not in html and "4242" not in html
    assert "frame-src" not in page["Content-Security-Policy"]
    response = client.post(ADD, {"type": "card", "payment_method": "pm_card_visa"})
    assert response.status_code == 400
    assert not PaymentMethod.objects.filter(account=customer.account).exists()


# ---------------------------------------------------------------------------------------------- other pages


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
    assert client.post(ADD, {"type": "card", "payment_method": "pm_x"}).status_code == 404
    assert client.get(f"{ADD}/return?setup_intent_id=seti_x").status_code == 404
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
    response = add_card(client, "5555 5555 5555 4444", make_default=False)  # in a flow: the default all the same
    assert response.status_code == 303
    assert response["Location"] == "/p/done"
    customer.refresh_from_db()
    assert customer.default_payment_method.card_last4 == "4444"
    assert client.get("/p/done").status_code == 200
    assert client.get(ADD)["Location"] == "/p/done"  # the flow is over
    assert client.get("/p/")["Location"] == "/p/done"


def test_flow_through_the_banks_page_ends_on_the_done_page(customer):
    client = open_portal(customer, **_flow({"type": "hosted_confirmation"}))
    response = add_card(client, "4000 0025 0000 3155", make_default=False)
    assert client.get("/p/")["Location"] == ADD  # still open while the bank asks
    landed = back(client, authenticate(response))
    assert landed["Location"] == "/p/done"
    customer.refresh_from_db()
    assert customer.default_payment_method.card_last4 == "3155"


def test_flow_with_redirect_returns_to_the_merchant(customer):
    target = "https://merchant.example/thanks"
    client = open_portal(customer, **_flow({"type": "redirect", "redirect": {"return_url": target}}))
    response = add_card(client, "5555 5555 5555 4444")
    # By the same-origin continue page: the CSP's form-action 'self' blocks a form's redirect to another origin.
    assert left_for(client, response) == target


def test_flow_with_portal_homepage_opens_the_portal(customer):
    client = open_portal(customer, **_flow({"type": "portal_homepage"}))
    response = add_card(client, "5555 5555 5555 4444")
    assert response["Location"] == "/p/"
    assert client.get("/p/").status_code == 200
    assert client.get(ADD).status_code == 200
    customer.refresh_from_db()
    assert customer.default_payment_method.card_last4 == "4444"


def test_a_declined_card_keeps_the_flow_open(customer):
    client = open_portal(customer, **_flow({"type": "hosted_confirmation"}))
    assert add_card(client, "4000 0000 0000 0002").status_code == 400
    assert client.get("/p/")["Location"] == ADD
    assert client.get(ADD).status_code == 200


def test_cancel_in_a_flow_goes_back_to_the_merchant(customer):
    html = open_portal(customer, **_flow({"type": "hosted_confirmation"})).get(ADD).content.decode()
    assert f'href="{RETURN_URL}"' in html


def test_queries_do_not_grow_with_the_number_of_payment_methods(customer, django_assert_max_num_queries):
    client = open_portal(customer)
    first = customer.default_payment_method
    for number in ("5555555555554444", "378282246310005", "4000056655665556", "2223003122003222"):
        card(customer, number, default=False)
    with django_assert_max_num_queries(9):
        assert client.get(ADD).status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get(f"/p/payment-methods/{first.pk}/remove").status_code == 200


# ---------------------------------------------------------------------------------------------- duplicates


def test_the_same_card_is_not_saved_twice(customer):
    portal = open_portal(customer)
    assert add_card(portal, "5555 5555 5555 4444").status_code == 303
    response = add_card(portal, "5555555555554444")
    assert response.status_code == 400
    assert "This card is already saved." in response.content.decode()
    assert attached(customer) == ["4242", "4444"]
    html = open_portal(customer, locale="de").get(ADD).content.decode()
    assert html  # the page still opens; the message is translated below
    response = add_card(open_portal(customer, locale="de"), "5555 5555 5555 4444")
    assert "Diese Karte ist bereits gespeichert." in response.content.decode()


def test_the_same_bank_account_is_not_saved_twice(customer):
    portal = open_portal(customer)
    assert add(portal, "sepa_debit").status_code == 303
    response = add(portal, "sepa_debit")
    assert response.status_code == 400
    assert "This bank account is already saved." in response.content.decode()
    assert PaymentMethod.objects.filter(customer=customer, type="sepa_debit").count() == 1


def test_a_detached_card_may_be_saved_again(customer):
    portal = open_portal(customer)
    add_card(portal, "5555 5555 5555 4444")
    mastercard = PaymentMethod.objects.get(customer=customer, card_last4="4444")
    assert portal.post(f"/p/payment-methods/{mastercard.pk}/remove").status_code == 303
    assert add_card(portal, "5555 5555 5555 4444").status_code == 303
    assert attached(customer) == ["4242", "4444"]


def test_the_api_attaches_duplicates_as_stripe_does(customer):
    from billing.gateways import CardInput

    actor = Actor.system("test")
    for _ in range(2):
        pm = payment_method_create(
            account=customer.account,
            livemode=False,
            actor=actor,
            card=CardInput(number="5555555555554444", exp_month=12, exp_year=2030, cvc="123"),
        )
        payment_method_attach(payment_method=pm, customer=customer, actor=actor)
    assert attached(customer) == ["4242", "4444", "4444"]
