"""Invoice previews through the stripe SDK: create_preview is what the change then bills, to the minor unit, and the
older GET /v1/invoices/upcoming answers for the API versions that have it."""

import datetime as dt

import pytest
import stripe
from django.test import Client

from billing.models import AuditEntry, Event, Invoice, InvoiceItem, Subscription
from tests.billing.helpers import run_cycle
from tests.factories.billing import CustomerFactory, PriceFactory, TaxRateFactory, card


@pytest.fixture
def customer(merchant):
    customer = CustomerFactory(account=merchant)
    card(customer)
    return customer


def _price(merchant, amount, interval="month"):
    return PriceFactory(account=merchant, product__account=merchant, unit_amount=amount, recurring_interval=interval)


def _subscription(client, customer, price, quantity=1):
    return client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id, "quantity": quantity}]}
    )


def _halfway(sub) -> int:
    return (sub.current_period_start + sub.current_period_end) // 2


def _shape(invoice) -> dict:
    """What a customer pays and reads: totals and every line."""
    data = invoice if isinstance(invoice, dict) else invoice.to_dict()
    return {
        "totals": [data[key] for key in ("subtotal", "total_excluding_tax", "tax", "total", "amount_due", "currency")],
        "lines": [
            (
                line["amount"],
                line["description"],
                line["proration"],
                line["quantity"],
                line["period"]["start"],
                line["period"]["end"],
                (line["pricing"]["price_details"] or {}).get("price"),
            )
            for line in data["lines"]["data"]
        ],
    }


def _written() -> tuple[int, int, int, int]:
    return Invoice.objects.count(), InvoiceItem.objects.count(), Event.objects.count(), AuditEntry.objects.count()


def _change_and_compare(client, sub, details: dict, *, renews: bool):
    preview = client.v1.invoices.create_preview({"subscription": sub.id, "subscription_details": details})
    assert preview.id.startswith("upcoming_in_") and preview.status == "draft" and preview.number is None
    before = _written()
    again = client.v1.invoices.create_preview({"subscription": sub.id, "subscription_details": details})
    assert _written() == before, "a preview writes nothing"
    assert _shape(again) == _shape(preview)

    client.v1.subscriptions.update(sub.id, details)
    if renews:
        stored = Subscription.objects.get(pk=sub.id)
        run_cycle(stored.current_period_end + dt.timedelta(hours=1))
    produced = Invoice.objects.filter(subscription_id=sub.id).order_by("-id").first()
    produced_json = client.v1.invoices.retrieve(produced.id)
    assert _shape(preview) == _shape(produced_json)
    return preview


def test_upgrade_invoiced_now_equals_its_preview(client, merchant, customer):
    sub = _subscription(client, customer, _price(merchant, 1000))
    bigger = _price(merchant, 2500)
    details = {
        "items": [{"id": sub["items"].data[0].id, "price": bigger.id}],
        "proration_behavior": "always_invoice",
        "proration_date": _halfway(sub),
    }
    preview = _change_and_compare(client, sub, details, renews=False)
    assert preview.billing_reason == "subscription_update"
    assert [line.amount > 0 for line in preview.lines.data] == [False, True]


def test_upgrade_with_prorations_previews_the_next_renewal(client, merchant, customer):
    sub = _subscription(client, customer, _price(merchant, 1000))
    bigger = _price(merchant, 2500)
    details = {"items": [{"id": sub["items"].data[0].id, "price": bigger.id}], "proration_date": _halfway(sub)}
    preview = _change_and_compare(client, sub, details, renews=True)
    assert preview.billing_reason == "subscription_cycle"
    assert sum(line.proration for line in preview.lines.data) == 2


def test_downgrade_equals_its_preview(client, merchant, customer):
    sub = _subscription(client, customer, _price(merchant, 3000))
    smaller = _price(merchant, 1200)
    details = {"items": [{"id": sub["items"].data[0].id, "price": smaller.id}], "proration_date": _halfway(sub)}
    _change_and_compare(client, sub, details, renews=True)


def test_quantity_change_equals_its_preview(client, merchant, customer):
    sub = _subscription(client, customer, _price(merchant, 999), quantity=2)
    details = {
        "items": [{"id": sub["items"].data[0].id, "quantity": 5}],
        "proration_behavior": "always_invoice",
        "proration_date": _halfway(sub) + 3601,
    }
    _change_and_compare(client, sub, details, renews=False)


def test_interval_switch_equals_its_preview(client, merchant, customer):
    sub = _subscription(client, customer, _price(merchant, 1000))
    yearly = _price(merchant, 10000, interval="year")
    details = {"items": [{"id": sub["items"].data[0].id, "price": yearly.id}], "proration_date": _halfway(sub)}
    preview = _change_and_compare(client, sub, details, renews=False)
    assert preview.total == 10000 - 500


def test_cancel_at_preview_equals_the_invoice_that_follows(client, merchant, customer):
    sub = _subscription(client, customer, _price(merchant, 1000))
    after_next_renewal = sub.current_period_end + 10 * 86400
    _change_and_compare(client, sub, {"cancel_at": after_next_renewal}, renews=True)


def test_cancel_at_before_the_renewal_leaves_no_upcoming_invoice(client, merchant, customer):
    sub = _subscription(client, customer, _price(merchant, 1000))
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.invoices.create_preview(
            {"subscription": sub.id, "subscription_details": {"cancel_at": _halfway(sub), "proration_behavior": "none"}}
        )
    assert error.value.http_status == 404 and error.value.code == "invoice_upcoming_none"


