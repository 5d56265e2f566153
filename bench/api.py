"""Benchmark: the HTTP API under gunicorn on PostgreSQL, against bare Django views doing one query each.

Run ``python bench/api.py`` (or ``make bench``). It creates the database named by ``BENCH_DATABASE_URL``
(default ``postgres://postgres@127.0.0.1:5432/billing_bench_api``), migrates it, creates an account with
a test API key and ``BENCH_SUBSCRIPTIONS`` (default 50) subscriptions, starts gunicorn (2 sync workers)
on a free port of 127.0.0.1 serving ``bench.api_wsgi`` (the product plus two baseline views), and sends
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
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/billing_bench_api"
DEFAULT_REQUESTS = 2_000
DEFAULT_CONCURRENCY = 4
DEFAULT_SUBSCRIPTIONS = 50
DEFAULT_TIMEOUT = 1800.0  # seconds for everything run() does (BENCH_TIMEOUT); past it the bench fails
STARTUP_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0
WORKERS = 2
LIST_PATH = "/v1/subscriptions?limit=10&expand[]=data.customer"

BASELINE_TABLE_SQL = (
    "CREATE TABLE IF NOT EXISTS bench_baseline "
    "(id serial PRIMARY KEY, email text, created timestamptz NOT NULL DEFAULT now())"
)


# --- setup (ORM only) ------------------------------------------------------------------------------


def prepare(subscriptions: int = DEFAULT_SUBSCRIPTIONS) -> str:
    """Create the baseline table, an account and ``subscriptions`` active subscriptions (each with its own
    customer and card, through the services). Returns the account's test secret key.

    Needs a configured, migrated Django database whose writes other processes can see (not a test
    transaction)."""
    from django.db import connection

    from billing.audit import Actor
    from billing.gateways import CardInput
    from billing.models import Account
    from billing.services.accounts import account_create
    from billing.services.catalog import price_create, product_create
    from billing.services.customers import customer_create, customer_set_default_payment_method
    from billing.services.payment_methods import payment_method_attach, payment_method_create
    from billing.services.subscriptions import ItemSpec, subscription_create

    with connection.cursor() as cursor:
        cursor.execute(BASELINE_TABLE_SQL)
        cursor.execute("TRUNCATE bench_baseline")
    actor = Actor.system("bench")
    account, test_secret, _live_secret, _user = account_create(
        name="Bench merchant", plan=Account.Plan.BILLING, actor=actor
    )
    tenant = {"account": account, "livemode": False, "actor": actor}
    product = product_create(**tenant, name="Bench plan")
    price = price_create(
        product=product, actor=actor, currency="eur", unit_amount=1500, interval="month", tax_behavior="exclusive"
    )
    for i in range(subscriptions):
        customer = customer_create(**tenant, email=f"seed{i}@example.com", name=f"Seed {i}")
        card = payment_method_create(
            **tenant, card=CardInput(number="4242424242424242", exp_month=12, exp_year=2035, cvc="123")
        )
        card = payment_method_attach(payment_method=card, customer=customer, actor=actor)
        customer_set_default_payment_method(customer=customer, payment_method=card, actor=actor)
        customer.refresh_from_db()
        subscription_create(customer=customer, items=[ItemSpec(price, 1)], actor=actor)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return test_secret


def database_url() -> str:
    """The configured default database as a URL, for the gunicorn process."""
    from urllib.parse import quote

    from django.db import connection

    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    host = s["HOST"] or "127.0.0.1"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}{'@' if auth else ''}{host}{port}/{quote(s['NAME'], safe='')}"


# --- traffic ---------------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    method: str
    path: str
    form: bool = False  # POST a fresh email=…&name=… body


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    samples: list[str] = field(default_factory=list)  # the first few failures, for the error message
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures += 1
            if len(self.samples) < 5:
                self.samples.append(what)


def _worker(base_url, headers, scenario, count, thread, deadline, start, outcome) -> None:
    import httpx

    with httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT) as client:
        latencies = []
        try:
            start.wait()
        except threading.BrokenBarrierError:
            return
        for i in range(count):
            if time.monotonic() > deadline:
                outcome.fail(f"deadline passed with {count - i} requests left")
                break
            data = None
            if scenario.form:
                tag = f"{thread}-{i}-{secrets.token_hex(3)}"
                data = {"email": f"bench-{tag}@example.com", "name": f"Bench {tag}"}
            started = time.perf_counter()
            try:
                response = client.request(scenario.method, scenario.path, data=data)
            except httpx.HTTPError as error:
                outcome.fail(f"{scenario.method} {scenario.path}: {error!r}")
                continue
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                outcome.fail(f"{scenario.method} {scenario.path}: {response.status_code} {response.text[:300]}")
        with outcome.lock:
            outcome.latencies.extend(latencies)


def _drive(base_url, headers, scenario, requests, concurrency, deadline) -> tuple[Outcome, float]:
    """Send ``requests`` requests from ``concurrency`` threads; the outcome and the wall-clock seconds."""
    outcome = Outcome()
    concurrency = max(1, min(concurrency, requests))
    start = threading.Barrier(concurrency + 1, timeout=REQUEST_TIMEOUT)
    threads = [
        threading.Thread(
            target=_worker,
            args=(base_url, headers, scenario, requests // concurrency + (t < requests % concurrency), t),
            kwargs={"deadline": deadline, "start": start, "outcome": outcome},
            daemon=True,
        )
        for t in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + REQUEST_TIMEOUT)
    seconds = time.perf_counter() - began
    if any(thread.is_alive() for thread in threads):
        outcome.fail("a client thread did not finish in time")
    return outcome, seconds


def _stats(outcome: Outcome, seconds: float) -> dict:
    latencies = sorted(outcome.latencies)
    return {
        "rps": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p95_ms": round(latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))] * 1000, 2),
    }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _gunicorn_env(url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    env.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY=os.environ.get("SECRET_KEY") or "bench-only-secret-key-" + secrets.token_hex(16),
        DEBUG="0",  # DEBUG would record every query
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        API_RATE_LIMIT_TEST="0",
        API_RATE_LIMIT_LIVE="0",
        LOG_LEVEL="WARNING",
    )
    return env  # no REDIS_URL: Celery runs eagerly, the cache is per process


def _gunicorn_command(port: int) -> list[str]:
    script = Path(sys.executable).parent / "gunicorn"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "gunicorn"]
    return [
        *command,
        "bench.api_wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(WORKERS),
        "--threads",
        "1",
        "--graceful-timeout",
        "5",
        "--log-level",
        "warning",
    ]


def _tail(log) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode(errors="replace")[-3000:]


def _wait_until_up(process, base_url: str, deadline: float, log) -> None:
    import httpx

    while True:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(base_url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn did not answer within {STARTUP_TIMEOUT:.0f} s:\n{_tail(log)}")
        time.sleep(0.2)


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

    with httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT) as client:
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
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict:
    """Serve the database at ``database_url`` (prepared by ``prepare()``) with gunicorn on 127.0.0.1 and
    measure the four scenarios. gunicorn is stopped however this ends; past ``timeout`` seconds it fails."""
    deadline = time.monotonic() + timeout
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
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
    warmup = max(2 * WORKERS, min(100, requests // 10))
    result = {"bench": "api", "requests": requests, "concurrency": concurrency}
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            _gunicorn_command(port),
            cwd=ROOT,
            env=_gunicorn_env(database_url),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_up(process, base_url, min(deadline, time.monotonic() + STARTUP_TIMEOUT), log)
            _check_content(base_url, headers)
            for name, (baseline, scenario) in pairs.items():
                measured = {}
                for s in (baseline, scenario):
                    _drive(base_url, headers, s, warmup, concurrency, deadline)  # warm-up, not counted
                    outcome, seconds = _drive(base_url, headers, s, requests, concurrency, deadline)
                    if outcome.failures or len(outcome.latencies) != requests:
                        raise RuntimeError(
                            f"{s.name}: {outcome.failures} of {requests} requests failed, e.g. {outcome.samples}"
                            f"\ngunicorn log:\n{_tail(log)}"
                        )
                    measured[s.name] = _stats(outcome, seconds)
                api, base = measured[scenario.name], measured[baseline.name]
                result[name] = {
                    **api,
                    "baseline_rps": base["rps"],
                    "baseline_p50_ms": base["p50_ms"],
                    "ratio": round(base["rps"] / api["rps"], 2),
                }
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
    result["database"] = "postgresql" if database_url.startswith(("postgres", "pgsql")) else "other"
    return result


# --- the script ------------------------------------------------------------------------------------


def _maintenance(url: str) -> tuple[str, str]:
    """The server's ``postgres`` database URL (for CREATE/DROP DATABASE) and the bench database's name."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name:
        raise SystemExit(f"BENCH_DATABASE_URL must name a database, e.g. {DEFAULT_DATABASE_URL}")
    scheme = "postgresql" if parts.scheme in ("postgres", "postgresql", "pgsql") else parts.scheme
    return urlunsplit((scheme, parts.netloc, "/postgres", parts.query, "")), name


