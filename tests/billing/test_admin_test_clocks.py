"""Test clocks in the admin: the list, the customers on a clock, advancing with a form."""

import datetime as dt

import pytest
from django.urls import reverse

from billing.audit import Actor
from billing.models import Event, TestClock
from billing.services.accounts import staff_user_add
from billing.services.customers import customer_create
from billing.services.test_clocks import clock_create
from tests.factories.billing import AccountFactory

ACTOR = Actor.system("test")
CHANGELIST = reverse("admin:billing_testclock_changelist")
T0 = dt.datetime(2030, 1, 15, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def shop(db):
    account = AccountFactory(name="Clocks")
    staff = staff_user_add(account=account, email="staff@clocks.example")
    test_clock = clock_create(account=account, livemode=False, actor=ACTOR, frozen_time=T0, name="Q1 run")
    customer = customer_create(
        account=account, livemode=False, actor=ACTOR, email="on@clock.example", test_clock=test_clock
    )
    other = AccountFactory(name="Elsewhere")
    foreign = clock_create(account=other, livemode=False, actor=ACTOR, frozen_time=T0, name="Not yours")
    return account, staff, test_clock, customer, foreign


def test_the_list_shows_the_accounts_clocks_and_a_clock_its_customers(client, shop):
    account, staff, test_clock, customer, foreign = shop
    client.force_login(staff)
    listing = client.get(CHANGELIST)
    assert listing.status_code == 200
    assert test_clock.id in listing.text and "Q1 run" in listing.text and foreign.id not in listing.text
    page = client.get(reverse("admin:billing_testclock_change", args=[test_clock.id]))
    assert page.status_code == 200 and customer.id in page.text and "on@clock.example" in page.text


def test_advancing_from_the_admin(client, shop, django_capture_on_commit_callbacks):
    account, staff, test_clock, customer, foreign = shop
    client.force_login(staff)
    form = client.post(CHANGELIST, {"action": "advance", "_selected_action": [test_clock.id]})
    assert form.status_code == 200 and 'name="frozen_time"' in form.text
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            CHANGELIST,
            {"action": "advance", "_selected_action": [test_clock.id], "apply": "1", "frozen_time": "2030-02-20T12:00"},
            follow=True,
        )
    assert done.status_code == 200
    test_clock.refresh_from_db()
    assert test_clock.status == TestClock.Status.READY and test_clock.frozen_time.day == 20
    assert Event.objects.filter(type="test_helpers.test_clock.ready").count() == 1

    backwards = client.post(
        CHANGELIST,
        {"action": "advance", "_selected_action": [test_clock.id], "apply": "1", "frozen_time": "2030-01-01T00:00"},
        follow=True,
    )
    assert backwards.status_code == 200 and "must be after" in backwards.text
