"""Benchmark: the hosted portal's overview under gunicorn on PostgreSQL, against a bare database-backed page.

Run ``python bench/portal.py`` (or ``make bench``). It creates the database named by ``BENCH_DATABASE_URL``
(default ``postgres://postgres@127.0.0.1:5432/billing_bench_portal``), migrates it and builds, through the
services, an account on the billing plan with a default portal configuration that has every feature on, and
one customer with 3 cards (one of them the default) and 3 daily subscriptions whose renewals, run day by
day by the billing cycle, leave 100 finalized invoices. Each of ``BENCH_CONCURRENCY`` (default 4) client
threads is one browser: it gets a portal session of its own, redeemed like a session link, and sends its
``portal_session`` cookie. gunicorn (2 sync workers) serves ``bench.serving_wsgi`` on a free port of
127.0.0.1, and the threads send ``BENCH_REQUESTS`` (default 1000) requests per scenario:

- ``overview``: ``GET /p/``, the portal's home (session lookup and keep-alive, subscriptions with their
  upcoming invoices, payment methods, billing details, the first page of invoices), against
  ``GET /bench/page``: one SELECT of 10 rows rendered by a small Django template.

The baseline runs through the same gunicorn and the same middleware in the same run, so ``ratio``
(baseline requests/second over the overview's) says what the portal page costs over the bare minimum of a
database-backed HTML page. Every response must be a 200, or the bench fails. It then stops gunicorn, drops
the database and prints one JSON line.

``prepare()`` only uses the services and ``run()`` only needs a database URL and what ``prepare()``
returned, so a test can run both against its own (committed) test database.
"""

import datetime as dt
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__":
    # Run as a script, bench/ is sys.path[0], where this file would shadow the product's ``portal`` package.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import serving
from bench.serving import Scenario

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/billing_bench_portal"
DEFAULT_REQUESTS = 1_000
INVOICES = 100
SUBSCRIPTIONS = 3
CARDS = ("pm_card_visa", "pm_card_mastercard", "pm_card_amex")  # the first is the customer's default
PRODUCTS = ("Bench Basic", "Bench Plus", "Bench Extra")
RETURN_URL = "https://merchant.example/account"
OVERVIEW_PATH = "/p/"
BASELINE_PATH = "/bench/page"


@dataclass(frozen=True)
class Prepared:
    browser_keys: list[str]  # one portal session per client thread: the ``portal_session`` cookie values
    invoice_numbers: list[str]  # the newest invoices, as many as the overview's first page shows
    product_names: list[str]  # one per subscription
    card_last4: list[str]


# --- setup (services only) -------------------------------------------------------------------------


def _configuration(account, prices, actor) -> None:
    """The account's default configuration with every portal feature on, the three prices offered."""
    from configurations.services.portal_configurations import configuration_create
    from portal.demo import every_feature

    products = [{"product": price.product_id, "prices": [price.id]} for price in prices]
    configuration_create(
        account=account, livemode=False, actor=actor, data=every_feature(products, return_url=RETURN_URL)
    )


