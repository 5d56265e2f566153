"""A renewal whose card needs 3-D Secure every time: the billing cycle's off-session charge fails with
``authentication_required``, the subscription goes ``past_due``, ``invoice.payment_action_required`` is sent and the
customer gets an email with the hosted invoice page; there, in Chromium, they pay with the card, confirm it on the
bank's page and come back to a paid invoice, and ``invoice.paid`` reaches the merchant's webhook endpoint."""

import datetime as dt
import json
import re

import pytest
import stripe
from django.core import mail
from django.utils import timezone

from billing.models import Event, Invoice, PaymentIntent
from tests.billing.helpers import run_cycle, subscribed
from tests.browser.conftest import axe_violations, watch
from tests.factories.billing import ACTOR, card
from tests.webhooks.receiver import Receiver
from webhooks import sending
from webhooks.services import webhook_endpoint_create


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with Receiver() as running:
        yield running
    sending.close_clients()


@pytest.mark.parametrize("locale", ["en", "de"])
def test_customer_confirms_a_renewal_on_the_hosted_invoice_page(
    transactional_db, live_server, browser, artifacts, axe_source, receiver, settings, locale
):
    settings.PORTAL_BASE_URL = live_server.url
    start = timezone.now() - dt.timedelta(days=31)
    subscription = subscribed(start, amount=2900)
    customer = subscription.customer
    customer.preferred_locales = [locale]
    customer.save(update_fields=["preferred_locales"])
    card(customer, "4000002760003184")  # needs the customer every time: now the default
    endpoint = webhook_endpoint_create(
        account=customer.account, livemode=False, url=receiver.url, enabled_events=["invoice.paid"], actor=ACTOR
    )
    secret = endpoint.secret

    run_cycle(subscription.current_period_end + dt.timedelta(minutes=1))
    invoice = Invoice.objects.filter(subscription=subscription, billing_reason="subscription_cycle").get()
    subscription.refresh_from_db()
    assert invoice.status == "open" and subscription.status == "past_due"
    intent = PaymentIntent.objects.get(invoice=invoice)
    assert intent.status == "requires_action" and intent.last_payment_error["code"] == "authentication_required"
    assert Event.objects.filter(type="invoice.payment_action_required", data_object__id=invoice.pk).exists()
    [email] = [m for m in mail.outbox if m.to == [customer.email]]
    link = re.search(r"http://[^\s]+/i/[A-Za-z0-9_-]+/", email.body).group(0)
    assert ("Zahlung" in email.subject) == (locale == "de")

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    problems = watch(page)
    page.goto(link)
    pay = "Pay €29.00" if locale == "en" else "29,00\xa0€ bezahlen"
    page.get_by_label(re.compile("3184")).check()
    page.screenshot(path=str(artifacts / f"hosted-invoice-pay-{locale}.png"), full_page=True)
    assert axe_violations(page, axe_source) == []
    page.get_by_role("button", name=pay).click()
    complete = "Complete authentication" if locale == "en" else "Authentifizierung abschließen"
    page.get_by_role("button", name=complete).click()
    page.wait_for_url(re.compile(r"/i/[A-Za-z0-9_-]+/\?.*redirect_status=succeeded"))
    paid_label = "Paid" if locale == "en" else "Bezahlt"
    assert paid_label in page.text_content(".summary")
    page.screenshot(path=str(artifacts / f"hosted-invoice-paid-{locale}.png"), full_page=True)
    assert problems == []

    invoice.refresh_from_db()
    subscription.refresh_from_db()
    assert invoice.status == "paid" and subscription.status == "active"
    [request] = [r for r in receiver.requests if json.loads(r.body)["type"] == "invoice.paid"]
    event = stripe.Webhook.construct_event(request.body, request.headers["Stripe-Signature"], secret)
    assert event.data.object.id == invoice.pk and event.data.object.status == "paid"
