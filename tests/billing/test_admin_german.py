"""The admin in German: every registered model's list, add and change page show no English left over.

Each page is fetched twice, with ``Accept-Language: en`` and ``de`` (LocaleMiddleware picks the admin's language
from it), and the visible labels (headings, field labels, column headers, filter titles, options, actions,
buttons) are compared: a label the same in both languages is English left untranslated, unless it is a word
German shares (ALLOWED) or data and technical tokens (ids, codes, amounts, names from the fixtures).
"""

import contextlib
import datetime as dt
import html
import re
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django_countries import countries

from billing import clock, money
from billing.audit import Actor
from billing.exceptions import InvalidRequest, NotFound, StateConflict
from billing.models import Account, Coupon, Customer, Invoice, PromotionCode
from billing.services.common import lock
from billing.services.coupons import coupon_create
from billing.services.customers import customer_update
from billing.services.invoices import invoice_void
from billing.services.products import price_create, price_update
from billing.services.refunds import check_refundable
from billing.services.tax_rates import tax_rate_create
from billing.services.test_clocks import clock_create
from tests.api.helpers import post_in_german
from tests.billing.test_admin import post_data
from tests.factories.admin import populated_account

# Words German uses as they are (or proper names): the same label in both languages is right for these.
ALLOWED = {
    "ID",
    "Name",
    "Status",
    "Stripe",
    "Mollie",
    "Webhooks",
    "API",
    "URL",
    "Code",
    "Version",
    "System",
    "Starter",
    "Logo",
    "Hostname",
    "Token",
    "Secret",
    "Slug",
    "Checkout",
    "Test",
    "Live",
    "E-Mail",
    "Text",
    "Position",
    "Links",
    "—",
    "-",
    "Inter",  # a font
    "SEPA",
    "Gone",
    "Filter",
    "Maximum",
    "Minimum",
    "---------",
}
# Countries whose German name is their English one (Chile, Japan, …): options of the country pickers.
with translation.override("de"):
    ALLOWED |= {str(name) for _code, name in countries}
# Data and technical tokens: ids, redacted keys, tax id types (eu_vat), codes, event types, amounts, dates, e-mail addresses,
# fixture names. A raw value such as "send_invoice" is not one: it should have been a translated label.
DATA = re.compile(
    r".*(\d|@|\.|/|€|\$|:|…).*|[a-z]{2,3}_[a-z_]+|(Alpha|Beta|Pending credit)\b.*|[A-Z0-9]{3,}|[a-z]+(\.[a-z_]+)+|(card|eur|usd|month|year|visa)"
)
VISIBLE = {"h1", "h2", "h3", "label", "legend", "option", "button", "summary", "caption"}


class Labels(HTMLParser):
    """Texts of the elements that carry labels, plus thead column headers and submit buttons' values."""

    def __init__(self):
        super().__init__()
        self.stack, self.texts, self.in_thead, self.in_script = [], set(), False, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "thead":
            self.in_thead = True
        if tag in ("script", "style", "textarea"):
            self.in_script = True
        if tag == "input" and attrs.get("type") == "submit" and attrs.get("value"):
            self.texts.add(attrs["value"].strip())
        if tag in VISIBLE or (tag == "th" and self.in_thead):
            self.stack.append([tag, ""])

    def handle_endtag(self, tag):
        if tag == "thead":
            self.in_thead = False
        if tag in ("script", "style", "textarea"):
            self.in_script = False
        if self.stack and self.stack[-1][0] == tag:
            text = " ".join(self.stack.pop()[1].split()).rstrip(":").strip()
            if text:
                self.texts.add(text)

    def handle_data(self, data):
        if self.stack and not self.in_script:
            self.stack[-1][1] += data


def _labels(client, url, language):
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    if response.status_code == 403:
        return None  # no add page for read-only models
    assert response.status_code == 200, (url, response.status_code)
    assert response.headers.get("Content-Language") == language
    parser = Labels()
    parser.feed(response.content.decode())
    return parser.texts


def _untranslated(client, url):
    english, german = _labels(client, url, "en"), _labels(client, url, "de")
    if german is None:
        return []
    return sorted(text for text in german & english if text not in ALLOWED and not DATA.fullmatch(text))


@pytest.fixture
def superuser_client(client, db, django_user_model):
    tenant = populated_account("Alpha", staff_email="staff@alpha.example")
    user = tenant.staff
    user.is_superuser = True
    user.save()
    client.force_login(user)
    return client, tenant


