"""The billing admin: every model scoped to the staff user's accounts, writes through services, test data marked."""

import pytest
from csp.constants import NONCE
from django import forms
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from billing.models import (
    Account,
    ApiKey,
    AuditEntry,
    Coupon,
    Customer,
    Event,
    Invoice,
    Membership,
    Price,
    Product,
    PromotionCode,
    Subscription,
    TaxId,
    TaxRate,
)
from billing.money import format_amount
from billing.services.accounts import staff_user_add
from billing.services.common import render
from billing.services.invoices import LineSpec, invoice_create_draft
from tests.factories.admin import populated_account
from tests.factories.billing import AccountFactory, CustomerFactory, PriceFactory

BILLING_MODELS = sorted(model._meta.model_name for model in admin.site._registry if model._meta.app_label == "billing")
# The "Merchant staff" group deliberately lacks these (billing/services/accounts.py::staff_group).
OPERATOR_ONLY = {"account", "membership", "apikey"}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tenants(db):
    return populated_account("Alpha", staff_email="staff@alpha.example"), populated_account(
        "Beta", staff_email="staff@beta.example"
    )


@pytest.fixture
def staff_client(client, tenants):
    """A member of Alpha only, with the Merchant staff group (and a password, as a real login would)."""
    user = tenants[0].staff
    user.set_password("correct horse battery staple")
    user.save()
    client.force_login(user)
    return client


@pytest.fixture
def account_admin_client(client, tenants):
    """Alpha's staff user, also allowed to view Alpha's account, memberships and API keys."""
    user = tenants[0].staff
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="billing", codename__in=[f"view_{m}" for m in OPERATOR_ONLY])
    )
    client.force_login(user)
    return client


def changelist(model_name: str) -> str:
    return reverse(f"admin:billing_{model_name}_changelist")


def change_url(obj) -> str:
    return reverse(f"admin:billing_{obj._meta.model_name}_change", args=[quote(obj.pk)])


def account_of(row) -> str:
    return row.pk if isinstance(row, Account) else row.account_id


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def post_data(response, **overrides) -> dict:
    """The POST a browser would send for the admin form in ``response``, with ``overrides`` applied."""
    data = {}
    all_forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({management.add_prefix(name): management[name].value() for name in management.fields})
        all_forms.extend(inline.formset.forms)
    for form in all_forms:
        for name, field in form.fields.items():
            value = form[name].value()
            if isinstance(field, forms.BooleanField):
                if value:
                    data[form.add_prefix(name)] = "on"
            elif value is not None and not isinstance(field.widget, forms.MultiWidget):
                data[form.add_prefix(name)] = value
    for name, value in overrides.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


# ---------------------------------------------------------------------------------------------- scoping


def test_every_billing_model_is_registered():
    assert set(BILLING_MODELS) == {
        "account",
        "apikey",
        "auditentry",
        "charge",
        "coupon",
        "customer",
        "discount",
        "event",
        "invoice",
        "invoiceitem",
        "invoicelineitem",
        "membership",
        "paymentmethod",
        "price",
        "processoraccount",
        "product",
        "promotioncode",
        "refund",
        "subscription",
        "subscriptionitem",
        "taxid",
        "taxrate",
        "testclock",
    }


@pytest.mark.parametrize("model_name", BILLING_MODELS)
def test_changelist_shows_own_rows_and_none_of_another_account(account_admin_client, tenants, model_name):
    alpha, beta = tenants
    response = account_admin_client.get(changelist(model_name))
    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert shown and {account_of(row) for row in shown} == {alpha.account.pk}
    assert alpha.rows[model_name] in shown
    html = response.content.decode()
    assert change_url(alpha.rows[model_name]) in html
    assert change_url(beta.rows[model_name]) not in html


@pytest.mark.parametrize("model_name", BILLING_MODELS)
def test_change_url_of_another_accounts_row_says_it_does_not_exist(account_admin_client, tenants, model_name):
    beta_row = tenants[1].rows[model_name]
    response = account_admin_client.get(change_url(beta_row))
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
    assert "doesn’t exist" in account_admin_client.get(response["Location"]).content.decode()


