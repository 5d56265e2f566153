"""Benchmark: signed webhook deliveries per second through real Celery workers, against a plain httpx loop.

Run ``python bench/webhooks.py [--deliveries N] [--workers W] [--events-per-transaction K] [--rate R]`` (or
``make bench``). It creates the PostgreSQL database named by ``BENCH_DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/billing_bench_webhooks``), migrates it, starts a local receiver (threads,
HTTP/1.1 keep-alive) and W Celery worker processes (solo pool each) on a private queue of the Redis at
``BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``). It records N events for one endpoint and times from the
first hand-off until every delivery has succeeded and the workers have read every message. The events are handed
over as billing does, from a process of its own: one ``webhooks.tasks.fan_out_events`` message per committed
transaction of K events (default 1: every event its own transaction and message, the costliest case), as fast as
possible or R events per second.
Each fan-out writes its deliveries, sends them concurrently (claim, serialise, sign, SSRF check, POST) and records
the outcomes in bulk; when messages queue up, a fan-out takes other waiting events along.

The baseline, measured in the same run, is one ``httpx.Client`` posting the same bodies to the same receiver in a
loop; ``ratio`` = seconds / baseline seconds, i.e. what the durable machinery costs over the bare POSTs (with
``--rate`` the throughput is the producer's and the latencies are what to read). ``queries_per_delivery`` counts
the SQL statements the workers ran (BEGIN/COMMIT and savepoints not counted, warm-up included) per delivery;
with ``--rate``, ``latency_ms_p50``/``_p99`` run from each hand-off to the recorded success. Without a reachable
Redis the deliveries run in-process (Celery eager) and the JSON says so. The database is dropped at the end; one
JSON line goes to stdout.

Knobs (the command-line options win): ``BENCH_N`` (deliveries, default 5 000), ``BENCH_WORKERS`` (default 1; the
older ``BENCH_WORKER_CONCURRENCY`` is read too), ``BENCH_EVENTS_PER_TRANSACTION``, ``BENCH_RATE``,
``BENCH_WORKER_SETTINGS`` (the workers' settings module), ``BENCH_WORKER_LOG`` / ``BENCH_WORKER_LOG_LEVEL`` (worker
log file, one per worker). Use a Redis database of its own: a test run elsewhere that clears the cache (FLUSHDB)
on the same database would drop the queued tasks.

``run(...)`` only needs a configured, migrated database, so tests can call it (eager, or with workers when
``REDIS_URL`` is set and the database is PostgreSQL).
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
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
DEFAULT_WORKERS = 1
DEFAULT_EVENTS_PER_TRANSACTION = 1
BATCH = 1_000
WAIT_LIMIT_SECONDS = 600
STARTUP_LIMIT_SECONDS = 60


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


# --- the workers -----------------------------------------------------------------------------------


def _statements_key(queue: str) -> str:
    return f"{queue}:statements"


def _counting(count: list[int]):
    """An execute wrapper counting SQL statements; BEGIN/COMMIT never pass through one, savepoints are skipped."""

    def wrapper(execute, sql, params, many, context):
        if not sql.lstrip().upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
            count[0] += 1
        return execute(sql, params, many, context)

    return wrapper


def worker_main(queue: str, name: str) -> None:
    """One bench worker (``python bench/webhooks.py --worker QUEUE NAME``): ``celery worker`` on ``queue`` with a
    solo pool, counting the SQL statements its tasks run and adding the total to Redis when it shuts down."""
    import django

    django.setup()
    import redis
    from celery import signals
    from django.db import connection

    from config.celery import app

    count = [0]
    connection.execute_wrappers.append(_counting(count))  # the solo pool runs every task on this thread

    @signals.worker_shutdown.connect(weak=False)
    def report(**kwargs):
        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        client.incrby(_statements_key(queue), count[0])
        client.close()

    argv = ["worker", "-Q", queue, "--pool", "solo", "-n", f"{name}@%h", "-l", os.environ["BENCH_WORKER_LOG_LEVEL"]]
    if os.environ.get("BENCH_WORKER_LOG"):
        argv += ["--logfile", os.environ["BENCH_WORKER_LOG"]]
    app.worker_main(argv)


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _start_worker(queue: str, index: int, workers: int) -> subprocess.Popen:
    from django.conf import settings

    log = os.environ.get("BENCH_WORKER_LOG", "")
    if log and workers > 1:
        log = f"{log}.{index}"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": os.environ.get("BENCH_WORKER_SETTINGS", "config.settings"),
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "0",
        "WEBHOOK_QUEUE": queue,
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "1",
        "LOG_LEVEL": "WARNING",
        "BENCH_WORKER_LOG": log,
        "BENCH_WORKER_LOG_LEVEL": os.environ.get("BENCH_WORKER_LOG_LEVEL", "error"),
    }
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", queue, f"bench{index}-{queue[-8:]}"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_until_ready(processes: list[subprocess.Popen], queue: str) -> None:
    """Until every worker answers a ping (started, connected to the broker, consuming)."""
    from celery import current_app

    deadline = time.monotonic() + STARTUP_LIMIT_SECONDS
    while True:
        _check_alive(processes)
        replies = current_app.control.ping(timeout=0.5)
        ready = [name for reply in replies for name in reply if name.startswith("bench") and queue[-8:] in name]
        if len(ready) >= len(processes):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(ready)} of {len(processes)} workers started in time")


def _check_alive(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is not None:
            raise RuntimeError(f"a worker exited with status {process.returncode}")


def _stop_workers(processes: list[subprocess.Popen], queue: str) -> int | None:
    """Stops the workers; the SQL statements they ran (None if not every worker reported)."""
    import redis

    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        statements = client.get(_statements_key(queue))
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}", _statements_key(queue))
    finally:
        client.close()
    return int(statements) if statements is not None else None


# --- the run ---------------------------------------------------------------------------------------


def _events(account_id: str, n: int, data_object: dict) -> list:
    """``n`` customer.updated events as billing records them, not yet written."""
    from billing import events as billing_events
    from billing.models import Event

    return [
        Event(
            account_id=account_id,
            livemode=False,
            type="customer.updated",
            api_version=billing_events.API_VERSION,
            data_object={**data_object, "name": f"Bench customer {i}"},
            previous_attributes={"name": f"Old name {i}"},
        )
        for i in range(n)
    ]


def _hand_over(
    events: list, per_transaction: int, *, written: bool, rate: float = 0, count: list[int] | None = None
) -> dict[str, dt.datetime]:
    """What billing does: each transaction writes its events and, committed, hands them over in one fan-out
    message; ``rate`` events per second at most (0: as fast as possible). ``written``: the events are in the
    database already (a backlog, as after a burst or an outage). ``count``: statements of the hand-offs (eager:
    the deliveries run in them). Returns when each event was handed over."""
    import contextlib

    from django.db import connection
    from django.utils import timezone

    from billing.models import Event
    from webhooks import queue

    handed_over = {}
    started = time.monotonic()
    for start in range(0, len(events), per_transaction):
        if rate:
            time.sleep(max(0.0, started + start / rate - time.monotonic()))
        transaction = events[start : start + per_transaction]
        if not written:
            Event.objects.bulk_create(transaction)
        handed_over.update(dict.fromkeys((event.pk for event in transaction), timezone.now()))
        with connection.execute_wrapper(_counting(count)) if count is not None else contextlib.nullcontext():
            queue.enqueue(queue.FAN_OUT, [event.pk for event in transaction])
    return handed_over


def producer_main() -> None:
    """The hand-offs in a process of their own (``python bench/webhooks.py --hand-over``), as they come from
    billing's web and worker processes, not from the receiver's: reads its orders as one JSON line, answers
    ``ready``, waits for ``go``, hands the events over and writes when it handed over each (JSON) to the file
    the orders name."""
    import django

    django.setup()
    from billing.models import Event
    from webhooks import queue

    orders = json.loads(sys.stdin.readline())
    if orders["written"]:
        events = [Event(pk=event_id) for event_id in orders["event_ids"]]
    else:
        events = _events(orders["account"], orders["deliveries"], orders["data_object"])
    queue.enqueue(queue.FAN_OUT, [])  # connected to the broker before the clock starts
    print("ready", flush=True)
    sys.stdin.readline()
    handed_over = _hand_over(events, orders["per_transaction"], written=orders["written"], rate=orders["rate"])
    Path(orders["answer"]).write_text(json.dumps({event_id: at.isoformat() for event_id, at in handed_over.items()}))


def _start_producer(queue: str, orders: dict) -> subprocess.Popen:
    from django.conf import settings

    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "0",
        "WEBHOOK_QUEUE": queue,
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, str(Path(__file__).resolve()), "--hand-over"]
    producer = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    producer.stdin.write(json.dumps(orders) + "\n")
    producer.stdin.flush()
    if producer.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the producer did not start (status {producer.wait()})")
    return producer


def _latencies_ms(handed_over: dict[str, dt.datetime]) -> list[float]:
    """From hand-off to recorded success, per delivery, sorted."""
    from webhooks.models import Delivery

    delivered = Delivery.objects.filter(event_id__in=list(handed_over)).values_list("event_id", "delivered_at")
    return sorted((at - handed_over[event_id]).total_seconds() * 1000 for event_id, at in delivered)


def _wait_until_delivered(
    endpoint, receiver: _Receiver, total: int, workers: list[subprocess.Popen], producer=None
) -> None:
    """Until the producer has handed everything over, ``total`` deliveries have succeeded and the workers have
    taken every message from the queue (a fan-out that took other waiting events along leaves their messages with
    nothing to do, but still to be read)."""
    from django.conf import settings

    from webhooks.models import Delivery

    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    succeeded = Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.SUCCEEDED)
    while (
        (producer is not None and producer.poll() is None)
        or receiver.count < total
        or succeeded.count() < total
        or _queued(settings.WEBHOOK_QUEUE, workers)
    ):
        _check_alive(workers)
        if producer is not None and producer.poll():
            raise RuntimeError(f"the producer exited with status {producer.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {succeeded.count()} of {total} deliveries succeeded in time")
        time.sleep(0.05)


def _queued(queue: str, workers: list[subprocess.Popen]) -> int:
    if not workers:
        return 0
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        return client.llen(queue)
    finally:
        client.close()


def _baseline(url: str, bodies: list[bytes]) -> float:
    """Seconds for one httpx client to POST every body once."""
    import httpx

    with httpx.Client(timeout=10) as client:
        client.post(url, content=b"{}")  # connect outside the timing, as the workers' pools already have
        started = time.perf_counter()
        for body in bodies:
            client.post(url, content=body, headers={"Content-Type": "application/json"}).raise_for_status()
        return time.perf_counter() - started


def run(
    deliveries: int,
    *,
    workers: int = DEFAULT_WORKERS,
    per_transaction: int = DEFAULT_EVENTS_PER_TRANSACTION,
    rate: float = 0,
) -> dict:
    """Deliver ``deliveries`` events to a local receiver through ``workers`` Celery workers (in-process without a
    broker) and compare with a plain httpx loop. With ``rate`` the events are handed over at that pace."""
    from django.conf import settings
    from django.db import connection
    from django.test.utils import override_settings

    from billing.audit import Actor
    from billing.models import Account, Customer, Event
    from billing.representations import customer as render_customer
    from billing.services.accounts import account_create
    from webhooks import representations
    from webhooks.services import webhook_endpoint_create

    eager = settings.CELERY_TASK_ALWAYS_EAGER
    queue_name = f"bench-webhooks-{uuid.uuid4().hex}"
    receiver = _Receiver()
    processes: list[subprocess.Popen] = []
    producer = None
    statements = None
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
                processes = [_start_worker(queue_name, index, workers) for index in range(workers)]
                _wait_until_ready(processes, queue_name)
            # A few events first: the workers' connections are open and their code warm before the clock starts.
            warm_up = _events(account.pk, 2 * max(workers, 1), data_object)
            _hand_over(warm_up, 1, written=False)
            _wait_until_delivered(endpoint, receiver, len(warm_up), processes)

            # As fast as possible, the events are written first: what the workers can do with a backlog. At a
            # given rate each transaction writes its events as it hands them over, as billing does.
            events = _events(account.pk, deliveries, data_object)
            if not rate:
                Event.objects.bulk_create(events, batch_size=BATCH)
            serving.analyze()
            orders = {
                "written": not rate,
                "event_ids": [event.pk for event in events] if not rate else [],
                "account": account.pk,
                "deliveries": deliveries,
                "data_object": data_object,
                "per_transaction": per_transaction,
                "rate": rate,
                "answer": str(Path(tempfile.gettempdir()) / f"{queue_name}.json"),
            }
            producer = None if eager else _start_producer(queue_name, orders)
            received_before = receiver.count
            count = [0]
            started = time.perf_counter()
            if producer is None:
                handed_over = _hand_over(events, per_transaction, written=not rate, rate=rate, count=count)
            else:
                producer.stdin.write("go\n")
                producer.stdin.flush()
            _wait_until_delivered(endpoint, receiver, len(warm_up) + deliveries, processes, producer)
            seconds = time.perf_counter() - started
            if producer is not None:
                producer.stdin.close()
                producer.wait(timeout=30)
                answer = Path(orders["answer"])
                handed_over = {k: dt.datetime.fromisoformat(v) for k, v in json.loads(answer.read_text()).items()}
                answer.unlink()
            delivered = receiver.count - received_before
            latencies = _latencies_ms(handed_over) if rate else None  # a backlog's events were written earlier
            if eager:
                statements = count[0]

            events = Event.objects.filter(pk__in=list(handed_over))
            bodies = [representations.event_body(event, pending=1) for event in events]  # as sent: one endpoint
            baseline_seconds = _baseline(endpoint.url, bodies)
    finally:
        if producer is not None and producer.poll() is None:
            producer.kill()
            producer.wait(timeout=30)
        if processes:
            statements = _stop_workers(processes, queue_name)
        receiver.close()
    total = len(warm_up) + deliveries
    return {
        "bench": "webhooks",
        "deliveries": deliveries,
        "workers": 0 if eager else workers,
        "events_per_transaction": per_transaction,
        "delivered": delivered,
        "deliveries_per_s": round(deliveries / seconds, 1),
        "seconds": round(seconds, 3),
        "baseline": "one httpx.Client posting the same bodies in a loop",
        "baseline_per_s": round(deliveries / baseline_seconds, 1),
        "baseline_seconds": round(baseline_seconds, 3),
        "ratio": round(seconds / baseline_seconds, 1),
        "handed_over_per_s": rate or None,  # None: as fast as possible, the throughput is the workers'
        "latency_ms_p50": round(latencies[len(latencies) // 2], 1) if latencies else None,
        "latency_ms_p99": round(latencies[int(len(latencies) * 0.99)], 1) if latencies else None,
        # Eager: the statements of the measured deliveries; workers: of everything they ran, warm-up included.
        "queries_per_delivery": round(statements / (deliveries if eager else total), 2) if statements else None,
        "max_concurrency_per_endpoint": settings.WEBHOOK_MAX_CONCURRENCY_PER_ENDPOINT,
        "database": connection.vendor,
        "broker": "none (Celery eager, in-process)" if eager else "redis",
    }


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
    if sys.argv[1:2] == ["--worker"]:
        worker_main(*sys.argv[2:4])
        return
    if sys.argv[1:2] == ["--hand-over"]:
        producer_main()
        return
    workers_default = os.environ.get("BENCH_WORKERS", os.environ.get("BENCH_WORKER_CONCURRENCY", DEFAULT_WORKERS))
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--deliveries", type=int, default=int(os.environ.get("BENCH_N", DEFAULT_N)))
    parser.add_argument("--workers", type=int, default=int(workers_default))
    parser.add_argument(
        "--events-per-transaction",
        type=int,
        default=int(os.environ.get("BENCH_EVENTS_PER_TRANSACTION", DEFAULT_EVENTS_PER_TRANSACTION)),
    )
    parser.add_argument("--rate", type=float, default=float(os.environ.get("BENCH_RATE", 0)))
    args = parser.parse_args()
    redis_url = os.environ.get("BENCH_REDIS_URL", os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL)
    if not _redis_reachable(redis_url):
        print(f"bench webhooks: no Redis at {redis_url}; delivering in-process", file=sys.stderr)
        redis_url = ""
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # no log line per task and request
    with serving.fresh_database(bench="webhooks", default_url=DEFAULT_DATABASE_URL, redis_url=redis_url):
        from django.db import connections

        result = run(args.deliveries, workers=args.workers, per_transaction=args.events_per_transaction, rate=args.rate)
        connections.close_all()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
