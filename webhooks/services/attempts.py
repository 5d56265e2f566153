"""Sending claimed attempts: concurrently per endpoint, each signed as it leaves, outcomes recorded in bulk."""

import contextvars
import datetime as dt
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from queue import Empty, SimpleQueue

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce

from billing import api_versions, clock
from webhooks import queue, representations, sending, signing
from webhooks.models import DISABLE_AFTER_FAILING_FOR, Attempt, Delivery, WebhookEndpoint
from webhooks.services.endpoints import disable_automatically

BATCH_SIZE = 100  # deliveries per batch task; events per fan-out transaction
MAX_SENDERS = 32  # requests one worker process has in flight at once, over all endpoints
# Outcomes are recorded once this many are waiting, or once the oldest has waited this long: a worker that dies
# mid-batch sends again at most what it sent since.
RECORD_EVERY = 50
RECORD_INTERVAL_SECONDS = 0.5


@dataclass(eq=False)
class Claimed:
    """One attempt this process owns: the delivery as claimed, with its event and endpoint attached."""

    delivery: Delivery
    pending: int  # the event's ``pending_webhooks`` when the attempt was claimed
    started: dt.datetime
    attempt_id: int | None = None  # a manual resend (its Attempt row exists already)
    outcome: sending.Outcome | None = None
    finished: dt.datetime | None = None
    body: bytes | None = None  # rendered ahead (an endpoint on an older API version), else at sending
    abandon: bool = False  # not sent: the endpoint is disabled
    released: bool = False  # not sent: the lease would have run out before an answer could arrive


def chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def enqueue_deliveries(delivery_ids: list[int]) -> None:
    """Queue batch tasks for these due deliveries (``BATCH_SIZE`` per task)."""
    for chunk in chunks(delivery_ids, BATCH_SIZE):
        queue.enqueue(queue.DELIVER_BATCH, chunk)


def send_claimed(claimed: list[Claimed], lease_ends: float) -> int:
    """Sends the claimed attempts, concurrently per endpoint, and records their outcomes a chunk at a time.
    Returns the number of attempts made (including those refused by the SSRF check)."""
    if not claimed:
        return 0
    recorder = _Recorder()
    per_endpoint: dict[str, list[Claimed]] = defaultdict(list)
    for job in claimed:
        if job.delivery.endpoint.is_enabled:
            per_endpoint[job.delivery.endpoint_id].append(job)
        else:
            job.outcome = sending.Outcome(None, "", "Not sent: the endpoint is disabled.", 0)
            job.finished, job.abandon = clock.now(), True
            recorder.add(job)
    _render_older_versions([job for jobs in per_endpoint.values() for job in jobs])
    lanes = []
    for jobs in per_endpoint.values():
        width = max(1, min(settings.WEBHOOK_MAX_CONCURRENCY_PER_ENDPOINT, len(jobs)))
        lanes += [jobs[start::width] for start in range(width)]
    for job in _sent(lanes, lease_ends):
        recorder.add(job)
    recorder.flush()
    return sum(1 for job in claimed if job.outcome is not None and not job.abandon)


def _render_older_versions(jobs: list[Claimed]) -> None:
    """Bodies for endpoints on an API version older than the current one, rendered here (they may need the
    database, which the sending threads do not touch), for all of them at once."""
    older = [job for job in jobs if api_versions.differs_from_current(job.delivery.endpoint.api_version)]
    if not older:
        return
    bodies = representations.event_bodies_in_versions(
        [(job.delivery.event, job.pending, job.delivery.endpoint.api_version) for job in older]
    )
    for job, body in zip(older, bodies, strict=True):
        job.body = body


def _lane(jobs: list[Claimed], lease_ends: float, stop: threading.Event) -> Iterator[Claimed]:
    """Sends ``jobs`` (all for one endpoint) one after the other, the URL checked once for them all. An
    attempt whose answer could come after the lease ends is not sent but handed back (``released``)."""
    endpoint = jobs[0].delivery.endpoint
    target = sending.check(endpoint.url, livemode=endpoint.livemode)
    for index, job in enumerate(jobs):
        if stop.is_set():
            return
        if index and time.monotonic() + settings.WEBHOOK_TIMEOUT_SECONDS > lease_ends:
            job.released = True
        elif isinstance(target, sending.Outcome):
            job.outcome = target
        else:
            job.outcome = _post(job, target)
        job.finished = clock.now()
        yield job


