import datetime as dt

import time_machine

from billing.models import Invoice, Subscription
from billing.services.billing_cycle import billing_cycle_run
from billing.services.subscriptions import ItemSpec, subscription_create
from tests.factories.billing import CustomerFactory, PriceFactory, card


def test_create_and_renew(db, actor, t0):
    with time_machine.travel(t0, tick=False):
        customer = CustomerFactory()
        price = PriceFactory(account=customer.account, product__account=customer.account)
        card(customer)
        sub = subscription_create(customer=customer, items=[ItemSpec(price, 1)], actor=actor)
    assert sub.status == Subscription.Status.ACTIVE
    assert sub.current_period_end == dt.datetime(2026, 2, 28, 10, tzinfo=dt.UTC)
    with time_machine.travel(sub.current_period_end + dt.timedelta(seconds=1), tick=False):
        billing_cycle_run()
    sub.refresh_from_db()
    assert sub.current_period_end == dt.datetime(2026, 3, 31, 10, tzinfo=dt.UTC)
    assert Invoice.objects.filter(subscription=sub, status="paid").count() == 2
