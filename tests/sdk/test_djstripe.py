"""dj-stripe, the most used Django client for Stripe, unmodified against our server: its bulk sync
(``djstripe_sync_models``) for every model whose resource we serve, and its webhook endpoint fed by our deliveries.

dj-stripe runs as its own Django project (tests/djstripe_project) in subprocesses, with its tables in its own
SQLite file and its Stripe client pointed at ``live_server``; it is pinned in requirements-dev.txt."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from billing import models as ours
from webhooks import ssrf
from webhooks.models import Delivery

pytest.importorskip("djstripe", reason="dj-stripe is pinned in requirements-dev.txt")

ROOT = Path(__file__).resolve().parents[2]

# dj-stripe's models whose Stripe resource we serve (its other models list resources we do not have:
# Connect, Issuing, Identity, Radar, checkout, payouts, files ...).
SERVED_MODELS = [
    "Account",
    "Product",
    "Price",
    "Coupon",
    "PromotionCode",
    "TaxRate",
    "Customer",
    "TaxId",
    "PaymentMethod",
    "SetupIntent",
    "Subscription",
    "SubscriptionItem",
    "Invoice",
    "LineItem",
    "InvoiceItem",
    "PaymentIntent",
    "Charge",
    "Refund",
    "BalanceTransaction",
    "Event",
    "WebhookEndpoint",
]


class DjStripeProject:
    """The dj-stripe test project: ``manage(...)`` runs one of its management commands against our server."""

    def __init__(self, database: Path, api_url: str, secret_key: str):
        self.server_log = database.with_suffix(".server.log")
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.djstripe_project.settings",
            "DJSTRIPE_DATABASE": str(database),
            "STRIPE_API_HOST": api_url,
            "STRIPE_TEST_SECRET_KEY": secret_key,
            "PYTHONPATH": str(ROOT),
        }

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", "django", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and done.returncode != 0:
            pytest.fail(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def dump(self) -> dict:
        return json.loads(self.manage("djstripe_test_dump").stdout)

    @contextmanager
    def serving(self):
        """dj-stripe's webhook URL served by ``runserver`` on a free local port; yields the base URL."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen(
            [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.server_log.open("w"),
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(base_url, timeout=1)
                    break
                except httpx.TransportError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"dj-stripe's server did not start:\n{self.server_log.read_text()}")
                    time.sleep(0.1)
            yield base_url
        finally:
            server.terminate()
            server.wait(timeout=10)


@pytest.fixture(scope="session")
def djstripe_schema(tmp_path_factory) -> Path:
    """dj-stripe's tables, made once per run and copied for each test."""
    database = tmp_path_factory.mktemp("djstripe") / "schema.sqlite3"
    DjStripeProject(database, "", "").manage("migrate", "--run-syncdb", "-v0")
    return database


@pytest.fixture
def djstripe(djstripe_schema, tmp_path, live_server, merchant) -> DjStripeProject:
    database = tmp_path / "djstripe.sqlite3"
    shutil.copyfile(djstripe_schema, database)
    return DjStripeProject(database, live_server.url, merchant.test_secret)