def test_history_and_delete_of_another_accounts_row_are_unreachable(account_admin_client, tenants):
    beta_customer = tenants[1].customer
    for view in ("history", "delete"):
        url = reverse(f"admin:billing_customer_{view}", args=[quote(beta_customer.pk)])
        response = account_admin_client.get(url)
        assert response.status_code in (302, 403, 404)
        assert beta_customer.email not in account_admin_client.get(url, follow=True).content.decode()


def test_superuser_sees_every_account(admin_client, tenants):
    for model_name in BILLING_MODELS:
        response = admin_client.get(changelist(model_name))
        assert response.status_code == 200, model_name
        accounts = {account_of(row) for row in response.context["cl"].result_list}
        assert {t.account.pk for t in tenants} <= accounts, model_name
    page = admin_client.get(changelist("customer")).content.decode()
    assert "Alpha" in page and "Beta" in page  # the account column appears for several accounts


def test_autocomplete_finds_nothing_of_another_account(staff_client, tenants):
    alpha, beta = tenants
    url = reverse("admin:autocomplete")
    params = {"app_label": "billing", "model_name": "promotioncode", "field_name": "customer"}
    found = staff_client.get(url, {**params, "term": beta.customer.email})
    assert found.status_code == 200 and found.json()["results"] == []
    found = staff_client.get(url, {**params, "term": "payer@"})
    assert [result["id"] for result in found.json()["results"]] == [alpha.customer.pk]
    products = staff_client.get(
        url, {"app_label": "billing", "model_name": "price", "field_name": "product", "term": "Plan"}
    ).json()["results"]
    assert [result["id"] for result in products] == [alpha.rows["product"].pk]


def test_raw_id_popup_lists_only_own_rows(staff_client, tenants):
    alpha, beta = tenants
    response = staff_client.get(changelist("customer"), {"_to_field": "id", "_popup": "1"})
    assert response.status_code == 200
    assert {c.account_id for c in response.context["cl"].result_list} == {alpha.account.pk}
    html = response.content.decode()
    assert alpha.customer.email in html and beta.customer.email not in html


def test_raw_id_field_does_not_label_another_accounts_id(staff_client, tenants):
    beta_customer = tenants[1].customer
    add = reverse("admin:billing_taxid_add")
    response = staff_client.post(add, {"customer": beta_customer.pk, "type": "eu_vat", "value": "DE999"})
    assert response.status_code == 200
    assert "customer" in response.context["adminform"].form.errors
    assert beta_customer.email not in response.content.decode()
    assert not TaxId.objects.filter(value="DE999").exists()


@pytest.mark.parametrize(
    ("model_name", "field_name"),
    [
        ("customer", "account"),
        ("product", "account"),
        ("taxrate", "account"),
        ("coupon", "account"),
        ("price", "product"),
        ("promotioncode", "coupon"),
        ("promotioncode", "customer"),
        ("taxid", "customer"),
    ],
)
def test_add_form_choices_hold_only_own_rows(staff_client, tenants, model_name, field_name):
    alpha, beta = tenants
    response = staff_client.get(reverse(f"admin:billing_{model_name}_add"))
    assert response.status_code == 200
    choices = response.context["adminform"].form.fields[field_name].queryset
    assert choices.exists()
    assert {account_of(row) for row in choices} == {alpha.account.pk}
    if field_name == "account":
        assert response.context["adminform"].form.initial["account"] == alpha.account.pk


def test_posting_another_accounts_row_is_refused(staff_client, tenants):
    beta = tenants[1]
    add = reverse("admin:billing_price_add")
    form = staff_client.get(add)
    data = post_data(form, product=beta.rows["product"].pk, currency="eur", unit_amount="500")
    response = staff_client.post(add, data)
    assert response.status_code == 200
    assert "product" in response.context["adminform"].form.errors
    assert not Price.objects.filter(unit_amount=500).exists()


