"""The test gateway's hosted fields (vault/): only on their own host, opened only by a token the portal signed,
framed only by the page the token names, under their own strict CSP; they check card and bank details, create an
unattached payment method that keeps nothing but brand, last four digits and expiry, and refuse to serve an account
whose processor is not the test gateway."""

import datetime as dt
import json
import logging

import pytest
import time_machine
from django.core import signing
from django.test import Client

from billing.audit import Actor
from billing.gateways.vault import SALT, VaultGrant, vault_grant, vault_token
from billing.models import AuditEntry, Event, PaymentMethod
from billing.services.processors import processor_account_set
from tests.factories.billing import CustomerFactory
from tests.portal.payment_fields import card_fields, sepa_fields
from vault.checks import vault_has_its_own_origin

PARENT = "https://billing.example.com"
VAULT = "127.0.0.1"  # the vault's own host in these tests; the portal is on testserver


@pytest.fixture(autouse=True)
def _own_origin(settings):
    settings.VAULT_BASE_URL = f"http://{VAULT}"


@pytest.fixture
def customer(db):
    return CustomerFactory(name="Jane Doe")


def token_for(customer, **overrides) -> str:
    grant = {
        "account_id": customer.account_id,
        "livemode": customer.livemode,
        "customer_id": customer.id,
        "parent_origin": PARENT,
        "locale": "en",
        "types": ("card", "sepa_debit"),
        "business_name": "Acme GmbH",
    }
    return vault_token(VaultGrant(**(grant | overrides)))


def fields(token: str, kind: str = "card", host: str = VAULT):
    return Client().get("/vault/fields", {"t": token, "type": kind}, HTTP_HOST=host)


def post(token: str, kind: str = "card", data: dict | None = None, host: str = VAULT, **extra):
    data = data if data is not None else card_fields() if kind == "card" else sepa_fields()
    return Client().post("/vault/payment_methods", {"t": token, "type": kind, **data}, HTTP_HOST=host, **extra)