@pytest.fixture
def catalog(client):
    """What a merchant has after a first month: a product with a monthly price and a set-up fee, a coupon and
    its promotion code, a tax rate, a customer with a card, two tax ids and a balance, a discounted, taxed
    subscription whose first invoice was paid, a partial refund, a pending invoice item and a setup intent."""
    product = client.v1.products.create({"name": "Pro plan", "description": "Everything", "metadata": {"tier": "pro"}})
    monthly = client.v1.prices.create(
        {
            "product": product.id,
            "currency": "eur",
            "unit_amount": 1500,
            "recurring": {"interval": "month"},
            "nickname": "Monthly",
        }
    )
    setup_fee = client.v1.prices.create({"product": product.id, "currency": "eur", "unit_amount": 4900})
    tax_rate = client.v1.tax_rates.create(
        {"display_name": "VAT", "percentage": 19, "inclusive": False, "country": "DE", "jurisdiction": "DE"}
    )
    coupon = client.v1.coupons.create(
        {"percent_off": 20, "duration": "repeating", "duration_in_months": 3, "name": "Launch"}
    )
    promotion_code = client.v1.promotion_codes.create(
        {"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "LAUNCH20"}
    )
    customer = client.v1.customers.create(
        {
            "email": "ada@example.com",
            "name": "Ada Lovelace",
            "preferred_locales": ["de"],
            "address": {"line1": "Unter den Linden 1", "city": "Berlin", "postal_code": "10117", "country": "DE"},
        }
    )
    payment_method = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": payment_method.id}})
    tax_id = client.v1.customers.tax_ids.create(customer.id, {"type": "eu_vat", "value": "DE123456789"})
    second_tax_id = client.v1.customers.tax_ids.create(customer.id, {"type": "us_ein", "value": "12-3456789"})
    subscription = client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": monthly.id, "quantity": 2}],
            "default_tax_rates": [tax_rate.id],
            "discounts": [{"coupon": coupon.id}],
            "expand": ["latest_invoice"],
        }
    )
    invoice = subscription.latest_invoice
    payment_intent = client.v1.payment_intents.list({"customer": customer.id}).data[0]
    charge = client.v1.charges.list({"customer": customer.id}).data[0]
    refund = client.v1.refunds.create({"charge": charge.id, "amount": 300})
    invoice_item = client.v1.invoice_items.create(
        {"customer": customer.id, "pricing": {"price": setup_fee.id}, "description": "Set-up"}
    )
    setup_intent = client.v1.setup_intents.create({"customer": customer.id, "usage": "off_session"})
    with ssrf.using_resolver(lambda host, port: ["93.184.216.34"]):
        # An event type nothing here emits: no delivery is attempted.
        endpoint = client.v1.webhook_endpoints.create(
            {"url": "https://hooks.example.com/billing", "enabled_events": ["invoice.upcoming"]}
        )
    client.v1.customers.balance_transactions.create(customer.id, {"amount": -500, "currency": "eur"})
    return {
        "product": product,
        "monthly": monthly,
        "setup_fee": setup_fee,
        "tax_rate": tax_rate,
        "coupon": coupon,
        "promotion_code": promotion_code,
        "customer": client.v1.customers.retrieve(customer.id),
        "payment_method": payment_method,
        "tax_id": tax_id,
        "second_tax_id": second_tax_id,
        "subscription": client.v1.subscriptions.retrieve(subscription.id),
        "invoice": client.v1.invoices.retrieve(invoice.id),
        "payment_intent": client.v1.payment_intents.retrieve(payment_intent.id),
        "charge": client.v1.charges.retrieve(charge.id),
        "refund": refund,
        "invoice_item": invoice_item,
        "setup_intent": setup_intent,
        "webhook_endpoint": endpoint,
    }


def _synced_counts(stdout: str) -> dict[str, int]:
    return {model: int(count) for count, model in re.findall(r"^  Synced (\d+) (\w+) for ", stdout, re.MULTILINE)}