def test_a_new_subscription_previews_its_first_invoice(client, merchant, customer):
    price = _price(merchant, 1500)
    before = _written()
    preview = client.v1.invoices.create_preview(
        {"customer": customer.id, "subscription_details": {"items": [{"price": price.id, "quantity": 2}]}}
    )
    assert _written() == before
    assert preview.total == 3000 and preview.billing_reason == "subscription_create"
    sub = _subscription(client, customer, price, quantity=2)
    assert preview.total == client.v1.invoices.retrieve(sub.latest_invoice).total


def test_bad_input_answers_stripes_errors(client, merchant, customer):
    sub = _subscription(client, customer, _price(merchant, 1000))
    other = _subscription(client, customer, _price(merchant, 2000))
    cases = [
        ({"subscription": sub.id, "subscription_details": {"items": [{"id": "si_nope", "quantity": 2}]}}, 404),
        (
            {"subscription": sub.id, "subscription_details": {"items": [{"id": other["items"].data[0].id}]}},
            404,
        ),
        ({"subscription": "sub_nope"}, 404),
        ({"customer": customer.id}, 400),
        ({"subscription": sub.id, "automatic_tax": {"enabled": True}}, 400),
        ({"subscription": sub.id, "subscription_details": {"proration_behavior": "sometimes"}}, 400),
    ]
    for params, status in cases:
        with pytest.raises(stripe.InvalidRequestError) as error:
            client.v1.invoices.create_preview(params)
        assert error.value.http_status == status, params
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.invoices.create_preview(
            {"subscription": sub.id, "subscription_details": {"items": [{"id": "si_nope", "quantity": 2}]}}
        )
    assert error.value.code == "resource_missing" and error.value.param == "subscription_details[items][0][id]"
    client.v1.subscriptions.cancel(sub.id)
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.invoices.create_preview({"subscription": sub.id})
    assert error.value.http_status == 404 and error.value.code == "invoice_upcoming_none"


def _get(merchant, path, params=None, version="2024-06-20"):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {merchant.test_secret}"}
    if version:
        headers["HTTP_STRIPE_VERSION"] = version
    return Client().get(path, params or {}, **headers)


def test_upcoming_for_older_versions(client, merchant, customer):
    sub = _subscription(client, customer, _price(merchant, 1000))
    bigger = _price(merchant, 2500)
    item = sub["items"].data[0].id
    params = {
        "customer": customer.id,
        "subscription": sub.id,
        "subscription_items[0][id]": item,
        "subscription_items[0][price]": bigger.id,
        "subscription_proration_date": _halfway(sub),
    }
    upcoming = _get(merchant, "/v1/invoices/upcoming", params)
    assert upcoming.status_code == 200, upcoming.content
    body = upcoming.json()
    preview = client.v1.invoices.create_preview(
        {
            "subscription": sub.id,
            "subscription_details": {"items": [{"id": item, "price": bigger.id}], "proration_date": _halfway(sub)},
        }
    )
    assert _shape(body) == _shape(preview) and body["subscription_proration_date"] == _halfway(sub)
    lines = _get(merchant, "/v1/invoices/upcoming/lines", {**params, "limit": 2}).json()
    assert lines["object"] == "list" and lines["has_more"] is True and len(lines["data"]) == 2
    rest = _get(merchant, "/v1/invoices/upcoming/lines", {**params, "starting_after": lines["data"][-1]["id"]}).json()
    assert [line["amount"] for line in lines["data"] + rest["data"]] == [
        line["amount"] for line in body["lines"]["data"]
    ]
    # Only a customer: the subscription that renews first.
    assert _get(merchant, "/v1/invoices/upcoming", {"customer": customer.id}).json()["total"] == 1000


def test_upcoming_is_gone_in_newer_versions(merchant, customer):
    for version in ("2025-03-31.basil", None):
        response = _get(merchant, "/v1/invoices/upcoming", {"customer": customer.id}, version=version)
        assert response.status_code == 404
        assert "create_preview" in response.json()["error"]["message"]
    response = _get(merchant, "/v1/invoices/upcoming", {"customer": customer.id})
    assert response.status_code == 404 and response.json()["error"]["code"] == "invoice_upcoming_none"


def test_a_preview_shows_tax_and_a_discount(client, merchant, customer):
    rate = TaxRateFactory(account=merchant, percentage=19, inclusive=False)
    price = _price(merchant, 1000)
    sub = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id}], "default_tax_rates": [rate.id]}
    )
    client.v1.coupons.create({"id": "QUARTER", "percent_off": 25, "duration": "forever"})
    preview = client.v1.invoices.create_preview({"subscription": sub.id, "discounts": [{"coupon": "QUARTER"}]})
    assert preview.subtotal == 1000 and preview.total_discount_amounts[0].amount == 250
    assert preview.tax == 143 and preview.total == 750 + 143
    assert client.v1.subscriptions.retrieve(sub.id).discounts == []  # nothing was applied


def test_a_preview_with_invoice_items_to_come(client, merchant, customer):
    sub = _subscription(client, customer, _price(merchant, 1000))
    before = _written()
    preview = client.v1.invoices.create_preview(
        {"subscription": sub.id, "invoice_items": [{"amount": 450, "currency": "eur", "description": "Onboarding"}]}
    )
    assert preview.total == 1450 and preview.lines.data[-1].description == "Onboarding"
    assert _written() == before
