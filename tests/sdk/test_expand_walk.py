"""Every field Stripe's spec lists as expandable (``x-expandableFields``) on the objects served here can be expanded.

The lists come from a copy of Stripe's OpenAPI spec kept in ``tests/fixtures/stripe_expandable_fields.json``
(its ``_source`` names the commit and file). An expansion either returns the object, or, when there is nothing
to expand, the value Stripe returns for a missing object (null, an empty list).
"""

import json
from pathlib import Path

import pytest
import stripe

from tests.billing.helpers import subscribed
from tests.factories.billing import ProductFactory

SPEC = json.loads((Path(__file__).parent.parent / "fixtures" / "stripe_expandable_fields.json").read_text())
EXPANDABLE = SPEC["x-expandableFields"]
# A payment method has the details of its own type only (``card`` or ``sepa_debit``); the other types' keys are
# not part of it, at Stripe as here.
PAYMENT_METHOD_TYPES = {
    "acss_debit", "afterpay_clearpay", "alipay", "au_becs_debit", "bacs_debit", "bancontact", "boleto", "card",
    "card_present", "eps", "fpx", "giropay", "grabpay", "ideal", "interac_present", "klarna", "oxxo", "p24",
    "sepa_debit", "sofort", "wechat_pay",
}  # fmt: skip


@pytest.fixture
def served(client, merchant, t0):
    """One object of each type, made through the API where it can be."""
    subscription = subscribed(t0, account=merchant)
    invoice = subscription.latest_invoice
    charge = client.v1.charges.list({"customer": subscription.customer_id}).data[0]
    refund = client.v1.refunds.create({"charge": charge.id, "amount": 100})
    coupon = client.v1.coupons.create({"percent_off": 10, "duration": "forever"})
    product = ProductFactory(account=merchant)
    price = client.v1.prices.create(
        {"product": product.id, "currency": "eur", "unit_amount": 900, "recurring": {"interval": "month"}}
    )
    payment_method = client.v1.customers.retrieve(subscription.customer_id).invoice_settings.default_payment_method
    return {
        "coupon": f"/v1/coupons/{coupon.id}",
        "customer": f"/v1/customers/{subscription.customer_id}",
        "invoice": f"/v1/invoices/{invoice.pk}",
        "payment_method": f"/v1/payment_methods/{payment_method}",
        "price": f"/v1/prices/{price.id}",
        "product": f"/v1/products/{product.id}",
        "refund": f"/v1/refunds/{refund.id}",
    }


def _fields(kind: str, obj: dict) -> list[str]:
    fields = EXPANDABLE[kind]
    if kind == "payment_method":
        fields = [f for f in fields if f not in PAYMENT_METHOD_TYPES or f == obj["type"]]
    return fields


@pytest.mark.parametrize("kind", sorted(set(EXPANDABLE) - {"product_feature"}))
def test_every_expandable_field_expands(client, served, kind):
    plain = client.raw_request("get", served[kind]).body
    plain = json.loads(plain)
    failures = []
    for field in _fields(kind, plain):
        try:
            body = json.loads(client.raw_request("get", served[kind], expand=[field]).body)
        except stripe.InvalidRequestError as error:
            failures.append(f"{field}: {error.user_message}")
            continue
        if field not in body:
            failures.append(f"{field}: missing from {sorted(body)}")
    assert not failures, f"{kind}: " + "; ".join(failures)


@pytest.mark.parametrize("kind", sorted(set(EXPANDABLE) - {"product_feature"}))
def test_all_expandable_fields_at_once_in_a_list(client, served, kind):
    """The same expansions through the object's list (``data.`` prefix), all in one request."""
    plain = json.loads(client.raw_request("get", served[kind]).body)
    listing = served[kind].rsplit("/", 1)[0]
    params = {"expand": [f"data.{field}" for field in _fields(kind, plain)]}
    if kind == "payment_method":
        params["customer"] = plain["customer"]
    body = json.loads(client.raw_request("get", listing, **params).body)
    assert body["object"] == "list", body
    mine = next(item for item in body["data"] if item["id"] == plain["id"])
    assert set(_fields(kind, plain)) <= set(mine)


def test_customer_includable_lists(client, served):
    customer = json.loads(
        client.raw_request(
            "get", served["customer"], expand=["sources", "subscriptions", "tax_ids", "tax", "cash_balance"]
        ).body
    )
    assert customer["sources"] == {
        "object": "list",
        "data": [],
        "has_more": False,
        "url": f"/v1/customers/{customer['id']}/sources",
    }
    assert [s["object"] for s in customer["subscriptions"]["data"]] == ["subscription"]
    assert customer["tax_ids"]["data"] == [] and customer["tax_ids"]["url"] == f"/v1/customers/{customer['id']}/tax_ids"
    assert customer["tax"]["automatic_tax"] == "not_collecting" and customer["cash_balance"] is None
    plain = json.loads(client.raw_request("get", served["customer"]).body)
    assert not {"sources", "subscriptions", "tax_ids", "tax", "cash_balance"} & set(plain)


def test_includable_fields_of_a_list_cost_one_query_each(merchant, t0, django_assert_max_num_queries):
    from django.test import Client

    for _ in range(4):
        subscribed(t0, account=merchant)
    http = Client(HTTP_AUTHORIZATION=f"Bearer {merchant.test_secret}")
    expand = ["data.subscriptions", "data.tax_ids", "data.sources", "data.invoice_credit_balance"]
    with django_assert_max_num_queries(12):
        response = http.get("/v1/customers", {"expand[]": expand})
    assert response.status_code == 200
    customers = response.json()["data"]
    assert len(customers) == 4 and all(len(c["subscriptions"]["data"]) == 1 for c in customers)