def policy(response) -> dict[str, str]:
    directives = (part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    return {name: value for name, value in directives}


# ---------------------------------------------------------------------------------------------- its own origin


def test_the_vault_host_serves_the_vault_and_nothing_else(customer):
    assert fields(token_for(customer)).status_code == 200
    for path in ("/p/", "/admin/", "/healthz", "/v1/customers", "/i/in_x/", "/authenticate/seti_x"):
        assert Client().get(path, HTTP_HOST=VAULT).status_code == 404, path


def test_other_hosts_never_serve_the_vault(customer):
    assert fields(token_for(customer), host="testserver").status_code == 404
    assert post(token_for(customer), host="localhost").status_code == 404
    assert not PaymentMethod.objects.exists()


def test_on_the_portals_own_host_both_are_served_and_check_deploy_warns(customer, settings):
    settings.VAULT_BASE_URL = "http://testserver"
    assert fields(token_for(customer), host="testserver").status_code == 200
    assert Client().get("/healthz").status_code == 200
    (warning,) = vault_has_its_own_origin(None)
    assert warning.id == "vault.W001" and "VAULT_BASE_URL" in warning.msg
    settings.VAULT_BASE_URL = "https://vault.billing.example.com"
    assert vault_has_its_own_origin(None) == []


# ---------------------------------------------------------------------------------------------- the page


def test_the_page_has_its_own_strict_policy_and_may_be_framed_only_by_the_tokens_page(customer):
    response = fields(token_for(customer))
    assert policy(response) == {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "connect-src": "'self'",
        "img-src": "'self' data:",
        "form-action": "'self'",
        "base-uri": "'none'",
        "frame-ancestors": PARENT,
    }
    assert "X-Frame-Options" not in response
    assert response["Cache-Control"] == "private, no-store" and response["Referrer-Policy"] == "no-referrer"
    html = response.content.decode()
    assert "nonce" not in html and "<style" not in html and " style=" not in html
    assert '<link rel="stylesheet" href="/static/vault/vault.css">' in html
    assert '<script src="/static/vault/vault.js" defer></script>' in html
    assert "portal.css" not in html and "base.css" not in html
    assert f'data-parent-origin="{PARENT}"' in html


def test_the_card_page_in_english_with_the_test_cards(customer):
    html = fields(token_for(customer)).content.decode()
    for label in ("Card number", "Expiry date", "Security code (CVC)", "Name on card"):
        assert f">{label}</label>" in html
    for autocomplete in ("cc-number", "cc-exp", "cc-csc", "cc-name"):
        assert f'autocomplete="{autocomplete}"' in html
    for number, what in (
        ("4242 4242 4242 4242", "succeeds"),
        ("4000 0025 0000 3155", "asks for authentication"),
        ("4000 0000 0000 0002", "is declined"),
        ("4000 0000 0000 9995", "has insufficient funds"),
    ):
        assert f"<code>{number}</code> {what}" in html
    assert 'name="iban"' not in html


def test_the_sepa_page_in_german_with_the_mandate(customer):
    response = fields(token_for(customer, locale="de"), "sepa_debit")
    html = response.content.decode()
    assert response["Content-Language"] == "de" and '<html lang="de">' in html
    assert ">IBAN</label>" in html and ">Kontoinhaber</label>" in html
    assert "Acme GmbH" in html and "SEPA" in html or "Lastschrift" in html
    assert "DE89 3704 0044 0532 0130 00" in html
    assert 'name="number"' not in html


def test_the_brand_colour_and_font_reach_the_page_checked(customer):
    html = fields(token_for(customer, accent="#0a7c4a", font="Georgia, serif")).content.decode()
    assert 'data-accent="#0a7c4a"' in html and 'data-font="Georgia, serif"' in html
    html = fields(token_for(customer, accent="red;}</style>", font="x</script>")).content.decode()
    assert "data-accent" not in html and "data-font" not in html


# ---------------------------------------------------------------------------------------------- the token


def test_a_tampered_token_is_refused(customer):
    token = token_for(customer)
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    other_salt = signing.dumps(signing.loads(token, salt=SALT), salt="portal", compress=True)
    for bad in (forged, other_salt, "garbage", token.replace(":", ".", 1)):
        assert fields(bad).status_code == 403
        response = post(bad)
        assert response.status_code == 403 and "__all__" in response.json()["errors"]
    assert fields("").status_code == 400
    assert Client().post("/vault/payment_methods", {"type": "card"}, HTTP_HOST=VAULT).status_code == 400
    assert not PaymentMethod.objects.exists()


def test_a_token_signed_for_nothing_else_is_refused(customer):
    not_a_grant = signing.dumps({"account_id": customer.account_id}, salt=SALT, compress=True)
    assert fields(not_a_grant).status_code == 403
    with pytest.raises(signing.BadSignature):
        vault_grant(not_a_grant)


def test_an_expired_token_says_so_inside_the_frame(customer):
    token = token_for(customer, locale="de")
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=31)):
        page = fields(token)
        response = post(token)
    assert page.status_code == 403
    assert "Dieses Formular ist abgelaufen." in page.content.decode()
    assert policy(page)["frame-ancestors"] == PARENT  # shown in the portal's frame, not as a blank one
    assert response.status_code == 403 and "abgelaufen" in response.json()["errors"]["__all__"]
    assert not PaymentMethod.objects.exists()


def test_only_the_tokens_types_are_served(customer):
    token = token_for(customer, types=("card",))
    assert fields(token, "sepa_debit").status_code == 400
    assert fields(token, "paypal").status_code == 400
    assert post(token, "sepa_debit").status_code == 400
    assert not PaymentMethod.objects.exists()


