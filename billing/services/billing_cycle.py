"""The billing cycle: a single-flight planner that splits the due work into batches, and the batches themselves.

Celery beat runs the planner every minute. It runs only when no other planner is running (a PostgreSQL advisory
lock) and no earlier pass is still in progress, walks the due index (``Subscription.next_action_at``) in keyset
order and queues one task per batch of subscriptions (renewals, resumes, cancellations, expiries), per batch of
invoices due for a dunning retry and per batch of charges or refunds whose processor call was lost. Any number of workers on
any number of machines take the batches; a row is claimed with ``FOR UPDATE SKIP LOCKED`` and advanced only when it
is still due, so no renewal happens twice, and running the cycle twice for the same moment changes nothing.
Without a broker (``make run``, tests, ``manage.py billing_cycle``) the same batches run in this process.
"""

import contextlib
import datetime as dt
import logging
import zlib

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import F, Q

from billing import broker, clock
from billing.models import BillingCycleRun, Invoice, Subscription
from billing.services import payments, refunds
from billing.services.intents.payment_intents import payment_intent_poll, processing_payment_intents
from billing.services.subscriptions import renew_batch

logger = logging.getLogger(__name__)

RENEW_TASK = "billing.tasks.renew_batch"
RETRY_TASK = "billing.tasks.retry_batch"
RESUME_TASK = "billing.tasks.resume_batch"
REFUND_RESUME_TASK = "billing.tasks.refund_resume_batch"
LOCK_KEY = zlib.crc32(b"billing-cycle-planner")
SUMMARY_FIELDS = ("subscriptions", "steps", "retries", "errors")


@contextlib.contextmanager
def single_flight():
    """True inside the block for the one planner that holds the lock (PostgreSQL: a session advisory lock, released
    when the block ends or the process's connection dies; elsewhere, one process only: a cache entry)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
            acquired = cursor.fetchone()[0]
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
        return
    acquired = cache.add("billing-cycle-planner", 1, settings.BILLING_CYCLE_RUN_TIMEOUT_SECONDS)
    try:
        yield acquired
    finally:
        if acquired:
            cache.delete("billing-cycle-planner")


def _keyset(queryset, field: str, size: int):
    """Batches of primary keys of ``queryset`` in (``field``, id) order, each read with one indexed query."""
    after = None
    while True:
        page = queryset.order_by(field, "pk")
        if after is not None:
            page = page.filter(Q(**{f"{field}__gt": after[0]}) | Q(**{field: after[0], "pk__gt": after[1]}))
        rows = list(page.values_list(field, "pk")[:size])
        if not rows:
            return
        yield [pk for _moment, pk in rows]
        after = rows[-1]


def due_subscriptions(now: dt.datetime, test_clock_id: str | None = None):
    """Due at ``now``: in real time, every subscription but those of test-clock customers (they move only with their
    clock); with ``test_clock_id``, only that clock's (``billing.services.test_clocks``)."""
    if test_clock_id is None:
        return Subscription.objects.filter(next_action_at__lte=now).filter(customer__test_clock__isnull=True)
    return Subscription.objects.filter(next_action_at__lte=now, customer__test_clock_id=test_clock_id)


def due_retries(now: dt.datetime, test_clock_id: str | None = None):
    """Invoices due for a dunning retry at ``now``, split between real time and test clocks as subscriptions are."""
    if test_clock_id is None:
        return Invoice.objects.due_for_retry(now).filter(customer__test_clock__isnull=True)
    return Invoice.objects.due_for_retry(now).filter(customer__test_clock_id=test_clock_id)


def _work(now: dt.datetime, size: int):
    """(task, ids) for everything due at ``now``."""
    for ids in _keyset(due_subscriptions(now), "next_action_at", size):
        yield RENEW_TASK, ids
    for ids in _keyset(due_retries(now), "next_payment_attempt", size):
        yield RETRY_TASK, ids
    for ids in _keyset(payments.stale_pending_charges(now), "created", size):
        yield RESUME_TASK, ids
    for ids in _keyset(processing_payment_intents(now), "created", size):
        yield RESUME_TASK, ids
    for ids in _keyset(refunds.stale_pending_refunds(now), "created", size):
        yield REFUND_RESUME_TASK, ids


def billing_cycle_plan(*, inline: bool = False) -> dict:
    """Plan one pass at ``clock.now()``: queue its batches (or, ``inline``, run them here). Returns what was
    planned, or why nothing was."""
    now = clock.now()
    with single_flight() as acquired:
        if not acquired:
            return {"planned": False, "reason": "another planner is running"}
        last = BillingCycleRun.objects.order_by("-id").first()
        if last is not None and last.in_progress:
            return {"planned": False, "reason": "the previous pass is still in progress", "run": last.pk}
        timeout = dt.timedelta(seconds=settings.BILLING_CYCLE_RUN_TIMEOUT_SECONDS)
        run = BillingCycleRun.objects.create(started_at=now, expires_at=now + timeout)
        batches = 0
        for task, ids in _work(now, settings.BILLING_CYCLE_BATCH_SIZE):
            _send(task, run.pk, ids, expires=run.expires_at, inline=inline)
            batches += 1
        BillingCycleRun.objects.filter(pk=run.pk).update(batches_planned=batches)
    return {"planned": True, "run": run.pk, "batches": batches}


