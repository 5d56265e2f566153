"""The overview page: what a customer sees first, in their language, and nothing of anyone else's."""

import datetime as dt

import pytest
import time_machine

from tests.billing.helpers import run_cycle, subscribed
from tests.factories.portal import full_configuration, open_portal

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def customer(db):
    subscription = subscribed(T0, amount=123450)
    run_cycle(T0 + dt.timedelta(days=32))
    full_configuration(subscription.account)
    return subscription.customer


def test_overview_shows_the_subscription_payment_methods_and_invoices(customer):
    with time_machine.travel(T0 + dt.timedelta(days=33), tick=False):
        client = open_portal(customer)
        response = client.get("/p/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Current plan" in html
    assert "€1,234.50 per month" in html
    assert "Visa •••• 4242" in html
    assert "Invoice history" in html
    assert response["Cache-Control"] == "private, no-store"


def test_overview_in_german(customer):
    with time_machine.travel(T0 + dt.timedelta(days=33), tick=False):
        client = open_portal(customer, locale="de")
        response = client.get("/p/")
    html = response.content.decode()
    assert 'lang="de"' in html
    assert "1.234,50\xa0€" in html
