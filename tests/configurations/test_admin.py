"""The merchant admin for portal configurations, branding and custom domains."""

import re

from django.contrib.admin.utils import quote
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from billing.audit import Actor
from billing.models import AuditEntry, Event
from billing.services.accounts import api_key_create
from configurations.models import Branding, CustomDomain, PortalConfiguration
from configurations.services import custom_domains
from configurations.services.branding import branding_update
from configurations.services.custom_domains import custom_domain_set
from configurations.services.portal_configurations import configuration_create
from tests.configurations.conftest import image_bytes
from tests.configurations.helpers import messages_of, post_data
from tests.configurations.test_domains import FakeResolver
from tests.factories.billing import PriceFactory, ProductFactory

ACTOR = Actor.system("test")
ADD = reverse("admin:configurations_portalconfiguration_add")
CHANGELIST = reverse("admin:configurations_portalconfiguration_changelist")
GERMAN = {"HTTP_ACCEPT_LANGUAGE": "de"}


def change_url(obj) -> str:
    return reverse(f"admin:configurations_{obj._meta.model_name}_change", args=[quote(obj.pk)])


def create(account, livemode=False, **data):
    return configuration_create(
        account=account,
        livemode=livemode,
        actor=ACTOR,
        data={"features": {"invoice_history": {"enabled": True}}, **data},
    )


def product_row(index: int, product, prices, **extra) -> dict:
    row = {
        f"products-{index}-product": product.pk,
        f"products-{index}-prices": [price.pk for price in prices],
        f"products-{index}-position": str(index),
        f"products-{index}-adjustable_quantity_minimum": "0",
    }
    return {**row, **{f"products-{index}-{key}": value for key, value in extra.items()}}


def plan_change_form(client, catalog, rows: list[dict], **fields) -> dict:
    form = client.get(ADD)
    data = post_data(
        form,
        name="Members",
        subscription_update_enabled="on",
        subscription_update_default_allowed_updates=["price", "quantity"],
        **fields,
    )
    for row in rows:
        data.update(row)
    data["products-TOTAL_FORMS"] = str(max(len(rows), 1))
    return data


def run_action(client, url, action, *objs, **headers):
    return client.post(
        url, {"action": action, "_selected_action": [o.pk for o in objs], "index": "0"}, follow=True, **headers
    )


# ---------------------------------------------------------------------------------------------- the form


def test_the_form_is_laid_out_like_the_portal(staff_client):
    response = staff_client.get(ADD)
    assert response.status_code == 200
    headings = [fieldset.name for fieldset in response.context["adminform"] if fieldset.name]
    assert [str(h) for h in headings] == [
        "Business profile",
        "Customer information",
        "Payment methods",
        "Invoices",
        "Cancellation",
        "Plan changes",
        "Pause payments",
        "Custom text",
        "New subscriptions",
        "Customer group",
        "Login link",
        "Metadata",
    ]
    html = response.content.decode()
    # The products inline sits inside the plan-changes section, before "Pause payments".
    assert html.index('id="products-group"') < html.index("Pause payments")
    assert "admin/js/autocomplete.js" in html
    form = response.context["adminform"].form
    assert (
        form.initial["invoice_history_enabled"]
        and form.initial["account"] == response.wsgi_request.user.billing_accounts.get().pk
    )


