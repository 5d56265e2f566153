"""/v1/account, /v1/accounts, /v1/balance_transactions, a customer's tax ids and balance ledger, product features."""

import datetime as dt

import pytest
import stripe
import time_machine

from billing.models import CustomerBalanceTransaction
from billing.services.accounts import account_update
from billing.services.invoices import invoice_void
from billing.services.subscriptions import subscription_pause_collection
from configurations.models import Branding
from tests.billing.helpers import ACTOR, run_cycle, subscribed
from tests.factories.billing import ProductFactory

FEB_28 = dt.datetime(2026, 2, 28, 10, tzinfo=dt.UTC)


def test_the_account_is_the_keys_merchant(client, merchant, django_user_model):
    account_update(account=merchant, actor=ACTOR, country="de", default_currency="EUR")
    Branding.objects.create(account=merchant, business_name="Acme Cloud")
    user = django_user_model.objects.create_user("owner", email="owner@example.com")
    merchant.memberships.create(user=user)
    account = client.v1.accounts.retrieve_current()
    assert account.object == "account" and account.id == merchant.id
    assert account.country == "DE" and account.default_currency == "eur" and account.email == "owner@example.com"
    assert account.business_profile.name == "Acme Cloud"
    assert account.settings.dashboard.display_name == "Acme Cloud"
    assert account.type == "standard" and account.charges_enabled is True


def test_there_are_no_connected_accounts_and_no_money_ledger(client):
    accounts = client.v1.accounts.list()
    assert accounts.object == "list" and accounts.data == [] and accounts.url == "/v1/accounts"
    transactions = client.v1.balance_transactions.list({"limit": 3})
    assert transactions.data == [] and transactions.has_more is False


def test_account_country_and_currency_are_checked(merchant):
    from billing.exceptions import InvalidRequest

    with pytest.raises(InvalidRequest):
        account_update(account=merchant, actor=ACTOR, country="Germany")
    with pytest.raises(InvalidRequest):
        account_update(account=merchant, actor=ACTOR, default_currency="xyz")


def test_customer_tax_ids_create_list_retrieve_delete(client, merchant):
    customer = client.v1.customers.create({"email": "vat@example.com"})
    tax_id = client.v1.customers.tax_ids.create(customer.id, {"type": "eu_vat", "value": "DE 123 456 789"})
    assert tax_id.object == "tax_id" and tax_id.value == "DE123456789" and tax_id.country == "DE"
    assert tax_id.customer == customer.id
    listed = client.v1.customers.tax_ids.list(customer.id)
    assert [t.id for t in listed.data] == [tax_id.id] and listed.url == f"/v1/customers/{customer.id}/tax_ids"
    assert client.v1.customers.tax_ids.retrieve(customer.id, tax_id.id).value == "DE123456789"
    deleted = client.v1.customers.tax_ids.delete(customer.id, tax_id.id)
    assert deleted.deleted is True and deleted.id == tax_id.id
    assert client.v1.customers.tax_ids.list(customer.id).data == []
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.customers.tax_ids.retrieve(customer.id, tax_id.id)
    assert error.value.http_status == 404


@pytest.mark.parametrize(
    "params, param",
    [
        ({"type": "eu_vat", "value": "DE12"}, "value"),
        ({"type": "xx_vat", "value": "DE123456789"}, "type"),
        ({"value": "DE123456789"}, "type"),
    ],
)
def test_a_bad_tax_id_answers_stripes_error(client, params, param):
    customer = client.v1.customers.create({})
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.customers.tax_ids.create(customer.id, params)
    assert error.value.http_status == 400 and error.value.param == param


def test_another_customers_tax_id_is_missing(client, merchant):
    mine = client.v1.customers.create({})
    other = client.v1.customers.create({})
    tax_id = client.v1.customers.tax_ids.create(mine.id, {"type": "gb_vat", "value": "GB123456789"})
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.customers.tax_ids.retrieve(other.id, tax_id.id)
    assert error.value.http_status == 404