def test_sync_models_syncs_every_served_model_with_our_values(djstripe, catalog, merchant):
    # dj-stripe lists tax ids with GET /v1/tax_ids?id=<customer>, a parameter Stripe's list does not have (it filters
    # with owner[customer]); this server takes it as an extension, so the TaxId sync works too.
    done = djstripe.manage("djstripe_sync_models", *SERVED_MODELS, check=False)
    assert done.returncode == 0, done.stderr
    assert "Error" not in done.stderr, done.stderr
    scope = {"account": merchant, "livemode": False}
    expected = {
        "Account": 1,
        "Product": 1,
        "Price": 2,
        "Coupon": 1,
        "PromotionCode": 1,
        "TaxRate": 1,
        "Customer": 1,
        "TaxId": 2,
        "PaymentMethod": 1,
        "SetupIntent": 1,
        "Subscription": 1,
        "SubscriptionItem": 1,
        "Invoice": 1,
        "LineItem": ours.InvoiceLineItem.objects.filter(**scope).count(),
        "InvoiceItem": 1,
        "PaymentIntent": 1,
        "Charge": 1,
        "Refund": 1,
        "Event": ours.Event.objects.filter(**scope).count(),
        "WebhookEndpoint": 1,
    }
    # BalanceTransaction: the processor keeps that ledger, the list is empty (synced without error, no rows).
    assert _synced_counts(done.stdout) == expected

    synced = djstripe.dump()
    customer = ours.Customer.objects.get(pk=catalog["customer"].id)
    row = synced["Customer"][customer.id]
    assert row["email"] == customer.email == "ada@example.com"
    assert row["default_payment_method_id"] == customer.default_payment_method_id == catalog["payment_method"].id
    assert row["djstripe_owner_account_id"] == merchant.id and row["livemode"] is False
    data = row["stripe_data"]
    assert (data["name"], data["balance"], data["currency"]) == (customer.name, customer.balance, customer.currency)
    assert (data["balance"], data["currency"]) == (-500, "eur")
    assert data["address"]["city"] == "Berlin" and data["preferred_locales"] == ["de"]

    assert synced["Account"][merchant.id]["stripe_data"]["object"] == "account"

    for tax_id in (catalog["tax_id"], catalog["second_tax_id"]):
        row = synced["TaxId"][tax_id.id]
        assert row["customer_id"] == customer.id
        assert (row["stripe_data"]["type"], row["stripe_data"]["value"]) == (tax_id.type, tax_id.value)
    assert {(r["stripe_data"]["type"], r["stripe_data"]["value"]) for r in synced["TaxId"].values()} == {
        ("eu_vat", "DE123456789"),
        ("us_ein", "12-3456789"),
    }

    product = synced["Product"][catalog["product"].id]
    assert (product["name"], product["active"]) == ("Pro plan", True)
    assert product["stripe_data"]["description"] == "Everything" and product["metadata"] == {"tier": "pro"}

    for key in ("monthly", "setup_fee"):
        price = ours.Price.objects.get(pk=catalog[key].id)
        row = synced["Price"][price.id]
        assert (row["currency"], row["active"], row["nickname"]) == (price.currency, price.active, price.nickname)
        assert row["product_id"] == price.product_id
        assert row["stripe_data"]["unit_amount"] == price.unit_amount
        assert row["stripe_data"]["type"] == price.type
    monthly = synced["Price"][catalog["monthly"].id]["stripe_data"]
    assert (monthly["unit_amount"], monthly["recurring"]["interval"], monthly["recurring"]["interval_count"]) == (
        1500,
        "month",
        1,
    )
    assert synced["Price"][catalog["setup_fee"].id]["stripe_data"]["recurring"] is None

    coupon = synced["Coupon"][catalog["coupon"].id]["stripe_data"]
    assert (coupon["percent_off"], coupon["duration"], coupon["duration_in_months"], coupon["name"]) == (
        20,
        "repeating",
        3,
        "Launch",
    )
    promotion = synced["PromotionCode"][catalog["promotion_code"].id]["stripe_data"]
    assert promotion["code"] == "LAUNCH20" and promotion["promotion"]["coupon"] == catalog["coupon"].id

    tax_rate = synced["TaxRate"][catalog["tax_rate"].id]["stripe_data"]
    assert (tax_rate["percentage"], tax_rate["inclusive"], tax_rate["display_name"]) == (19, False, "VAT")

    payment_method = synced["PaymentMethod"][catalog["payment_method"].id]
    assert payment_method["customer_id"] == customer.id
    assert payment_method["stripe_data"]["card"]["last4"] == "4242"
    setup_intent = synced["SetupIntent"][catalog["setup_intent"].id]
    assert setup_intent["customer_id"] == customer.id
    assert setup_intent["stripe_data"]["status"] == ours.SetupIntent.objects.get(pk=catalog["setup_intent"].id).status

    subscription = ours.Subscription.objects.get(pk=catalog["subscription"].id)
    row = synced["Subscription"][subscription.id]
    assert row["customer_id"] == customer.id and row["stripe_data"]["status"] == subscription.status == "active"
    [item] = subscription.items.all()
    synced_item = synced["SubscriptionItem"][item.id]
    assert synced_item["subscription_id"] == subscription.id
    assert synced_item["stripe_data"]["quantity"] == item.quantity == 2
    assert synced_item["stripe_data"]["price"]["id"] == item.price_id
    periods = (synced_item["stripe_data"]["current_period_start"], synced_item["stripe_data"]["current_period_end"])
    assert periods == (
        int(subscription.current_period_start.timestamp()),
        int(subscription.current_period_end.timestamp()),
    )
    discounts = list(ours.Discount.objects.filter(subscription=subscription).values_list("id", flat=True))
    assert row["stripe_data"]["discounts"] == discounts and len(discounts) == 1

    invoice = ours.Invoice.objects.get(pk=catalog["invoice"].id)
    row = synced["Invoice"][invoice.id]
    assert row["subscription_id"] == subscription.id and row["customer_id"] == customer.id
    data = row["stripe_data"]
    assert (data["status"], data["total"], data["amount_paid"], data["amount_due"], data["number"]) == (
        invoice.status,
        invoice.total,
        invoice.amount_paid,
        invoice.amount_due,
        invoice.number,
    )
    assert (data["subtotal"], data["total"]) == (3000, 2856)  # 2 × 15.00, 20 % off, 19 % VAT
    for line in invoice.lines.all():
        assert synced["LineItem"][line.id]["stripe_data"]["amount"] == line.amount

    invoice_item = synced["InvoiceItem"][catalog["invoice_item"].id]
    assert invoice_item["customer_id"] == customer.id and invoice_item["invoice_id"] is None
    assert invoice_item["stripe_data"]["amount"] == 4900

    intent = ours.PaymentIntent.objects.get(pk=catalog["payment_intent"].id)
    row = synced["PaymentIntent"][intent.id]
    assert row["customer_id"] == customer.id and row["payment_method_id"] == catalog["payment_method"].id
    assert (row["stripe_data"]["amount"], row["stripe_data"]["status"]) == (intent.amount, intent.status)

    charge = ours.Charge.objects.get(pk=catalog["charge"].id)
    row = synced["Charge"][charge.id]
    assert Decimal(row["amount"]) == Decimal(charge.amount) / 100 and row["status"] == charge.status == "succeeded"
    assert (row["invoice_id"], row["payment_intent_id"]) == (invoice.id, intent.id)
    assert row["stripe_data"]["amount_refunded"] == charge.amount_refunded == 300

    refund = synced["Refund"][catalog["refund"].id]
    assert (refund["amount"], refund["charge_id"], refund["currency"]) == (300, charge.id, "eur")

    assert set(synced["Event"]) == set(ours.Event.objects.filter(**scope).values_list("id", flat=True))
    assert synced["WebhookEndpoint"][catalog["webhook_endpoint"].id]["url"] == "https://hooks.example.com/billing"


