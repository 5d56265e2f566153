"""Preview portal is read-only: every write in a preview session is refused with a banner; "Act as customer" is a
separate, confirmed choice recorded in the audit log with the staff member."""

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse

from billing.models import AuditEntry, Customer, PaymentMethod
from configurations.models import PortalSession
from tests.billing.helpers import subscribed
from tests.factories.portal import full_configuration

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
BANNER = "Preview: nothing you do here changes the customer's account."


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(T0 + dt.timedelta(days=3), tick=False):
        yield


@pytest.fixture
def subscription(merchant):
    return subscribed(T0, amount=3100, account=merchant)


def _open(staff_client, configuration, customer, **extra):
    response = staff_client.post(
        reverse("portal:configuration_preview", args=[configuration.pk]), {"customer": customer.pk, **extra}
    )
    assert response.status_code == 302, response.content.decode()
    redeemed = staff_client.get(response["Location"])
    assert redeemed.status_code == 303
    return staff_client.get(redeemed["Location"])


def _writes(subscription):
    pm = subscription.customer.default_payment_method_id
    sub = f"/p/subscriptions/{subscription.pk}"
    return [
        (f"{sub}/cancel", {"state": "x", "reason": "too_expensive"}),
        (f"{sub}/reactivate", {}),
        (f"{sub}/update", {}),
        (f"{sub}/update/confirm", {"price": subscription.items.get().price_id, "quantity": 3}),
        (f"{sub}/pause", {"behavior": "void"}),
        (f"{sub}/resume", {}),
        ("/p/payment-methods/new", {"type": "card", "payment_method": "pm_card_visa"}),
        (f"/p/payment-methods/{pm}/default", {}),
        (f"/p/payment-methods/{pm}/remove", {}),
        ("/p/billing-details", {"name": "Changed by staff", "email": "changed@example.com"}),
    ]


def _state(subscription):
    subscription.refresh_from_db()
    customer = Customer.objects.get(pk=subscription.customer_id)
    return (
        subscription.status,
        subscription.cancel_at_period_end,
        subscription.pause_collection,
        [(item.price_id, item.quantity) for item in subscription.items.all()],
        customer.name,
        customer.email,
        customer.default_payment_method_id,
        PaymentMethod.objects.filter(customer=customer).count(),
        AuditEntry.objects.exclude(action__startswith="portal_session").count(),
    )


def test_a_preview_session_shows_the_banner_and_refuses_every_write(staff_client, merchant, subscription):
    configuration = full_configuration(merchant, prices=[subscription.items.get().price])
    overview = _open(staff_client, configuration, subscription.customer)
    assert overview.status_code == 200 and BANNER in overview.content.decode()
    assert PortalSession.objects.get().origin == PortalSession.Origin.PREVIEW
    before = _state(subscription)

    for path, data in _writes(subscription):
        response = staff_client.post(path, data)
        assert response.status_code == 403, path
        html = response.content.decode()
        assert BANNER in html and "Nothing was changed" in html, path
        assert _state(subscription) == before, path
    assert not AuditEntry.objects.filter(action="portal_session.act_as_customer").exists()


def test_act_as_customer_needs_the_confirmation(staff_client, merchant, subscription):
    configuration = full_configuration(merchant)
    url = reverse("portal:configuration_preview", args=[configuration.pk])
    refused = staff_client.post(url, {"customer": subscription.customer_id, "act_as_customer": "1"})
    assert refused.status_code == 200
    assert "Confirm that you want to act as the customer" in refused.content.decode()
    assert not PortalSession.objects.exists()


def test_act_as_customer_makes_real_changes_and_is_audited(staff_client, staff, merchant, subscription):
    configuration = full_configuration(merchant)
    overview = _open(staff_client, configuration, subscription.customer, act_as_customer="1", confirm_act_as="on")
    html = overview.content.decode()
    assert BANNER not in html and "Acting as the customer" in html
    session = PortalSession.objects.get()
    assert session.origin == PortalSession.Origin.STAFF
    entry = AuditEntry.objects.get(action="portal_session.act_as_customer")
    assert (entry.actor_type, entry.actor_id, entry.object_id) == ("staff", str(staff.pk), session.pk)
    assert entry.changes == {"customer": subscription.customer_id}

    response = staff_client.post(f"/p/subscriptions/{subscription.pk}/resume")
    assert response.status_code != 403
    response = staff_client.post("/p/billing-details", {"name": "Renamed on request", "email": "a@example.com"})
    assert response.status_code in (200, 303) and "Nothing was changed" not in response.content.decode()


def test_what_staff_do_as_the_customer_is_audited_in_their_name(staff_client, staff, merchant, subscription):
    """Acting as the customer, the staff member cancels a subscription: the cancellation's
    audit entry names the staff member, acting as the customer, not the customer."""
    configuration = full_configuration(
        merchant, features={"subscription_cancel": {"enabled": True, "mode": "at_period_end"}}
    )
    _open(staff_client, configuration, subscription.customer, act_as_customer="1", confirm_act_as="on")
    path = f"/p/subscriptions/{subscription.pk}/cancel"
    page = staff_client.get(path + "?offer=declined")
    state = re.search(r'name="state" value="([^"]+)"', page.content.decode()).group(1)
    response = staff_client.post(path, {"state": state})
    assert response.status_code in (200, 303), response.content.decode()
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end

    entry = AuditEntry.objects.get(action="subscription.cancel", object_id=subscription.pk)
    assert (entry.actor_type, entry.actor_id) == ("staff", str(staff.pk))
    assert entry.actor_label == f"{staff.get_username()} (acting as customer {subscription.customer_id})"
    # Nothing done in the session is recorded in the customer's name.
    assert not AuditEntry.objects.filter(actor_type="customer").exists()
