"""Benchmark: signed webhook deliveries per second through one Celery worker, against a plain httpx loop.

Run ``python bench/webhooks.py`` (or ``make bench``). It creates the database named by
``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/billing_bench_webhooks``), migrates
it, starts a local receiver (threads, HTTP/1.1 keep-alive) and one Celery worker (solo pool: one process,
one task at a time) on a private queue of the Redis at ``BENCH_REDIS_URL`` (default
``redis://127.0.0.1:6379/0``). It records ``BENCH_N`` (default 5 000) events for one endpoint and times
from the first fan-out enqueue (what ``billing.events`` does on commit) until every delivery has
succeeded: per event a fan-out task and a delivery task (claim, serialise, sign, SSRF check, POST,
record). The baseline, measured in the same run, is one ``httpx.Client`` posting the same bodies to the
same receiver in a loop; ``ratio`` = seconds / baseline seconds, i.e. what the durable machinery costs
over the bare POSTs. Without a reachable Redis the deliveries run in-process (Celery eager) and the
JSON says so. The database is dropped at the end; one JSON line goes to stdout.

Knobs: ``BENCH_WORKER_CONCURRENCY`` (default 1: solo pool; more: prefork), ``BENCH_WORKER_SETTINGS``
(the worker's settings module), ``BENCH_WORKER_LOG`` / ``BENCH_WORKER_LOG_LEVEL`` (worker log file).
The worker runs with ``CONN_MAX_AGE=60`` as .env.example recommends. Note that Celery's Django fixup
still closes database connections around every task unless ``CELERY_DB_REUSE_MAX`` is set. Use a Redis
database of its own: a test run elsewhere that clears the cache (FLUSHDB) on the same database would
drop the queued tasks.

``run(n)`` only needs a configured, migrated database, so tests can call it (eager, or with a worker
when ``REDIS_URL`` is set and the database is PostgreSQL).
"""

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

if __name__ == "__main__":
    # Run as a script, bench/ is sys.path[0], where this file would shadow the product's ``webhooks`` package.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import serving  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/billing_bench_webhooks"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_N = 5_000
DEFAULT_CONCURRENCY = 1
BATCH = 1_000
WAIT_LIMIT_SECONDS = 600


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a sender that hangs up (a timeout, a killed worker) is not the receiver's error


class _Receiver:
    """Answers every POST with 200 and counts them."""

    def __init__(self):
        self.count = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One write per response and no Nagle delay: otherwise every keep-alive request waits ~40 ms
            # for a delayed ACK between the header and body segments.
            wbufsize = -1
            disable_nagle_algorithm = True

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format, *args):
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _start_worker(queue: str) -> subprocess.Popen:
    from django.conf import settings

    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": os.environ.get("BENCH_WORKER_SETTINGS", "config.settings"),
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "0",
        "WEBHOOK_QUEUE": queue,
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "1",
        "LOG_LEVEL": "WARNING",
        # Persistent connections as .env.example recommends: a new PostgreSQL connection per task
        # would cost more than the work itself.
        "CONN_MAX_AGE": os.environ.get("CONN_MAX_AGE", "60"),
    }
    concurrency = int(os.environ.get("BENCH_WORKER_CONCURRENCY", DEFAULT_CONCURRENCY))
    pool = ["--pool", "solo"] if concurrency == 1 else ["--pool", "prefork", "--concurrency", str(concurrency)]
    level = os.environ.get("BENCH_WORKER_LOG_LEVEL", "error")
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, *pool, "-l", level]
    if os.environ.get("BENCH_WORKER_LOG"):
        command += ["--logfile", os.environ["BENCH_WORKER_LOG"]]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _worker_description() -> str:
    concurrency = int(os.environ.get("BENCH_WORKER_CONCURRENCY", DEFAULT_CONCURRENCY))
    pool = "solo pool" if concurrency == 1 else f"prefork pool, {concurrency} processes"
    return f"one Celery worker ({pool}) over Redis"


def _record_events(account, n: int, data_object: dict) -> list[str]:
    """``n`` customer.updated events as billing records them (setup, not measured)."""
    from billing import events as billing_events
    from billing.models import Event

    rows = [
        Event(
            account=account,
            livemode=False,
            type="customer.updated",
            api_version=billing_events.API_VERSION,
            data_object={**data_object, "name": f"Bench customer {i}"},
            previous_attributes={"name": f"Old name {i}"},
        )
        for i in range(n)
    ]
    Event.objects.bulk_create(rows, batch_size=BATCH)
    return [row.pk for row in rows]


