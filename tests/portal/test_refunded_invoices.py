"""Refunded invoices stay paid (as at Stripe) and read "Refunded" or "Partially refunded" in the portal's history
and on the hosted invoice page, in English and German, without one more query per invoice."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import Charge
from billing.services.invoices import invoice_pay
from billing.services.refunds import refund_create
from tests.factories.billing import CustomerFactory, card
from tests.factories.portal import full_configuration, open_portal
from tests.portal.test_invoice_history import ACTOR, issue, rows

NBSP = "\u00a0"


@pytest.fixture
def customer(db):
    customer = CustomerFactory()
    full_configuration(customer.account)
    return customer


def paid(customer, count: int) -> list:
    invoices = issue(customer, count, amount=2000)
    for invoice in invoices:
        invoice_pay(invoice=invoice, actor=ACTOR)
    return invoices


@pytest.fixture
def refunded(customer):
    """Three paid invoices of 20.00 €: the oldest fully refunded, the next by 5.00 €, the newest not at all."""
    card(customer)
    invoices = paid(customer, 3)
    refund_create(charge=Charge.objects.get(invoice=invoices[0]), actor=ACTOR)
    refund_create(charge=Charge.objects.get(invoice=invoices[1]), amount=500, actor=ACTOR)
    return invoices


def test_the_history_shows_refunds_in_english(customer, refunded):
    html = open_portal(customer, locale="en").get("/p/invoices").content.decode()
    assert rows(html) == 3
    assert html.count(">Refunded<") == 1
    assert "Partially refunded (€5.00)" in html
    assert html.count(">Paid<") == 1
    full, partial, untouched = (html.index(invoice.number) for invoice in refunded)
    assert untouched < partial < full < html.index(">Refunded<")


def test_the_history_shows_refunds_in_german(customer, refunded):
    html = open_portal(customer, locale="de").get("/p/invoices").content.decode()
    assert ">Erstattet<" in html
    assert f"Teilweise erstattet (5,00{NBSP}€)" in html
    assert ">Bezahlt<" in html


def test_the_hosted_page_says_refunded_and_how_much(customer, refunded):
    client = open_portal(customer, locale="en")
    full = client.get(f"/i/{refunded[0].hosted_token}/?locale=en").content.decode()
    assert ">Refunded<" in full and "Amount refunded" in full
    partial = client.get(f"/i/{refunded[1].hosted_token}/?locale=de").content.decode()
    assert f"Teilweise erstattet (5,00{NBSP}€)" in partial and "Erstatteter Betrag" in partial
    untouched = client.get(f"/i/{refunded[2].hosted_token}/?locale=en").content.decode()
    assert "refunded" not in untouched.lower()


def test_the_history_asks_no_more_with_more_refunded_invoices(customer):
    card(customer)
    client = open_portal(customer)
    few = paid(customer, 2)
    refund_create(charge=Charge.objects.get(invoice=few[0]), actor=ACTOR)
    client.get("/p/")  # the session's first page records its activity; the two counted below write nothing
    with CaptureQueriesContext(connection) as first:
        assert client.get("/p/invoices").status_code == 200
    more = paid(customer, 8)
    for invoice in more[:5]:
        refund_create(charge=Charge.objects.get(invoice=invoice), amount=100, actor=ACTOR)
    with CaptureQueriesContext(connection) as second:
        html = client.get("/p/invoices").content.decode()
    assert rows(html) == 10 and html.count("Partially refunded") == 5
    assert len(second) == len(first)