def _send(task: str, run_id: int, ids: list, *, expires: dt.datetime, inline: bool) -> None:
    if inline or settings.CELERY_TASK_ALWAYS_EAGER:
        run_batch(task, run_id, ids)
        return
    if not broker.send(task, [run_id, ids], queue=settings.BILLING_QUEUE, expires=expires):
        raise RuntimeError("the broker did not take a billing-cycle batch; the next pass plans it again")


def run_batch(task: str, run_id: int | None, ids: list) -> dict:
    """One batch of a pass; its counts are added to the pass (``BillingCycleRun``)."""
    if task == RENEW_TASK:
        summary = renew_batch(ids)
    elif task == RETRY_TASK:
        summary = _retry_batch(ids)
    elif task == REFUND_RESUME_TASK:
        summary = _refund_resume_batch(ids)
    else:
        summary = _resume_batch(ids)
    if run_id is not None:
        counts = {name: F(name) + summary.get(name, 0) for name in SUMMARY_FIELDS}
        BillingCycleRun.objects.filter(pk=run_id).update(batches_done=F("batches_done") + 1, **counts)
    return summary


def _retry_batch(invoice_ids: list[str]) -> dict:
    summary = {"retries": 0, "errors": 0}
    with payments.pipelined() as collector:
        for invoice_id in invoice_ids:
            try:
                if payments.invoice_retry(invoice_id=invoice_id) is not None:
                    summary["retries"] += 1
            except Exception:
                logger.exception("billing cycle: invoice %s retry failed", invoice_id)
                summary["errors"] += 1
            collector.poll()
    summary["errors"] += collector.errors
    return summary


def _resume_batch(ids: list[str]) -> dict:
    """Charges whose processor call was lost (a crash between the two transactions): asked again, same key; and
    PaymentIntents waiting for the bank (``processing``): the processor is asked for the outcome."""
    errors = 0
    with payments.pipelined() as collector:
        for object_id in ids:
            if object_id.startswith("pi_"):
                try:
                    payment_intent_poll(object_id)
                except Exception:
                    logger.exception("billing cycle: payment %s could not be asked about", object_id)
                    errors += 1
                continue
            payments.payment_resume(charge_id=object_id)
            collector.poll()
    return {"errors": collector.errors + errors}


def _refund_resume_batch(refund_ids: list[str]) -> dict:
    """Refunds whose processor call was lost or not answered: sent again, same key."""
    summary = {"errors": 0}
    for refund_id in refund_ids:
        try:
            refunds.refund_resume(refund_id=refund_id)
        except Exception:
            logger.exception("billing cycle: refund %s resume failed", refund_id)
            summary["errors"] += 1
    return summary


def clock_advance_step(test_clock_id: str, now: dt.datetime, size: int = 500) -> dict:
    """One step of a test clock's advance: the same batches as a pass, for the clock's customers only, run here in
    the clock's time ``now`` (``clock.simulated_at``). Returns the summed counts."""
    totals = dict.fromkeys(SUMMARY_FIELDS, 0)
    with clock.simulated_at(now):
        work = [(RENEW_TASK, ids) for ids in _keyset(due_subscriptions(now, test_clock_id), "next_action_at", size)]
        work += [(RETRY_TASK, ids) for ids in _keyset(due_retries(now, test_clock_id), "next_payment_attempt", size)]
        for task, ids in work:
            for name, count in run_batch(task, None, ids).items():
                totals[name] = totals.get(name, 0) + count
    return totals


def clock_next_moment(test_clock_id: str, after: dt.datetime) -> dt.datetime | None:
    """The earliest moment after ``after`` at which the clock's customers have billing work (a period end, a
    resume, a cancellation, an expiry, a dunning retry)."""
    subscription = (
        Subscription.objects.filter(customer__test_clock_id=test_clock_id, next_action_at__gt=after)
        .order_by("next_action_at")
        .values_list("next_action_at", flat=True)
        .first()
    )
    retry = (
        Invoice.objects.filter(
            customer__test_clock_id=test_clock_id,
            status=Invoice.Status.OPEN,
            collection_method="charge_automatically",
            next_payment_attempt__gt=after,
        )
        .order_by("next_payment_attempt")
        .values_list("next_payment_attempt", flat=True)
        .first()
    )
    moments = [moment for moment in (subscription, retry) if moment is not None]
    return min(moments) if moments else None


def billing_cycle_run(*, now: dt.datetime | None = None) -> dict:
    """One whole pass in this process (the command line, tests, eager mode): renew, end, resume and expire due
    subscriptions, retry due payments, resend lost processor calls. Returns its counts."""
    context = clock.frozen_at(now) if now is not None else contextlib.nullcontext()
    with context:
        planned = billing_cycle_plan(inline=True)
    if not planned["planned"]:
        logger.warning("billing cycle not run: %s", planned["reason"])
        return dict.fromkeys(SUMMARY_FIELDS, 0)
    run = BillingCycleRun.objects.get(pk=planned["run"])
    return {name: getattr(run, name) for name in SUMMARY_FIELDS}