def _wait_until_delivered(endpoint, total: int, worker: subprocess.Popen | None) -> None:
    from webhooks.models import Delivery

    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    succeeded = Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.SUCCEEDED)
    while succeeded.count() < total:
        if worker is not None and worker.poll() is not None:
            raise RuntimeError(f"the worker exited with status {worker.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {succeeded.count()} of {total} deliveries succeeded in time")
        time.sleep(0.1)


def _baseline(url: str, bodies: list[bytes]) -> float:
    """Seconds for one httpx client to POST every body once."""
    import httpx

    with httpx.Client(timeout=10) as client:
        client.post(url, content=b"{}")  # connect outside the timing, as the worker's pool already has
        started = time.perf_counter()
        for body in bodies:
            client.post(url, content=body, headers={"Content-Type": "application/json"}).raise_for_status()
        return time.perf_counter() - started


def run(n: int) -> dict:
    """Deliver ``n`` events to a local receiver and compare with a plain httpx loop."""
    from django.conf import settings
    from django.db import connection
    from django.test.utils import override_settings

    from billing.audit import Actor
    from billing.models import Account, Customer, Event
    from billing.representations import customer as render_customer
    from billing.services.accounts import account_create
    from webhooks import queue, representations
    from webhooks.services import webhook_endpoint_create

    eager = settings.CELERY_TASK_ALWAYS_EAGER
    queue_name = f"bench-webhooks-{uuid.uuid4().hex}"
    receiver = _Receiver()
    worker = None
    try:
        with override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=True, WEBHOOK_QUEUE=queue_name):
            actor = Actor.system("bench")
            account, *_ = account_create(name="Webhook bench merchant", plan=Account.Plan.BILLING, actor=actor)
            endpoint = webhook_endpoint_create(
                account=account, livemode=False, url=receiver.url, enabled_events=["*"], actor=actor
            )
            data_object = render_customer(
                Customer(account=account, livemode=False, email="bench@example.com", name="Bench customer")
            )
            data_object = json.loads(json.dumps(data_object, default=str))

            if not eager:
                worker = _start_worker(queue_name)
            # One event first: the worker is up and its connections are open before the clock starts.
            warm_up = _record_events(account, 1, data_object)
            queue.enqueue(queue.FAN_OUT, [warm_up[0]])
            _wait_until_delivered(endpoint, 1, worker)

            event_ids = _record_events(account, n, data_object)
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE")
            received_before = receiver.count
            started = time.perf_counter()
            for event_id in event_ids:
                queue.enqueue(queue.FAN_OUT, [event_id])
            _wait_until_delivered(endpoint, 1 + n, worker)
            seconds = time.perf_counter() - started
            delivered = receiver.count - received_before

            bodies = [representations.event_body(event, pending=0) for event in Event.objects.filter(pk__in=event_ids)]
            baseline_seconds = _baseline(endpoint.url, bodies)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
            _forget_queue(queue_name)
        receiver.close()
    return {
        "bench": "webhooks",
        "n": n,
        "delivered": delivered,
        "deliveries_per_second": round(n / seconds, 1),
        "seconds": round(seconds, 3),
        "baseline": "one httpx.Client posting the same bodies in a loop",
        "baseline_seconds": round(baseline_seconds, 3),
        "baseline_per_second": round(n / baseline_seconds, 1),
        "ratio": round(seconds / baseline_seconds, 1),
        "worker": "in-process (Celery eager, no broker)" if eager else _worker_description(),
        "database": connection.vendor,
    }


def _forget_queue(name: str) -> None:
    """Drop the private queue and kombu's bindings for it from Redis."""
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")
    client.close()


def _redis_reachable(url: str) -> bool:
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


def main() -> None:
    redis_url = os.environ.get("BENCH_REDIS_URL", os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL)
    n = int(os.environ.get("BENCH_N", DEFAULT_N))
    if not _redis_reachable(redis_url):
        print(f"bench webhooks: no Redis at {redis_url}; delivering in-process", file=sys.stderr)
        redis_url = ""
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # no log line per task and request
    with serving.fresh_database(bench="webhooks", default_url=DEFAULT_DATABASE_URL, redis_url=redis_url):
        from django.db import connections

        result = run(n)
        connections.close_all()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