def test_adding_a_configuration_with_products_goes_through_the_service(staff_client, merchant, catalog):
    data = plan_change_form(
        staff_client,
        catalog,
        [
            product_row(0, catalog["basic"], [catalog["basic_monthly"], catalog["basic_yearly"]]),
            product_row(
                1,
                catalog["pro"],
                [catalog["pro_monthly"]],
                adjustable_quantity_enabled="on",
                adjustable_quantity_maximum="5",
            ),
        ],
        headline="Alpha partners with us for simplified billing.",
        metadata='{"crm": "42"}',
    )
    data["products-TOTAL_FORMS"] = "2"
    response = staff_client.post(ADD, data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    configuration = PortalConfiguration.objects.get(name="Members")
    assert configuration.account == merchant and not configuration.livemode and configuration.is_default
    assert configuration.subscription_update_enabled and configuration.metadata == {"crm": "42"}
    rows = list(configuration.products.all())
    assert [row.product for row in rows] == [catalog["basic"], catalog["pro"]]
    assert set(rows[0].prices.all()) == {catalog["basic_monthly"], catalog["basic_yearly"]}
    assert rows[1].adjustable_quantity_enabled and rows[1].adjustable_quantity_maximum == 5
    entry = AuditEntry.objects.get(action="portal_configuration.create", object_id=configuration.pk)
    assert entry.actor_type == "staff"
    assert Event.objects.filter(type="billing_portal.configuration.created", data_object__id=configuration.pk).exists()


def test_a_product_rule_error_is_shown_on_that_product_in_german(staff_client, catalog):
    data = plan_change_form(
        staff_client,
        catalog,
        [
            product_row(0, catalog["pro"], [catalog["pro_monthly"]]),
            product_row(1, catalog["basic"], [catalog["basic_monthly"], catalog["basic_monthly_student"]]),
        ],
    )
    data["products-TOTAL_FORMS"] = "2"
    response = staff_client.post(ADD, data, **GERMAN)
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert formset.forms[0].errors == {}
    errors = " ".join(formset.forms[1].errors["prices"])
    assert "Produkt „Basic“" in errors and "monatlich abgerechneten Preis in EUR" in errors
    assert "Intervall month" not in errors
    assert "unten aufgeführten Fehler korrigieren" in response.content.decode()  # the admin itself speaks German
    assert not PortalConfiguration.objects.exists()


def test_a_main_form_rule_error_is_shown_on_its_field_in_german(staff_client):
    data = post_data(
        staff_client.get(ADD),
        subscription_cancel_enabled="on",
        subscription_cancel_mode="at_period_end",
        subscription_cancel_proration_behavior="create_prorations",
    )
    response = staff_client.post(ADD, data, **GERMAN)
    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors["subscription_cancel_proration_behavior"])
    # The page's field names, not the API's parameters.
    assert "„Kündigen“=immediately" in errors and "anteilig" in errors and "features[" not in errors
    assert not PortalConfiguration.objects.exists()


def test_the_api_answers_the_rules_in_english_whatever_the_language(client, merchant, catalog):
    """The rules the admin shows in German (above) answer the API in English, with Accept-Language: de too."""
    _key, secret = api_key_create(account=merchant, livemode=False)
    basic = catalog["basic"]
    bodies = {
        "features[subscription_cancel][enabled]=true&features[subscription_cancel][mode]=at_period_end"
        "&features[subscription_cancel][proration_behavior]=create_prorations": (
            "features[subscription_cancel][proration_behavior]=create_prorations needs "
            "features[subscription_cancel][mode]=immediately: subscriptions cancelled at the end of their period are "
            "not prorated."
        ),
        "features[subscription_update][enabled]=true&features[subscription_update][default_allowed_updates][0]=price"
        f"&features[subscription_update][products][0][product]={basic.pk}"
        f"&features[subscription_update][products][0][prices][0]={catalog['basic_monthly'].pk}"
        f"&features[subscription_update][products][0][prices][1]={catalog['basic_monthly_student'].pk}": (
            f"Product “Basic” ({basic.pk}) already has a price billed monthly in EUR: "
        ),
        "features[subscription_update][enabled]=false&features[subscription_update][transitions][graph][price_gone]=": (
            "No such price: 'price_gone' (in the transition graph "
            "features[subscription_update][transitions][graph][price_gone])."
        ),
    }
    for body, english in bodies.items():
        response = client.post(
            "/v1/billing_portal/configurations",
            body,
            content_type="application/x-www-form-urlencoded",
            HTTP_AUTHORIZATION=f"Bearer {secret}",
            HTTP_ACCEPT_LANGUAGE="de",
        )
        assert response.status_code == 400, response.content
        assert response.json()["error"]["message"].startswith(english)
    assert not PortalConfiguration.objects.exists()


def test_enabling_plan_changes_without_products_is_explained_at_the_products(staff_client, catalog):
    data = plan_change_form(staff_client, catalog, [])
    response = staff_client.post(ADD, data)
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    errors = " ".join(formset.non_form_errors())
    assert "Fill in “Plan changes: products and prices”." in errors and "features[" not in errors
    assert not PortalConfiguration.objects.exists()


def test_changing_a_configuration_keeps_untouched_products(staff_client, merchant, catalog):
    configuration = create(
        merchant,
        name="Before",
        features={
            "subscription_update": {
                "enabled": True,
                "default_allowed_updates": ["price"],
                "products": [{"product": catalog["basic"].pk, "prices": [catalog["basic_monthly"].pk]}],
            }
        },
    )
    # The price is archived later: saving an unrelated change must not trip over it.
    catalog["basic_monthly"].active = False
    catalog["basic_monthly"].save()
    form = staff_client.get(change_url(configuration))
    response = staff_client.post(change_url(configuration), post_data(form, name="After"))
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    configuration.refresh_from_db()
    assert configuration.name == "After" and configuration.products.count() == 1
    event = Event.objects.get(type="billing_portal.configuration.updated")
    assert event.previous_attributes["name"] == "Before"


