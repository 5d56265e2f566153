"""What the HTTP benchmarks share: a fresh PostgreSQL database, gunicorn on 127.0.0.1, and client threads.

bench/api.py and bench/portal.py each build their data, then compare a product scenario with a bare
baseline view served by the same gunicorn (``bench.serving_wsgi``: the product's settings and middleware
with ``bench.serving_urls`` as URLconf) in the same run. Every measured response must be a 200.

bench/run.py runs every ``bench/*.py`` as a script but skips this module: it is not a benchmark.
"""

import contextlib
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONCURRENCY = 4
DEFAULT_TIMEOUT = 1800.0  # seconds for everything a run does (BENCH_TIMEOUT); past it the bench fails
STARTUP_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0
WORKERS = 2

BASELINE_TABLE_SQL = (
    "CREATE TABLE IF NOT EXISTS bench_baseline "
    "(id serial PRIMARY KEY, email text, created timestamptz NOT NULL DEFAULT now())"
)


# --- the database ----------------------------------------------------------------------------------


def baseline_table(*, rows: int = 0) -> None:
    """(Re)fill ``bench_baseline``, the baseline views' table, with ``rows`` rows."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(BASELINE_TABLE_SQL)
        cursor.execute("TRUNCATE bench_baseline")
        if rows:
            cursor.execute(
                "INSERT INTO bench_baseline (email) SELECT 'baseline' || n || '@example.com' FROM generate_series(1, %s) n",
                [rows],
            )


def bench_merchant(actor):
    """The benchmarks' merchant, through the services: an account on the billing plan and one monthly euro price.
    Returns ``(account, test secret key, price)``."""
    from billing.models import Account
    from billing.services.accounts import account_create
    from billing.services.products import price_create, product_create

    account, test_secret, _live_secret, _user = account_create(
        name="Bench merchant", plan=Account.Plan.BILLING, actor=actor
    )
    product = product_create(account=account, livemode=False, actor=actor, name="Bench plan")
    price = price_create(
        product=product, actor=actor, currency="eur", unit_amount=1500, interval="month", tax_behavior="exclusive"
    )
    return account, test_secret, price


def analyze() -> None:
    """Fresh statistics for the planner, as a database that has been running a while would have."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


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


def database_kind(url: str) -> str:
    return "postgresql" if url.startswith(("postgres", "pgsql")) else "other"


def _maintenance(url: str, default_url: str) -> tuple[str, str]:
    """The server's ``postgres`` database URL (for CREATE/DROP DATABASE) and the bench database's name."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name:
        raise SystemExit(f"BENCH_DATABASE_URL must name a database, e.g. {default_url}")
    scheme = "postgresql" if parts.scheme in ("postgres", "postgresql", "pgsql") else parts.scheme
    return urlunsplit((scheme, parts.netloc, "/postgres", parts.query, "")), name


def _recreate(url: str, default_url: str, *, drop_only: bool = False) -> None:
    import psycopg
    from psycopg import sql

    maintenance, name = _maintenance(url, default_url)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def env_number(name: str, default: float, cast: Callable = int):
    return cast(os.environ.get(name, default))


@contextlib.contextmanager
def fresh_database(*, bench: str, default_url: str, redis_url: str = "") -> Iterator[str]:
    """For a benchmark run as a script: configure Django for the (re)created, migrated database named by
    ``BENCH_DATABASE_URL`` (default ``default_url``) and yield its URL; the database is dropped afterwards.
    Without ``redis_url`` Celery runs eagerly."""
    url = os.environ.get("BENCH_DATABASE_URL", default_url)
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        raise SystemExit("BENCH_DATABASE_URL must be a PostgreSQL URL: the bench creates and drops that database.")
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-" + secrets.token_hex(16))
    os.environ["DEBUG"] = "0"
    os.environ["REDIS_URL"] = redis_url
    os.environ["LOG_LEVEL"] = "WARNING"  # keep per-request and per-task INFO lines off stderr

    _recreate(url, default_url)
    try:
        import django
        from django.core.management import call_command

        django.setup()
        print(f"bench {bench}: migrating and seeding ...", file=sys.stderr, flush=True)
        call_command("migrate", verbosity=0, interactive=False)
        yield url
    finally:
        _recreate(url, default_url, drop_only=True)  # WITH (FORCE): this process's connection goes too


# --- gunicorn --------------------------------------------------------------------------------------


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
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn)] if gunicorn.exists() else [sys.executable, "-m", "gunicorn"]
    return [
        *command,
        "bench.serving_wsgi:application",
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


def _tail(log: IO[bytes]) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode(errors="replace")[-3000:]


def _wait_until_up(process: subprocess.Popen, base_url: str, deadline: float, log: IO[bytes]) -> None:
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


@dataclass
class Server:
    base_url: str
    log: IO[bytes]

    def tail(self) -> str:
        """The end of gunicorn's log, for error messages."""
        return _tail(self.log)


@contextlib.contextmanager
def gunicorn(database_url: str, *, deadline: float) -> Iterator[Server]:
    """gunicorn (``WORKERS`` sync workers) serving ``bench.serving_wsgi`` on a free port of 127.0.0.1 against
    ``database_url``, up and answering; stopped however the block ends."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
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
            yield Server(base_url, log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


# --- traffic ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    path: str
    form: bool = False  # POST a fresh email=…&name=… body
    # Extra headers per client thread (thread t sends thread_headers[t]), e.g. one browser's cookie each.
    thread_headers: tuple[dict[str, str], ...] = ()


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

    if scenario.thread_headers:
        headers = {**headers, **scenario.thread_headers[thread]}
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


def drive(
    base_url: str, headers: dict, scenario: Scenario, requests: int, concurrency: int, deadline: float
) -> tuple[Outcome, float]:
    """Send ``requests`` requests from ``concurrency`` threads; the outcome and the wall-clock seconds."""
    outcome = Outcome()
    concurrency = max(1, min(concurrency, requests))
    if scenario.thread_headers and len(scenario.thread_headers) < concurrency:
        raise ValueError(f"{scenario.name}: {concurrency} threads but headers for {len(scenario.thread_headers)}")
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


def stats(outcome: Outcome, seconds: float) -> dict:
    latencies = sorted(outcome.latencies)
    return {
        "rps": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p95_ms": round(latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))] * 1000, 2),
    }


def compare(
    server: Server,
    headers: dict,
    baseline: Scenario,
    scenario: Scenario,
    *,
    requests: int,
    concurrency: int,
    deadline: float,
) -> dict:
    """Warm up and measure ``baseline``, then ``scenario`` (``requests`` each, not counting the warm-up):
    the scenario's rps, p50_ms and p95_ms, the baseline's rps and p50_ms, and ``ratio`` = baseline rps /
    scenario rps. Any response other than a 200 fails the bench."""
    warmup = max(2 * WORKERS, min(100, requests // 10))
    measured = {}
    for s in (baseline, scenario):
        drive(server.base_url, headers, s, warmup, concurrency, deadline)  # warm-up, not counted
        outcome, seconds = drive(server.base_url, headers, s, requests, concurrency, deadline)
        if outcome.failures or len(outcome.latencies) != requests:
            raise RuntimeError(
                f"{s.name}: {outcome.failures} of {requests} requests failed, e.g. {outcome.samples}"
                f"\ngunicorn log:\n{server.tail()}"
            )
        measured[s.name] = stats(outcome, seconds)
    product, base = measured[scenario.name], measured[baseline.name]
    return {
        **product,
        "baseline_rps": base["rps"],
        "baseline_p50_ms": base["p50_ms"],
        "ratio": round(base["rps"] / product["rps"], 2),
    }
