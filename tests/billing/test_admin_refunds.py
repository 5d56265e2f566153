"""Refunding a charge from the admin: the form, the service call with the staff actor, and the audit note."""

from types import SimpleNamespace

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from billing.models import AuditEntry, Charge, Refund
from billing.services.accounts import staff_user_add
from billing.services.refunds import refund_create
from billing.services.subscriptions import ItemSpec, subscription_create
from tests.billing.helpers import ACTOR
from tests.factories.billing import AccountFactory, CustomerFactory, PriceFactory, card


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def paid_charge(account) -> Charge:
    customer = CustomerFactory(account=account, email=f"buyer@{account.pk.lower()}.example")
    card(customer)
    price = PriceFactory(account=account, product__account=account, unit_amount=1999, currency="eur")
    subscription = subscription_create(customer=customer, items=[ItemSpec(price)], actor=ACTOR)
    return Charge.objects.get(invoice=subscription.latest_invoice)


@pytest.fixture
def shop(db):
    account = AccountFactory(name="Alpha")
    staff = staff_user_add(account=account, email="staff@alpha.example")
    return SimpleNamespace(account=account, staff=staff, charge=paid_charge(account))


@pytest.fixture
def staff_client(client, shop):
    client.force_login(shop.staff)
    return client


def test_the_change_page_links_to_the_refund_form_which_defaults_to_the_rest(staff_client, shop):
    page = staff_client.get(reverse("admin:billing_charge_change", args=[shop.charge.pk]))
    url = reverse("admin:billing_charge_refund", args=[shop.charge.pk])
    assert page.status_code == 200 and url in page.content.decode()
    form = staff_client.get(url)
    assert form.status_code == 200
    assert str(form.context["form"]["amount"].value()) == "19.99"
    assert "€19.99" in form.content.decode()


def test_refund_with_a_note_from_the_change_page(staff_client, shop):
    url = reverse("admin:billing_charge_refund", args=[shop.charge.pk])
    missing_note = staff_client.post(url, {"apply": "1", "amount": "5.00", "reason": "duplicate", "note": ""})
    assert missing_note.status_code == 200 and missing_note.context["form"].errors["note"]
    too_much = staff_client.post(url, {"apply": "1", "amount": "20.00", "note": "x"})
    assert too_much.status_code == 200 and too_much.context["form"].errors["amount"]
    assert not Refund.objects.exists()

    done = staff_client.post(url, {"apply": "1", "amount": "5.00", "reason": "duplicate", "note": "Charged twice"})
    assert done.status_code == 302 and done["Location"] == reverse("admin:billing_charge_change", args=[shop.charge.pk])
    refund = Refund.objects.get()
    assert (refund.amount, refund.reason, refund.status) == (500, "duplicate", "succeeded")
    entry = AuditEntry.objects.get(action="refund.create")
    assert entry.actor_type == "staff" and entry.actor_label == "staff@alpha.example"
    assert entry.changes["note"] == "Charged twice" and entry.changes["amount"] == 500
    shop.charge.refresh_from_db()
    assert shop.charge.amount_refunded == 500
    page = staff_client.get(reverse("admin:billing_charge_change", args=[shop.charge.pk]))
    assert reverse("admin:billing_refund_change", args=[refund.pk]) in page.content.decode()
    assert staff_client.get(reverse("admin:billing_refund_change", args=[refund.pk])).status_code == 200


def test_refund_action_on_the_changelist(staff_client, shop):
    changelist = reverse("admin:billing_charge_changelist")
    selected = {"action": "refund", "_selected_action": [shop.charge.pk]}
    form = staff_client.post(changelist, selected)
    assert form.status_code == 200 and "admin/billing/charge/refund.html" in [t.name for t in form.templates]
    done = staff_client.post(
        changelist, {**selected, "apply": "1", "amount": "19.99", "reason": "", "note": "Goodwill"}
    )
    assert done.status_code == 302
    assert Refund.objects.get().amount == 1999
    assert any("re_" in str(message) for message in get_messages(done.wsgi_request))


def test_another_merchants_charges_and_refunds_stay_hidden(staff_client, shop):
    other = AccountFactory(name="Beta")
    foreign = paid_charge(other)
    foreign_refund = refund_create(charge=foreign, amount=100, actor=ACTOR)
    response = staff_client.post(
        reverse("admin:billing_charge_refund", args=[foreign.pk]), {"apply": "1", "amount": "1.00", "note": "x"}
    )
    assert response.status_code == 302 and response["Location"] != reverse(
        "admin:billing_charge_change", args=[foreign.pk]
    )
    assert Refund.objects.filter(charge=foreign).count() == 1
    listed = staff_client.get(reverse("admin:billing_refund_changelist"))
    assert foreign_refund.pk not in listed.content.decode()
    assert staff_client.get(reverse("admin:billing_refund_change", args=[foreign_refund.pk])).status_code == 302
