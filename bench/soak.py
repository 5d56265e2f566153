"""Benchmark: a bounded soak of the whole service under load and faults, checked against the database afterwards.

Run ``python bench/soak.py --clients N --seconds T [--broker-outage-at S --broker-outage-seconds D]
[--kill-web-worker-at S] [--kill-celery-worker-at S]`` (or ``make bench``: the defaults, 24 clients for 180 s with
each fault once; a negative time turns a fault off). Times are seconds after the load starts.

It starts its own ``redis-server`` on a free port of 127.0.0.1 (no persistence, so an outage loses what was queued,
as a crashed broker does), creates and migrates the database named by ``BENCH_DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/billing_bench_soak``) and builds, through the services, a merchant with two
prices, a portal configuration, a webhook endpoint pointing at a local receiver (a thread of this process that
verifies every ``Stripe-Signature`` with ``stripe.Webhook.construct_event`` and records the event ids) and one
subscribed customer per client. Then it starts what production runs, with production settings from the
environment: gunicorn (``config.wsgi``, 3 gthread workers x 4 threads), one Celery worker (prefork, 2 processes)
on the billing and webhook queues, and celery beat with the production schedule (billing-cycle planner and webhook
sweeper every minute).

N client threads then send a mix of API calls through the official ``stripe`` SDK (customer create and update,
attaching ``pm_card_visa`` and making it the default, subscription create (a third with a trial ending during the
run, so the billing cycle renews them), item and quantity changes, pause_collection on and off,
cancel_at_period_end on and off, portal session create, and reads) and visit the hosted portal over plain HTTP.
Every write carries a unique ``Idempotency-Key``; events record it and audit entries the ``Request-Id``, so the
harness can tell afterwards which writes committed. The SDK does not retry (``max_network_retries=0``): each
answer is the server's.

At the given moments it kills the broker and starts it again on the same port ``D`` seconds later, SIGKILLs one
gunicorn worker (gunicorn starts another) and SIGKILLs the Celery worker (and starts a new one). After ``T``
seconds the load stops; the harness waits (at most ``--drain-seconds``) until the receiver has every event of the
merchant and the queues are empty, then prints one JSON line: per operation the count, answers by class, requests
without an answer and p50/p99 latency; ``5xx_on_committed_writes`` (answered 5xx, yet committed),
``lost_writes`` (answered 2xx, not in the database), ``deadlock_errors`` (5xx whose traceback in gunicorn's log
is a PostgreSQL deadlock or serialization failure), ``undelivered_events`` (events of the merchant the receiver
never got, with the state of their deliveries), ``duplicate_deliveries``, events per second, how far deliveries
lagged and the run's parameters. Writes answered 5xx or not at all are then sent once more with the same key
(``retries_with_same_key``: what a client that retries, as Stripe advises, gets).

``--setting NAME=VALUE`` sets a product setting for every process it starts. ``--log-dir`` keeps the logs
(gunicorn, worker, beat, redis). Everything started is stopped, and the database dropped, however the run ends.
"""

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

if __name__ == "__main__":
    # Run as a script, bench/ is sys.path[0], where a script could shadow a product package of the same name.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import serving  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/billing_bench_soak"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
DEFAULTS = {
    "clients": 24,
    "seconds": 180.0,
    "broker_outage_at": 60.0,
    "broker_outage_seconds": 10.0,
    "kill_web_worker_at": 100.0,
    "kill_celery_worker_at": 130.0,
    "drain_seconds": 120.0,
}
WEB_WORKERS, WEB_THREADS, CELERY_PROCESSES = 3, 4, 2
BILLING_QUEUE, WEBHOOK_QUEUE = "billing", "webhooks"
STARTUP_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0
RETURN_URL = "https://merchant.example/account"
REPLAYS = 20  # writes answered 5xx or not at all that are sent again with their key
BACKLOG_EVERY = 5.0  # seconds between samples of the webhook queue's length during the load
SAMPLES = 3  # answers kept per operation and status class, for the report

# --- processes -------------------------------------------------------------------------------------

try:  # a child that outlives a killed harness would hold the port, the database and the CPU
    import ctypes

    _prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
except (ImportError, OSError):
    _prctl = None


def _die_with_harness() -> None:
    if _prctl is not None:
        _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (children are started from the main thread only)


def _spawn(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    """A process in a process group of its own (so it and its children can be killed at once), output to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_harness,
        )


def _kill_group(process: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """SIGTERM asks the leader to shut down (gunicorn's and Celery's warm shutdown); SIGKILL kills the whole group
    at once. Whatever is left after ``timeout`` seconds is killed."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        if sig == signal.SIGKILL:
            os.killpg(process.pid, sig)
        else:
            os.kill(process.pid, sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def _children(pid: int) -> list[int]:
    """The ids of ``pid``'s child processes (from /proc)."""
    children = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry.name))
    return children