def _post(job: Claimed, target) -> sending.Outcome:
    delivery = job.delivery
    endpoint = delivery.endpoint
    # Serialised once; exactly these bytes are signed and sent. A new timestamp and signature per attempt.
    body = job.body or representations.event_body(delivery.event, pending=job.pending, api_version=endpoint.api_version)
    sent_at = clock.now()
    headers = signing.signature_headers(
        body, endpoint.signing_secrets(sent_at), message_id=delivery.event_id, timestamp=int(sent_at.timestamp())
    )
    return sending.post(endpoint.url, body, headers, livemode=endpoint.livemode, target=target)


_LANE_DONE = object()
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _senders() -> ThreadPoolExecutor:
    """This process's sending threads (started on first use; a forked worker starts its own)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=MAX_SENDERS, thread_name_prefix="webhook-sender")
        return _executor


def _forget_senders_after_fork() -> None:
    global _executor, _executor_lock
    _executor, _executor_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_senders_after_fork)


def _sent(lanes: list[list[Claimed]], lease_ends: float) -> Iterator[Claimed | None]:
    """Runs the lanes (one inline, several on the sending threads) and yields each attempt as it finishes, and
    None when none has for a while (so that finished ones are recorded while slow ones are still out). If the
    caller stops early (recording failed), the lanes stop after their current request."""
    stop = threading.Event()
    if len(lanes) == 1:
        yield from _lane(lanes[0], lease_ends, stop)
        return
    finished: SimpleQueue = SimpleQueue()

    def run(jobs: list[Claimed]) -> None:
        try:
            for job in _lane(jobs, lease_ends, stop):
                finished.put(job)
        except BaseException as error:  # re-raised in the caller's thread below
            finished.put(error)
        finally:
            finished.put(_LANE_DONE)

    for jobs in lanes:
        # Each lane sees the caller's context (e.g. billing.clock's override).
        _senders().submit(contextvars.copy_context().run, run, jobs)
    running, failure = len(lanes), None
    try:
        while running:
            try:
                item = finished.get(timeout=RECORD_INTERVAL_SECONDS)
            except Empty:
                yield None
                continue
            if item is _LANE_DONE:
                running -= 1
            elif isinstance(item, BaseException):
                failure = failure or item
            else:
                yield item
    finally:
        stop.set()
        while running:
            if finished.get() is _LANE_DONE:
                running -= 1
    if failure is not None:
        raise failure


# ---------------------------------------------------------------------------------------------- outcomes


class _Recorder:
    """Collects finished attempts and records them a chunk at a time."""

    def __init__(self):
        self.waiting: list[Claimed] = []
        self.since = time.monotonic()

    def add(self, job: Claimed | None) -> None:
        """Note a finished attempt (None: nothing finished lately, but what waits may be due)."""
        if job is not None:
            if not self.waiting:
                self.since = time.monotonic()
            self.waiting.append(job)
        if len(self.waiting) >= RECORD_EVERY or time.monotonic() - self.since >= RECORD_INTERVAL_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.waiting:
            jobs, self.waiting = self.waiting, []
            _record(jobs)


def _record(jobs: list[Claimed]) -> None:
    """Stores the outcomes of ``jobs`` and schedules what comes next, in one transaction. Conditional updates,
    no row locks: a concurrent disable, resend or newer claim wins."""
    try:
        _store(jobs)
    except IntegrityError:
        # An endpoint, and with it some of these deliveries, was deleted meanwhile: store the others.
        existing = set(Delivery.objects.filter(pk__in=[job.delivery.pk for job in jobs]).values_list("pk", flat=True))
        remaining = [job for job in jobs if job.delivery.pk in existing]
        if len(remaining) == len(jobs):
            raise
        if remaining:
            _store(remaining)


def _store(jobs: list[Claimed]) -> None:
    now = clock.now()
    sent = [job for job in jobs if not job.released]
    automatic = [job for job in sent if job.attempt_id is None]
    with transaction.atomic():
        if automatic and connection.vendor == "postgresql":
            _store_automatic(automatic)
        else:
            for job in automatic:
                _store_one(job)
        for job in sent:
            if job.attempt_id is not None:
                _store_one(job)
        _release([job for job in jobs if job.released], now)
        _update_endpoint_health([job for job in sent if not job.abandon], now)


def _result(job: Claimed) -> dict:
    outcome = job.outcome
    return {
        "response_status": outcome.status,
        "response_body": outcome.body,
        "error": outcome.error,
        "duration_ms": outcome.duration_ms,
        "succeeded": outcome.succeeded,
    }


def _retry_at(job: Claimed) -> dt.datetime | None:
    return None if job.abandon or job.outcome.succeeded else job.delivery.next_retry_at(job.finished)


# PostgreSQL: the attempt rows and every delivery's new state in one statement. A success always counts; a
# failure schedules the retry only while its claim is still the latest (the lease may have run out and another
# worker claimed the delivery again) and the delivery still pending (not disabled or resent to success meanwhile).
STORE_SQL = """
WITH outcome AS (
    SELECT * FROM unnest(
        %(ids)s::bigint[], %(attempts)s::integer[], %(started)s::timestamptz[], %(finished)s::timestamptz[],
        %(status)s::integer[], %(body)s::text[], %(error)s::text[], %(duration)s::integer[], %(succeeded)s::boolean[],
        %(abandon)s::boolean[], %(retry_at)s::timestamptz[]
    ) AS o(delivery_id, attempts, started, finished, response_status, response_body, error, duration_ms,
           succeeded, abandon, retry_at)
), attempt AS (
    INSERT INTO webhooks_attempt
        (delivery_id, manual, requested_at, started_at, response_status, response_body, error, duration_ms, succeeded)
    SELECT o.delivery_id, false, o.started, o.started, o.response_status, o.response_body, o.error, o.duration_ms,
           o.succeeded
    FROM outcome o JOIN webhooks_delivery d ON d.id = o.delivery_id
)
UPDATE webhooks_delivery d SET
    last_attempt_at = o.started,
    last_response_status = o.response_status,
    last_response_body = o.response_body,
    last_error = o.error,
    duration_ms = o.duration_ms,
    status = CASE
        WHEN o.succeeded THEN %(succeeded_status)s
        WHEN d.status <> %(pending_status)s THEN d.status
        WHEN o.abandon THEN %(abandoned_status)s
        WHEN d.attempts <> o.attempts THEN d.status
        WHEN o.retry_at IS NULL THEN %(failed_status)s
        ELSE %(pending_status)s END,
    next_attempt_at = CASE
        WHEN o.succeeded OR d.status = %(pending_status)s AND (o.abandon OR d.attempts = o.attempts) THEN o.retry_at
        ELSE d.next_attempt_at END,
    enqueued_at = CASE
        WHEN o.succeeded OR d.status = %(pending_status)s AND (o.abandon OR d.attempts = o.attempts) THEN NULL
        ELSE d.enqueued_at END,
    delivered_at = CASE WHEN o.succeeded THEN COALESCE(d.delivered_at, o.finished) ELSE d.delivered_at END
