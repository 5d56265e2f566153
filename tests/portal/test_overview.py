"""The overview page: what a customer sees first, in their language, and nothing of anyone else's."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import Coupon
from billing.services.coupons import coupon_create
from billing.services.invoice_items import invoice_item_create
from billing.services.subscriptions import ItemSpec, subscription_apply_coupon, subscription_create, subscription_update
from tests.billing.helpers import ACTOR, run_cycle, subscribed
from tests.factories.billing import PriceFactory, TaxRateFactory, card
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


# ---------------------------------------------------------------------------------------------- query counts


def _more_of_everything(customer):
    """Two more subscriptions in the customer's currency, each with a pending invoice item (the next invoice shows
    it), and two more cards."""

    account = customer.account
    for amount in (2000, 3000):
        price = PriceFactory(account=account, product__account=account, unit_amount=amount, currency="eur")
        subscription = subscription_create(customer=customer, items=[ItemSpec(price, 1)], actor=ACTOR)
        invoice_item_create(customer=customer, subscription=subscription, amount=500, currency="eur", actor=ACTOR)
    for number in ("5555555555554444", "378282246310005"):
        card(customer, number, default=False)


def test_the_overview_asks_no_more_with_more_subscriptions_and_payment_methods(customer):
    with time_machine.travel(T0 + dt.timedelta(days=33), tick=False):
        subscription = customer.subscriptions.get()
        invoice_item_create(customer=customer, subscription=subscription, amount=500, currency="eur", actor=ACTOR)
        client = open_portal(customer)
        with CaptureQueriesContext(connection) as one:
            assert client.get("/p/").status_code == 200
        _more_of_everything(customer)
        client = open_portal(customer)
        with CaptureQueriesContext(connection) as three:
            html = client.get("/p/").content.decode()
    assert html.count('class="subscription"') == 3 and html.count("•••• ") >= 3
    assert "€1,239.50 on" in html  # the pending invoice item is on the next invoice (€1,234.50 + €5.00)
    assert len(three) == len(one)


def test_the_overview_writes_the_session_activity_once_a_minute(customer):
    def writes(client) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/p/").status_code == 200
        return sum(query["sql"].startswith("UPDATE") for query in queries.captured_queries)

    with time_machine.travel(T0 + dt.timedelta(days=33), tick=False) as traveller:
        client = open_portal(customer)
        traveller.shift(dt.timedelta(seconds=1))
        assert writes(client) == 1  # the first page after the link was redeemed
        traveller.shift(dt.timedelta(seconds=59))
        assert writes(client) == 0
        traveller.shift(dt.timedelta(seconds=1))
        assert writes(client) == 1
        assert writes(client) == 0


def test_the_next_invoice_counts_the_discount_and_the_tax_rates(customer):
    """What the preview reads only when some subscription has it (discounts, tax rates) is still counted: 25 % off
    €1,234.50 is €925.87 (€308.63 off), plus 19 % VAT (€175.92) is €1,101.79."""
    subscription = customer.subscriptions.get()
    account = customer.account
    with time_machine.travel(T0 + dt.timedelta(days=33), tick=False):
        coupon = coupon_create(
            account=account, livemode=False, actor=ACTOR, percent_off=25, duration=Coupon.Duration.FOREVER
        )
        subscription = subscription_apply_coupon(subscription=subscription, coupon=coupon, actor=ACTOR)
        rate = TaxRateFactory(account=account)
        subscription_update(subscription=subscription, fields={"default_tax_rates": [rate]}, actor=ACTOR)
        html = open_portal(customer).get("/p/").content.decode()
    assert "€1,101.79 on" in html
