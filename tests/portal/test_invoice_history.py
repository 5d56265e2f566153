"""Invoice history in the portal: ten at a time (htmx appends rows, without JavaScript pages), only the customer's
own invoices, and queries that do not grow with invoices. Paying an open one: tests/portal/test_invoice_pay.py."""

import datetime as dt

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from billing.audit import Actor
from billing.models import Invoice
from billing.services.invoices import LineSpec, invoice_create_draft, invoice_finalize
from tests.factories.billing import CustomerFactory, card
from tests.factories.portal import full_configuration, open_portal

ACTOR = Actor.system("test")
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
HTMX = {"HTTP_HX_REQUEST": "true"}


def issue(customer, count: int = 1, *, amount: int = 2500) -> list[Invoice]:
    """Finalized (open) one-off invoices, oldest first, one day apart."""
    invoices = []
    for day in range(count):
        with time_machine.travel(T0 + dt.timedelta(days=day), tick=False):
            with transaction.atomic():
                draft = invoice_create_draft(
                    customer=customer,
                    subscription=None,
                    currency="eur",
                    billing_reason=Invoice.BillingReason.MANUAL,
                    period_start=T0,
                    period_end=T0,
                    lines=[LineSpec("Consulting", amount, T0, T0)],
                )
            invoices.append(invoice_finalize(invoice=draft, actor=ACTOR))
    return invoices


@pytest.fixture
def customer(db):
    customer = CustomerFactory()
    full_configuration(customer.account)
    return customer


def rows(html: str) -> int:
    return html.count('class="invoice-row"')


def test_the_history_lists_ten_invoices_newest_first_and_pages_without_javascript(customer):
    invoices = issue(customer, 23)
    client = open_portal(customer)

    first = client.get("/p/invoices")
    assert first.status_code == 200
    html = first.content.decode()
    assert rows(html) == 10
    assert html.index(invoices[-1].number) < html.index(invoices[-2].number)
    assert invoices[12].number not in html
    assert f'href="/p/invoices?after={invoices[13].id}"' in html
    assert "Newer invoices" not in html

    second = client.get(f"/p/invoices?after={invoices[13].id}").content.decode()
    assert rows(second) == 10
    assert invoices[12].number in second and invoices[3].number in second
    assert f'href="/p/invoices?before={invoices[12].id}"' in second  # the way back
    assert "Newer invoices" in second

    third = client.get(f"/p/invoices?after={invoices[3].id}").content.decode()
    assert rows(third) == 3
    assert "Load more" not in third

    back = client.get(f"/p/invoices?before={invoices[12].id}").content.decode()
    assert rows(back) == 10
    assert invoices[-1].number in back and invoices[13].number in back
    assert "Newer invoices" not in back


def test_htmx_load_more_answers_only_the_rows(customer):
    invoices = issue(customer, 12)
    client = open_portal(customer)

    overview = client.get("/p/").content.decode()
    assert rows(overview) == 10
    assert 'hx-target="#load-more"' in overview and 'hx-swap="outerHTML"' in overview
    assert f'hx-get="/p/invoices?after={invoices[2].id}"' in overview

    partial = client.get(f"/p/invoices?after={invoices[2].id}", **HTMX)
    assert partial.status_code == 200
    html = partial.content.decode()
    assert "<html" not in html and "<table" not in html
    assert rows(html) == 2
    assert invoices[1].number in html and invoices[0].number in html
    assert 'id="load-more"' not in html  # nothing older: no further button
    assert "HX-Request" in partial["Vary"]


def test_someone_elses_invoices_are_not_listed(customer):
    other = CustomerFactory(account=customer.account)
    (theirs,) = issue(other)
    (mine,) = issue(customer)
    html = open_portal(customer).get("/p/invoices").content.decode()
    assert mine.number in html and theirs.number not in html


def test_the_history_needs_the_feature(customer):
    (invoice,) = issue(customer)
    configuration = full_configuration(customer.account, features={"invoice_history": {"enabled": False}})
    client = open_portal(customer, configuration=configuration)
    assert client.get("/p/invoices").status_code == 404
    assert client.get(f"/p/invoices/{invoice.id}/pay").status_code == 404
    assert "Invoice history" not in client.get("/p/").content.decode()


def test_german_history(customer):
    issue(customer, amount=123450)
    html = open_portal(customer, locale="de").get("/p/invoices").content.decode()
    assert "Rechnungsverlauf" in html
    assert "1.234,50\xa0€" in html
    assert "Jetzt bezahlen" in html


@pytest.mark.parametrize(
    "path, headers",
    [
        ("/p/", {}),
        ("/p/invoices", {}),
        ("/p/invoices?after={cursor}", {}),
        ("/p/invoices?after={cursor}", HTMX),
        ("/p/billing-details", {}),
        ("/p/payment-methods/new", {}),
    ],
    ids=["overview", "history", "history-page-2", "htmx-rows", "billing-details", "add-payment-method"],
)
def test_queries_do_not_grow_with_the_number_of_invoices(db, path, headers):
    counts = []
    for size in (1, 100):
        customer = CustomerFactory()
        full_configuration(customer.account)
        card(customer)
        invoices = issue(customer, size)
        client = open_portal(customer)
        url = path.format(cursor=invoices[-1].id if size > 1 else "in_zzzzzzzzzzzzzzzzzzzzzzzzz")
        client.get(url, **headers)  # warm up: the session's first request records the locale
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, **headers)
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
