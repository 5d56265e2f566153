"""No card number, CVC or IBAN reaches the portal: a customer walks every portal form in Chromium (add a card, one
that asks for 3-D Secure, a SEPA account, billing details, pause, cancel, pay an open invoice) while every request
the portal's origin receives is recorded, URL and body; none holds them. Only the vault's origin (the test
gateway's hosted fields, standing in for the processor) receives them, and afterwards no column of any table and
no log line holds the number or the CVC."""

import datetime as dt
import logging
import re
from urllib.parse import quote_plus, urlsplit

import pytest
from django.db import transaction
from django.utils import timezone

from billing.models import Invoice, PaymentMethod
from billing.services.invoices import LineSpec, invoice_create_draft, invoice_finalize
from tests.billing.helpers import rows_containing, subscribed
from tests.browser.payment_fields import enter_portal, fill_card, fill_sepa, submit
from tests.factories.billing import ACTOR
from tests.factories.portal import full_configuration

PAN = "4000002760000016"  # Stripe's German Visa test card: succeeds
PAN_3DS = "4000002500003155"
CVC = "7391"  # unusual enough to look for
IBAN = "DE89370400440532013000"


def spaced(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


SECRETS = [form for value in (PAN, PAN_3DS, IBAN) for form in (value, spaced(value), quote_plus(spaced(value)))]
STANDALONE_CVC = re.compile(rf"(?<![0-9A-Za-z_%]){CVC}(?![0-9A-Za-z_])")


@pytest.fixture
def customer(transactional_db, two_origins):
    subscription = subscribed(timezone.now() - dt.timedelta(days=3), amount=2900)
    full_configuration(subscription.account)
    customer = subscription.customer
    with transaction.atomic():
        now = timezone.now()
        draft = invoice_create_draft(
            customer=customer,
            subscription=None,
            currency="eur",
            billing_reason=Invoice.BillingReason.MANUAL,
            period_start=now,
            period_end=now,
            lines=[LineSpec("Onboarding workshop", 4900, now, now)],
        )
    invoice_finalize(invoice=draft, actor=ACTOR)
    return customer


@pytest.fixture
def logs(caplog):
    """Everything logged, at DEBUG, including the server's request lines (``django.server`` does not propagate)."""
    caplog.set_level(logging.DEBUG)
    quiet = [logging.getLogger(name) for name in ("django.server", "django.request")]
    for logger in quiet:
        logger.addHandler(caplog.handler)
    yield caplog
    for logger in quiet:
        logger.removeHandler(caplog.handler)


def test_no_card_number_cvc_or_iban_reaches_the_portal(browser, live_server, customer, two_origins, logs):
    portal, vault = (urlsplit(url).netloc for url in two_origins)
    page, problems = enter_portal(browser, live_server, customer)
    received = {portal: [], vault: []}
    page.on(
        "request",
        lambda request: received.get(urlsplit(request.url).netloc, []).append(
            f"{request.method} {request.url}\n{request.post_data or ''}"
        ),
    )

    # A card, with the unusual CVC.
    page.goto(f"{live_server.url}/p/payment-methods/new")
    fill_card(page, spaced(PAN), cvc=CVC)
    submit(page)
    assert page.get_by_text("Payment method added.").is_visible()
    # A card the bank wants confirmed.
    page.goto(f"{live_server.url}/p/payment-methods/new")
    fill_card(page, PAN_3DS, cvc=CVC)
    submit(page)
    page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url(f"{live_server.url}/p/")
    # A bank account.
    page.goto(f"{live_server.url}/p/payment-methods/new")
    fill_sepa(page, spaced(IBAN))
    submit(page)
    assert page.get_by_text("Payment method added.").is_visible()
    assert sorted(PaymentMethod.objects.filter(customer=customer).values_list("type", flat=True)) == [
        "card",
        "card",
        "card",
        "sepa_debit",
    ]

    # Billing details.
    page.goto(f"{live_server.url}/p/billing-details")
    page.get_by_label("Address line 1").fill("Unter den Linden 1")
    page.get_by_label("Postal code").fill("10117")
    page.get_by_label("City").fill("Berlin")
    page.get_by_label("Country").select_option("DE")
    page.get_by_role("button", name="Save").click()
    assert page.get_by_text("Billing information updated.").is_visible()
    # Pay the open invoice with the default (the SEPA account just added).
    page.goto(f"{live_server.url}/p/invoices")
    page.locator(".invoice-row", has_text="Open").get_by_role("link", name=re.compile("^Pay now")).click()
    page.get_by_role("button", name=re.compile("^Pay ")).click()
    page.wait_for_load_state()
    # Pause payments, then cancel at the period end.
    page.goto(f"{live_server.url}/p/")
    page.get_by_role("link", name="Pause payments").click()
    page.get_by_label("Resume payments on").fill((timezone.now().date() + dt.timedelta(days=20)).isoformat())
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Pause payments").click()
    page.wait_for_url(f"{live_server.url}/p/")
    page.get_by_role("link", name="Cancel plan").click()
    page.get_by_role("button", name="Cancel subscription").click()
    page.wait_for_load_state()
    assert problems == []

    portal_requests = "\n".join(received[portal])
    assert len(received[portal]) > 20
    for posted in ("/p/payment-methods/new", "/p/billing-details", "/pay", "/pause", "/cancel", "/authenticate/"):
        assert re.search(rf"^POST \S*{re.escape(posted)}", portal_requests, re.M), posted
    subscription = customer.subscriptions.get()
    assert subscription.cancel_at_period_end and subscription.pause_collection_behavior
    for secret in SECRETS:
        assert secret not in portal_requests, secret
    assert not STANDALONE_CVC.search(portal_requests)
    # The recording does see card data where it goes: to the vault, the processor's part.
    vault_requests = "\n".join(received[vault])
    assert quote_plus(spaced(PAN)) in vault_requests and f"cvc={CVC}" in vault_requests

    assert rows_containing(PAN) == [] and rows_containing(PAN_3DS) == [] and rows_containing(IBAN) == []
    assert rows_containing(CVC, whole=True) == []
    assert rows_containing("0016")  # the scan does find what is kept: the last four digits
    logged = logs.text
    assert logs.records  # the capture works: requests and services log
    for secret in SECRETS:
        assert secret not in logged, secret
    assert not STANDALONE_CVC.search(logged)
