"""Amounts in the admin are typed and shown in major units beside their currency ("16.90", German "16,90") and
stored in minor units; zero- and three-decimal currencies follow their exponent; bad input is a form error."""

from decimal import Decimal

import pytest
from django import forms
from hypothesis import given
from hypothesis import strategies as st

from billing import money
from billing.admin_money import format_major, parse_major
from billing.models import Charge, Coupon, Price, PromotionCode
from tests.billing.test_admin import change_url, changelist, post_data
from tests.factories.admin import populated_account
from tests.factories.billing import PriceFactory

DE = {"HTTP_ACCEPT_LANGUAGE": "de"}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tenants(db):
    return (populated_account("Alpha", staff_email="staff@alpha.example"),)


@pytest.fixture
def staff_client(client, tenants):
    client.force_login(tenants[0].staff)
    return client


def _add(client, model, language=None, **fields):
    headers = DE if language == "de" else {}
    url = f"/admin/billing/{model._meta.model_name}/add/"
    form = client.get(url, **headers)
    return client.post(url, post_data(form, **fields), **headers)


def _errors(response, field):
    return " ".join(response.context["adminform"].form.errors.get(field, []))


@pytest.mark.parametrize(
    ("typed", "currency", "language", "stored"),
    [
        ("16.90", "eur", None, 1690),
        ("16,90", "eur", "de", 1690),
        ("16.90", "eur", "de", 1690),
        ("1.234,50", "eur", "de", 123450),
        ("1,234.50", "usd", None, 123450),
        ("16", "eur", None, 1600),
        ("500", "jpy", None, 500),
        ("12.345", "kwd", None, 12345),
        ("0", "eur", None, 0),
    ],
)
def test_a_price_is_typed_in_major_units_and_stored_in_minor_units(
    staff_client, tenants, typed, currency, language, stored
):
    response = _add(
        staff_client,
        Price,
        language,
        product=tenants[0].rows["product"].pk,
        unit_amount=typed,
        currency=currency,
        recurring_interval="month",
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Price.objects.order_by("-created", "-id").first().unit_amount == stored


@pytest.mark.parametrize(
    ("typed", "currency", "message"),
    [
        ("16.905", "eur", "EUR amounts have at most 2 decimal places, e.g. 16.90."),
        ("5.5", "jpy", "JPY amounts have at most 0 decimal places, e.g. 1690."),
        ("1.2345", "kwd", "KWD amounts have at most 3 decimal places, e.g. 16.900."),
        ("abc", "eur", "Enter an amount such as 16.90."),
        ("-5", "eur", "Enter an amount such as 16.90."),
        ("1e3", "eur", "Enter an amount such as 16.90."),
    ],
)
def test_bad_amounts_are_form_errors(staff_client, tenants, typed, currency, message):
    before = Price.objects.count()
    product = tenants[0].rows["product"].pk
    response = _add(
        staff_client, Price, product=product, unit_amount=typed, currency=currency, recurring_interval="month"
    )
    assert response.status_code == 200
    assert message in _errors(response, "unit_amount")
    assert Price.objects.count() == before


def test_the_amount_box_shows_the_currency_beside_it(staff_client):
    html = staff_client.get("/admin/billing/price/add/").content.decode()
    assert 'inputmode="decimal"' in html and 'data-currency-from="currency"' in html
    assert "js/money-input.js" in html


def test_coupon_amount_off_and_promotion_code_minimum_in_major_units(staff_client, tenants):
    response = _add(staff_client, Coupon, "de", coupon_id="FIVE", amount_off="5,00", currency="eur", duration="once")
    assert response.status_code == 302, response.context["adminform"].form.errors
    coupon = Coupon.objects.get(coupon_id="FIVE")
    assert coupon.amount_off == 500
    refused = _add(staff_client, Coupon, coupon_id="ZERO", amount_off="0.00", currency="eur", duration="once")
    assert "Enter at least 0.01." in _errors(refused, "amount_off")

    response = _add(
        staff_client,
        PromotionCode,
        coupon=coupon.pk,
        code="MIN20",
        minimum_amount="20",
        minimum_amount_currency="eur",
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    code = PromotionCode.objects.get(code="MIN20")
    assert code.minimum_amount == 2000
    page = staff_client.get(change_url(code)).content.decode()
    assert "€20.00" in page


def test_changelists_show_amounts_with_the_currency(staff_client, tenants):
    account = tenants[0].account
    PriceFactory(account=account, product__account=account, unit_amount=1690, currency="eur")
    PriceFactory(account=account, product__account=account, unit_amount=500, currency="jpy")
    PriceFactory(account=account, product__account=account, unit_amount=12345, currency="kwd")
    english = staff_client.get(changelist("price")).content.decode()
    assert "€16.90" in english and "¥500" in english and "KWD" in english and "12.345" in english
    german = staff_client.get(changelist("price"), **DE).content.decode()
    assert "16,90\xa0€" in german


def test_the_refund_form_takes_the_amount_as_written_in_german(staff_client, tenants):
    charge = Charge.objects.filter(account=tenants[0].account, status="succeeded").first()
    if charge is None:
        pytest.skip("the populated account has no charge")
    url = f"/admin/billing/charge/{charge.pk}/refund/"
    page = staff_client.get(url, **DE).content.decode()
    assert format_major(charge.amount - charge.amount_refunded, charge.currency).replace(".", ",") in page


@given(
    amount=st.integers(min_value=0, max_value=10**12),
    currency=st.sampled_from(["eur", "jpy", "kwd"]),
    grouped=st.booleans(),
)
def test_format_and_parse_round_trip(amount, currency, grouped):
    text = format_major(amount, currency)
    if grouped and currency != "jpy":  # "1,000" alone is ambiguous: refused for JPY rather than guessed
        text = f"{money.to_major(amount, currency):,}"
    parsed = parse_major(text)
    assert parsed.scaleb(money.exponent(currency)) == amount


@pytest.mark.parametrize("text", ["", " ", "1..2", "1,2.3,4", ".5", "5.", "--1", "1 000,5,5"])
def test_parse_refuses_what_is_not_an_amount(text):
    with pytest.raises(forms.ValidationError):
        parse_major(text)


def test_parse_reads_grouping_separators():
    assert parse_major("1 234,50") == Decimal("1234.50")
    assert parse_major("1'234.50") == Decimal("1234.50")
    assert parse_major("1.234.567") == Decimal("1234567")
    assert parse_major("1,000") == Decimal("1.000")  # then refused for EUR and JPY, read as 1 for KWD


def test_typed_zeros_count_as_decimal_places(staff_client, tenants):
    response = _add(
        staff_client,
        Price,
        product=tenants[0].rows["product"].pk,
        unit_amount="1,000",
        currency="jpy",
        recurring_interval="month",
    )
    assert "JPY amounts have at most 0 decimal places" in _errors(response, "unit_amount")
