"""Configuration messages: each warning once, what a test configuration would need in live mode, errors in the
page's words (products and prices by name, interval names translated), and a price picker per product."""

import re

from django.contrib.admin.utils import quote
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from configurations.admin import merchant_wording
from tests.configurations.conftest import image_bytes
from tests.configurations.helpers import messages_of, post_data
from tests.configurations.test_admin import GERMAN, change_url, create
from tests.factories.billing import CustomerFactory
from tests.factories.portal import full_configuration


def _live(client):
    client.post(reverse("admin:billing_admin_mode"), {"mode": "live"})


def test_the_live_links_warning_is_shown_once_after_saving(staff_client, merchant):
    live = create(merchant, livemode=True, name="Live")
    _live(staff_client)
    form = staff_client.get(change_url(live))
    response = staff_client.post(change_url(live), {**post_data(form), "_continue": "1"}, follow=True)
    assert response.redirect_chain[-1][0] == change_url(live)
    warnings = [m for m in messages_of(response) if "live configuration lacks" in m]
    assert len(warnings) == 1, messages_of(response)
    assert response.content.decode().count("live configuration lacks") == 1


def test_the_contrast_warning_is_shown_once_after_saving(staff_client, merchant):
    add = reverse("admin:configurations_branding_add")
    data = post_data(staff_client.get(add), business_name="Alpha", primary_color="#ffeb3b", background_color="#ffffff")
    icon = SimpleUploadedFile("icon.png", image_bytes("PNG"), content_type="image/png")
    response = staff_client.post(add, {**data, "icon": icon, "_continue": "1"}, follow=True)
    assert response.content.decode().count("contrast ratio") == 1, messages_of(response)


def test_a_test_configuration_without_links_says_what_live_mode_needs(staff_client, merchant):
    configuration = create(merchant, name="Test only")
    form = staff_client.get(change_url(configuration))
    response = staff_client.post(change_url(configuration), {**post_data(form), "_continue": "1"}, follow=True)
    notes = [m for m in messages_of(response) if "a live configuration needs" in m]
    assert len(notes) == 1
    assert "a default return URL" in notes[0] and "terms of service" in notes[0] and "privacy policy" in notes[0]
    complete = full_configuration(merchant)
    assert not any("live configuration needs" in m for m in messages_of(staff_client.get(change_url(complete))))


def test_the_live_preview_error_speaks_the_merchants_language(staff_client, merchant):
    live = create(merchant, livemode=True, name="Live", default_return_url="https://alpha.example/account")
    customer = CustomerFactory(account=merchant, livemode=True)
    _live(staff_client)
    response = staff_client.post(
        reverse("portal:configuration_preview", args=[live.pk]), {"customer": customer.pk}, follow=True
    )
    text = " ".join(messages_of(response))
    assert "The live portal cannot open yet" in text and "terms of service" in text, text
    assert "business_profile[" not in text and "[" not in text


@translation.override("en")  # a German request of an earlier test leaves German active in the thread
def test_api_parameters_are_named_as_the_page_names_them():
    assert merchant_wording("Missing required param: features[subscription_update][products].") == (
        "Fill in “Plan changes: products and prices”."
    )
    worded = merchant_wording("Set business_profile[terms_of_service_url] first.")
    assert "business_profile" not in worded and "“" in worded


def test_rule_errors_name_the_product_and_price_and_translate_the_interval(staff_client, catalog):
    from tests.configurations.test_admin import ADD, plan_change_form, product_row

    data = plan_change_form(
        staff_client,
        catalog,
        [product_row(0, catalog["basic"], [catalog["basic_monthly"], catalog["basic_monthly_student"]])],
    )
    english = " ".join(
        staff_client.post(ADD, data).context["inline_admin_formsets"][0].formset.forms[0].errors["prices"]
    )
    assert "“Basic”" in english and "billed monthly in EUR" in english
    german = " ".join(
        staff_client.post(ADD, data, **GERMAN).context["inline_admin_formsets"][0].formset.forms[0].errors["prices"]
    )
    assert "„Basic“" in german or "“Basic”" in german
    assert "monatlich" in german and "month " not in german and "Intervall month" not in german
    # Named, not identified: no ids beside the names.
    for words in (english, german):
        assert "prod_" not in words and "price_" not in words, words


def test_the_price_picker_of_a_product_row_offers_that_products_prices(staff_client, merchant, catalog):
    configuration = full_configuration(merchant, prices=[catalog["basic_monthly"]])
    page = staff_client.get(change_url(configuration)).content.decode()
    picker = re.search(r'<select name="products-0-prices".*?</select>', page, re.S).group(0)
    options = re.findall(r"<option [^>]*>", picker)
    basic = [o for o in options if f'data-product="{catalog["basic"].pk}"' in o]
    pro = [o for o in options if f'data-product="{catalog["pro"].pk}"' in o]
    assert basic and pro
    assert all("hidden" not in o for o in basic) and all("hidden" in o for o in pro)
    assert "configurations/price-picker.js" in page
    assert quote(configuration.pk)
