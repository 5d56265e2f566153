"""Builders shared by the billing tests."""

import datetime as dt
import re

import time_machine
from django.db import connection

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


# Django's own bookkeeping: serial ids that grow with every flush of a test database (a 4-digit number turns up).
FRAMEWORK_TABLES = {"auth_permission", "django_content_type", "django_migrations"}


def rows_containing(text: str, *, whole: bool = False) -> list[str]:
    """Every (table, column) of the database whose value, read as text, contains ``text``. With ``whole``, only
    where it stands on its own: a 4-digit CVC also turns up, by chance, inside random ids and tokens."""
    found = []
    quote = connection.ops.quote_name
    standalone = re.compile(rf"(?<![0-9A-Za-z_]){re.escape(text)}(?![0-9A-Za-z_])")
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            if table in FRAMEWORK_TABLES:
                continue
            for column in connection.introspection.get_table_description(cursor, table):
                cursor.execute(
                    f"SELECT CAST({quote(column.name)} AS TEXT) FROM {quote(table)} "
                    f"WHERE CAST({quote(column.name)} AS TEXT) LIKE %s",
                    [f"%{text}%"],
                )
                values = [value for (value,) in cursor.fetchall()]
                if any(standalone.search(value) for value in values) if whole else values:
                    found.append(f"{table}.{column.name}")
    return found


def left_for(response) -> str:
    """Where a 303 after a form sends the browser: a target on another origin is reached through the portal's
    same-origin continue page (``portal.leave``), which this unwraps after checking the detour is taken."""
    from urllib.parse import parse_qs, urlsplit

    from portal.leave import destination

    assert response.status_code == 303
    location = urlsplit(response["Location"])
    assert location.path == "/p/continue", response["Location"]
    return destination(parse_qs(location.query)["to"][0])["url"]
