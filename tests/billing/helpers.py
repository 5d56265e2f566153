"""Builders shared by the billing tests."""

import datetime as dt

import time_machine

from billing.audit import Actor
from billing.services.billing_cycle import billing_cycle_run
from billing.services.subscriptions import ItemSpec, subscription_create
from tests.factories.billing import CustomerFactory, PriceFactory, card

ACTOR = Actor.system("test")


def subscribed(
    at: dt.datetime,
    *,
    amount=1000,
    currency="eur",
    interval="month",
    number="4242424242424242",
    account=None,
    **kwargs,
):
    """A customer with a card and one subscription created at ``at`` (of ``account``, else of a new merchant)."""
    with time_machine.travel(at, tick=False):
        customer = CustomerFactory(**({"account": account} if account is not None else {}))
        price = PriceFactory(
            account=customer.account,
            product__account=customer.account,
            unit_amount=amount,
            currency=currency,
            recurring_interval=interval,
        )
        card(customer, number)
        subscription = subscription_create(
            customer=customer, items=[ItemSpec(price, kwargs.pop("quantity", 1))], actor=ACTOR, **kwargs
        )
    return subscription


def run_cycle(at: dt.datetime) -> dict:
    with time_machine.travel(at, tick=False):
        return billing_cycle_run()
