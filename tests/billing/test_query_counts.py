import datetime as dt

import time_machine

from billing.services.subscriptions import subscription_advance
from tests.billing.helpers import subscribed


def test_one_renewal_stays_within_its_query_budget(db, t0, django_assert_max_num_queries):
    subscription = subscribed(t0, quantity=2)
    with (
        time_machine.travel(dt.datetime(2026, 2, 28, 10, tzinfo=dt.UTC), tick=False),
        django_assert_max_num_queries(33),
    ):
        subscription_advance(subscription_id=subscription.pk)
    assert subscription.invoices.filter(billing_reason="subscription_cycle", status="paid").exists()
