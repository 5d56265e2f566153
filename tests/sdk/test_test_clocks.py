"""Test clocks through the official SDK: customers on a clock move only with it; an advance runs the billing cycle
for them in the clock's time (renewals, trial ends, dunning), asynchronously (eager here: ready at once)."""

import datetime as dt

import pytest
import stripe

from billing.models import Customer, Event, Subscription, TestClock
from billing.periods import add_months
from billing.services.billing_cycle import billing_cycle_run
from tests.factories.billing import PriceFactory

T0 = dt.datetime(2030, 1, 15, 12, 0, tzinfo=dt.UTC)


def ts(moment: dt.datetime) -> int:
    return int(moment.timestamp())


@pytest.fixture
def price(merchant):
    return PriceFactory(account=merchant, product__account=merchant, unit_amount=1500)


@pytest.fixture
def test_clock(client):
    return client.v1.test_helpers.test_clocks.create({"frozen_time": ts(T0), "name": "Renewals"})


def _customer(client, test_clock, card="pm_card_visa"):
    customer = client.v1.customers.create({"email": "clock@example.com", "test_clock": test_clock.id})
    pm = client.v1.payment_methods.attach(card, {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": pm.id}})
    return customer


def _advance(client, test_clock, moment: dt.datetime):
    advancing = client.v1.test_helpers.test_clocks.advance(test_clock.id, {"frozen_time": ts(moment)})
    assert advancing.status == "advancing"
    assert advancing.status_details.advancing.target_frozen_time == ts(moment)
    ready = client.v1.test_helpers.test_clocks.retrieve(test_clock.id)
    assert ready.status == "ready" and ready.frozen_time == ts(moment)
    return ready


def test_create_retrieve_list_and_the_customer_on_the_clock(client, test_clock):
    assert test_clock.object == "test_helpers.test_clock" and test_clock.id.startswith("clock_")
    assert test_clock.frozen_time == ts(T0) and test_clock.status == "ready" and not test_clock.livemode
    assert test_clock.name == "Renewals" and test_clock.deletes_after > test_clock.created
    assert client.v1.test_helpers.test_clocks.retrieve(test_clock.id).id == test_clock.id
    assert [c.id for c in client.v1.test_helpers.test_clocks.list().data] == [test_clock.id]

    customer = client.v1.customers.create({"test_clock": test_clock.id})
    assert customer.test_clock == test_clock.id and customer.created == ts(T0)
    expanded = client.v1.customers.retrieve(customer.id, {"expand": ["test_clock"]})
    assert expanded.test_clock.id == test_clock.id and expanded.test_clock.frozen_time == ts(T0)
    assert Event.objects.filter(type="test_helpers.test_clock.created").count() == 1


def test_three_months_renew_a_monthly_subscription_three_times(client, test_clock, price):
    customer = _customer(client, test_clock)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    assert sub.status == "active" and sub.start_date == ts(T0)

    _advance(client, test_clock, add_months(T0, 2))  # Stripe's limit: two intervals of the shortest subscription
    _advance(client, test_clock, add_months(T0, 3))

    invoices = client.v1.invoices.list({"customer": customer.id}).data
    assert [i.status for i in invoices] == ["paid"] * 4
    renewals = [i for i in invoices if i.billing_reason == "subscription_cycle"]
    assert [r.created for r in sorted(renewals, key=lambda r: r.created)] == [ts(add_months(T0, n)) for n in (1, 2, 3)]
    assert all(i.amount_paid == 1500 for i in renewals)
    sub = client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "active" and sub["items"].data[0].current_period_start == ts(add_months(T0, 3))
    assert Event.objects.filter(type="test_helpers.test_clock.ready").count() == 2
    # Requests on the clock's customers run in its time too.
    canceled = client.v1.subscriptions.cancel(sub.id)
    assert canceled.canceled_at == ts(add_months(T0, 3)) and canceled.ended_at == ts(add_months(T0, 3))
    renewed = Event.objects.filter(type="invoice.paid", data_object__billing_reason="subscription_cycle")
    assert renewed.count() == 3 and all(event.simulated for event in renewed)


def test_a_trial_ends_when_the_clock_passes_it(client, test_clock, price):
    customer = _customer(client, test_clock)
    sub = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id}], "trial_period_days": 7}
    )
    assert sub.status == "trialing" and sub.trial_end == ts(T0 + dt.timedelta(days=7))

    _advance(client, test_clock, T0 + dt.timedelta(days=8))

    sub = client.v1.subscriptions.retrieve(sub.id, {"expand": ["latest_invoice"]})
    assert sub.status == "active"
    assert sub.latest_invoice.amount_paid == 1500 and sub.latest_invoice.created == ts(T0 + dt.timedelta(days=7))