class Broker:
    """A private redis-server: the Celery broker and the cache of everything the soak starts."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = serving._free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.cache_url = f"redis://127.0.0.1:{self.port}/1"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = _spawn([*command, "--dir", str(self.directory)], dict(os.environ), self.directory / "redis.log")
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port} (see redis.log)")
            time.sleep(0.05)

    def kill(self) -> None:
        _kill_group(self.process, signal.SIGKILL)

    def stop(self) -> None:
        _kill_group(self.process)

    def _client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=2)

    def answers(self) -> bool:
        try:
            with contextlib.closing(self._client()) as client:
                return bool(client.ping())
        except Exception:
            return False

    def queued_work(self) -> dict[str, tuple[set, set]]:
        """The webhook work the broker still holds: (delivery ids, event ids) of the ``deliver`` and fan-out
        messages waiting in the queue, and of those a worker took and never acknowledged (kombu's ``unacked``:
        a killed worker's, given back only after the visibility timeout)."""
        held = {"queued": (set(), set()), "unacked": (set(), set())}
        with contextlib.suppress(Exception), contextlib.closing(self._client()) as client:
            for raw in client.lrange(WEBHOOK_QUEUE, 0, -1):
                _note_task(json.loads(raw), held["queued"])
            for raw in client.hvals("unacked"):
                _note_task(json.loads(raw)[0], held["unacked"])
        return held

    def backlog(self) -> dict[str, int | None]:
        """Messages waiting in each queue and delivered but not acknowledged (kombu's ``unacked``)."""
        try:
            with contextlib.closing(self._client()) as client:
                return {
                    BILLING_QUEUE: client.llen(BILLING_QUEUE),
                    WEBHOOK_QUEUE: client.llen(WEBHOOK_QUEUE),
                    "unacked": client.hlen("unacked"),
                }
        except Exception:
            return {BILLING_QUEUE: None, WEBHOOK_QUEUE: None, "unacked": None}


def _note_task(message: dict, into: tuple[set, set]) -> None:
    """Add the delivery or event ids a kombu message for a webhook task carries to ``into``."""
    import base64

    body = message["body"]
    if message.get("properties", {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    args = json.loads(body)[0]
    task = message.get("headers", {}).get("task", "")
    if task == "webhooks.tasks.deliver":
        into[0].add(args[0])
    elif task == "webhooks.tasks.fan_out_events":
        into[1].update(args[0])
    elif task == "webhooks.tasks.fan_out_event":
        into[1].add(args[0])


@dataclass
class Stack:
    """The server side of the run: gunicorn, the Celery worker and beat, with their logs."""

    directory: Path
    env: dict
    base_url: str = ""
    web: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None
    beat: subprocess.Popen | None = None
    workers_started: int = 0
    # Times the Celery worker exited on its own and was started again, as a process manager (systemd's
    # Restart=always) does in production.
    worker_restarts: int = 0
    backlog_left: dict = field(default_factory=dict)

    @property
    def web_log(self) -> Path:
        return self.directory / "gunicorn.log"

    @property
    def worker_log(self) -> Path:
        return self.directory / "celery-worker.log"

    def start_web(self) -> None:
        port = serving._free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.env["PORTAL_BASE_URL"] = self.base_url
        gunicorn = Path(sys.executable).with_name("gunicorn")
        command = [str(gunicorn)] if gunicorn.exists() else [sys.executable, "-m", "gunicorn"]
        command += ["config.wsgi:application", "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread"]
        command += ["--workers", str(WEB_WORKERS), "--threads", str(WEB_THREADS), "--graceful-timeout", "5"]
        self.web = _spawn([*command, *_no_control_socket(), "--log-level", "info"], self.env, self.web_log)

    def wait_for_web(self) -> None:
        import httpx

        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.web.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.web.returncode}:\n{_tail(self.web_log)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base_url + "/healthz", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer within {STARTUP_TIMEOUT:.0f} s:\n{_tail(self.web_log)}")
            time.sleep(0.2)

    def start_worker(self) -> str:
        self.workers_started += 1
        name = f"soak{self.workers_started}@soak"
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", f"{BILLING_QUEUE},{WEBHOOK_QUEUE}"]
        command += ["--pool", "prefork", "--concurrency", str(CELERY_PROCESSES), "-n", name, "-l", "warning"]
        self.worker = _spawn([*command, "--without-gossip", "--without-mingle"], self.env, self.worker_log)
        return name

    def wait_for_worker(self, name: str) -> None:
        from celery import current_app

        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not any(name in reply for reply in current_app.control.ping(destination=[name], timeout=1)):
            if self.worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start:\n{_tail(self.worker_log)}")

    def start_beat(self) -> None:
        command = [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "info"]
        command += ["-s", str(self.directory / "beat-schedule"), "--pidfile", str(self.directory / "beat.pid")]
        self.beat = _spawn(command, self.env, self.directory / "celery-beat.log")

    def kill_web_worker(self) -> int | None:
        workers = _children(self.web.pid) if self.web else []
        if not workers:
            return None
        victim = random.choice(workers)
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
        return victim

    def replace_worker(self) -> str:
        _kill_group(self.worker, signal.SIGKILL)
        return self.start_worker()

    def supervise(self) -> None:
        """Start the Celery worker again if it exited on its own (a process manager's job in production)."""
        if self.worker is not None and self.worker.poll() is not None:
            self.worker_restarts += 1
            self.start_worker()

    def stop(self) -> None:
        for process in (self.beat, self.worker, self.web):
            _kill_group(process)


def _no_control_socket() -> list[str]:
    """gunicorn 27's control socket has one default path per user, shared with any other gunicorn on the machine."""
    from gunicorn.config import KNOWN_SETTINGS

    return ["--no-control-socket"] if any(s.name == "control_socket_disable" for s in KNOWN_SETTINGS) else []


def _tail(log: Path, size: int = 3000) -> str:
    try:
        return log.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def _service_env(database_url: str, broker: Broker, settings: dict[str, str]) -> dict:
    """The environment of every process the soak starts: production settings, this run's services."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=broker.url,
        REDIS_CACHE_URL=broker.cache_url,
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY=os.environ["SECRET_KEY"],
        DEBUG="0",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        API_RATE_LIMIT_TEST="0",
        API_RATE_LIMIT_LIVE="0",
        WEBHOOK_ALLOW_PRIVATE_TARGETS="1",
        BILLING_QUEUE=BILLING_QUEUE,
        WEBHOOK_QUEUE=WEBHOOK_QUEUE,
        CONN_MAX_AGE="60",  # as .env.example recommends
        LOG_LEVEL="WARNING",
        EMAIL_URL="consolemail://",
        PYTHONUNBUFFERED="1",  # one write per log record: tracebacks of different workers do not interleave
    )
    env.update(settings)
    return env


# --- the receiver ----------------------------------------------------------------------------------


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a sender that hangs up (a killed worker) is not the receiver's error


class Receiver:
    """The merchant's webhook endpoint: verifies each signature, records each event id, answers 200."""

    def __init__(self):
        self.secret = ""
        self.counts: Counter[str] = Counter()
        self.first_seen: dict[str, float] = {}  # event id -> time.time() of its first delivery
        self.bad_signatures = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = -1
            disable_nagle_algorithm = True

            def do_POST(self):
                import stripe

                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    event = stripe.Webhook.construct_event(body, self.headers.get("Stripe-Signature"), receiver.secret)
                except (ValueError, stripe.SignatureVerificationError):
                    with receiver.lock:
                        receiver.bad_signatures += 1
                    self._answer(400)
                    return
                with receiver.lock:
                    receiver.counts[event.id] += 1
                    receiver.first_seen.setdefault(event.id, time.time())
                self._answer(200)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args):
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"

    def received(self) -> Counter[str]:
        with self.lock:
            return Counter(self.counts)

    def arrivals(self) -> dict[str, float]:
        with self.lock:
            return dict(self.first_seen)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- the merchant ----------------------------------------------------------------------------------


@dataclass
class Merchant:
    account: object
    secret: str
    prices: list[str]
    endpoint: object
    customers: list["Customer"]
    load_started: object = None  # billing's clock when the load started


def prepare(receiver: Receiver, customers: int) -> Merchant:
    """Through the services: the merchant, a second product, the portal configuration, the webhook endpoint and
    ``customers`` customers with a card and a subscription each."""
    from billing.audit import Actor
    from billing.services.customers import customer_create, customer_set_default_payment_method
    from billing.services.payment_methods import payment_method_attach, payment_method_create
    from billing.services.products import price_create, product_create
    from billing.services.subscriptions import ItemSpec, subscription_create
    from configurations.services.portal_configurations import configuration_create
    from webhooks.services import webhook_endpoint_create

    actor = Actor.system("soak")
    account, secret, price = serving.bench_merchant(actor)
    tenant = {"account": account, "livemode": False, "actor": actor}
    endpoint = webhook_endpoint_create(**tenant, url=receiver.url, enabled_events=["*"])
    receiver.secret = endpoint.secret
    plus = price_create(
        product=product_create(**tenant, name="Bench plus"),
        actor=actor,
        currency="eur",
        unit_amount=2500,
        interval="month",
        tax_behavior="exclusive",
    )
    configuration_create(**tenant, data=_configuration([price, plus]))
    seeded = []
    for i in range(customers):
        customer = customer_create(**tenant, email=f"soak-seed{i}@example.com", name=f"Soak seed {i}")
        card = payment_method_attach(
            payment_method=payment_method_create(**tenant, token="pm_card_visa"), customer=customer, actor=actor
        )
        customer_set_default_payment_method(customer=customer, payment_method=card, actor=actor)
        customer.refresh_from_db()
        subscription = subscription_create(customer=customer, items=[ItemSpec(price, 1)], actor=actor)
        item = subscription.items.get()
        seeded.append(Customer(customer.id, [card.id], [Subscription(subscription.id, item.id, price.id)], invoices=[]))
    serving.analyze()
    return Merchant(account, secret, [price.id, plus.id], endpoint, seeded)


def _configuration(prices) -> dict:
    return {
        "business_profile": {"headline": "Soak merchant"},
        "default_return_url": RETURN_URL,
        "features": {
            "customer_update": {"enabled": True, "allowed_updates": ["name", "email"]},
            "invoice_history": {"enabled": True},
            "payment_method_update": {"enabled": True},
            "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
            "subscription_update": {
                "enabled": True,
                "default_allowed_updates": ["price", "quantity"],
                "products": [{"product": price.product_id, "prices": [price.id]} for price in prices],
                "proration_behavior": "create_prorations",
            },
        },
    }


# --- the clients -----------------------------------------------------------------------------------


@dataclass
class Subscription:
    id: str
    item: str
    price: str
    quantity: int = 1
    paused: bool = False
    cancel_at_period_end: bool = False


@dataclass
class Customer:
    id: str
    methods: list[str]
    subscriptions: list[Subscription]
    invoices: list[str]


@dataclass
class Call:
    op: str
    write: bool
    started: float  # seconds after the load started
    seconds: float
    status: int | None  # None: no answer (connection refused or reset, timeout)
    target: str = ""  # the object the call is about (for creates: the customer)
    tag: str = ""  # the write's Idempotency-Key
    request_id: str = ""
    error: str = ""
    again: Callable | None = field(default=None, repr=False)  # sends the same write with the same key
    committed: bool | None = None


class Book:
    """What the clients know exists (shared by all of them: several may work on one customer at once)."""

    def __init__(self, customers: list[Customer]):
        self.customers = list(customers)
        self.lock = threading.Lock()
        self.harness_errors: list[str] = []

    def add(self, customer: Customer) -> None:
        with self.lock:
            self.customers.append(customer)

    def pick(self, rng: random.Random, need: str = "") -> Customer | None:
        with self.lock:
            if need == "method":
                choices = [c for c in self.customers if c.methods]
            elif need == "subscription":
                choices = [c for c in self.customers if c.subscriptions]
            elif need == "invoice":
                choices = [c for c in self.customers if c.invoices]
            else:
                choices = self.customers
            return rng.choice(choices) if choices else None


# Operation -> weight. Writes first; portal_visit is the hosted portal over plain HTTP.
MIX = {
    "customer_create": 6,
    "customer_update": 6,
    "payment_method_attach": 5,
    "customer_set_default_payment_method": 4,
    "subscription_create": 6,
    "subscription_update_items": 5,
    "subscription_pause_collection": 4,
    "subscription_cancel_at_period_end": 4,
    "portal_session_create": 4,
    "customer_retrieve": 8,
    "subscription_retrieve": 6,
    "subscription_list": 6,
    "invoice_list": 8,
    "invoice_retrieve": 6,
    "payment_method_list": 4,
    "portal_visit": 3,
}


class Client(threading.Thread):
    def __init__(self, index: int, *, base_url: str, merchant: Merchant, book: Book, calls: list, clock: "Clock"):
        import httpx
        import stripe

        super().__init__(name=f"soak-client-{index}", daemon=True)
        self.index, self.book, self.calls, self.clock = index, book, calls, clock
        self.prices = merchant.prices
        self.rng = random.Random(index)
        self.stripe = stripe.StripeClient(
            merchant.secret,
            base_addresses={"api": base_url},
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=REQUEST_TIMEOUT),
        )
        self.http = httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT, follow_redirects=False)
        self.sessions: list[str] = []  # portal session URLs not visited yet
        self.writes = 0

    def run(self) -> None:
        ops, weights = list(MIX), list(MIX.values())
        try:
            while not self.clock.over():
                op = self.rng.choices(ops, weights)[0]
                try:
                    getattr(self, op)()
                except Exception as error:  # the harness's own fault: reported, never counted as the server's
                    self.book.harness_errors.append(f"{op}: {error!r}"[:300])
        finally:
            self.http.close()

    # The SDK call: every answer (or none) becomes a Call.

    def _call(self, op: str, send: Callable[[dict], object], *, write: bool, target: str = ""):
        import stripe

        options = {}
        tag = ""
        if write:
            self.writes += 1
            tag = f"soak-{self.index}-{self.writes}-{secrets.token_hex(4)}"
            options = {"idempotency_key": tag}
        call = Call(op, write, self.clock.now(), 0.0, None, target=target, tag=tag)
        if write:
            call.again = lambda: send(options)
        began = time.perf_counter()
        result = None
        try:
            result = send(options)
            call.status = result.last_response.code
            call.request_id = result.last_response.headers.get("request-id", "")
        except stripe.APIConnectionError as error:
            call.error = str(error)[:300]
        except stripe.StripeError as error:
            call.status = error.http_status
            call.request_id = (error.headers or {}).get("request-id", "")
            call.error = (error.http_body or str(error))[:300]
        call.seconds = time.perf_counter() - began
        self.calls.append(call)
        return result

    def _metadata(self) -> dict:
        # Every update changes something, so every committed write leaves an event carrying its key.
        return {"soak_write": f"{self.index}-{self.writes + 1}"}

    # Writes.

    def customer_create(self) -> None:
        n = self.writes + 1
        params = {"email": f"soak-{self.index}-{n}@example.com", "name": f"Soak {self.index}-{n}"}
        customer = self._call(
            "customer_create",
            lambda o: self.stripe.v1.customers.create({**params, "metadata": self._metadata()}, o),
            write=True,
            target=params["email"],
        )
        if customer is not None:
            self.book.add(Customer(customer.id, [], [], []))

    def customer_update(self) -> None:
        customer = self.book.pick(self.rng)
        params = {"name": f"Soak renamed {self.rng.randrange(10**6)}", "metadata": self._metadata()}
        self._call(
            "customer_update",
            lambda o: self.stripe.v1.customers.update(customer.id, params, o),
            write=True,
            target=customer.id,
        )

    def payment_method_attach(self) -> None:
        customer = self.book.pick(self.rng)
        method = self._call(
            "payment_method_attach",
            lambda o: self.stripe.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id}, o),
            write=True,
            target=customer.id,
        )
        if method is not None:
            customer.methods.append(method.id)

    def customer_set_default_payment_method(self) -> None:
        customer = self.book.pick(self.rng, "method")
        if customer is None:
            return self.payment_method_attach()
        params = {
            "invoice_settings": {"default_payment_method": self.rng.choice(customer.methods)},
            "metadata": self._metadata(),
        }
        self._call(
            "customer_set_default_payment_method",
            lambda o: self.stripe.v1.customers.update(customer.id, params, o),
            write=True,
            target=customer.id,
        )

    def subscription_create(self) -> None:
        customer = self.book.pick(self.rng, "method")
        if customer is None:
            return self.payment_method_attach()
        price = self.rng.choice(self.prices)
        params = {
            "customer": customer.id,
            "items": [{"price": price, "quantity": 1}],
            "default_payment_method": customer.methods[-1],
            "metadata": self._metadata(),
        }
        if self.rng.random() < 1 / 3:  # the billing cycle ends the trial (and charges) during the run
            params["trial_end"] = int(time.time() + self.rng.uniform(20, 60))
        subscription = self._call(
            "subscription_create",
            lambda o: self.stripe.v1.subscriptions.create(params, o),
            write=True,
            target=customer.id,
        )
        if subscription is not None:
            item = subscription["items"]["data"][0]["id"]
            customer.subscriptions.append(Subscription(subscription.id, item, price))
            if subscription.latest_invoice:
                customer.invoices.append(subscription.latest_invoice)

    def _subscription(self) -> tuple[Customer, Subscription] | None:
        customer = self.book.pick(self.rng, "subscription")
        return (customer, self.rng.choice(customer.subscriptions)) if customer else None

    def _update(self, op: str, subscription: Subscription, params: dict):
        params = {**params, "metadata": self._metadata()}
        return self._call(
            op,
            lambda o: self.stripe.v1.subscriptions.update(subscription.id, params, o),
            write=True,
            target=subscription.id,
        )

    def subscription_update_items(self) -> None:
        picked = self._subscription()
        if picked is None:
            return self.subscription_create()
        _customer, subscription = picked
        if self.rng.random() < 0.5:
            item = {"id": subscription.item, "quantity": self.rng.randint(1, 5)}
        else:
            item = {"id": subscription.item, "price": self.rng.choice(self.prices)}
        params = {"items": [item], "proration_behavior": "create_prorations"}
        if self._update("subscription_update_items", subscription, params) is not None:
            subscription.price = item.get("price", subscription.price)
            subscription.quantity = item.get("quantity", subscription.quantity)

    def subscription_pause_collection(self) -> None:
        picked = self._subscription()
        if picked is None:
            return self.subscription_create()
        _customer, subscription = picked
        if subscription.paused:
            pause = ""
        else:
            pause = {"behavior": self.rng.choice(["void", "keep_as_draft", "mark_uncollectible"])}
            if self.rng.random() < 0.5:  # the billing cycle resumes it during the run
                pause["resumes_at"] = int(time.time() + self.rng.uniform(20, 90))
        if self._update("subscription_pause_collection", subscription, {"pause_collection": pause}) is not None:
            subscription.paused = not subscription.paused

    def subscription_cancel_at_period_end(self) -> None:
        picked = self._subscription()
        if picked is None:
            return self.subscription_create()
        _customer, subscription = picked
        value = not subscription.cancel_at_period_end
        if self._update("subscription_cancel_at_period_end", subscription, {"cancel_at_period_end": value}):
            subscription.cancel_at_period_end = value

    def portal_session_create(self) -> None:
        customer = self.book.pick(self.rng)
        session = self._call(
            "portal_session_create",
            lambda o: self.stripe.v1.billing_portal.sessions.create({"customer": customer.id}, o),
            write=True,
            target=customer.id,
        )
        if session is not None:
            self.sessions.append(session.url)

    # Reads.

    def customer_retrieve(self) -> None:
        customer = self.book.pick(self.rng)
        self._call(
            "customer_retrieve",
            lambda o: self.stripe.v1.customers.retrieve(customer.id),
            write=False,
            target=customer.id,
        )

    def subscription_retrieve(self) -> None:
        picked = self._subscription()
        if picked is None:
            return self.customer_retrieve()
        subscription = picked[1]
        self._call(
            "subscription_retrieve",
            lambda o: self.stripe.v1.subscriptions.retrieve(subscription.id),
            write=False,
            target=subscription.id,
        )

    def subscription_list(self) -> None:
        customer = self.book.pick(self.rng)
        params = {"customer": customer.id, "status": "all", "limit": 10}
        self._call(
            "subscription_list", lambda o: self.stripe.v1.subscriptions.list(params), write=False, target=customer.id
        )

    def invoice_list(self) -> None:
        customer = self.book.pick(self.rng)
        page = self._call(
            "invoice_list",
            lambda o: self.stripe.v1.invoices.list({"customer": customer.id, "limit": 10}),
            write=False,
            target=customer.id,
        )
        if page is not None:
            known = set(customer.invoices)
            customer.invoices.extend(invoice.id for invoice in page.data if invoice.id not in known)

    def invoice_retrieve(self) -> None:
        customer = self.book.pick(self.rng, "invoice")
        if customer is None:
            return self.invoice_list()
        invoice = self.rng.choice(customer.invoices)
        self._call("invoice_retrieve", lambda o: self.stripe.v1.invoices.retrieve(invoice), write=False, target=invoice)

    def payment_method_list(self) -> None:
        customer = self.book.pick(self.rng)
        self._call(
            "payment_method_list",
            lambda o: self.stripe.v1.payment_methods.list({"customer": customer.id, "limit": 10}),
            write=False,
            target=customer.id,
        )

    def portal_visit(self) -> None:
        """A customer follows a session link (a 303 that sets the portal cookie) and sees the overview."""
        import httpx

        if not self.sessions:
            return self.portal_session_create()
        path = urlsplit(self.sessions.pop()).path
        call = Call("portal_visit", False, self.clock.now(), 0.0, None)
        began = time.perf_counter()
        try:
            response = self.http.get(path)
            cookie = response.cookies.get("portal_session")
            if response.status_code == 303 and cookie:
                response = self.http.get("/p/", headers={"Cookie": f"portal_session={cookie}"})
            self.http.cookies.clear()
            call.status = response.status_code
            call.request_id = response.headers.get("request-id", "")
            if response.status_code != 200:
                call.error = response.text[:300]
        except httpx.HTTPError as error:
            call.error = repr(error)[:300]
        call.seconds = time.perf_counter() - began
        self.calls.append(call)