def test_rows_of_two_accounts_cannot_be_mixed(client, tenants):
    """A member of two accounts still cannot point Alpha's promotion code at Beta's customer."""
    alpha, beta = tenants
    user = alpha.staff
    staff_user_add(account=beta.account, email=user.email)
    client.force_login(user)
    add = reverse("admin:billing_promotioncode_add")
    data = post_data(client.get(add), coupon=alpha.rows["coupon"].pk, customer=beta.customer.pk, code="MIXED")
    response = client.post(add, data)
    assert response.status_code == 200
    assert "customer" in response.context["adminform"].form.errors
    assert not PromotionCode.objects.filter(code="MIXED").exists()


# ---------------------------------------------------------------------------------------------- no 500s


@pytest.mark.parametrize("model_name", BILLING_MODELS)
def test_merchant_staff_pages_render(staff_client, tenants, model_name):
    # Staff view their account, members and redacted keys; only the operator changes them.
    assert staff_client.get(changelist(model_name)).status_code == 200
    assert staff_client.get(change_url(tenants[0].rows[model_name])).status_code == 200
    addable = model_name in {
        "customer",
        "taxid",
        "product",
        "price",
        "taxrate",
        "coupon",
        "promotioncode",
        "processoraccount",
    }
    assert staff_client.get(reverse(f"admin:billing_{model_name}_add")).status_code == (200 if addable else 403)
    assert staff_client.get(reverse("admin:index")).status_code == 200


def test_financial_records_are_read_only(staff_client, tenants):
    alpha = tenants[0]
    for model_name in (
        "invoice",
        "invoicelineitem",
        "charge",
        "refund",
        "event",
        "auditentry",
        "subscription",
        "discount",
    ):
        assert staff_client.get(reverse(f"admin:billing_{model_name}_add")).status_code == 403, model_name
        row = alpha.rows[model_name]
        assert staff_client.post(change_url(row), {}).status_code == 403, model_name
        delete = reverse(f"admin:billing_{model_name}_delete", args=[quote(row.pk)])
        assert staff_client.post(delete, {"post": "yes"}).status_code == 403, model_name
    assert AuditEntry.objects.filter(pk=alpha.rows["auditentry"].pk).exists()


# ---------------------------------------------------------------------------------------------- test data marked


def test_test_rows_carry_a_badge_and_the_mode_switch_shows_live_rows(staff_client, tenants):
    alpha = tenants[0]
    live = CustomerFactory(account=alpha.account, livemode=True, email="live@alpha.example")
    only_test = staff_client.get(changelist("customer"))
    assert 'class="billing-mode billing-mode-test"' in only_test.content.decode()
    assert live not in only_test.context["cl"].result_list
    detail = staff_client.get(change_url(alpha.customer)).content.decode()
    assert '<p class="billing-mode-banner">' in detail
    staff_client.post(reverse("admin:billing_admin_mode"), {"mode": "live"})
    only_live = staff_client.get(changelist("customer"))
    assert list(only_live.context["cl"].result_list) == [live]
    assert 'class="billing-mode billing-mode-live"' in only_live.content.decode()
    assert '<p class="billing-mode-banner">' not in staff_client.get(change_url(live)).content.decode()


def test_live_mode_needs_the_billing_plan(client, db):
    account = AccountFactory(plan=Account.Plan.STARTER)
    user = staff_user_add(account=account, email="ops@starter.example")
    client.force_login(user)
    client.post(reverse("admin:billing_admin_mode"), {"mode": "live"})
    add = reverse("admin:billing_customer_add")
    response = client.post(add, post_data(client.get(add), livemode="on", email="x@starter.example"))
    assert response.status_code == 200
    assert "livemode" in response.context["adminform"].form.errors
    assert not Customer.objects.filter(email="x@starter.example").exists()


# ---------------------------------------------------------------------------------------------- writes via services


