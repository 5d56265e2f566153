"""An invoice's payment is a PaymentIntent: Stripe's default_incomplete integration (confirm the first invoice's
``confirmation_secret``), the older ``latest_invoice.payment_intent`` expansion, and a renewal that needs the
customer to authenticate (3-D Secure) paid on the hosted invoice page."""

import pytest
import stripe

from billing.models import Event, Invoice, PaymentIntent
from tests.factories.billing import CustomerFactory, PriceFactory


@pytest.fixture
def price(merchant):
    return PriceFactory(account=merchant, product__account=merchant, unit_amount=1500, currency="eur")


def test_default_incomplete_then_confirm_the_confirmation_secret(client, merchant, price):
    customer = client.v1.customers.create({"email": "ada@example.com"})
    sub = client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": price.id}],
            "payment_behavior": "default_incomplete",
            "payment_settings": {"save_default_payment_method": "on_subscription"},
            "expand": ["latest_invoice.confirmation_secret", "latest_invoice.payments"],
        }
    )
    assert sub.status == "incomplete"
    invoice = sub.latest_invoice
    assert invoice.status == "open" and invoice.attempt_count == 0
    secret = invoice.confirmation_secret.client_secret
    assert invoice.confirmation_secret.type == "payment_intent"
    intent_id = secret.split("_secret_")[0]
    assert invoice.payments.data[0].payment.payment_intent == intent_id
    intent = client.v1.payment_intents.retrieve(intent_id)
    assert intent.status == "requires_payment_method" and intent.amount == 1500 and intent.customer == customer.id

    confirmed = client.v1.payment_intents.confirm(intent_id, {"payment_method": "pm_card_visa"})
    assert confirmed.status == "succeeded"
    active = client.v1.subscriptions.retrieve(sub.id)
    assert active.status == "active"
    # save_default_payment_method=on_subscription: the method that paid is the subscription's from now on.
    assert active.default_payment_method == confirmed.payment_method
    assert active.payment_settings.save_default_payment_method == "on_subscription"
    paid = client.v1.invoices.retrieve(invoice.id, {"expand": ["payments"]})
    assert paid.status == "paid" and paid.amount_paid == 1500 and paid.payments.data[0].status == "paid"
    types = list(Event.objects.filter(account=merchant).order_by("id").values_list("type", flat=True))
    for expected in (
        "payment_intent.created",
        "payment_intent.succeeded",
        "invoice.paid",
        "customer.subscription.updated",
    ):
        assert expected in types
    # A paid invoice's PaymentIntent cannot be confirmed again.
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.confirm(intent_id, {"payment_method": "pm_card_visa"})
    assert raised.value.error.code == "payment_intent_unexpected_state"


def test_older_integrations_expand_latest_invoice_payment_intent(client, merchant, price):
    customer = CustomerFactory(account=merchant)
    sub = client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": price.id}],
            "payment_behavior": "default_incomplete",
            "expand": ["latest_invoice.payment_intent"],
        }
    )
    intent = sub.latest_invoice.payment_intent
    assert intent.object == "payment_intent" and intent.status == "requires_payment_method"
    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_chargeDeclined"})
    assert raised.value.error.decline_code == "generic_decline"
    assert client.v1.subscriptions.retrieve(sub.id).status == "incomplete"
    assert client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"}).status == "succeeded"
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_renewal_payments_are_payment_intents(client, merchant, price):
    customer = client.v1.customers.create({"email": "bo@example.com"})
    client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    pm = client.v1.payment_methods.list({"customer": customer.id}).data[0]
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": pm.id}})
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    assert sub.status == "active"
    invoice = client.v1.invoices.retrieve(sub.latest_invoice, {"expand": ["payment_intent"]})
    assert invoice.payment_intent.status == "succeeded" and invoice.payment_intent.amount_received == 1500
    charge = PaymentIntent.objects.get(pk=invoice.payment_intent.id).charges.get()
    assert charge.invoice_id == invoice.id and charge.status == "succeeded"
    assert Invoice.objects.get(pk=invoice.id).status == "paid"


def test_an_older_stripe_version_gets_each_invoices_payment_intent_without_expanding(live_server, merchant, price):
    legacy = stripe.StripeClient(
        merchant.test_secret,
        base_addresses={"api": live_server.url},
        max_network_retries=0,
        stripe_version="2024-06-20",
    )
    customer = legacy.v1.customers.create({"email": "old@example.com"})
    legacy.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    pm = legacy.v1.payment_methods.list({"customer": customer.id}).data[0]
    legacy.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": pm.id}})
    sub = legacy.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id}], "expand": ["latest_invoice"]}
    )
    intent_id = PaymentIntent.objects.get(invoice_id=sub.latest_invoice.id).pk

    assert sub.latest_invoice.payment_intent == intent_id
    assert legacy.v1.invoices.retrieve(sub.latest_invoice.id).payment_intent == intent_id
    assert [invoice.payment_intent for invoice in legacy.v1.invoices.list({"customer": customer.id}).data] == [
        intent_id
    ]
    expanded = legacy.v1.invoices.retrieve(sub.latest_invoice.id, {"expand": ["payment_intent"]}).payment_intent
    assert expanded.object == "payment_intent" and expanded.status == "succeeded"
    current = stripe.StripeClient(merchant.test_secret, base_addresses={"api": live_server.url}, max_network_retries=0)
    assert "payment_intent" not in current.v1.invoices.retrieve(sub.latest_invoice.id)


def test_payment_settings_payment_method_types_decide_what_may_pay_the_invoices(client, merchant, price):
    customer = client.v1.customers.create({"email": "sepa-only@example.com"})
    client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    card = client.v1.payment_methods.list({"customer": customer.id}).data[0]
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": card.id}})

    sub = client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": price.id}],
            "payment_behavior": "default_incomplete",
            "payment_settings": {"payment_method_types": ["sepa_debit"]},
            "expand": ["latest_invoice.payment_intent"],
        }
    )
    intent = sub.latest_invoice.payment_intent
    assert sub.payment_settings.payment_method_types == ["sepa_debit"]
    assert intent.payment_method_types == ["sepa_debit"]
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.confirm(intent.id, {"payment_method": card.id})
    assert raised.value.code == "payment_intent_incompatible_payment_method"

    # Charged automatically, the card the customer has by default may not pay either: the payment fails.
    charged = client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": price.id}],
            "payment_behavior": "allow_incomplete",
            "payment_settings": {"payment_method_types": ["sepa_debit"]},
        }
    )
    assert charged.status == "incomplete"
    assert Invoice.objects.get(pk=charged.latest_invoice).amount_paid == 0