class Clock:
    """Seconds since the load started, and whether it is over."""

    def __init__(self, seconds: float):
        self.started = time.monotonic()
        self.stop_at = self.started + seconds

    def now(self) -> float:
        return time.monotonic() - self.started

    def over(self) -> bool:
        return time.monotonic() >= self.stop_at


# --- faults ----------------------------------------------------------------------------------------


@dataclass
class Faults:
    broker_outage_at: float | None
    broker_outage_seconds: float
    kill_web_worker_at: float | None
    kill_celery_worker_at: float | None

    def schedule(self, seconds: float) -> list[tuple[float, str]]:
        """(moment, action) in order, for the faults that start within the load (a broker that went down comes
        back up even after the load)."""
        moments = []
        if self.broker_outage_at is not None and self.broker_outage_at < seconds:
            back = self.broker_outage_at + self.broker_outage_seconds
            moments += [(self.broker_outage_at, "broker_down"), (back, "broker_up")]
        if self.kill_web_worker_at is not None and self.kill_web_worker_at < seconds:
            moments.append((self.kill_web_worker_at, "kill_web_worker"))
        if self.kill_celery_worker_at is not None and self.kill_celery_worker_at < seconds:
            moments.append((self.kill_celery_worker_at, "kill_celery_worker"))
        return sorted(moments)


