"""Test and live data in the admin: the header switch, lists and choices in the chosen mode, test data marked."""

import pytest
from django.contrib.admin.utils import quote
from django.test import Client
from django.urls import reverse

from billing.audit import Actor
from billing.models import Account, Customer, Product
from billing.services.accounts import staff_user_add
from configurations.models import PortalConfiguration
from configurations.services.portal_configurations import configuration_create
from tests.configurations.helpers import messages_of, post_data
from tests.factories.billing import AccountFactory, CustomerFactory, PriceFactory, ProductFactory
from webhooks import ssrf
from webhooks.models import WebhookEndpoint
from webhooks.services import webhook_endpoint_create

ACTOR = Actor.system("test")
SWITCH = reverse("admin:billing_admin_mode")
BANNER = 'id="billing-test-data"'


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def merchant(db):
    return AccountFactory(name="Alpha")


@pytest.fixture
def staff_client(client, merchant):
    client.force_login(staff_user_add(account=merchant, email="staff@alpha.example"))
    return client


@pytest.fixture
def rows(merchant):
    """One test and one live row of several models in each app that uses the tenant admin."""
    with ssrf.using_resolver(lambda host, port: ["93.184.216.34"]):
        endpoints = {
            livemode: webhook_endpoint_create(
                account=merchant,
                livemode=livemode,
                url=f"https://hooks.alpha.example/{'live' if livemode else 'test'}",
                enabled_events=["*"],
                actor=ACTOR,
            )
            for livemode in (False, True)
        }
    made = {}
    for livemode, mode in ((False, "test"), (True, "live")):
        product = ProductFactory(account=merchant, livemode=livemode, name=f"{mode.title()} Plan")
        made[mode] = {
            "customer": CustomerFactory(account=merchant, livemode=livemode, email=f"{mode}@alpha.example"),
            "product": product,
            "price": PriceFactory(account=merchant, product=product),
            "portalconfiguration": configuration_create(
                account=merchant,
                livemode=livemode,
                actor=ACTOR,
                data={"name": f"{mode.title()} portal", "features": {"invoice_history": {"enabled": True}}},
            ),
            "webhookendpoint": endpoints[livemode],
        }
    return made


def switch(client, mode: str, next_url: str = "/admin/"):
    return client.post(SWITCH, {"mode": mode, "next": next_url})


def admin_url(obj, view: str = "change") -> str:
    opts = obj._meta
    if view == "changelist":
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[quote(obj.pk)])


MODELS = ["customer", "product", "price", "portalconfiguration", "webhookendpoint"]


# ---------------------------------------------------------------------------------------------- lists


@pytest.mark.parametrize("model_name", MODELS)
def test_lists_show_test_data_until_the_user_switches_to_live(staff_client, rows, model_name):
    test_row, live_row = rows["test"][model_name], rows["live"][model_name]
    shown = staff_client.get(admin_url(test_row, "changelist")).context["cl"].result_list
    assert list(shown) == [test_row]

    switch(staff_client, "live")
    shown = staff_client.get(admin_url(live_row, "changelist")).context["cl"].result_list
    assert list(shown) == [live_row]

    switch(staff_client, "test")
    assert list(staff_client.get(admin_url(test_row, "changelist")).context["cl"].result_list) == [test_row]


def test_the_superuser_sees_one_mode_of_every_account(admin_client, rows):
    other = CustomerFactory(account=AccountFactory(name="Beta"), livemode=False)
    shown = set(admin_client.get(admin_url(other, "changelist")).context["cl"].result_list)
    assert shown == {rows["test"]["customer"], other}
    switch(admin_client, "live")
    assert set(admin_client.get(admin_url(other, "changelist")).context["cl"].result_list) == {rows["live"]["customer"]}


# ---------------------------------------------------------------------------------------------- the switch


