"""Pending updates in the engine: what the billing cycle's expiry sweep costs, an answer that never came, and a
renewal that finds the update expired."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.exceptions import InvalidRequest
from billing.models import Charge, Event, Invoice, Subscription
from billing.services.subscriptions import ItemChange, renew_batch, subscription_change_items, subscription_update
from billing.services.subscriptions.change import ChangeOptions
from tests.billing.helpers import ACTOR, run_cycle, subscribed
from tests.billing.test_query_counts import statements
from tests.factories.billing import PriceFactory, card, sepa

FAILS_WHEN_CHARGED = "4000000000000341"


def pending_upgrade(t0: dt.datetime, at: dt.datetime) -> Subscription:
    """A subscription (created at ``t0``) whose upgrade at ``at`` waits for a payment that was declined."""
    subscription = subscribed(t0)
    customer = subscription.customer
    with time_machine.travel(at, tick=False):
        card(customer, FAILS_WHEN_CHARGED)
        bigger = PriceFactory(
            account=customer.account, product__account=customer.account, unit_amount=3000, currency="eur"
        )
        subscription_change_items(
            subscription=subscription,
            changes=[ItemChange(item=subscription.items.get(), price=bigger)],
            actor=ACTOR,
            proration_behavior="always_invoice",
            payment_behavior="pending_if_incomplete",
        )
    subscription.refresh_from_db()
    assert subscription.pending_update is not None
    return subscription


@pytest.mark.parametrize("count", [1, 10])
def test_the_expiry_sweep_costs_a_few_statements_per_subscription(db, t0, count):
    at = t0 + dt.timedelta(days=3)
    subscriptions = [pending_upgrade(t0, at) for _ in range(count)]
    expired_at = at + dt.timedelta(hours=23, minutes=1)
    with time_machine.travel(expired_at, tick=False), CaptureQueriesContext(connection) as captured:
        summary = renew_batch([subscription.pk for subscription in subscriptions])
    assert summary == {"subscriptions": count, "steps": count, "errors": 0}
    # Per batch: the subscriptions with what a renewal reads (6). Per expiry: claim, the invoice (locked, its lines,
    # saved), the subscription, audit, events.
    assert len(statements(captured)) <= 6 + 7 * count, "\n".join(s[:150] for s in statements(captured))
    assert Invoice.objects.filter(billing_reason="subscription_update", status="void").count() == count
    assert Event.objects.filter(type="customer.subscription.pending_update_expired").count() == count
    assert not Subscription.objects.filter(pending_update__isnull=False).exists()


def test_the_expiry_comes_before_the_renewal_that_follows_it(db, t0):
    # Asked 2 hours before the period ends: the update expires at the period end, and the renewal bills the items
    # the subscription kept.
    subscription = pending_upgrade(t0, t0 + dt.timedelta(days=28, hours=-2))
    expires_at = subscription.pending_update_expires_at
    assert expires_at == subscription.current_period_end
    run_cycle(expires_at + dt.timedelta(hours=1))
    subscription.refresh_from_db()
    assert subscription.pending_update is None and subscription.items.get().price.unit_amount == 1000
    renewal = Invoice.objects.get(subscription=subscription, billing_reason="subscription_cycle")
    assert renewal.total == 1000
    types = list(Event.objects.filter(type__startswith="customer.subscription").values_list("type", flat=True))
    assert types.index("customer.subscription.pending_update_expired") < len(types) - 1


def test_an_unanswered_first_attempt_keeps_the_update_until_the_cycle_sends_it_again(db, settings, t0):
    subscription = subscribed(t0)
    customer = subscription.customer
    at = t0 + dt.timedelta(days=3)
    settings.BILLING_GATEWAY = "tests.billing.gateways.UnavailableGateway"
    with time_machine.travel(at, tick=False):
        bigger = PriceFactory(
            account=customer.account, product__account=customer.account, unit_amount=3000, currency="eur"
        )
        subscription_update(
            subscription=subscription,
            actor=ACTOR,
            changes=[ItemChange(item=subscription.items.get(), price=bigger)],
            change_options=ChangeOptions(proration_behavior="always_invoice", payment_behavior="pending_if_incomplete"),
        )
    subscription.refresh_from_db()
    assert subscription.pending_update is not None and subscription.items.get().price_id != bigger.pk
    assert Charge.objects.filter(invoice_id=subscription.latest_invoice_id, status="pending").exists()
    assert not Event.objects.filter(type="customer.subscription.updated", created__gte=at).exists()

    settings.BILLING_GATEWAY = "billing.gateways.test.TestGateway"
    run_cycle(at + dt.timedelta(minutes=10))  # the lost call is sent again and succeeds
    subscription.refresh_from_db()
    assert subscription.pending_update is None and subscription.items.get().price_id == bigger.pk
    # As with allow_incomplete: one update, no pending_update_applied (the update was never shown as failed).
    changed = Event.objects.filter(type="customer.subscription.updated", created__gte=at).get()
    assert "items" in changed.previous_attributes and "pending_update" not in changed.previous_attributes
    assert not Event.objects.filter(type="customer.subscription.pending_update_applied").exists()


def test_a_bank_debit_cannot_carry_a_pending_update(db, t0):
    subscription = subscribed(t0)
    customer = subscription.customer
    with time_machine.travel(t0 + dt.timedelta(days=3), tick=False):
        sepa(customer, default=True)
        bigger = PriceFactory(
            account=customer.account, product__account=customer.account, unit_amount=3000, currency="eur"
        )
        with pytest.raises(InvalidRequest) as refused:
            subscription_change_items(
                subscription=subscription,
                changes=[ItemChange(item=subscription.items.get(), price=bigger)],
                actor=ACTOR,
                proration_behavior="always_invoice",
                payment_behavior="pending_if_incomplete",
            )
    assert refused.value.param == "payment_behavior" and "sepa_debit" in refused.value.message
    assert subscription.items.get().price.unit_amount == 1000
    assert not Invoice.objects.filter(subscription=subscription, billing_reason="subscription_update").exists()