def test_dunning_on_a_failing_card(client, test_clock, price, settings):
    settings.BILLING_RETRY_DAYS = [1, 3, 7]
    customer = _customer(client, test_clock)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    failing = client.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": failing.id}})

    renewal = add_months(T0, 1)
    _advance(client, test_clock, renewal + dt.timedelta(hours=1))
    sub = client.v1.subscriptions.retrieve(sub.id, {"expand": ["latest_invoice"]})
    assert sub.status == "past_due"
    invoice = sub.latest_invoice
    assert invoice.status == "open" and invoice.attempt_count == 1
    assert invoice.next_payment_attempt == ts(renewal + dt.timedelta(days=1))

    _advance(client, test_clock, renewal + dt.timedelta(days=8))
    sub = client.v1.subscriptions.retrieve(sub.id, {"expand": ["latest_invoice"]})
    assert sub.status == "unpaid"
    assert sub.latest_invoice.attempt_count == 4 and sub.latest_invoice.next_payment_attempt is None
    failures = Event.objects.filter(type="invoice.payment_failed").order_by("created")
    assert [e.created for e in failures] == [renewal + dt.timedelta(days=d) for d in (0, 1, 3, 7)]


def test_the_real_time_billing_cycle_leaves_clock_customers_alone(client, test_clock, price):
    customer = _customer(client, test_clock)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    before = Subscription.objects.get(pk=sub.id).period_index
    billing_cycle_run(now=add_months(T0, 6))
    assert Subscription.objects.get(pk=sub.id).period_index == before
    assert len(client.v1.invoices.list({"customer": customer.id}).data) == 1


def test_bad_input_answers_stripe_errors(client, other_client, merchant, live_server, test_clock, price):
    clocks = client.v1.test_helpers.test_clocks
    with pytest.raises(stripe.InvalidRequestError) as error:
        clocks.advance(test_clock.id, {"frozen_time": ts(T0 - dt.timedelta(days=1))})
    assert error.value.param == "frozen_time" and error.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as error:
        clocks.advance(test_clock.id, {"frozen_time": ts(T0)})
    assert error.value.param == "frozen_time"
    with pytest.raises(stripe.InvalidRequestError) as error:
        clocks.advance(test_clock.id, {"frozen_time": ts(add_months(T0, 25))})  # two years without subscriptions
    assert error.value.param == "frozen_time"
    _customer(client, test_clock)
    client.v1.subscriptions.create({"customer": client.v1.customers.list().data[0].id, "items": [{"price": price.id}]})
    with pytest.raises(stripe.InvalidRequestError) as error:
        clocks.advance(test_clock.id, {"frozen_time": ts(add_months(T0, 2) + dt.timedelta(seconds=1))})
    assert error.value.param == "frozen_time"
    assert clocks.retrieve(test_clock.id).status == "ready"

    for call in (
        lambda: other_client.v1.test_helpers.test_clocks.retrieve(test_clock.id),
        lambda: other_client.v1.test_helpers.test_clocks.advance(test_clock.id, {"frozen_time": ts(T0) + 60}),
        lambda: other_client.v1.test_helpers.test_clocks.delete(test_clock.id),
        lambda: clocks.retrieve("clock_nope"),
        lambda: clocks.advance("clock_nope", {"frozen_time": ts(T0) + 60}),
    ):
        with pytest.raises(stripe.InvalidRequestError) as error:
            call()
        assert error.value.http_status == 404 and error.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as error:
        other_client.v1.customers.create({"test_clock": test_clock.id})
    assert error.value.http_status == 404 and error.value.param == "test_clock"

    live = stripe.StripeClient(merchant.live_secret, base_addresses={"api": live_server.url}, max_network_retries=0)
    for call in (lambda: live.v1.test_helpers.test_clocks.create({"frozen_time": ts(T0)}),):
        with pytest.raises(stripe.InvalidRequestError) as error:
            call()
        assert error.value.http_status == 400 and "test mode" in error.value.user_message
    assert live.v1.test_helpers.test_clocks.list().data == []
    with pytest.raises(stripe.InvalidRequestError) as error:  # a test-mode object, as any, is missing for a live key
        live.v1.test_helpers.test_clocks.advance(test_clock.id, {"frozen_time": ts(T0) + 60})
    assert error.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as error:
        live.v1.customers.create({"test_clock": test_clock.id})
    assert error.value.http_status == 404 and error.value.param == "test_clock"
    with pytest.raises(stripe.InvalidRequestError) as error:
        clocks.create({"frozen_time": 1})
    assert error.value.param == "frozen_time"
    assert TestClock.objects.count() == 1