def test_the_header_names_the_mode_and_test_data_carries_a_banner(staff_client, rows):
    page = staff_client.get(reverse("admin:index")).content.decode()
    assert "Viewing test data" in page and "Switch to live data" in page
    assert BANNER in page and "Test data" in page

    response = switch(staff_client, "live", admin_url(rows["live"]["customer"], "changelist"))
    assert response.status_code == 302 and response["Location"] == admin_url(rows["live"]["customer"], "changelist")
    page = staff_client.get(response["Location"]).content.decode()
    assert "Viewing live data" in page and "Switch to test data" in page
    assert BANNER not in page


def test_every_admin_page_in_test_mode_has_the_banner(staff_client, rows):
    customer = rows["test"]["customer"]
    for url in (
        reverse("admin:index"),
        admin_url(customer, "changelist"),
        admin_url(customer),
        admin_url(customer, "history"),
        reverse("admin:billing_product_add"),
        reverse("admin:billing_account_fee_report"),
        reverse("admin:password_change"),
        admin_url(rows["test"]["webhookendpoint"]),
        admin_url(rows["test"]["portalconfiguration"]),
    ):
        assert BANNER in staff_client.get(url).content.decode(), url
    popup = staff_client.get(admin_url(customer, "changelist"), {"_popup": "1", "_to_field": "id"})
    assert BANNER in popup.content.decode()


def test_the_switch_is_a_csrf_protected_post_for_staff_only(merchant, rows):
    user = staff_user_add(account=merchant, email="staff@alpha.example")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    page = browser.get(reverse("admin:index"))
    assert browser.post(SWITCH, {"mode": "live"}).status_code == 403
    token = page.context["csrf_token"]
    assert browser.post(SWITCH, {"mode": "live", "csrfmiddlewaretoken": str(token)}).status_code == 302
    assert 'name="csrfmiddlewaretoken"' in browser.get(reverse("admin:index")).content.decode()
    assert "Viewing live data" in browser.get(reverse("admin:index")).content.decode()
    assert browser.get(SWITCH).status_code == 405

    anonymous = Client()
    response = anonymous.post(SWITCH, {"mode": "live"})
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]


def test_the_switch_goes_back_only_to_this_site(staff_client, rows):
    assert switch(staff_client, "live", "https://evil.example/admin/")["Location"] == reverse("admin:index")
    assert switch(staff_client, "test", "//evil.example/")["Location"] == reverse("admin:index")


def test_live_data_on_the_starter_plan_says_how_to_get_it(client, db):
    user = staff_user_add(account=AccountFactory(plan=Account.Plan.STARTER), email="ops@starter.example")
    client.force_login(user)
    response = client.post(SWITCH, {"mode": "live", "next": "/admin/"}, follow=True)
    assert any("needs the Billing plan" in message for message in messages_of(response))


def test_the_switch_speaks_german(staff_client, rows):
    page = staff_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Testdaten" in page and "Zu Live-Daten wechseln" in page


# ---------------------------------------------------------------------------------------------- other mode refused


@pytest.mark.parametrize("model_name", MODELS)
@pytest.mark.parametrize("view", ["change", "history"])
def test_a_row_of_the_other_mode_is_not_opened(staff_client, rows, model_name, view):
    live_row = rows["live"][model_name]
    response = staff_client.get(admin_url(live_row, view), follow=True)
    assert response.redirect_chain and response.redirect_chain[-1][0] == admin_url(live_row, "changelist")
    assert any("is live data, and you are viewing test data" in m for m in messages_of(response))
    assert response.context["cl"].result_list.filter(pk=live_row.pk).count() == 0

    switch(staff_client, "live")
    assert staff_client.get(admin_url(live_row)).status_code == 200
    response = staff_client.get(admin_url(rows["test"][model_name]), follow=True)
    assert any("is test data, and you are viewing live data" in m for m in messages_of(response))


def test_a_row_of_the_other_mode_cannot_be_deleted(staff_client, rows):
    live_endpoint = rows["live"]["webhookendpoint"]
    response = staff_client.post(admin_url(live_endpoint, "delete"), {"post": "yes"}, follow=True)
    assert any("is live data" in m for m in messages_of(response))
    assert WebhookEndpoint.objects.filter(pk=live_endpoint.pk).exists()
    test_endpoint = rows["test"]["webhookendpoint"]
    staff_client.post(admin_url(test_endpoint, "delete"), {"post": "yes"})
    assert not WebhookEndpoint.objects.filter(pk=test_endpoint.pk).exists()