def _inject(action: str, broker: Broker, stack: Stack) -> dict:
    if action == "broker_down":
        broker.kill()
        return {}
    if action == "broker_up":
        broker.start()
        return {}
    if action == "kill_web_worker":
        return {"pid": stack.kill_web_worker()}
    name = stack.replace_worker()
    return {"new_worker": name}


@dataclass
class Load:
    """What the load phase leaves for the report."""

    calls: list[Call]
    faults: list[dict]
    seconds: float
    stuck: int  # client threads still in a request when the load ended
    harness_errors: list[str]
    backlog: list[tuple[float, int | None]]  # (seconds, messages waiting in the webhook queue), sampled


def load(stack: Stack, broker: Broker, merchant: Merchant, clients: int, seconds: float, faults: Faults) -> Load:
    """Run the clients for ``seconds``, inject the faults on time (from this thread: see _die_with_harness) and
    sample the webhook queue's backlog every ``BACKLOG_EVERY`` seconds."""
    book = Book(merchant.customers)
    calls: list[Call] = []
    clock = Clock(seconds)
    threads = [
        Client(i, base_url=stack.base_url, merchant=merchant, book=book, calls=calls, clock=clock)
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    done, backlog, sampled = [], [], -BACKLOG_EVERY
    pending = faults.schedule(seconds)
    while not clock.over() or pending:
        if pending and clock.now() >= pending[0][0]:
            at, action = pending.pop(0)
            detail = _inject(action, broker, stack)
            done.append({"fault": action, "at": round(at, 1), "done_at": round(clock.now(), 1), **detail})
            continue
        stack.supervise()
        if not clock.over() and clock.now() - sampled >= BACKLOG_EVERY:
            sampled = clock.now()
            backlog.append((round(sampled, 1), broker.backlog()[WEBHOOK_QUEUE]))
        time.sleep(min(0.2, max(0.0, (pending[0][0] if pending else seconds) - clock.now())))
    for thread in threads:
        thread.join(REQUEST_TIMEOUT + 5)
    stuck = sum(thread.is_alive() for thread in threads)
    return Load(calls, done, clock.now(), stuck, book.harness_errors, backlog)


# --- after the load --------------------------------------------------------------------------------


def drain(receiver: Receiver, broker: Broker, account, limit: float, stack: Stack | None = None) -> float:
    """Wait until the receiver has every event of the merchant and the queues are empty; the seconds waited."""
    from billing.models import Event

    began = time.monotonic()
    while True:
        if stack is not None:
            stack.supervise()
        events = set(Event.objects.filter(account=account, livemode=False).values_list("pk", flat=True))
        backlog = broker.backlog()
        if events <= set(receiver.received()) and not any(backlog.values()):
            return time.monotonic() - began
        if time.monotonic() - began > limit:
            return time.monotonic() - began
        time.sleep(1)


def mark_committed(calls: list[Call], account) -> None:
    """A write committed if an event carries its Idempotency-Key or an audit entry its Request-Id."""
    from billing.models import AuditEntry, Event

    keys = set(
        Event.objects.filter(account=account).exclude(idempotency_key="").values_list("idempotency_key", flat=True)
    )
    request_ids = set(
        AuditEntry.objects.filter(account=account).exclude(request_id="").values_list("request_id", flat=True)
    )
    for call in calls:
        if call.write:
            call.committed = call.tag in keys or bool(call.request_id and call.request_id in request_ids)


def undelivered(receiver: Receiver, broker: Broker, account) -> dict[str, int]:
    """The merchant's events the receiver never got (of those recorded since its endpoint exists), by where each one
    is stuck: still on the queue (late), held unacknowledged by a killed worker, or in the database only (lost
    messages: only the sweeper sends them)."""
    from billing.models import Event
    from webhooks.models import Delivery, WebhookEndpoint

    received = receiver.received()
    # The events from the endpoint's creation on: those before it (the merchant's first product and price) were
    # heard by nobody, as Stripe's would be.
    listening_since = WebhookEndpoint.objects.filter(account=account, livemode=False).earliest("created").created
    events = Event.objects.filter(account=account, livemode=False, created__gte=listening_since)
    missing = [pk for pk in events.values_list("pk", flat=True) if pk not in received]
    held = broker.queued_work()
    states: Counter[str] = Counter()
    deliveries = {d.event_id: d for d in Delivery.objects.filter(event_id__in=missing)}
    fanned_out = set(events.filter(pk__in=missing, fanned_out_at__isnull=False).values_list("pk", flat=True))
    for pk in missing:
        delivery = deliveries.get(pk)
        where = next(
            (
                place
                for place, (delivery_ids, event_ids) in held.items()
                if pk in event_ids or (delivery is not None and delivery.pk in delivery_ids)
            ),
            None,
        )
        if where is not None:
            states[f"{where}_{'delivery' if delivery else 'fan_out'}"] += 1
        elif delivery is None:
            states["fanned_out_without_delivery" if pk in fanned_out else "never_fanned_out"] += 1
        elif delivery.status == Delivery.Status.PENDING and not delivery.attempts:
            states["pending_never_attempted"] += 1
        else:
            states[f"{delivery.status}_after_{delivery.attempts}_attempts"] += 1
    return dict(states)


def duplicates(receiver: Receiver, account, load_started, limit: int = 3) -> list[dict]:
    """For a few events the receiver got more than once: their delivery's attempts (seconds after the load
    started), to see which fault sent them twice."""
    from webhooks.models import Attempt, Delivery

    twice = [pk for pk, n in receiver.received().items() if n > 1][:limit]
    found = []
    for delivery in Delivery.objects.filter(event_id__in=twice, account=account):
        attempts = Attempt.objects.filter(delivery=delivery).order_by("pk")
        found.append(
            {
                "event": delivery.event_id,
                "received": receiver.received()[delivery.event_id],
                "status": delivery.status,
                "attempts": [
                    {
                        "started_s": round((a.started_at - load_started).total_seconds(), 1) if a.started_at else None,
                        "response_status": a.response_status,
                        "error": a.error[:120],
                    }
                    for a in attempts
                ],
            }
        )
    return found


def delivery_lag(receiver: Receiver, account, since) -> dict:
    """Seconds from an event's creation to its first arrival at the receiver, for the events of the load."""
    from billing.models import Event

    arrivals = receiver.arrivals()
    created = Event.objects.filter(account=account, livemode=False, created__gte=since).values_list("pk", "created")
    lags = sorted(arrivals[pk] - moment.timestamp() for pk, moment in created if pk in arrivals)
    if not lags:
        return {}
    return {
        "p50_s": round(statistics.median(lags), 1),
        "p99_s": round(_quantile(lags, 0.99), 1),
        "max_s": round(lags[-1], 1),
    }


HEADER = re.compile(r"^(?:API (?:GET|POST|DELETE) (?P<api>\S+) failed|Internal Server Error: (?P<page>\S+))$")
CONTINUATION = re.compile(
    r"^(?:\s|Traceback |The above exception|During handling|DETAIL:|HINT:|CONTEXT:"
    r"|[A-Za-z_][\w.]*(?:Error|Exception|Detected|Failure|Violation|Timeout)\b)"
)
EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Detected|Failure|Violation|Timeout)\b.*")
DEADLOCK = ("DeadlockDetected", "deadlock detected", "SerializationFailure", "could not serialize access")


