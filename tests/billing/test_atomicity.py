import datetime as dt

import pytest
import time_machine

from billing.exceptions import GatewayUnavailable
from billing.models import AuditEntry, Event, Invoice, InvoiceLineItem, Subscription
from billing.services.subscriptions import ItemSpec, subscription_create
from tests.billing.helpers import ACTOR, run_cycle, subscribed
from tests.factories.billing import CustomerFactory, PriceFactory, card

UNAVAILABLE = "tests.billing.gateways.UnavailableGateway"


def test_gateway_failure_while_creating_leaves_nothing(db, settings, t0):
    with time_machine.travel(t0, tick=False):
        customer = CustomerFactory()
        price = PriceFactory(account=customer.account, product__account=customer.account)
        card(customer)
        counts = [m.objects.count() for m in (Invoice, InvoiceLineItem, Event, AuditEntry)]
        settings.BILLING_GATEWAY = UNAVAILABLE
        with pytest.raises(GatewayUnavailable):
            subscription_create(customer=customer, items=[ItemSpec(price)], actor=ACTOR)
    assert not Subscription.objects.exists()
    assert [m.objects.count() for m in (Invoice, InvoiceLineItem, Event, AuditEntry)] == counts


def test_gateway_failure_during_renewal_leaves_no_half_written_invoice(db, settings, t0):
    subscription = subscribed(t0)
    settings.BILLING_GATEWAY = UNAVAILABLE
    summary = run_cycle(dt.datetime(2026, 2, 28, 10, tzinfo=dt.UTC))
    assert summary["errors"] == 1
    subscription.refresh_from_db()
    assert subscription.invoices.count() == 1
    assert subscription.current_period_end == dt.datetime(2026, 2, 28, 10, tzinfo=dt.UTC)
    settings.BILLING_GATEWAY = "billing.gateways.test.TestGateway"
    run_cycle(dt.datetime(2026, 2, 28, 10, 1, tzinfo=dt.UTC))
    assert subscription.invoices.filter(status="paid").count() == 2


def test_running_the_cycle_twice_for_the_same_moment_changes_nothing(db, t0):
    subscriptions = [subscribed(t0), subscribed(t0, number="4242424242424242", trial_period_days=3)]
    failing = subscribed(t0)
    with time_machine.travel(t0 + dt.timedelta(hours=1), tick=False):
        card(failing.customer, "4000000000000341")
    moment = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    first = run_cycle(moment)
    assert first["steps"] == 3
    snapshot = [m.objects.count() for m in (Invoice, InvoiceLineItem, Event, AuditEntry)]
    states = list(Subscription.objects.order_by("id").values_list("status", "current_period_end", "period_index"))
    second = run_cycle(moment)
    assert second == {"subscriptions": 0, "steps": 0, "retries": 0, "errors": 0}
    assert [m.objects.count() for m in (Invoice, InvoiceLineItem, Event, AuditEntry)] == snapshot
    assert (
        list(Subscription.objects.order_by("id").values_list("status", "current_period_end", "period_index")) == states
    )
    assert subscriptions[0].invoices.count() == 2