def test_another_accounts_row_still_does_not_exist(staff_client, rows):
    other = CustomerFactory(account=AccountFactory(name="Beta"), livemode=True, email="secret@beta.example")
    response = staff_client.get(admin_url(other), follow=True)
    page = response.content.decode()
    assert "doesn’t exist" in page and "live data, and you are viewing" not in page
    assert other.email not in page


def test_posting_to_a_row_of_the_other_mode_changes_nothing(staff_client, rows):
    live = rows["live"]["customer"]
    response = staff_client.post(admin_url(live), {"name": "Changed"})
    assert response.status_code == 302
    live.refresh_from_db()
    assert live.name != "Changed"


# ---------------------------------------------------------------------------------------------- choices


def test_choices_and_autocomplete_offer_only_the_chosen_mode(staff_client, rows):
    form = staff_client.get(reverse("admin:billing_promotioncode_add")).context["adminform"].form
    assert list(form.fields["customer"].queryset) == [rows["test"]["customer"]]
    autocomplete = reverse("admin:autocomplete")
    params = {"app_label": "billing", "model_name": "price", "field_name": "product", "term": "Plan"}
    assert [r["id"] for r in staff_client.get(autocomplete, params).json()["results"]] == [rows["test"]["product"].pk]
    switch(staff_client, "live")
    assert [r["id"] for r in staff_client.get(autocomplete, params).json()["results"]] == [rows["live"]["product"].pk]
    params = {"app_label": "configurations", "model_name": "portalconfigurationproduct", "field_name": "prices"}
    found = staff_client.get(autocomplete, {**params, "term": ""}).json()["results"]
    assert [r["id"] for r in found] == [rows["live"]["price"].pk]


def test_a_raw_id_of_the_other_mode_is_refused(staff_client, rows):
    live_customer = rows["live"]["customer"]
    add = reverse("admin:billing_taxid_add")
    response = staff_client.post(add, {"customer": live_customer.pk, "type": "eu_vat", "value": "DE999"})
    assert response.status_code == 200
    assert "customer" in response.context["adminform"].form.errors
    assert live_customer.email not in response.content.decode()


# ---------------------------------------------------------------------------------------------- new rows


def test_new_rows_are_created_in_the_chosen_mode(staff_client, rows, merchant):
    add = reverse("admin:billing_customer_add")
    form = staff_client.get(add)
    assert form.context["adminform"].form.fields["livemode"].disabled
    # A ticked box cannot make a test-mode user create live data.
    staff_client.post(add, post_data(form, email="new-test@alpha.example", livemode="on"))
    assert not Customer.objects.get(email="new-test@alpha.example").livemode

    switch(staff_client, "live")
    form = staff_client.get(add)
    assert form.context["adminform"].form.initial["livemode"] is True
    response = staff_client.post(add, post_data(form, email="new-live@alpha.example", livemode=None))
    assert response.status_code == 302
    assert Customer.objects.get(email="new-live@alpha.example").livemode

    add = reverse("admin:billing_product_add")
    staff_client.post(add, post_data(staff_client.get(add), name="Live Gold"))
    assert Product.objects.get(name="Live Gold").livemode

    add = reverse("admin:configurations_portalconfiguration_add")
    response = staff_client.post(add, post_data(staff_client.get(add), name="Live members"))
    assert response.status_code == 302
    assert PortalConfiguration.objects.get(name="Live members").livemode

    add = reverse("admin:webhooks_webhookendpoint_add")
    with ssrf.using_resolver(lambda host, port: ["93.184.216.34"]):
        data = post_data(staff_client.get(add), url="https://hooks.alpha.example/new", enabled_events=["*"])
        response = staff_client.post(add, data)
    assert response.status_code == 302
    assert WebhookEndpoint.objects.get(url="https://hooks.alpha.example/new").livemode