def _continues(lines: list[str], i: int) -> bool:
    """Whether line ``i`` belongs to the traceback above it (blank lines do when the traceback goes on after them)."""
    while i < len(lines) and not lines[i].strip():
        i += 1
    return i < len(lines) and bool(CONTINUATION.match(lines[i])) and not HEADER.match(lines[i])


def server_errors(log: Path) -> list[dict]:
    """The tracebacks of failed requests in gunicorn's log: path, last exception line, deadlock or not."""
    lines = log.read_text(errors="replace").splitlines()
    found = []
    i = 0
    while i < len(lines):
        header = HEADER.match(lines[i])
        i += 1
        if not header:
            continue
        block = []
        while i < len(lines) and _continues(lines, i):
            block.append(lines[i])
            i += 1
        if not block:
            continue  # Django's one-line "Internal Server Error" after the API's own traceback
        exceptions = [line for line in block if EXCEPTION.match(line)]
        text = "\n".join(block)
        found.append(
            {
                "path": header["api"] or header["page"],
                "exception": (exceptions[-1] if exceptions else block[-1]).strip()[:200],
                "deadlock": any(marker in text for marker in DEADLOCK),
            }
        )
    return found


def _shape(path: str) -> str:
    return re.sub(r"/[a-z]+_[A-Za-z0-9]{8,}", "/{id}", path)


