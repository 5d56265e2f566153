"""Benchmark: the HTTP API under gunicorn on PostgreSQL, against bare Django views doing one query each.

Run ``python bench/api.py`` (or ``make bench``). It creates the database named by ``BENCH_DATABASE_URL``
(default ``postgres://postgres@127.0.0.1:5432/billing_bench_api``), migrates it, creates an account with
a test API key and ``BENCH_SUBSCRIPTIONS`` (default 50) subscriptions, starts gunicorn (2 sync workers)
on a free port of 127.0.0.1 serving ``bench.serving_wsgi`` (the product plus the baseline views of bench/serving_urls.py), and sends
``BENCH_REQUESTS`` (default 2000) requests per scenario from ``BENCH_CONCURRENCY`` (default 4) threads,
each with its own ``httpx.Client``:

- ``customer_create``: ``POST /v1/customers`` (``email=…&name=…``), against ``POST /bench/insert``
  (one raw INSERT, JSON response);
- ``subscription_list_expand``: ``GET /v1/subscriptions?limit=10&expand[]=data.customer``, against
  ``GET /bench/select`` (one SELECT of 10 rows, JSON response).

The baselines run through the same gunicorn and the same middleware in the same run, so ``ratio``
(baseline requests/second over the API's) says what the API pipeline (key lookup, parameter parsing,
services with audit and events, representations, expand) costs over the one query it cannot avoid.
Every response must be a 200, or the bench fails. It then stops gunicorn, drops the database and
prints one JSON line.

``prepare()`` only uses the ORM and ``run()`` only needs a database URL and a key, so a test can run
both against its own (committed) test database.
"""

import json
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    # Run as a script, bench/ is sys.path[0], where this file would shadow the product's ``api`` package.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import serving
from bench.serving import Scenario

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/billing_bench_api"
DEFAULT_REQUESTS = 2_000
DEFAULT_SUBSCRIPTIONS = 50
LIST_PATH = "/v1/subscriptions?limit=10&expand[]=data.customer"


# --- setup (ORM only) ------------------------------------------------------------------------------


def prepare(subscriptions: int = DEFAULT_SUBSCRIPTIONS) -> str:
    """Create the baseline table, an account and ``subscriptions`` active subscriptions (each with its own
    customer and card, through the services). Returns the account's test secret key.

    Needs a configured, migrated Django database whose writes other processes can see (not a test
    transaction)."""
    from billing.audit import Actor
    from billing.gateways import CardInput
    from billing.services.customers import customer_create, customer_set_default_payment_method
    from billing.services.payment_methods import payment_method_attach, payment_method_create
    from billing.services.subscriptions import ItemSpec, subscription_create

    serving.baseline_table()
    actor = Actor.system("bench")
    account, test_secret, price = serving.bench_merchant(actor)
    tenant = {"account": account, "livemode": False, "actor": actor}
    for i in range(subscriptions):
        customer = customer_create(**tenant, email=f"seed{i}@example.com", name=f"Seed {i}")
        card = payment_method_create(
            **tenant, card=CardInput(number="4242424242424242", exp_month=12, exp_year=2035, cvc="123")
        )
        card = payment_method_attach(payment_method=card, customer=customer, actor=actor)
        customer_set_default_payment_method(customer=customer, payment_method=card, actor=actor)
        customer.refresh_from_db()
        subscription_create(customer=customer, items=[ItemSpec(price, 1)], actor=actor)
    serving.analyze()
    return test_secret


# --- measuring -------------------------------------------------------------------------------------


def _check_content(base_url: str, headers: dict) -> None:
    """Once, outside the timings: the API answers what the scenarios claim to measure."""
    import httpx

    def expect(response, ok) -> dict:
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        if response.status_code != 200 or not ok(body):
            raise RuntimeError(
                f"{response.request.method} {response.request.url.raw_path.decode()}: "
                f"{response.status_code} {response.text[:500]}"
            )
        return body

    with httpx.Client(base_url=base_url, headers=headers, timeout=serving.REQUEST_TIMEOUT) as client:
        expect(
            client.get(LIST_PATH),
            lambda body: body.get("data") and all(isinstance(sub["customer"], dict) for sub in body["data"]),
        )
        expect(
            client.post("/v1/customers", data={"email": "check@example.com", "name": "Check"}),
            lambda body: body.get("object") == "customer",
        )
        expect(client.get("/bench/select"), lambda body: body.get("object") == "list")


def run(
    *,
    database_url: str,
    secret: str,
    requests: int = DEFAULT_REQUESTS,
    concurrency: int = serving.DEFAULT_CONCURRENCY,
    timeout: float = serving.DEFAULT_TIMEOUT,
) -> dict:
    """Serve the database at ``database_url`` (prepared by ``prepare()``) with gunicorn on 127.0.0.1 and
    measure the four scenarios. gunicorn is stopped however this ends; past ``timeout`` seconds it fails."""
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {secret}"}
    pairs = {
        "customer_create": (
            Scenario("baseline_insert", "POST", "/bench/insert", form=True),
            Scenario("customer_create", "POST", "/v1/customers", form=True),
        ),
        "subscription_list_expand": (
            Scenario("baseline_select", "GET", "/bench/select"),
            Scenario("subscription_list_expand", "GET", LIST_PATH),
        ),
    }
    result = {"bench": "api", "requests": requests, "concurrency": concurrency}
    with serving.gunicorn(database_url, deadline=deadline) as server:
        _check_content(server.base_url, headers)
        for name, (baseline, scenario) in pairs.items():
            result[name] = serving.compare(
                server, headers, baseline, scenario, requests=requests, concurrency=concurrency, deadline=deadline
            )
    result["database"] = serving.database_kind(database_url)
    return result


def main() -> None:
    requests = serving.env_number("BENCH_REQUESTS", DEFAULT_REQUESTS)
    concurrency = serving.env_number("BENCH_CONCURRENCY", serving.DEFAULT_CONCURRENCY)
    subscriptions = serving.env_number("BENCH_SUBSCRIPTIONS", DEFAULT_SUBSCRIPTIONS)
    timeout = serving.env_number("BENCH_TIMEOUT", serving.DEFAULT_TIMEOUT, float)
    with serving.fresh_database(bench="api", default_url=DEFAULT_DATABASE_URL) as url:
        secret = prepare(subscriptions)
        print(f"bench api: {requests} requests per scenario ...", file=sys.stderr, flush=True)
        result = run(database_url=url, secret=secret, requests=requests, concurrency=concurrency, timeout=timeout)
        result["subscriptions"] = subscriptions
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