def _history(invoices: int, subscriptions: int) -> tuple[int, list[int]]:
    """How many days of history, and on which of them (0, 1, …) each daily subscription starts, so that
    renewing all of them every day until the last one leaves ``invoices`` invoices (the first one each, then
    one per further day)."""
    days = -(-invoices // subscriptions)
    return days, [days - (invoices // subscriptions + (i < invoices % subscriptions)) for i in range(subscriptions)]


def prepare(*, sessions: int) -> Prepared:
    """Create the baseline table, the account, its configuration and the customer with 3 payment methods,
    3 subscriptions and 100 finalized invoices, then ``sessions`` redeemed portal sessions for the customer.

    The history is built on billing's clock, day by day, ending now; the sessions are created at the real
    current time (they expire an hour after their last activity). Needs a configured, migrated Django
    database whose writes other processes can see (not a test transaction)."""
    from billing import clock
    from billing.audit import Actor
    from billing.models import Account, Invoice
    from billing.services.accounts import account_create
    from billing.services.billing_cycle import billing_cycle_run
    from billing.services.customers import customer_create, customer_set_default_payment_method
    from billing.services.payment_methods import payment_method_attach, payment_method_create
    from billing.services.products import price_create, product_create
    from billing.services.subscriptions import ItemSpec, subscription_create
    from configurations.sessions import portal_session_create
    from portal.selectors import INVOICE_PAGE_SIZE
    from portal.services import portal_session_redeem

    serving.baseline_table(rows=INVOICES)
    actor = Actor.system("bench")
    days, starts = _history(INVOICES, SUBSCRIPTIONS)
    first_day = clock.now().replace(microsecond=0) - dt.timedelta(days=days - 1, minutes=1)

    with clock.frozen_at(first_day):
        account, _test_secret, _live_secret, _user = account_create(
            name="Bench merchant", plan=Account.Plan.BILLING, actor=actor
        )
        tenant = {"account": account, "livemode": False, "actor": actor}
        prices = [
            price_create(
                product=product_create(**tenant, name=name),
                actor=actor,
                currency="eur",
                unit_amount=500 + 250 * i,
                interval="day",
                tax_behavior="exclusive",
            )
            for i, name in enumerate(PRODUCTS)
        ]
        _configuration(account, prices, actor)
        customer = customer_create(
            **tenant,
            email="bench.customer@example.com",
            name="Bench Customer",
            address={"line1": "Hauptstraße 1", "postal_code": "10115", "city": "Berlin", "country": "DE"},
        )
        cards = [
            payment_method_attach(
                payment_method=payment_method_create(**tenant, token=token), customer=customer, actor=actor
            )
            for token in CARDS
        ]
        customer_set_default_payment_method(customer=customer, payment_method=cards[0], actor=actor)
        customer.refresh_from_db()

    for day in range(days):
        moment = first_day + dt.timedelta(days=day)
        billing_cycle_run(now=moment)  # renews every subscription whose day is over
        with clock.frozen_at(moment):
            for price, start in zip(prices, starts, strict=True):
                if start == day:
                    subscription_create(customer=customer, items=[ItemSpec(price, 1)], actor=actor)

    finalized = Invoice.objects.finalized().filter(customer=customer).order_by("-id")
    if finalized.count() != INVOICES:
        raise RuntimeError(f"expected {INVOICES} finalized invoices, the billing cycle left {finalized.count()}")

    browser_keys = []
    for _ in range(sessions):
        _session, url = portal_session_create(customer=customer, actor=actor)
        browser_keys.append(portal_session_redeem(token=url.rsplit("/", 1)[1]).browser_key)
    serving.analyze()
    return Prepared(
        browser_keys=browser_keys,
        invoice_numbers=[invoice.number for invoice in finalized[:INVOICE_PAGE_SIZE]],
        product_names=list(PRODUCTS),
        card_last4=[card.card_last4 for card in cards],
    )


# --- measuring -------------------------------------------------------------------------------------


def _cookie(browser_key: str) -> dict[str, str]:
    return {"Cookie": f"portal_session={browser_key}"}


def _check_content(base_url: str, prepared: Prepared) -> None:
    """Once, outside the timings: the overview shows the subscriptions, cards and first page of invoices."""
    import httpx

    with httpx.Client(base_url=base_url, timeout=serving.REQUEST_TIMEOUT) as client:
        for path, headers, expected in (
            (
                OVERVIEW_PATH,
                _cookie(prepared.browser_keys[0]),
                [*prepared.product_names, *prepared.card_last4, *prepared.invoice_numbers],
            ),
            (BASELINE_PATH, {}, ["<table>"]),
        ):
            response = client.get(path, headers=headers)
            missing = [text for text in expected if text not in response.text]
            if response.status_code != 200 or missing:
                raise RuntimeError(f"GET {path}: {response.status_code}, missing {missing}: {response.text[:500]}")


def run(
    *,
    database_url: str,
    prepared: Prepared,
    requests: int = DEFAULT_REQUESTS,
    concurrency: int = serving.DEFAULT_CONCURRENCY,
    timeout: float = serving.DEFAULT_TIMEOUT,
) -> dict:
    """Serve the database at ``database_url`` (prepared by ``prepare()`` with at least ``concurrency``
    sessions) with gunicorn on 127.0.0.1 and measure the overview against the baseline page. gunicorn is
    stopped however this ends; past ``timeout`` seconds it fails."""
    deadline = time.monotonic() + timeout
    baseline = Scenario("baseline_page", "GET", BASELINE_PATH)
    overview = Scenario(
        "overview", "GET", OVERVIEW_PATH, thread_headers=tuple(_cookie(key) for key in prepared.browser_keys)
    )
    result = {"bench": "portal", "requests": requests, "concurrency": concurrency}
    with serving.gunicorn(database_url, deadline=deadline) as server:
        _check_content(server.base_url, prepared)
        result["overview"] = serving.compare(
            server, {}, baseline, overview, requests=requests, concurrency=concurrency, deadline=deadline
        )
    result.update(
        invoices=INVOICES,
        subscriptions=len(prepared.product_names),
        payment_methods=len(prepared.card_last4),
        database=serving.database_kind(database_url),
    )
    return result


def main() -> None:
    requests = serving.env_number("BENCH_REQUESTS", DEFAULT_REQUESTS)
    concurrency = serving.env_number("BENCH_CONCURRENCY", serving.DEFAULT_CONCURRENCY)
    timeout = serving.env_number("BENCH_TIMEOUT", serving.DEFAULT_TIMEOUT, float)
    with serving.fresh_database(bench="portal", default_url=DEFAULT_DATABASE_URL) as url:
        prepared = prepare(sessions=concurrency)
        print(f"bench portal: {requests} requests per scenario ...", file=sys.stderr, flush=True)
        result = run(database_url=url, prepared=prepared, requests=requests, concurrency=concurrency, timeout=timeout)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