def test_removing_a_product_in_the_form(staff_client, merchant, catalog):
    configuration = create(
        merchant,
        features={
            "subscription_update": {
                "enabled": False,
                "products": [
                    {"product": catalog["basic"].pk, "prices": [catalog["basic_monthly"].pk]},
                    {"product": catalog["pro"].pk, "prices": [catalog["pro_monthly"].pk]},
                ],
            }
        },
    )
    form = staff_client.get(change_url(configuration))
    response = staff_client.post(change_url(configuration), post_data(form, **{"products-0-DELETE": "on"}))
    assert response.status_code == 302
    assert [row.product for row in configuration.products.all()] == [catalog["pro"]]


# ---------------------------------------------------------------------------------------------- actions and pages


def test_make_default_action_swaps_the_default(staff_client, merchant):
    first, second = create(merchant, name="First"), create(merchant, name="Second")
    response = run_action(staff_client, CHANGELIST, "make_default", second)
    assert any("Second is now the default test configuration." in m for m in messages_of(response))
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.is_default and not first.is_default
    assert AuditEntry.objects.filter(action="portal_configuration.make_default", actor_type="staff").count() == 2
    response = run_action(staff_client, CHANGELIST, "make_default", first, second)
    assert any("exactly one" in m for m in messages_of(response))
    second.refresh_from_db()
    assert second.is_default


def test_a_live_configuration_without_links_gets_a_warning(staff_client, merchant):
    live = create(merchant, livemode=True, name="Live")
    staff_client.post(reverse("admin:billing_admin_mode"), {"mode": "live"})
    response = staff_client.get(change_url(live))
    warnings = [m for m in messages_of(response) if "live configuration lacks" in m]
    assert warnings and "terms of service" in warnings[0] and "privacy policy" in warnings[0]
    complete = create(
        merchant,
        livemode=True,
        default_return_url="https://alpha.example/account",
        business_profile={
            "terms_of_service_url": "https://alpha.example/terms",
            "privacy_policy_url": "https://alpha.example/privacy",
        },
    )
    assert not any("lacks" in m for m in messages_of(staff_client.get(change_url(complete))))
    staff_client.post(reverse("admin:billing_admin_mode"), {"mode": "test"})
    assert not any("lacks" in m for m in messages_of(staff_client.get(change_url(create(merchant)))))


def test_login_link_with_a_copy_button_under_the_csp(staff_client, merchant, settings):
    configuration = create(merchant)
    form = staff_client.get(change_url(configuration))
    assert "Off." in form.content.decode()
    response = staff_client.post(change_url(configuration), post_data(form, login_page_enabled="on"))
    assert response.status_code == 302
    configuration.refresh_from_db()
    page = staff_client.get(change_url(configuration))
    html = page.content.decode()
    assert f'value="{settings.PORTAL_BASE_URL}/p/login/{configuration.login_page_token}"' in html
    assert f'data-copy-target="portal-login-link-{configuration.pk}"' in html
    assert '<script src="/static/js/copy-link.js">' in html
    # No inline script runs without the CSP nonce.
    nonce = page.wsgi_request.csp_nonce
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or f'nonce="{nonce}"' in tag or 'type="application/json"' in tag, tag
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert f'href="/p/preview/{configuration.pk}" class="portal-preview"' in html


def test_the_copy_script_is_served(client):
    from django.contrib.staticfiles import finders

    assert finders.find("js/copy-link.js") and finders.find("configurations/admin.css")


# ---------------------------------------------------------------------------------------------- tenancy


def test_admin_shows_only_the_staff_users_rows(staff_client, merchant, other_merchant, catalog):
    mine = create(merchant, name="Mine")
    theirs = create(other_merchant, name="Theirs")
    branding_update(account=other_merchant, actor=ACTOR, business_name="Beta brand")
    custom_domain_set(account=other_merchant, hostname="billing.beta.example", actor=ACTOR)
    response = staff_client.get(CHANGELIST)
    assert list(response.context["cl"].result_list) == [mine]
    assert staff_client.get(change_url(theirs)).status_code == 302
    for model in ("branding", "customdomain"):
        page = staff_client.get(reverse(f"admin:configurations_{model}_changelist"))
        assert page.status_code == 200 and list(page.context["cl"].result_list) == []
    # Make-default cannot reach another account's row.
    run_action(staff_client, CHANGELIST, "make_default", theirs)
    assert PortalConfiguration.objects.get(pk=theirs.pk).is_default  # unchanged: still Beta's only default