def _pages():
    for model in admin.site._registry:
        if model._meta.app_label == "auth":
            continue  # Django's own, translated by Django
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        yield reverse(f"{name}_changelist")
        with contextlib.suppress(NoReverseMatch):
            yield reverse(f"{name}_add")
        row = model.objects.first()
        if row is not None:
            yield reverse(f"{name}_change", args=[row.pk])


def test_the_german_admin_has_no_english_left(superuser_client):
    client, _tenant = superuser_client
    found = {}
    pages = [reverse("admin:index"), *_pages()]
    client.raise_request_exception = False
    for url in pages:
        untranslated = _untranslated(client, url)
        if untranslated:
            found[url] = untranslated
    assert len(pages) > 60
    assert not found, "\n".join(f"{url}: {texts}" for url, texts in found.items())


# Words of the names the code composes (a price's interval, a tax rate's kind), as English writes them.
ENGLISH_WORDS = re.compile(r"\b(month|months|year|years|week|weeks|day|days|per|every|unit|excl|incl|on|by)\b")


def _visible_text(html: str) -> str:
    content = html.split('id="content"', 1)[-1]
    content = re.sub(r"<(script|style|textarea)\b.*?</\1>", " ", content, flags=re.S)
    return re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", content))  # keeps the no-break spaces


def test_prices_and_tax_rates_are_named_in_german(superuser_client):
    """Names built in code (a price's amount and interval, a tax rate's kind) follow the admin's language."""
    client, tenant = superuser_client
    item = tenant.rows["subscription"].items.first()
    pages = [
        reverse("admin:billing_subscriptionitem_changelist"),
        reverse("admin:billing_subscriptionitem_change", args=[item.pk]),
        reverse("admin:billing_subscription_change", args=[item.subscription_id]),
    ]
    for url in pages:
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="de")
        assert response.status_code == 200
        text = _visible_text(response.content.decode())
        assert "Alpha Plan: 10,00\xa0€ pro Monat" in text, url
        assert not ENGLISH_WORDS.findall(text.replace("Alpha Plan", "")), (url, ENGLISH_WORDS.findall(text))
    change = _visible_text(client.get(pages[1], HTTP_ACCEPT_LANGUAGE="de").content.decode())
    assert "VAT 19\xa0% (zzgl.)" in change


def test_a_services_refusal_is_shown_in_german(superuser_client):
    """An admin action the service refuses shows the service's message in the admin's language; the same error
    keeps its English message for the API, as Stripe's."""
    client, tenant = superuser_client
    paid = tenant.rows["invoice"]
    assert paid.status == Invoice.Status.PAID
    response = client.post(
        reverse("admin:billing_invoice_changelist"),
        {"action": "void", "_selected_action": [paid.pk], "index": "0"},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="de",
    )
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert shown == [
        f"{paid}: Nur Rechnungen mit dem Status „offen“ oder „uneinbringlich“ können storniert werden; diese Rechnung "
        "hat den Status „bezahlt“."
    ]
    with translation.override("de"), pytest.raises(StateConflict) as refused:
        invoice_void(invoice=paid, actor=Actor.system())
    assert refused.value.message == (
        "You can only void an invoice with status open or uncollectible; this invoice is paid."
    )
    assert str(refused.value) == refused.value.message


def _errors(response) -> str:
    """The visible text of a re-rendered admin form's errors."""
    return _visible_text(
        "".join(re.findall(r'<ul class="errorlist[^"]*"[^>]*>.*?</ul>', response.content.decode(), re.S))
    )


def test_advancing_a_test_clock_backwards_is_refused_in_german(superuser_client):
    """The admin's advance action gets the service's refusal (a time before the clock's) in German."""
    client, tenant = superuser_client
    test_clock = tenant.rows["testclock"]
    earlier = timezone.localtime(test_clock.frozen_time - dt.timedelta(days=1))
    response = client.post(
        reverse("admin:billing_testclock_changelist"),
        {
            "action": "advance",
            "apply": "1",
            "_selected_action": [test_clock.pk],
            "frozen_time": earlier.strftime("%Y-%m-%dT%H:%M"),
        },
        follow=True,
        HTTP_ACCEPT_LANGUAGE="de",
    )
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert shown == [
        f"{test_clock}: Die neue Zeit muss nach der aktuellen Zeit der Testuhr liegen "
        f"({clock.to_unix(test_clock.frozen_time)})."
    ]