def _quantile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def _ms(values: list[float], q: float) -> float | None:
    return round(_quantile(values, q) * 1000, 1) if values else None


def operations(calls: list[Call]) -> dict:
    by_op: dict[str, list[Call]] = defaultdict(list)
    for call in calls:
        by_op[call.op].append(call)
    table = {}
    for op in MIX:
        group = by_op.get(op, [])
        answered = [c.seconds for c in group if c.status is not None]
        table[op] = {
            "count": len(group),
            "2xx": sum(1 for c in group if c.status and 200 <= c.status < 300),
            "4xx": sum(1 for c in group if c.status and 400 <= c.status < 500),
            "5xx": sum(1 for c in group if c.status and c.status >= 500),
            "no_answer": sum(1 for c in group if c.status is None),
            "p50_ms": round(statistics.median(answered) * 1000, 1) if answered else None,
            "p99_ms": _ms(answered, 0.99),
        }
    return table


def samples(calls: list[Call]) -> dict:
    """A few answers other than 2xx per operation and status, for the report."""
    kept: dict[str, list] = defaultdict(list)
    seen: Counter = Counter()
    for call in sorted(calls, key=lambda c: c.started):
        if call.status is not None and 200 <= call.status < 300:
            continue
        key = (call.op, call.status)
        seen[key] += 1
        if seen[key] <= SAMPLES:
            kept[call.op].append(
                {
                    "at": round(call.started, 1),
                    "status": call.status,
                    "target": call.target,
                    "committed": call.committed,
                    "request_id": call.request_id,
                    "answer": call.error[:240],
                }
            )
    return dict(kept)