def test_the_customer_balance_ledger_records_what_invoices_take_and_give_back(client, merchant, t0):
    subscription = subscribed(t0, account=merchant)
    with time_machine.travel(subscription.current_period_start + dt.timedelta(days=1), tick=False):
        subscription_pause_collection(subscription=subscription, actor=ACTOR, behavior="mark_uncollectible")
    customer = subscription.customer
    customer.balance = -300
    customer.save()
    run_cycle(FEB_28)
    subscription.refresh_from_db()
    invoice = subscription.latest_invoice
    invoice_void(invoice=invoice, actor=ACTOR)
    listed = client.v1.customers.balance_transactions.list(customer.id)
    assert [(t.type, t.amount, t.ending_balance, t.invoice) for t in listed.data] == [
        ("unapplied_from_invoice", -300, -300, invoice.pk),
        ("applied_to_invoice", 300, 0, invoice.pk),
    ]
    assert listed.data[0].object == "customer_balance_transaction" and listed.data[0].currency == invoice.currency
    one = client.v1.customers.balance_transactions.retrieve(customer.id, listed.data[1].id)
    assert one.amount == 300
    assert CustomerBalanceTransaction.objects.filter(customer=customer).count() == 2


def test_product_features_are_an_empty_list(client, merchant):
    product = ProductFactory(account=merchant)
    features = client.v1.products.features.list(product.id)
    assert features.data == [] and features.url == f"/v1/products/{product.id}/features"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.products.features.list("prod_missing")
    assert error.value.http_status == 404 and error.value.param == "product"


def test_a_balance_adjustment_credits_the_customer(client):
    customer = client.v1.customers.create({})
    credit = client.v1.customers.balance_transactions.create(
        customer.id, {"amount": -500, "currency": "EUR", "description": "Goodwill", "metadata": {"ticket": "42"}}
    )
    assert (credit.type, credit.amount, credit.ending_balance, credit.currency) == ("adjustment", -500, -500, "eur")
    assert credit.metadata.to_dict() == {"ticket": "42"} and credit.description == "Goodwill"
    refreshed = client.v1.customers.retrieve(customer.id)
    assert refreshed.balance == -500 and refreshed.currency == "eur"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.customers.balance_transactions.create(customer.id, {"amount": 100, "currency": "usd"})
    assert error.value.param == "currency"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.customers.balance_transactions.create(customer.id, {"amount": 0, "currency": "eur"})
    assert error.value.param == "amount"
    assert client.v1.customers.retrieve(customer.id).balance == -500


def test_tax_ids_are_listed_by_owner_and_retrieved_account_wide(client, other_client):
    customer = client.v1.customers.create({"email": "tax@example.com"})
    tax_id = client.v1.customers.tax_ids.create(customer.id, {"type": "eu_vat", "value": "DE123456789"})
    listed = client.v1.tax_ids.list({"owner": {"type": "customer", "customer": customer.id}})
    assert [t.id for t in listed.data] == [tax_id.id] and listed.url == "/v1/tax_ids"
    assert client.v1.tax_ids.list().data == []  # owner[type]=self: the account's own tax ids, none here
    assert client.v1.tax_ids.retrieve(tax_id.id).owner.customer == customer.id
    with pytest.raises(stripe.InvalidRequestError) as error:
        other_client.v1.tax_ids.retrieve(tax_id.id)
    assert error.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.tax_ids.list({"owner": {"type": "customer"}})
    assert error.value.param == "owner[customer]"


def test_tax_ids_are_listed_by_a_customers_id_as_dj_stripe_asks(client, other_client):
    customer = client.v1.customers.create({"email": "tax@example.com"})
    first = client.v1.customers.tax_ids.create(customer.id, {"type": "eu_vat", "value": "DE123456789"})
    second = client.v1.customers.tax_ids.create(customer.id, {"type": "gb_vat", "value": "GB123456789"})
    client.v1.customers.tax_ids.create(client.v1.customers.create().id, {"type": "eu_vat", "value": "DE987654321"})
    listed = client.v1.tax_ids.list({"id": customer.id, "limit": 1})  # extension: Stripe's list has no ``id``
    assert [t.id for t in listed.auto_paging_iter()] == [second.id, first.id]
    for call, param in (
        (lambda: client.v1.tax_ids.list({"id": "cus_nope"}), "id"),
        (lambda: other_client.v1.tax_ids.list({"id": customer.id}), "id"),
        (lambda: client.v1.tax_ids.list({"id": customer.id, "owner": {"type": "self"}}), "id"),
    ):
        with pytest.raises(stripe.InvalidRequestError) as error:
            call()
        assert error.value.param == param and error.value.http_status in (400, 404)


def test_customer_sources_are_an_empty_list(client):
    customer = client.v1.customers.create({"email": "sources@example.com"})
    client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    sources = client.v1.customers.payment_sources.list(customer.id, {"object": "card"})
    assert sources.data == [] and sources.url == f"/v1/customers/{customer.id}/sources"