def test_a_duplicate_promotion_code_is_refused_in_german_on_the_form(superuser_client):
    """Saving a promotion code whose code an active one has shows the service's refusal on the German form."""
    client, tenant = superuser_client
    existing = tenant.rows["promotioncode"]
    response = client.post(
        reverse("admin:billing_promotioncode_add"),
        {"coupon": existing.coupon.pk, "code": existing.code.lower(), "metadata": "{}"},
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert response.status_code == 200
    assert "Es gibt bereits einen aktiven Aktionscode mit diesem Code." in _errors(response)
    assert PromotionCode.objects.filter(code__iexact=existing.code).count() == 1


def test_a_refund_larger_than_what_is_left_is_refused_in_german_and_in_english_by_the_api(superuser_client):
    """The refund service's refusal reads in German (amounts as German writes them) where the admin shows it; the
    API answers Stripe's English text, whatever the request's language."""
    client, tenant = superuser_client
    charge = tenant.rows["charge"]
    left = charge.amount - charge.amount_refunded
    with translation.override("de"):
        with pytest.raises(InvalidRequest) as refused:
            check_refundable(charge, left + 1)
        assert refused.value.localized == (
            f"Der Erstattungsbetrag ({money.format_amount(left + 1, charge.currency, 'de')}) ist höher als der noch "
            f"nicht erstattete Betrag der Zahlung ({money.format_amount(left, charge.currency, 'de')})."
        )
    english = (
        f"Refund amount ({money.format_amount(left + 1, charge.currency, 'en')}) is greater than unrefunded amount "
        f"on charge ({money.format_amount(left, charge.currency, 'en')})"
    )
    assert refused.value.message == english
    response = post_in_german(
        tenant.account, "/v1/refunds", f"charge={charge.pk}&amount={left + 1}", livemode=charge.livemode
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == english


def test_an_address_its_country_refuses_is_refused_in_german(superuser_client):
    """A postal code Germany does not use reads in German where the admin shows it, in English for the API."""
    _client, tenant = superuser_client
    customer = tenant.rows["customer"]
    address = {"line1": "Hauptstraße 1", "city": "Berlin", "postal_code": "1", "country": "DE"}
    with translation.override("de"):
        with pytest.raises(InvalidRequest) as refused:
            customer_update(customer=customer, actor=Actor.system("test"), check_addresses=True, address=address)
        assert refused.value.localized == "Ungültige Angabe address[postal_code]: Für DE ist sie ungültig."
    assert refused.value.message == "Invalid address[postal_code]: invalid for DE."


def test_metadata_and_text_refusals_read_in_german_on_the_form_and_in_english_in_the_api(superuser_client):
    """The shared metadata check's refusal reads in German on the admin's form; the shared text check's refusal
    keeps Stripe's English in the API."""
    client, tenant = superuser_client
    existing = tenant.rows["promotioncode"]
    key = "k" * 41
    response = client.post(
        reverse("admin:billing_promotioncode_add"),
        {"coupon": existing.coupon.pk, "code": "NEWCODE41", "metadata": f'{{"{key}": "v"}}'},
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert response.status_code == 200
    assert (
        f"Ungültiger Metadatenschlüssel „{key}“: Schlüssel haben höchstens 40 Zeichen und keine eckigen Klammern."
        in _errors(response)
    )
    assert not PromotionCode.objects.filter(code="NEWCODE41").exists()
    response = post_in_german(
        tenant.account, f"/v1/products/{tenant.rows['product'].pk}", "name=", livemode=existing.livemode
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Invalid name: must not be empty."


def test_a_three_decimal_amount_not_in_tens_is_refused_in_german_and_in_english_for_the_api():
    """The reason read in German where the admin shows it; the error's message stays Stripe's English."""
    with translation.override("de"):
        refused = InvalidRequest(money.charge_amount_error(5124, "kwd"), param="amount")
        assert refused.localized == (
            "Ungültiger Betrag: Beträge in KWD müssen Vielfache von 10 sein (die letzte Ziffer muss 0 sein), da "
            "Währungen mit drei Nachkommastellen auf den nächsten Zehner gerundet abgebucht werden; zum Beispiel 5120 "
            "statt 5124."
        )
    assert refused.message == (
        "Invalid amount: KWD amounts must be in multiples of 10 (the last digit must be 0), as three-decimal "
        "currencies are charged to the nearest ten; for example 5120 instead of 5124."
    )


def test_a_coupon_in_an_unknown_currency_is_refused_in_german_and_in_english_for_the_api(superuser_client):
    """The coupon service's refusal reads in German where the admin shows it; its message stays English."""
    _client, tenant = superuser_client
    with translation.override("de"):
        with pytest.raises(InvalidRequest) as refused:
            coupon_create(
                account=tenant.account, livemode=False, actor=Actor.system("test"), amount_off=500, currency="xyz"
            )
        assert refused.value.localized == "Ungültige Währung: xyz."
    assert refused.value.message == "Invalid currency: xyz."


def test_a_test_clock_frozen_before_2000_is_refused_in_german_and_in_english_for_the_api(superuser_client):
    """The test clock service's refusal of a frozen time out of range reads in German; its message stays English."""
    _client, tenant = superuser_client
    with translation.override("de"):
        with pytest.raises(InvalidRequest) as refused:
            clock_create(
                account=tenant.account,
                livemode=False,
                actor=Actor.system("test"),
                frozen_time=dt.datetime(1999, 12, 31, tzinfo=dt.UTC),
            )
        assert refused.value.localized == (
            "Die eingefrorene Zeit muss zwischen dem 2000-01-01 und 5 Jahren ab heute liegen."
        )
    assert refused.value.message == "The frozen_time must lie between 2000-01-01 and 5 years from now."


def test_a_tax_behavior_the_price_service_does_not_know_is_refused_in_german_and_in_english_for_the_api(
    superuser_client,
):
    """The admin's form offers the known tax behaviors only; the service's refusal still reads in German where the
    admin would show it, and keeps Stripe's English for the API."""
    _client, tenant = superuser_client
    price = tenant.rows["price"]
    with translation.override("de"):
        with pytest.raises(InvalidRequest) as created:
            price_create(
                product=price.product, actor=Actor.system("test"), currency="eur", unit_amount=100, tax_behavior="both"
            )
        with pytest.raises(InvalidRequest) as updated:
            price_update(price=price, actor=Actor.system("test"), tax_behavior="both")
        assert created.value.localized == updated.value.localized == "Ungültiges Steuerverhalten: both"
    assert created.value.message == updated.value.message == "Invalid tax_behavior: both"


def test_an_amount_off_without_currency_is_refused_in_german_and_in_english_for_the_api(superuser_client):
    """The admin's form asks for the amount's currency itself; the coupon service's refusal still reads in German
    where the admin would show it, and keeps its English for the API."""
    _client, tenant = superuser_client
    with translation.override("de"):
        with pytest.raises(InvalidRequest) as refused:
            coupon_create(account=tenant.account, livemode=False, actor=Actor.system("test"), amount_off=500)
        assert refused.value.localized == "Fehlende Währung: Ein Betragsrabatt braucht eine Währung."
    assert refused.value.message == "Missing required param: currency (required with amount_off)."


def test_a_decimal_that_is_no_number_or_too_precise_is_refused_in_german_and_in_english_for_the_api(
    superuser_client,
):
    """The admin's decimal fields refuse these first; the shared check's refusals read in German where a service's
    refusal is shown, and keep their English for the API."""
    _client, tenant = superuser_client
    actor = Actor.system("test")
    with translation.override("de"):
        with pytest.raises(InvalidRequest) as no_number:
            tax_rate_create(
                account=tenant.account,
                livemode=False,
                actor=actor,
                display_name="MwSt",
                percentage="viel",
                inclusive=False,
            )
        assert no_number.value.localized == "Ungültige Angabe percentage: Sie muss eine Zahl sein."
        with pytest.raises(InvalidRequest) as too_precise:
            coupon_create(account=tenant.account, livemode=False, actor=actor, percent_off="12.345")
        assert too_precise.value.localized == "Ungültige Angabe percent_off: höchstens 2 Nachkommastellen erlaubt."
    assert no_number.value.message == "Invalid percentage: must be a number."
    assert too_precise.value.message == "Invalid percent_off: at most 2 decimal places are allowed."


def test_an_address_that_is_no_object_or_names_an_unknown_country_is_refused_in_german_on_the_form(
    superuser_client,
):
    """On the customer's form, and on the account's (its country); the API answers the English text whatever
    language the request asks for."""
    client, tenant = superuser_client
    add = reverse("admin:billing_customer_add")
    form = client.get(add)
    for address, german in [
        ('"Hauptstraße 1, Berlin"', "Ungültige Adresse: Sie muss ein Objekt sein."),
        ('{"country": "XX"}', "Ungültiges Land: XX"),
    ]:
        data = post_data(form, account=tenant.account.pk, email="new@alpha.example", address=address, metadata="{}")
        response = client.post(add, data, HTTP_ACCEPT_LANGUAGE="de")
        assert response.status_code == 200
        assert german in _errors(response)
    assert not Customer.objects.filter(email="new@alpha.example").exists()
    change = reverse("admin:billing_account_change", args=[tenant.account.pk])
    response = client.post(change, post_data(client.get(change), country="D1"), HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 200
    assert "Ungültiges Land: Verwenden Sie einen zweibuchstabigen ISO-Code wie DE." in _errors(response)
    assert Account.objects.get(pk=tenant.account.pk).country != "D1"
    response = post_in_german(tenant.account, "/v1/customers", "email=api%40alpha.example&address[country]=XX")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Invalid country: XX"


def test_a_row_gone_meanwhile_is_named_in_german_on_the_form(superuser_client):
    """Renaming a coupon deleted meanwhile (through the API) reads "not found" in German; the message stays
    Stripe's English, as the generic lookups' messages do."""
    client, tenant = superuser_client
    coupon = tenant.rows["coupon"]
    change = reverse("admin:billing_coupon_change", args=[coupon.pk])
    data = post_data(client.get(change), name="Renamed")
    Coupon.objects.filter(pk=coupon.pk).update(deleted=True)
    response = client.post(change, data, HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 200
    assert f"Gutschein nicht gefunden: '{coupon.coupon_id}'" in html.unescape(_errors(response))
    with translation.override("de"), pytest.raises(NotFound) as missing:
        lock(Customer, "cus_missing")
    assert missing.value.localized == "Kunde nicht gefunden: 'cus_missing'"
    assert missing.value.message == "No such customer: 'cus_missing'"


def test_the_accounts_refusals_read_in_german(superuser_client):
    """The account's form: an invoice prefix that is no prefix, one another account uses. The account services'
    refusals the form does not reach (a prefix taken meanwhile, no name, an unknown currency, a staff member without
    an address) are English in ``message`` and German in ``localized``."""
    client, tenant = superuser_client
    change = reverse("admin:billing_account_change", args=[tenant.account.pk])
    response = client.post(change, post_data(client.get(change), invoice_prefix="A-1"), HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 200
    assert "Ungültiges Rechnungspräfix: Verwenden Sie 3 bis 12 Buchstaben (A–Z) und Ziffern." in _errors(response)

    from billing.services.accounts import account_update, membership_add
    from tests.factories.billing import AccountFactory

    account_update(account=AccountFactory(), actor=Actor.system("test"), invoice_prefix="TAKEN1")
    response = client.post(change, post_data(client.get(change), invoice_prefix="TAKEN1"), HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 200
    assert "Rechnungspräfix existiert bereits." in _errors(response)  # the form's own check, before the service's
    assert Account.objects.get(pk=tenant.account.pk).invoice_prefix != "TAKEN1"

    refusals = [
        (
            lambda: account_update(account=tenant.account, actor=Actor.system("test"), invoice_prefix="TAKEN1"),
            "Another account already uses this invoice prefix.",
            "Ein anderes Konto verwendet dieses Rechnungspräfix bereits.",
        ),
        (
            lambda: account_update(account=tenant.account, actor=Actor.system("test"), name=" "),
            "An account needs a name.",
            "Ein Konto braucht einen Namen.",
        ),
        (
            lambda: account_update(account=tenant.account, actor=Actor.system("test"), default_currency="xyz"),
            "Invalid default_currency: 'xyz' is not a supported currency.",
            "Ungültige Standardwährung: 'xyz' wird nicht unterstützt.",
        ),
        (
            lambda: membership_add(account=tenant.account, email=" ", actor=Actor.system("test")),
            "A staff member needs an email address.",
            "Ein Teammitglied braucht eine E-Mail-Adresse.",
        ),
    ]
    for refuse, english, german in refusals:
        with pytest.raises(InvalidRequest) as refused:
            refuse()
        assert refused.value.message == english
        with translation.override("de"):
            assert refused.value.localized == german
