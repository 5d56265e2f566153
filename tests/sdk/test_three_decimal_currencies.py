"""Three-decimal currencies (KWD, BHD, JOD, OMR, TND) through the official SDK: amounts are charged and refunded in
multiples of 10 minor units, and an invoice's amount due is rounded to one with the rest kept on the balance.

docs.stripe.com/currencies#three-decimal: "to ensure compatibility with Stripe's payments partners, these API calls
require the least-significant (last) digit to be 0. Your integration must round amounts to the nearest ten. For
example, 5.124 KWD must be rounded to 5120 or 5130."
"""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest
import stripe
import time_machine

from billing.models import Customer
from billing.services.billing_cycle import billing_cycle_run

UTC = dt.UTC
START = dt.datetime(2024, 3, 1, tzinfo=UTC)


def r10(value) -> int:
    """Half-up to a multiple of 10 minor units (docs.stripe.com/currencies#three-decimal)."""
    return int((Decimal(value) / 10).quantize(Decimal(1), rounding=ROUND_HALF_UP)) * 10


def _error(call) -> stripe.StripeError:
    with pytest.raises(stripe.StripeError) as error:
        call()
    return error.value


@pytest.mark.parametrize("currency", ["kwd", "bhd", "jod", "omr", "tnd"])
def test_payment_intent_amount_not_a_multiple_of_ten_is_refused(client, currency):
    error = _error(lambda: client.v1.payment_intents.create({"amount": 5124, "currency": currency}))
    assert isinstance(error, stripe.InvalidRequestError) and error.http_status == 400
    assert error.error.type == "invalid_request_error"
    assert (error.code, error.param) == ("invalid_charge_amount", "amount")
    intent = client.v1.payment_intents.create({"amount": r10(5124), "currency": currency})
    assert intent.amount == 5120
    # An update to an amount that is not a multiple of 10 is refused the same way.
    error = _error(lambda: client.v1.payment_intents.update(intent.id, {"amount": 5125}))
    assert (error.code, error.param) == ("invalid_charge_amount", "amount")


def test_two_decimal_and_zero_decimal_amounts_are_not_rounded(client):
    assert client.v1.payment_intents.create({"amount": 5124, "currency": "eur"}).amount == 5124
    assert client.v1.payment_intents.create({"amount": 5125, "currency": "jpy"}).amount == 5125


def test_refund_amount_not_a_multiple_of_ten_is_refused(client):
    customer = client.v1.customers.create({"email": "kw@example.com"})
    intent = client.v1.payment_intents.create(
        {
            "amount": 12_340,
            "currency": "kwd",
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    assert intent.status == "succeeded"
    error = _error(lambda: client.v1.refunds.create({"payment_intent": intent.id, "amount": 1005}))
    assert (error.error.type, error.code, error.param) == ("invalid_request_error", "invalid_charge_amount", "amount")
    refund = client.v1.refunds.create({"payment_intent": intent.id, "amount": r10(1005)})
    assert refund.amount == 1010 and refund.status == "succeeded"


@pytest.mark.parametrize(
    ("currency", "unit_amount"),
    [("kwd", 5124), ("bhd", 1005), ("kwd", 12_999), ("bhd", 7_777)],
)
def test_invoice_amount_due_is_rounded_and_the_rest_kept_on_the_balance(client, merchant, currency, unit_amount):
    """Our rule (README, "Billing arithmetic"): each invoice's amount due is the total plus the balance carried,
    rounded half-up to a multiple of 10; what rounding left out (or added) stays on the customer's balance, so over
    the invoices the customer pays exactly the totals."""
    customer = client.v1.customers.create({"email": "kw@example.com"})
    pm = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": pm.id}})
    product = client.v1.products.create({"name": "Plan"})
    price = client.v1.prices.create(
        {"product": product.id, "currency": currency, "unit_amount": unit_amount, "recurring": {"interval": "month"}}
    )
    with time_machine.travel(START, tick=False):
        sub = client.v1.subscriptions.create(
            {"customer": customer.id, "items": [{"price": price.id}], "expand": ["latest_invoice"]}
        )
    carried, paid = 0, 0
    invoices = [sub.latest_invoice]
    for month in (4, 5):
        with time_machine.travel(dt.datetime(2024, month, 1, 0, 0, 1, tzinfo=UTC), tick=False):
            billing_cycle_run()
        invoices.append(client.v1.invoices.list({"subscription": sub.id, "limit": 1}).data[0])
    for invoice in invoices:
        owed = unit_amount + carried
        assert invoice.total == unit_amount
        assert invoice.starting_balance == carried
        assert invoice.amount_due == r10(owed) and invoice.amount_due % 10 == 0
        assert invoice.ending_balance == owed - r10(owed)
        assert invoice.status == "paid" and invoice.amount_paid == invoice.amount_due
        carried = invoice.ending_balance
        paid += invoice.amount_paid
    assert Customer.objects.get(pk=customer.id).balance == carried
    assert paid + carried == 3 * unit_amount  # nothing created or lost: the balance holds the rest


def test_invoice_preview_shows_the_rounded_amount_due(client):
    customer = client.v1.customers.create({"email": "bh@example.com"})
    product = client.v1.products.create({"name": "Plan"})
    price = client.v1.prices.create(
        {"product": product.id, "currency": "bhd", "unit_amount": 1005, "recurring": {"interval": "month"}}
    )
    preview = client.v1.invoices.create_preview(
        {"customer": customer.id, "subscription_details": {"items": [{"price": price.id}]}}
    )
    assert preview.total == 1005 and preview.amount_due == r10(1005)


def test_checkout_payment_session_total_must_be_chargeable(client):
    product = client.v1.products.create({"name": "Book"})
    odd = client.v1.prices.create({"product": product.id, "currency": "kwd", "unit_amount": 5124})
    session = {"mode": "payment", "success_url": "https://shop.example/done"}
    error = _error(
        lambda: client.v1.checkout.sessions.create({**session, "line_items": [{"price": odd.id, "quantity": 1}]})
    )
    assert (error.error.type, error.code, error.param) == (
        "invalid_request_error",
        "invalid_charge_amount",
        "line_items",
    )
    even = client.v1.prices.create({"product": product.id, "currency": "kwd", "unit_amount": 5120})
    created = client.v1.checkout.sessions.create({**session, "line_items": [{"price": even.id, "quantity": 3}]})
    assert created.amount_total == 3 * 5120