def test_a_token_for_a_customer_of_no_such_account_is_refused(customer):
    assert fields(token_for(customer, customer_id="cus_nobody")).status_code == 403
    assert post(token_for(customer, livemode=True)).status_code == 403


# ---------------------------------------------------------------------------------------------- creating


def test_a_card_becomes_an_unattached_payment_method_with_brand_last4_and_expiry_only(customer):
    response = post(token_for(customer), data=card_fields("5555 5555 5555 4444", cvc="7391"))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "type"} and body["type"] == "card" and body["id"].startswith("pm_")
    pm = PaymentMethod.objects.get(pk=body["id"])
    assert (pm.account_id, pm.livemode, pm.customer_id) == (customer.account_id, False, None)
    assert (pm.card_brand, pm.card_last4, pm.card_exp_month, pm.card_exp_year) == ("mastercard", "4444", 12, 2030)
    assert pm.billing_details == {"name": "Jane Doe"}
    row = json.dumps(list(PaymentMethod.objects.filter(pk=pm.pk).values()), default=str)
    assert "5555555555554444" not in row and "7391" not in row
    assert Event.objects.filter(type="payment_method.attached").count() == 0
    audit = AuditEntry.objects.get(action="payment_method.create", object_id=pm.pk)
    assert (audit.actor_type, audit.actor_id) == (Actor.customer(customer).type, customer.id)


def test_a_card_added_by_staff_acting_as_the_customer_is_audited_in_the_staff_members_name(customer):
    token = token_for(customer, staff_id="7", staff_label=f"staff@example.com (acting as customer {customer.id})")
    response = post(token)
    assert response.status_code == 200
    audit = AuditEntry.objects.get(action="payment_method.create", object_id=response.json()["id"])
    assert (audit.actor_type, audit.actor_id) == ("staff", "7")
    assert audit.actor_label == f"staff@example.com (acting as customer {customer.id})"


def test_a_bank_account_becomes_an_unattached_sepa_payment_method(customer):
    response = post(token_for(customer), "sepa_debit", sepa_fields("DE89 3704 0044 0532 0130 00"))
    assert response.status_code == 200
    pm = PaymentMethod.objects.get(pk=response.json()["id"])
    assert (pm.type, pm.sepa_last4, pm.sepa_bank_code, pm.customer_id) == ("sepa_debit", "3000", "37040044", None)


def test_json_is_accepted_too(customer):
    body = json.dumps({"t": token_for(customer), "type": "card", **card_fields()})
    response = Client().post("/vault/payment_methods", body, content_type="application/json", HTTP_HOST=VAULT)
    assert response.status_code == 200 and response.json()["id"].startswith("pm_")
    broken = Client().post("/vault/payment_methods", "{", content_type="application/json", HTTP_HOST=VAULT)
    assert broken.status_code == 400


@pytest.mark.parametrize(
    ("kind", "overrides", "field", "message"),
    [
        ("card", {"number": "4242 4242 4242 4241"}, "number", "This card number is not valid."),
        ("card", {"number": "4242"}, "number", "This card number is not valid."),
        ("card", {"number": ""}, "number", "Enter your card number."),
        ("card", {"number": "4" * 31}, "number", "This card number is too long: a card number has at most 19 digits."),
        ("card", {"cvc": "12345"}, "cvc", "The security code has 3 or 4 digits."),
        ("card", {"expiry": "12 / 20300"}, "expiry", "Enter the expiry date as MM / YY"),
        ("card", {"name": "J" * 257}, "name", "Shorten this to at most 256 characters (it has 257)."),
        ("sepa_debit", {"iban": "DE" + "1" * 41}, "iban", "This IBAN is too long"),
        ("card", {"expiry": "01 / 26"}, "expiry", "This card has expired."),
        ("card", {"expiry": "13 / 30"}, "expiry", "Enter the expiry date as MM / YY"),
        ("card", {"expiry": "soon"}, "expiry", "Enter the expiry date as MM / YY"),
        ("card", {"expiry": "12 / 99"}, "expiry", "too far in the future"),
        ("card", {"cvc": "12"}, "cvc", "The security code has 3 or 4 digits."),
        ("card", {"cvc": ""}, "cvc", "Enter the card's security code."),
        ("card", {"name": ""}, "name", "Enter the name on the card."),
        ("sepa_debit", {"iban": "DE89 3704 0044 0532 0130 01"}, "iban", "This IBAN is not valid."),
        ("sepa_debit", {"iban": "TR330006100519786457841326"}, "iban", "outside the SEPA area"),
        ("sepa_debit", {"iban": ""}, "iban", "Enter your IBAN."),
        ("sepa_debit", {"account_holder": ""}, "account_holder", "Enter the account holder's name."),
    ],
)
def test_invalid_details_are_explained_next_to_their_field(customer, kind, overrides, field, message):
    with time_machine.travel(dt.datetime(2026, 3, 4, tzinfo=dt.UTC)):
        token = token_for(customer)
        data = (card_fields() if kind == "card" else sepa_fields()) | overrides
        response = post(token, kind, data)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == [field] and message in errors[field]
    assert not PaymentMethod.objects.exists()