FROM outcome o
WHERE d.id = o.delivery_id
"""


def _store_automatic(jobs: list[Claimed]) -> None:
    results = [_result(job) for job in jobs]
    params = {
        "ids": [job.delivery.pk for job in jobs],
        "attempts": [job.delivery.attempts for job in jobs],
        "started": [job.started for job in jobs],
        "finished": [job.finished for job in jobs],
        "status": [result["response_status"] for result in results],
        "body": [result["response_body"] for result in results],
        "error": [result["error"] for result in results],
        "duration": [result["duration_ms"] for result in results],
        "succeeded": [result["succeeded"] for result in results],
        "abandon": [job.abandon for job in jobs],
        "retry_at": [_retry_at(job) for job in jobs],
        "succeeded_status": Delivery.Status.SUCCEEDED.value,
        "pending_status": Delivery.Status.PENDING.value,
        "abandoned_status": Delivery.Status.ABANDONED.value,
        "failed_status": Delivery.Status.FAILED.value,
    }
    with connection.cursor() as cursor:
        cursor.execute(STORE_SQL, params)


def _store_one(job: Claimed) -> None:
    """One attempt's outcome, row by row: manual resends everywhere, every attempt where STORE_SQL cannot run."""
    delivery, outcome = job.delivery, job.outcome
    result = _result(job)
    last = {
        "last_attempt_at": job.started,
        "last_response_status": outcome.status,
        "last_response_body": outcome.body,
        "last_error": outcome.error,
        "duration_ms": outcome.duration_ms,
    }
    this = Delivery.objects.filter(pk=delivery.pk)
    pending = this.filter(status=Delivery.Status.PENDING)
    if job.attempt_id is None:
        Attempt.objects.create(delivery_id=delivery.pk, requested_at=job.started, started_at=job.started, **result)
    else:
        Attempt.objects.filter(pk=job.attempt_id).update(**result)
    if outcome.succeeded:
        this.update(
            **last,
            status=Delivery.Status.SUCCEEDED,
            next_attempt_at=None,
            enqueued_at=None,
            delivered_at=Coalesce("delivered_at", Value(job.finished, output_field=models.DateTimeField())),
        )
    elif job.abandon:
        if not pending.update(**last, status=Delivery.Status.ABANDONED, next_attempt_at=None, enqueued_at=None):
            this.update(**last)
    elif job.attempt_id is None:
        retry_at = _retry_at(job)
        status = Delivery.Status.PENDING if retry_at else Delivery.Status.FAILED
        # Only while this attempt is still the latest claim (its lease may have run out).
        if not pending.filter(attempts=delivery.attempts).update(
            **last, status=status, next_attempt_at=retry_at, enqueued_at=None
        ):
            this.update(**last)
    else:
        this.update(**last)