def test_delete_removes_the_clock_and_its_customers(client, test_clock, price):
    customer = _customer(client, test_clock)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    other = client.v1.customers.create({"email": "not-on-a-clock@example.com"})

    deleted = client.v1.test_helpers.test_clocks.delete(test_clock.id)
    assert deleted.deleted and deleted.id == test_clock.id
    assert client.v1.customers.retrieve(customer.id).deleted
    assert client.v1.subscriptions.retrieve(sub.id).status == "canceled"
    assert [c.id for c in client.v1.customers.list().data] == [other.id]
    assert client.v1.test_helpers.test_clocks.list().data == []
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.test_helpers.test_clocks.retrieve(test_clock.id)
    assert error.value.http_status == 404
    assert Customer.objects.get(pk=customer.id).deleted
    assert Event.objects.filter(type="test_helpers.test_clock.deleted").count() == 1


def test_subscriptions_invoices_and_items_carry_the_customers_clock(client, test_clock, price):
    customer = _customer(client, test_clock)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    item = client.v1.invoice_items.create({"customer": customer.id, "amount": 500, "currency": "eur"})
    assert sub.test_clock == test_clock.id and item.test_clock == test_clock.id
    invoice = client.v1.invoices.retrieve(sub.latest_invoice)
    assert invoice.test_clock == test_clock.id

    expanded = client.v1.subscriptions.retrieve(sub.id, {"expand": ["test_clock", "latest_invoice.test_clock"]})
    assert expanded.test_clock.id == test_clock.id and expanded.test_clock.object == "test_helpers.test_clock"
    assert expanded.latest_invoice.test_clock.frozen_time == ts(T0)
    listed = client.v1.invoices.list({"customer": customer.id, "expand": ["data.test_clock"]}).data
    assert [i.test_clock.id for i in listed] == [test_clock.id]

    other = client.v1.customers.create({"email": "no-clock@example.com"})
    pm = client.v1.payment_methods.attach("pm_card_visa", {"customer": other.id})
    plain = client.v1.subscriptions.create(
        {"customer": other.id, "items": [{"price": price.id}], "default_payment_method": pm.id}
    )
    assert plain.test_clock is None
    assert client.v1.invoices.retrieve(plain.latest_invoice, {"expand": ["test_clock"]}).test_clock is None


def test_listing_with_the_clock_expanded_costs_the_same_for_any_number_of_rows(
    client, merchant, test_clock, price, django_assert_max_num_queries
):
    from django.test import Client

    http = Client(HTTP_AUTHORIZATION=f"Bearer {merchant.test_secret}")
    counts = []
    for _ in range(2):
        for _ in range(3):
            customer = _customer(client, test_clock)
            client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
        for url in ("/v1/subscriptions", "/v1/invoices"):
            with django_assert_max_num_queries(14) as captured:
                response = http.get(url, {"limit": 100, "expand[]": ["data.test_clock"]})
            assert response.status_code == 200
            assert {row["test_clock"]["id"] for row in response.json()["data"]} == {test_clock.id}
            counts.append(len(captured))
    assert counts[:2] == counts[2:]  # 3 rows or 6: the same queries


def test_a_clock_is_deleted_with_its_customers_30_days_after_it_was_made(client, test_clock, price, settings):
    import time_machine

    from billing.tasks import delete_expired_test_clocks

    assert test_clock.deletes_after == test_clock.created + 30 * 24 * 3600
    assert settings.CELERY_BEAT_SCHEDULE["test-clocks-expiry"]["task"] == delete_expired_test_clocks.name
    customer = _customer(client, test_clock)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    made = dt.datetime.fromtimestamp(test_clock.created, tz=dt.UTC)
    with time_machine.travel(made + dt.timedelta(days=20), tick=False):
        younger = client.v1.test_helpers.test_clocks.create({"frozen_time": ts(T0)})
    with time_machine.travel(made + dt.timedelta(days=30) - dt.timedelta(seconds=1), tick=False):
        assert delete_expired_test_clocks() == []
    with time_machine.travel(made + dt.timedelta(days=30, seconds=1), tick=False):
        assert delete_expired_test_clocks() == [test_clock.id]
        assert delete_expired_test_clocks() == []  # run again: nothing left to do

    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.test_helpers.test_clocks.retrieve(test_clock.id)
    assert error.value.http_status == 404
    assert client.v1.customers.retrieve(customer.id).deleted
    assert client.v1.subscriptions.retrieve(sub.id).status == "canceled"
    assert [c.id for c in client.v1.test_helpers.test_clocks.list().data] == [younger.id]
    deleted = Event.objects.get(type="test_helpers.test_clock.deleted")
    assert deleted.data_object["id"] == test_clock.id