def test_webhooks_reach_djstripe_and_update_its_models(djstripe, client, merchant, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # dj-stripe's server is on 127.0.0.1
    with djstripe.serving() as base_url:
        created = json.loads(djstripe.manage("djstripe_test_endpoint", base_url).stdout)
        assert created["has_secret"] and created["url"].startswith(f"{base_url}/stripe/webhook/")

        customer = client.v1.customers.create({"email": "grace@example.com", "name": "Grace"})
        client.v1.customers.update(customer.id, {"name": "Grace Hopper"})
        tax_id = client.v1.customers.tax_ids.create(customer.id, {"type": "eu_vat", "value": "DE123456789"})
        product = client.v1.products.create({"name": "Team plan"})
        price = client.v1.prices.create(
            {"product": product.id, "currency": "eur", "unit_amount": 2500, "recurring": {"interval": "month"}}
        )
        client.v1.prices.update(price.id, {"nickname": "Team monthly"})
        card = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
        client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": card.id}})
        subscription = client.v1.subscriptions.create(
            {"customer": customer.id, "items": [{"price": price.id}], "expand": ["latest_invoice"]}
        )
        client.v1.subscriptions.update(subscription.id, {"metadata": {"seats": "5"}})
        charge = client.v1.charges.list({"customer": customer.id}).data[0]
        client.v1.refunds.create({"charge": charge.id, "amount": 500})

    deliveries = Delivery.objects.filter(endpoint_id=created["id"]).select_related("event")
    types = {delivery.event.type for delivery in deliveries}
    for kind in (
        "customer.created",
        "customer.updated",
        "customer.tax_id.created",
        "price.created",
        "price.updated",
        "customer.subscription.created",
        "customer.subscription.updated",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "payment_intent.succeeded",
        "charge.succeeded",
        "charge.refunded",
    ):
        assert kind in types
    failed = [(d.event.type, d.last_response_status, d.last_response_body[:300]) for d in deliveries]
    assert all(200 <= status < 300 for _, status, _ in failed), (failed, djstripe.server_log.read_text())

    synced = djstripe.dump()
    triggers = synced["WebhookEventTrigger"]
    assert len(triggers) == deliveries.count()
    assert [t for t in triggers if not (t["valid"] and t["processed"] and not t["exception"])] == []

    assert synced["Customer"][customer.id]["stripe_data"]["name"] == "Grace Hopper"
    assert synced["TaxId"][tax_id.id]["customer_id"] == customer.id
    assert synced["TaxId"][tax_id.id]["stripe_data"]["value"] == "DE123456789"
    assert synced["Price"][price.id]["nickname"] == "Team monthly"
    row = synced["Subscription"][subscription.id]
    assert row["stripe_data"]["status"] == "active" and row["metadata"] == {"seats": "5"}
    invoice = synced["Invoice"][subscription.latest_invoice.id]["stripe_data"]
    assert (invoice["status"], invoice["amount_paid"]) == ("paid", 2500)
    intent = ours.PaymentIntent.objects.get(invoice_id=subscription.latest_invoice.id)
    assert synced["PaymentIntent"][intent.id]["stripe_data"]["status"] == "succeeded"
    assert synced["Charge"][charge.id]["stripe_data"]["amount_refunded"] == 500