def test_product_autocomplete_and_choices_hold_only_own_rows(staff_client, catalog, other_merchant):
    foreign = PriceFactory(account=other_merchant, product=ProductFactory(account=other_merchant, name="Basic Beta"))
    url = reverse("admin:autocomplete")
    params = {"app_label": "configurations", "model_name": "portalconfigurationproduct", "term": "Basic"}
    products = staff_client.get(url, {**params, "field_name": "product"}).json()["results"]
    assert [r["id"] for r in products] == [catalog["basic"].pk]
    prices = staff_client.get(url, {**params, "field_name": "prices"}).json()["results"]
    assert foreign.pk not in {r["id"] for r in prices} and catalog["basic_monthly"].pk in {r["id"] for r in prices}


def test_posting_another_accounts_product_is_refused(staff_client, catalog, other_merchant):
    foreign = PriceFactory(account=other_merchant, product=ProductFactory(account=other_merchant))
    data = plan_change_form(staff_client, catalog, [product_row(0, foreign.product, [foreign])])
    response = staff_client.post(ADD, data)
    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.forms[0].errors
    assert not PortalConfiguration.objects.exists()


# ---------------------------------------------------------------------------------------------- branding


def test_branding_admin_warns_about_low_contrast(staff_client, merchant):
    add = reverse("admin:configurations_branding_add")
    form = staff_client.get(add)
    icon = SimpleUploadedFile("icon.png", image_bytes("PNG"), content_type="image/png")
    data = post_data(
        form, business_name="Alpha Books", primary_color="#ffeb3b", background_color="#ffffff", font="serif"
    )
    response = staff_client.post(add, {**data, "icon": icon}, follow=True)
    assert response.status_code == 200
    branding = Branding.objects.get(account=merchant)
    assert branding.icon.name.endswith(".png") and branding.font == "serif"
    assert any("contrast ratio" in m and "4.5:1" in m for m in messages_of(response))
    page = staff_client.get(change_url(branding)).content.decode()
    assert "below WCAG AA" in page and 'src="data:image/png;base64,' in page
    # Saving again without a new upload keeps the stored icon.
    form = staff_client.get(change_url(branding))
    response = staff_client.post(change_url(branding), post_data(form, primary_color="#4338ca"), follow=True)
    assert response.status_code == 200 and not any("contrast ratio" in m for m in messages_of(response))
    saved = Branding.objects.get(pk=branding.pk)
    assert saved.primary_color == "#4338ca" and saved.icon.name == branding.icon.name


def test_branding_admin_refuses_svg_in_german(staff_client, merchant):
    add = reverse("admin:configurations_branding_add")
    data = post_data(staff_client.get(add), primary_color="#4338ca", background_color="#ffffff", font="system")
    svg = SimpleUploadedFile("logo.png", b'<svg xmlns="http://www.w3.org/2000/svg"/>', content_type="image/png")
    response = staff_client.post(add, {**data, "logo": svg}, **GERMAN)
    assert response.status_code == 200
    assert "SVG" in " ".join(response.context["adminform"].form.errors["logo"])
    assert "Skripte" in " ".join(response.context["adminform"].form.errors["logo"])
    assert not Branding.objects.exists()


# ---------------------------------------------------------------------------------------------- custom domains


def test_custom_domain_admin_validates_and_verifies(staff_client, merchant, monkeypatch):
    add = reverse("admin:configurations_customdomain_add")
    form = staff_client.get(add)
    response = staff_client.post(add, post_data(form, hostname="192.0.2.1"))
    assert response.status_code == 200 and "hostname" in response.context["adminform"].form.errors
    response = staff_client.post(add, post_data(form, hostname="Billing.Alpha.example"))
    assert response.status_code == 302
    domain = CustomDomain.objects.get(account=merchant)
    assert domain.hostname == "billing.alpha.example"
    form = staff_client.get(change_url(domain))
    page = form.content.decode()
    assert domain.record_name in page and domain.record_value in page
    response = staff_client.post(change_url(domain), post_data(form, hostname="portal.alpha.example"))
    assert response.status_code == 302
    domain.refresh_from_db()
    assert domain.hostname == "portal.alpha.example"

    changelist = reverse("admin:configurations_customdomain_changelist")
    monkeypatch.setattr(custom_domains, "_default_resolver", lambda: FakeResolver({}))
    response = run_action(staff_client, changelist, "verify_now", domain)
    assert any("No TXT record" in m for m in messages_of(response))
    monkeypatch.setattr(
        custom_domains, "_default_resolver", lambda: FakeResolver({domain.record_name: [domain.record_value]})
    )
    response = run_action(staff_client, changelist, "verify_now", domain)
    assert any("1 domain is verified." in m for m in messages_of(response))
    domain.refresh_from_db()
    assert domain.is_verified