def test_adding_a_customer_goes_through_the_service(staff_client, tenants):
    alpha = tenants[0]
    add = reverse("admin:billing_customer_add")
    data = post_data(
        staff_client.get(add),
        email="new@alpha.example",
        name="New Customer",
        metadata='{"crm": "42"}',
        **{"tax_ids-TOTAL_FORMS": "1", "tax_ids-0-type": "eu_vat", "tax_ids-0-value": "de 123 456 789"},
    )
    response = staff_client.post(add, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    customer = Customer.objects.get(email="new@alpha.example")
    assert customer.account == alpha.account and customer.metadata == {"crm": "42"}
    # Checked and normalised by tax_id_create, which also names the country.
    assert customer.tax_ids.values_list("value", "country").get() == ("DE123456789", "DE")
    assert Event.objects.filter(type="customer.tax_id.created", data_object__customer=customer.pk).exists()
    assert AuditEntry.objects.filter(action="customer.create", object_id=customer.pk, actor_type="staff").exists()
    assert Event.objects.filter(type="customer.created", data_object__id=customer.pk).exists()


def test_changing_a_customer_goes_through_the_service(staff_client, tenants):
    customer = tenants[0].customer
    customer.metadata = {"keep": "1", "drop": "2"}
    customer.save()
    form = staff_client.get(change_url(customer))
    data = post_data(form, name="Renamed", metadata='{"keep": "1"}')
    response = staff_client.post(change_url(customer), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    customer.refresh_from_db()
    assert customer.name == "Renamed" and customer.metadata == {"keep": "1"}
    entry = AuditEntry.objects.get(action="customer.update", object_id=customer.pk)
    assert entry.actor_type == "staff" and entry.actor_label == tenants[0].staff.username
    assert Event.objects.filter(type="customer.updated", data_object__id=customer.pk).exists()


def test_a_service_error_is_shown_on_the_form(staff_client, tenants):
    add = reverse("admin:billing_customer_add")
    data = post_data(staff_client.get(add), email="bad@alpha.example", address='{"planet": "Mars"}')
    response = staff_client.post(add, data)
    assert response.status_code == 200
    assert "Received unknown parameter: address[planet]" in str(response.context["adminform"].form.errors["address"])
    assert not Customer.objects.filter(email="bad@alpha.example").exists()


@pytest.mark.parametrize(
    ("model", "fields", "action"),
    [
        (Product, {"name": "Gold"}, "product.create"),
        (Price, {"unit_amount": "25.00", "currency": "eur", "recurring_interval": "month"}, "price.create"),
        (TaxRate, {"display_name": "MwSt", "percentage": "7"}, "tax_rate.create"),
        (Coupon, {"coupon_id": "HALF", "percent_off": "50", "duration": "once"}, "coupon.create"),
        (PromotionCode, {"code": "SPRING"}, "promotion_code.create"),
    ],
)
def test_adding_catalogue_rows_goes_through_the_services(staff_client, tenants, model, fields, action):
    alpha = tenants[0]
    parents = {"product": alpha.rows["product"].pk, "coupon": alpha.rows["coupon"].pk}
    add = reverse(f"admin:billing_{model._meta.model_name}_add")
    form = staff_client.get(add)
    extra = {name: value for name, value in parents.items() if name in form.context["adminform"].form.fields}
    response = staff_client.post(add, post_data(form, **extra, **fields))
    assert response.status_code == 302, response.context["adminform"].form.errors
    entry = AuditEntry.objects.filter(action=action, actor_type="staff").get()
    created = model.objects.get(pk=entry.object_id)
    assert created.account == alpha.account and not created.livemode
    assert response["Location"] in (changelist(model._meta.model_name), change_url(created))


def test_price_amounts_are_fixed_after_creation(staff_client, tenants):
    price = tenants[0].rows["price"]
    form = staff_client.get(change_url(price))
    assert "unit_amount" not in form.context["adminform"].form.fields
    response = staff_client.post(change_url(price), post_data(form, nickname="Monthly", unit_amount="1"))
    assert response.status_code == 302
    price.refresh_from_db()
    assert price.nickname == "Monthly" and price.unit_amount == 1000
    assert Event.objects.filter(type="price.updated", previous_attributes__nickname=None).exists()
    assert AuditEntry.objects.filter(action="price.update", actor_type="staff", object_id=price.pk).exists()


def test_a_duplicate_active_promotion_code_is_a_form_error(staff_client, tenants):
    alpha = tenants[0]
    existing = alpha.rows["promotioncode"]
    existing.active = False
    existing.save()
    PromotionCode.objects.create(
        account=alpha.account, livemode=False, coupon=alpha.rows["coupon"], code=existing.code, active=True
    )
    form = staff_client.get(change_url(existing))
    response = staff_client.post(change_url(existing), post_data(form, active="on"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "An active promotion code with this code already exists." in str(errors["active"])
    existing.refresh_from_db()
    assert not existing.active


# ---------------------------------------------------------------------------------------------- actions


def run_action(client, model_name, action, *objs):
    return client.post(
        changelist(model_name),
        {"action": action, "_selected_action": [obj.pk for obj in objs], "index": "0"},
        follow=True,
    )


def test_void_an_open_invoice(staff_client, tenants):
    alpha = tenants[0]
    invoice = alpha.open_invoice
    assert invoice.status == Invoice.Status.OPEN
    response = run_action(staff_client, "invoice", "void", invoice)
    assert response.status_code == 200
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.VOID
    entry = AuditEntry.objects.get(action="invoice.void", object_id=invoice.pk)
    assert entry.actor_type == "staff" and entry.actor_id == str(alpha.staff.pk)
    assert any("Voided 1 invoice" in message for message in messages_of(response))


def test_an_action_in_the_wrong_state_shows_the_services_message(staff_client, tenants):
    paid = tenants[0].rows["invoice"]
    assert paid.status == Invoice.Status.PAID
    response = run_action(staff_client, "invoice", "void", paid)
    assert response.status_code == 200
    assert any("You can only void an invoice with status open" in message for message in messages_of(response))
    paid.refresh_from_db()
    assert paid.status == Invoice.Status.PAID


def test_an_action_cannot_reach_another_accounts_rows(staff_client, tenants):
    beta_invoice = tenants[1].open_invoice
    run_action(staff_client, "invoice", "void", beta_invoice)
    beta_invoice.refresh_from_db()
    assert beta_invoice.status == Invoice.Status.OPEN


def test_finalize_and_mark_uncollectible(staff_client, tenants):
    alpha = tenants[0]
    customer = alpha.customer
    price = alpha.rows["price"]
    draft = invoice_create_draft(
        customer=customer,
        subscription=None,
        currency="eur",
        billing_reason=Invoice.BillingReason.MANUAL,
        period_start=price.created,
        period_end=price.created,
        lines=[LineSpec(description="Setup", amount=5000, period_start=price.created, period_end=price.created)],
        collection_method="send_invoice",
    )
    run_action(staff_client, "invoice", "finalize", draft)
    draft.refresh_from_db()
    assert draft.status == Invoice.Status.OPEN and draft.number.startswith(alpha.account.invoice_prefix)
    run_action(staff_client, "invoice", "mark_uncollectible", draft)
    draft.refresh_from_db()
    assert draft.status == Invoice.Status.UNCOLLECTIBLE
    assert AuditEntry.objects.filter(object_id=draft.pk, actor_type="staff").count() == 2


def test_subscription_actions(staff_client, tenants):
    subscription = tenants[0].paid_subscription
    run_action(staff_client, "subscription", "cancel_at_period_end", subscription)
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end and subscription.status == Subscription.Status.ACTIVE
    run_action(staff_client, "subscription", "undo_cancellation", subscription)
    subscription.refresh_from_db()
    assert not subscription.cancel_at_period_end
    response = run_action(staff_client, "subscription", "resume_collection", subscription)
    assert any("was not paused" in message for message in messages_of(response))
    run_action(staff_client, "subscription", "cancel_now", subscription)
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.CANCELED
    response = run_action(staff_client, "subscription", "cancel_now", subscription)
    assert response.status_code == 200
    assert any("already canceled" in message for message in messages_of(response))
    assert AuditEntry.objects.filter(object_id=subscription.pk, actor_type="staff").count() == 3


def test_resume_payment_collection(staff_client, tenants):
    subscription = tenants[0].paid_subscription
    Subscription.objects.filter(pk=subscription.pk).update(pause_collection_behavior="void")
    run_action(staff_client, "subscription", "resume_collection", subscription)
    subscription.refresh_from_db()
    assert not subscription.collection_paused
    assert AuditEntry.objects.filter(action="subscription.resume_collection", actor_type="staff").exists()


# ---------------------------------------------------------------------------------------------- detail pages


def test_invoice_page_formats_money_and_links_the_hosted_page(staff_client, tenants):
    invoice = tenants[0].rows["invoice"]
    page = staff_client.get(change_url(invoice)).content.decode()
    assert f"/i/{invoice.hosted_token}/" in page
    assert tenants[0].rows["invoicelineitem"].description in page
    total = format_amount(invoice.total, invoice.currency)
    assert total.startswith("€") and total in staff_client.get(changelist("invoice")).content.decode()


def test_event_data_is_pretty_json(staff_client, tenants):
    event = tenants[0].rows["event"]
    page = staff_client.get(change_url(event)).content.decode()
    assert "<pre>{\n  &quot;" in page
    assert f"&quot;id&quot;: &quot;{event.data_object['id']}&quot;" in page


def test_payment_methods_show_brand_last4_and_expiry_only(staff_client, tenants):
    payment_method = tenants[0].rows["paymentmethod"]
    page = staff_client.get(change_url(payment_method)).content.decode()
    assert "4242" in page and "12/2035" in page
    assert "4242424242424242" not in page
    assert payment_method.gateway_reference not in page


def test_api_keys_show_the_redacted_form_never_the_hash(admin_client, tenants):
    key = tenants[0].rows["apikey"]
    for url in (change_url(key), change_url(tenants[0].account), changelist("apikey")):
        page = admin_client.get(url).content.decode()
        assert key.redacted in page and key.key_hash not in page
    assert admin_client.get(reverse("admin:billing_apikey_add")).status_code == 403


def test_creating_a_key_shows_the_secret_once(admin_client, tenants):
    account = tenants[0].account
    before = ApiKey.objects.filter(account=account).count()
    response = run_action(admin_client, "account", "create_test_key", account)
    [message] = [m for m in messages_of(response) if "sk_test_" in m]
    secret = message.split(": ")[-1]
    # The account by its name, without its id beside it.
    assert message == f"New secret key for Alpha, shown only this once: {secret}"
    key = ApiKey.objects.get(key_hash=ApiKey.hash(secret))
    assert key.account == account and not key.livemode
    assert ApiKey.objects.filter(account=account).count() == before + 1
    assert secret not in admin_client.get(changelist("apikey")).content.decode()


def test_adding_an_account_prints_its_keys_once(admin_client, db):
    add = reverse("admin:billing_account_add")
    response = admin_client.post(add, {"name": "Gamma", "plan": "billing"}, follow=True)
    account = Account.objects.get(name="Gamma")
    secrets = [m.split(": ")[-1] for m in messages_of(response) if "sk_" in m]
    assert sorted(s[:8] for s in secrets) == ["sk_live_", "sk_test_"]
    assert {k.key_hash for k in account.api_keys.all()} == {ApiKey.hash(s) for s in secrets}


def test_adding_a_membership_uses_staff_user_add(admin_client, tenants):
    alpha = tenants[0]
    add = reverse("admin:billing_membership_add")
    response = admin_client.post(add, {"account": alpha.account.pk, "email": "new.staff@alpha.example"})
    assert response.status_code == 302
    membership = Membership.objects.get(account=alpha.account, user__email="new.staff@alpha.example")
    assert membership.user.is_staff and membership.user.groups.filter(name="Merchant staff").exists()


def test_the_plan_is_fixed_for_non_superusers(account_admin_client, tenants):
    form = account_admin_client.get(change_url(tenants[0].account))
    assert form.status_code == 200
    assert "plan" not in form.context["adminform"].form.fields


# ---------------------------------------------------------------------------------------------- language


def test_admin_speaks_german(staff_client, tenants):
    index = staff_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="de")
    assert "Abmelden" in index.content.decode()
    page = staff_client.get(changelist("customer"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "auswählen" in page.lower()


def test_the_badge_style_carries_the_csp_nonce(staff_client, tenants, settings):
    """With the nonce sentinel django-csp expects, the admin's badge styles pass the page's CSP."""
    directives = dict(settings.CONTENT_SECURITY_POLICY["DIRECTIVES"])
    directives["style-src"] = ["'self'", NONCE]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": directives}
    response = staff_client.get(changelist("customer"))
    nonce = response.content.decode().split('<style nonce="')[1].split('"')[0]
    assert nonce and f"'nonce-{nonce}'" in response["Content-Security-Policy"]


def test_a_coupon_needs_exactly_one_discount(staff_client, tenants):
    add = reverse("admin:billing_coupon_add")
    data = post_data(staff_client.get(add), coupon_id="BOTH", percent_off="10", amount_off="100", currency="eur")
    response = staff_client.post(add, data)
    assert response.status_code == 200
    assert "either a percentage or an amount" in str(response.context["adminform"].form.errors["percent_off"])
    assert not Coupon.objects.filter(coupon_id="BOTH").exists()


def test_tax_ids_edited_inline_are_audited(staff_client, tenants):
    customer = tenants[0].customer
    tax_id = customer.tax_ids.get()
    form = staff_client.get(change_url(customer))
    response = staff_client.post(change_url(customer), post_data(form, **{"tax_ids-0-DELETE": "on"}))
    assert response.status_code == 302
    assert not customer.tax_ids.exists()
    assert AuditEntry.objects.filter(action="tax_id.delete", object_id=tax_id.pk, actor_type="staff").exists()


@pytest.mark.parametrize(
    ("row", "changes", "event", "previous"),
    [
        ("product", {"name": "Platinum", "active": None}, "product.updated", {"name", "active"}),
        ("price", {"lookup_key": "monthly", "metadata": '{"tier": "1"}'}, "price.updated", {"lookup_key", "metadata"}),
        ("taxrate", {"display_name": "MwSt", "country": "DE"}, "tax_rate.updated", {"display_name", "country"}),
        ("coupon", {"name": "Ten off"}, "coupon.updated", {"name"}),
        ("promotioncode", {"active": None}, "promotion_code.updated", {"active"}),
    ],
)
def test_changing_catalogue_rows_goes_through_the_update_services(staff_client, tenants, row, changes, event, previous):
    obj = tenants[0].rows[row]
    form = staff_client.get(change_url(obj))
    response = staff_client.post(change_url(obj), post_data(form, **changes))
    assert response.status_code == 302, response.context["adminform"].form.errors
    updated = Event.objects.get(type=event, data_object__id=render(obj)["id"])
    assert previous <= set(updated.previous_attributes) <= previous | {"updated"}
    action = event.replace(".updated", ".update")
    assert AuditEntry.objects.filter(action=action, object_id=obj.pk, actor_type="staff").exists()


def test_removing_metadata_keys_in_the_admin_removes_them(staff_client, tenants):
    product = tenants[0].rows["product"]
    product.metadata = {"keep": "1", "drop": "2"}
    product.save()
    form = staff_client.get(change_url(product))
    response = staff_client.post(change_url(product), post_data(form, metadata='{"keep": "1", "new": 3}'))
    assert response.status_code == 302, response.context["adminform"].form.errors
    product.refresh_from_db()
    assert product.metadata == {"keep": "1", "new": "3"}


def test_a_catalogue_rule_broken_in_the_admin_is_the_services_message(staff_client, tenants):
    alpha = tenants[0]
    price = alpha.rows["price"]
    other = PriceFactory(account=alpha.account, product=price.product, lookup_key="taken")
    form = staff_client.get(change_url(price))
    response = staff_client.post(change_url(price), post_data(form, lookup_key="taken"))
    assert response.status_code == 200
    assert f"A price ({other.id}) already uses that lookup key" in str(
        response.context["adminform"].form.errors["lookup_key"]
    )
    price.refresh_from_db()
    assert price.lookup_key != "taken"


def test_saved_tax_ids_are_fixed_and_new_ones_are_checked(staff_client, tenants):
    customer = tenants[0].customer
    saved = customer.tax_ids.get()
    form = staff_client.get(change_url(customer))
    invalid = {"tax_ids-TOTAL_FORMS": "2", "tax_ids-1-type": "eu_vat", "tax_ids-1-value": "DE12"}
    response = staff_client.post(change_url(customer), post_data(form, **invalid))
    assert response.status_code == 200
    assert "not a valid VAT number from DE" in str(response.context["adminform"].form.errors)
    assert customer.tax_ids.count() == 1

    valid = {**invalid, "tax_ids-0-value": "DE999999999", "tax_ids-1-value": "ATU12345678"}
    response = staff_client.post(change_url(customer), post_data(form, **valid))
    assert response.status_code == 302, response.context["adminform"].form.errors
    # The saved one ignored the edit; the new one was added with its event.
    assert sorted(customer.tax_ids.values_list("value", flat=True)) == sorted(["ATU12345678", saved.value])
    created = Event.objects.get(type="customer.tax_id.created")
    assert (created.data_object["value"], created.data_object["country"]) == ("ATU12345678", "AT")


def test_deleting_a_tax_id_in_the_admin_emits_its_event(staff_client, tenants):
    tax_id = tenants[0].rows["taxid"]
    response = staff_client.post(
        reverse("admin:billing_taxid_delete", args=[quote(tax_id.pk)]), {"post": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert not TaxId.objects.filter(pk=tax_id.pk).exists()
    assert Event.objects.filter(type="customer.tax_id.deleted", data_object__id=tax_id.pk).exists()
    assert AuditEntry.objects.filter(action="tax_id.delete", object_id=tax_id.pk, actor_type="staff").exists()


def test_adding_a_tax_id_goes_through_the_service(staff_client, tenants):
    customer = tenants[0].customer
    add = reverse("admin:billing_taxid_add")
    response = staff_client.post(add, {"customer": customer.pk, "type": "eu_vat", "value": "FR12345678901"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    tax_id = customer.tax_ids.get(value="FR12345678901")
    assert tax_id.country == "FR" and (tax_id.account_id, tax_id.livemode) == (customer.account_id, False)
    assert Event.objects.filter(type="customer.tax_id.created", data_object__id=tax_id.pk).exists()
    form = staff_client.get(change_url(tax_id)).context["adminform"].form
    assert not any(name in form.fields for name in ("type", "value", "country"))


def test_changing_an_account_goes_through_the_service(admin_client, tenants):
    account = tenants[0].account
    form = admin_client.get(change_url(account))
    response = admin_client.post(change_url(account), post_data(form, name="Alpha GmbH", invoice_prefix="alpha1"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    account.refresh_from_db()
    assert (account.name, account.invoice_prefix) == ("Alpha GmbH", "ALPHA1")
    entry = AuditEntry.objects.get(action="account.update", object_id=account.pk)
    assert entry.changes == {"name": "Alpha GmbH", "invoice_prefix": "ALPHA1"} and entry.actor_type == "staff"

    response = admin_client.post(change_url(account), post_data(form, invoice_prefix="A-1"))
    assert response.status_code == 200
    assert "use 3 to 12 letters (A-Z) and digits" in str(response.context["adminform"].form.errors["invoice_prefix"])
    account.refresh_from_db()
    assert account.invoice_prefix == "ALPHA1"


def test_memberships_are_added_and_removed_through_the_services(admin_client, tenants):
    account = tenants[0].account
    admin_client.post(reverse("admin:billing_membership_add"), {"account": account.pk, "email": "temp@alpha.example"})
    membership = Membership.objects.get(account=account, user__email="temp@alpha.example")
    created = AuditEntry.objects.get(action="membership.create", object_id=str(membership.pk))
    assert created.account_id == account.pk and created.changes == {"user": "temp@alpha.example"}
    response = admin_client.post(
        reverse("admin:billing_membership_delete", args=[membership.pk]), {"post": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert AuditEntry.objects.filter(action="membership.delete", object_id=str(membership.pk)).exists()