@pytest.mark.parametrize(
    ("kind", "overrides", "field", "message"),
    [
        ("card", {"number": "4" * 31}, "number", "This card number is too long: a card number has at most 19 digits."),
        ("card", {"name": "J" * 257}, "name", "Shorten this to at most 256 characters (it has 257)."),
        (
            "sepa_debit",
            {"account_holder": "J" * 257},
            "account_holder",
            "Shorten this to at most 256 characters (it has 257).",
        ),
    ],
)
def test_a_too_long_field_gets_one_message_about_its_length(customer, kind, overrides, field, message):
    """Not the length message followed by "Enter your card number." as if the field were empty."""
    with time_machine.travel(dt.datetime(2026, 3, 4, tzinfo=dt.UTC)):
        data = (card_fields() if kind == "card" else sepa_fields()) | overrides
        response = post(token_for(customer), kind, data)
    assert response.json()["errors"] == {field: message}


def test_errors_in_german(customer):
    response = post(token_for(customer, locale="de"), data=card_fields("4242 4242 4242 4241", expiry="01/20"))
    errors = response.json()["errors"]
    assert errors["number"].startswith("Diese Kartennummer ist ungültig.")
    assert errors["expiry"].startswith("Diese Karte ist abgelaufen.")


def test_nothing_is_served_for_an_account_whose_processor_is_not_the_test_gateway(customer):
    processor_account_set(
        account=customer.account,
        livemode=False,
        processor="stripe",
        actor=Actor.system("test"),
        stripe_secret_key="sk_test_51AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        stripe_publishable_key="pk_test_51AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    )
    token = token_for(customer)
    assert fields(token).status_code == 403
    response = post(token)
    assert response.status_code == 403 and "not available" in response.json()["errors"]["__all__"]
    assert not PaymentMethod.objects.exists()


def test_attempts_per_token_are_limited(customer):
    token = token_for(customer)
    for _ in range(20):
        assert post(token, data=card_fields(cvc="1")).status_code == 400
    assert post(token).status_code == 429
    assert post(token_for(customer)).status_code == 200  # a new visit of the page, a new token


def test_the_number_is_never_logged_or_echoed(customer, caplog):
    caplog.set_level(logging.DEBUG)
    token = token_for(customer)
    bad = post(token, data=card_fields("4000 0027 6000 0017", cvc="7391"))
    good = post(token, data=card_fields("4000 0027 6000 0016", cvc="7391"))
    assert bad.status_code == 400 and good.status_code == 200
    for text in (bad.content.decode(), good.content.decode(), caplog.text):
        for secret in ("4000002760000017", "4000 0027 6000 0017", "4000002760000016", "4000 0027 6000 0016", "7391"):
            assert secret not in text