def _release(jobs: list[Claimed], now: dt.datetime) -> None:
    """Hands back claims that were not used (the attempt not counted) and queues them again at once, so that
    another task sends them while this one is still busy with the rest of its batch."""
    by_attempts: dict[int, list[int]] = defaultdict(list)
    for job in jobs:
        by_attempts[job.delivery.attempts].append(job.delivery.pk)
    released = []
    for attempts, delivery_ids in by_attempts.items():
        claimed = Delivery.objects.filter(pk__in=delivery_ids, status=Delivery.Status.PENDING, attempts=attempts)
        if claimed.update(attempts=F("attempts") - 1, next_attempt_at=now, enqueued_at=now):
            released += delivery_ids
    if released:
        transaction.on_commit(lambda: enqueue_deliveries(released))


def _update_endpoint_health(jobs: Iterable[Claimed], now: dt.datetime) -> None:
    """Track each endpoint's current run of failures (``failing_since``); disable on 410 or three days of it."""
    per_endpoint: dict[str, list[Claimed]] = defaultdict(list)
    for job in jobs:
        per_endpoint[job.delivery.endpoint_id].append(job)
    for endpoint_jobs in per_endpoint.values():
        endpoint = endpoint_jobs[0].delivery.endpoint
        failing_since, last_failure = endpoint.failing_since, None
        for job in sorted(endpoint_jobs, key=lambda job: job.finished):
            if job.outcome.succeeded:
                failing_since = None
            else:
                failing_since, last_failure = failing_since or job.finished, job
        endpoints = WebhookEndpoint.objects.filter(pk=endpoint.pk)
        if failing_since != endpoint.failing_since:
            if failing_since is None:
                endpoints.filter(failing_since__isnull=False).update(failing_since=None)
            elif endpoint.failing_since is None:
                endpoints.filter(failing_since__isnull=True).update(failing_since=failing_since)
            else:  # a success and new failures within the chunk
                endpoints.update(failing_since=failing_since)
            endpoint.failing_since = failing_since
        gone = next((job for job in endpoint_jobs if job.outcome.status == 410), None)
        if gone is not None:
            disable_automatically(endpoint.pk, WebhookEndpoint.DisabledReason.GONE, gone.outcome.error)
        elif failing_since is not None and failing_since <= now - DISABLE_AFTER_FAILING_FOR:
            disable_automatically(endpoint.pk, WebhookEndpoint.DisabledReason.FAILING, last_failure.outcome.error)