def _recreate(url: str, *, drop_only: bool = False) -> None:
    import psycopg
    from psycopg import sql

    maintenance, name = _maintenance(url)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def main() -> None:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    requests = int(os.environ.get("BENCH_REQUESTS", DEFAULT_REQUESTS))
    concurrency = int(os.environ.get("BENCH_CONCURRENCY", DEFAULT_CONCURRENCY))
    subscriptions = int(os.environ.get("BENCH_SUBSCRIPTIONS", DEFAULT_SUBSCRIPTIONS))
    timeout = float(os.environ.get("BENCH_TIMEOUT", DEFAULT_TIMEOUT))
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        raise SystemExit("BENCH_DATABASE_URL must be a PostgreSQL URL: the bench creates and drops that database.")
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-" + secrets.token_hex(16))
    os.environ["DEBUG"] = "0"
    os.environ["REDIS_URL"] = ""  # no broker: Celery runs eagerly
    os.environ["LOG_LEVEL"] = "WARNING"  # keep per-request and per-task INFO lines off stderr
    # Run as a script, bench/ is sys.path[0], where this file would shadow the product's ``api`` package.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
    sys.path.insert(0, str(ROOT))

    _recreate(url)
    try:
        import django
        from django.core.management import call_command
        from django.db import connections

        django.setup()
        print("bench api: migrating and seeding ...", file=sys.stderr, flush=True)
        call_command("migrate", verbosity=0, interactive=False)
        secret = prepare(subscriptions)
        connections.close_all()
        print(f"bench api: {requests} requests per scenario ...", file=sys.stderr, flush=True)
        result = run(database_url=url, secret=secret, requests=requests, concurrency=concurrency, timeout=timeout)
        result["subscriptions"] = subscriptions
    finally:
        _recreate(url, drop_only=True)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