def replay(calls: list[Call]) -> dict:
    """Send writes that were answered 5xx or not at all once more, with the same Idempotency-Key, as Stripe tells
    clients to: what does such a retry get? Per kind of first outcome, the answers by status and one of each."""
    import stripe

    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    examples: dict[str, str] = {}
    failed = [c for c in calls if c.write and (c.status is None or c.status >= 500)]
    for call in failed[:REPLAYS]:
        first = "no answer" if call.status is None else "answered 5xx"
        kind = f"{call.op}, {first}, {'committed' if call.committed else 'not committed'}"
        try:
            result = call.again()
            status, answer = str(result.last_response.code), result.last_response.headers.get("idempotent-replayed")
            answer = f"Idempotent-Replayed: {answer}" if answer else "executed now"
        except stripe.StripeError as error:
            status, answer = str(error.http_status), (error.http_body or str(error))
        outcomes[kind][status] += 1
        examples.setdefault(f"{kind}: {status}", answer[:200])
    return {"answers": {kind: dict(answers) for kind, answers in outcomes.items()}, "examples": examples}


def _count_lines(log: Path, *needles: str) -> int:
    try:
        return sum(1 for line in log.read_text(errors="replace").splitlines() if any(n in line for n in needles))
    except OSError:
        return 0


def answered_per_10s(calls: list[Call]) -> list[int]:
    """Requests answered (any status) in each 10 seconds of the load: where the service stalled."""
    buckets: Counter[int] = Counter(int((c.started + c.seconds) // 10) for c in calls if c.status is not None)
    return [buckets[i] for i in range(max(buckets, default=-1) + 1)]


def report(outcome: Load, *, receiver, broker, merchant, stack, drained, options) -> dict:
    from billing.models import Event

    calls, seconds = outcome.calls, outcome.seconds
    writes = [c for c in calls if c.write]
    errors = server_errors(stack.web_log)
    deadlocks = [e for e in errors if e["deadlock"]]
    received = receiver.received()
    missing = undelivered(receiver, broker, merchant.account)
    events = Event.objects.filter(account=merchant.account, livemode=False)
    during_load = events.filter(
        created__gte=merchant.load_started, created__lt=merchant.load_started + dt.timedelta(seconds=seconds)
    )
    arrived = [at for at in receiver.arrivals().values() if at >= merchant.load_started.timestamp()]
    waiting = [n for _, n in outcome.backlog if n is not None]
    outage = next((f["at"] for f in outcome.faults if f["fault"] == "broker_down"), None)
    before_outage = [n for at, n in outcome.backlog if n is not None and outage is not None and at <= outage]
    return {
        "bench": "soak",
        "clients": options.clients,
        "seconds": round(seconds, 1),
        "faults": outcome.faults,
        "drain_limit_s": options.drain_seconds,
        "settings": dict(options.setting),
        "web": f"gunicorn config.wsgi, {WEB_WORKERS} gthread workers x {WEB_THREADS} threads",
        "celery": f"1 worker (prefork, {CELERY_PROCESSES} processes) on {BILLING_QUEUE},{WEBHOOK_QUEUE}; beat",
        "worker_restarts": stack.worker_restarts,
        "requests": len(calls),
        "requests_per_s": round(len(calls) / seconds, 1),
        "operations": operations(calls),
        "writes": len(writes),
        "committed_writes": sum(1 for c in writes if c.committed),
        "5xx_on_committed_writes": sum(1 for c in writes if c.committed and c.status and c.status >= 500),
        "lost_writes": sum(1 for c in writes if not c.committed and c.status and 200 <= c.status < 300),
        "deadlock_errors": len(deadlocks),
        "undelivered_events": sum(missing.values()),
        "duplicate_deliveries": sum(n - 1 for n in received.values() if n > 1),
        "duplicates_detail": duplicates(receiver, merchant.account, merchant.load_started),
        "4xx_on_committed_writes": sum(1 for c in writes if c.committed and c.status and 400 <= c.status < 500),
        "unanswered_writes": sum(1 for c in writes if c.status is None),
        "unanswered_committed_writes": sum(1 for c in writes if c.status is None and c.committed),
        "answered_per_10s": answered_per_10s(calls),
        "client_threads_stuck": outcome.stuck,
        "harness_errors": outcome.harness_errors[:5],
        "events": events.count(),
        "events_per_s": round(during_load.count() / seconds, 1),
        "delivered": len(received),
        "delivered_per_s": round(len(arrived) / (seconds + drained), 1),
        "delivery_lag": delivery_lag(receiver, merchant.account, merchant.load_started),
        "webhook_backlog": {
            "max": max(waiting, default=None),
            "before_broker_outage": before_outage[-1] if before_outage else None,
            "at_end_of_load": waiting[-1] if waiting else None,
        },
        "bad_signatures": receiver.bad_signatures,
        "drain_s": round(drained, 1),
        "undelivered_by_state": missing,
        "server_errors": dict(Counter(f"{_shape(e['path'])}: {e['exception']}" for e in errors).most_common(12)),
        "deadlocks_by_path": dict(Counter(_shape(e["path"]) for e in deadlocks)),
        "deadlock_retries_logged": _count_lines(stack.web_log, "; running it again"),
        "handoff_failures_logged": _count_lines(stack.web_log, "could not hand"),
        "worker_task_errors_logged": _count_lines(stack.worker_log, "raised unexpected"),
        "worker_deadlock_lines": _count_lines(stack.worker_log, *DEADLOCK),
        "samples": samples(calls),
        "backlog_left": stack.backlog_left,
    }


# --- the run ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def _terminated_cleanly() -> Iterator[None]:
    """SIGTERM (make bench interrupted, a test's timeout) ends the run through the finally blocks."""

    def stop(signum, frame):
        raise SystemExit(f"bench soak: stopped by signal {signum}")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _directory(path: str | None) -> contextlib.AbstractContextManager[str]:
    if path:
        Path(path).mkdir(parents=True, exist_ok=True)
        return contextlib.nullcontext(path)
    return tempfile.TemporaryDirectory(prefix="bench-soak-")


def run(options) -> dict:
    faults = Faults(
        _when(options.broker_outage_at),
        options.broker_outage_seconds,
        _when(options.kill_web_worker_at),
        _when(options.kill_celery_worker_at),
    )
    settings = dict(options.setting)
    with _terminated_cleanly(), _directory(options.log_dir) as directory:
        directory = Path(directory)
        broker = Broker(directory)
        receiver = None
        stack = None
        broker.start()
        try:
            os.environ["REDIS_CACHE_URL"] = broker.cache_url
            os.environ["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = "1"
            os.environ.update(BILLING_QUEUE=BILLING_QUEUE, WEBHOOK_QUEUE=WEBHOOK_QUEUE, **settings)
            with serving.fresh_database(bench="soak", default_url=DEFAULT_DATABASE_URL, redis_url=broker.url) as url:
                receiver = Receiver()
                merchant = prepare(receiver, customers=options.clients)
                stack = Stack(directory, _service_env(url, broker, settings))
                try:
                    return _measure(options, faults, broker, receiver, merchant, stack)
                finally:
                    stack.stop()
                    from django.db import connections

                    connections.close_all()
        finally:
            if receiver is not None:
                receiver.close()
            broker.stop()


def _measure(options, faults, broker, receiver, merchant, stack) -> dict:
    from billing import clock

    stack.start_web()
    name = stack.start_worker()
    stack.start_beat()
    stack.wait_for_web()
    stack.wait_for_worker(name)
    print(f"bench soak: {options.clients} clients for {options.seconds:.0f} s ...", file=sys.stderr, flush=True)
    merchant.load_started = clock.now()
    outcome = load(stack, broker, merchant, options.clients, options.seconds, faults)
    print("bench soak: draining ...", file=sys.stderr, flush=True)
    drained = drain(receiver, broker, merchant.account, options.drain_seconds, stack)
    stack.backlog_left = broker.backlog()
    mark_committed(outcome.calls, merchant.account)
    if options.log_dir:
        _write_calls(outcome.calls, Path(options.log_dir) / "calls.jsonl")
    result = report(
        outcome, receiver=receiver, broker=broker, merchant=merchant, stack=stack, drained=drained, options=options
    )
    # Last: a retry that runs the write now records new events, which the figures above must not see.
    result["retries_with_same_key"] = replay(outcome.calls)
    return result


def _write_calls(calls: list[Call], path: Path) -> None:
    """Every request of the run, one JSON object a line, for a closer look than the summary gives."""
    with open(path, "w") as out:
        for call in sorted(calls, key=lambda c: c.started):
            row = {k: v for k, v in vars(call).items() if k != "again"}
            row.update(started=round(call.started, 3), seconds=round(call.seconds, 3))
            out.write(json.dumps(row) + "\n")


def _when(value: float | None) -> float | None:
    return None if value is None or value < 0 else value


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def parse(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=DEFAULTS["clients"])
    parser.add_argument("--seconds", type=float, default=DEFAULTS["seconds"])
    parser.add_argument("--broker-outage-at", type=float, default=DEFAULTS["broker_outage_at"])
    parser.add_argument("--broker-outage-seconds", type=float, default=DEFAULTS["broker_outage_seconds"])
    parser.add_argument("--kill-web-worker-at", type=float, default=DEFAULTS["kill_web_worker_at"])
    parser.add_argument("--kill-celery-worker-at", type=float, default=DEFAULTS["kill_celery_worker_at"])
    parser.add_argument("--drain-seconds", type=float, default=DEFAULTS["drain_seconds"])
    parser.add_argument("--setting", type=_setting, action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--log-dir", help="keep the logs of gunicorn, the worker, beat and redis here")
    return parser.parse_args(argv)


def main() -> None:
    result = run(parse())
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
