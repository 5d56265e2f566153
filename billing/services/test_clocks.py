"""Test clocks (Stripe's ``test_helpers.test_clock``): create, advance, delete, and the advance itself.

A customer created on a test clock lives in the clock's time. The real-time billing cycle leaves its subscriptions
and invoices alone (``billing_cycle.due_subscriptions``); they move only when the clock is advanced. An advance is
asynchronous, as Stripe's: ``clock_advance`` sets ``status=advancing`` and queues a task, which runs the same
batches as the billing cycle for the clock's customers, one due moment after the other, each in the clock's time
(``clock.simulated_at``), so what it writes carries that time. Then the clock is ``ready`` again.

Limits (Stripe's, where Stripe documents them): test mode only; an advance must move the clock forward, and at most
two intervals of the shortest subscription on the clock (two years when it has none); a new clock's frozen time lies
between 2000-01-01 and five years from now (ours).
"""

import contextlib
import datetime as dt
import logging

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing import audit, broker, clock
from billing.audit import SYSTEM, Actor
from billing.exceptions import InvalidRequest, StateConflict
from billing.models import Account, Customer, Subscription, TestClock
from billing.periods import add_months, period_end
from billing.services import billing_cycle
from billing.services.common import emit, lock
from billing.services.door import after_commit, service

logger = logging.getLogger(__name__)

ADVANCE_TASK = "billing.tasks.advance_test_clock"
# Stripe deletes a clock, and its customers with it, 30 days after it was made (``deletes_after``);
# ``clocks_delete_expired`` (beat, hourly) does it here.
LIFETIME = dt.timedelta(days=30)
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST_YEARS_AHEAD = 5
# How long a run holds an advancing clock without renewing (each step renews): shorter than the broker's
# redelivery timeout (CELERY_VISIBILITY_TIMEOUT_SECONDS), so a redelivered advance whose runner died goes on.
ADVANCE_LEASE = dt.timedelta(seconds=120)
MAX_STEPS = 10_000  # due moments one advance may visit; two intervals of a daily subscription need few


def _check_test_mode(livemode: bool) -> None:
    if livemode:
        raise InvalidRequest(
            _("Test clocks are only available in test mode: use a test mode key (sk_test_…)."), param="livemode"
        )


@service
def clock_create(*, account: Account, livemode: bool, actor: Actor, frozen_time: dt.datetime, name: str = ""):
    _check_test_mode(livemode)
    now = clock.now()
    latest = add_months(now, 12 * LATEST_YEARS_AHEAD)
    if not EARLIEST <= frozen_time <= latest:
        raise InvalidRequest(
            _("The frozen_time must lie between %(earliest)s and %(years)s years from now."),
            params={"earliest": f"{EARLIEST:%Y-%m-%d}", "years": LATEST_YEARS_AHEAD},
            param="frozen_time",
        )
    if len(name) > 300:
        raise InvalidRequest(
            _("Invalid %(param)s: must be at most %(max)s characters."),
            params={"param": "name", "max": 300},
            param="name",
        )
    test_clock = TestClock.objects.create(
        account=account,
        livemode=False,
        created=now,
        frozen_time=frozen_time,
        deletes_after=now + LIFETIME,
        name=name,
    )
    audit.record(actor, "test_clock.create", test_clock)
    emit("test_helpers.test_clock.created", test_clock)
    return test_clock


def advance_limit(test_clock: TestClock) -> dt.datetime:
    """How far one advance may go: two intervals of the clock's shortest subscription, else two years."""
    subscriptions = (
        Subscription.objects.filter(customer__test_clock=test_clock).not_ended().prefetch_related("items__price")
    )
    ends = []
    for subscription in subscriptions:
        interval, count = subscription.interval()
        ends.append(period_end(test_clock.frozen_time, interval, count, 2))
    return min(ends) if ends else add_months(test_clock.frozen_time, 24)


@service
def clock_advance(*, test_clock: TestClock, frozen_time: dt.datetime, actor: Actor) -> TestClock:
    """Start advancing the clock to ``frozen_time`` (see the module docstring); the clock answers ``advancing``."""
    test_clock = lock(TestClock, test_clock.pk)
    if test_clock.status == TestClock.Status.ADVANCING:
        # The row lock above makes this the one check two concurrent requests meet in turn: one advance only.
        raise StateConflict(
            _(
                "The test clock %(id)s is currently advancing. Wait until its status is `ready` before advancing it "
                "again."
            ),
            params={"id": test_clock.pk},
            code="",  # Stripe's answer: an invalid_request_error without a code
        )
    if test_clock.status == TestClock.Status.INTERNAL_FAILURE:
        raise StateConflict(
            _("The test clock %(id)s failed to advance and cannot be advanced again; create a new one."),
            params={"id": test_clock.pk},
            param="id",
        )
    if frozen_time <= test_clock.frozen_time:
        raise InvalidRequest(
            _("The frozen_time must be after the test clock's current frozen_time (%(current)s)."),
            params={"current": clock.to_unix(test_clock.frozen_time)},
            param="frozen_time",
        )
    limit = advance_limit(test_clock)
    if frozen_time > limit:
        raise InvalidRequest(
            _(
                "The frozen_time cannot be more than two intervals of the shortest subscription on this test clock "
                "(or two years when it has none) after its current frozen_time: at most %(limit)s."
            ),
            params={"limit": clock.to_unix(limit)},
            param="frozen_time",
        )
    test_clock.status = TestClock.Status.ADVANCING
    test_clock.target_frozen_time = frozen_time
    test_clock.advance_lease_until = None
    test_clock.save(update_fields=["status", "target_frozen_time", "advance_lease_until"])
    emit("test_helpers.test_clock.advancing", test_clock)
    audit.record(actor, "test_clock.advance", test_clock, {"target_frozen_time": clock.to_unix(frozen_time)})
    clock_id = test_clock.pk
    after_commit(lambda: _queue_advance(clock_id))
    return test_clock


def _queue_advance(clock_id: str) -> None:
    if not broker.send(ADVANCE_TASK, [clock_id]):
        # Without a broker the clock would stay advancing for good: run it here instead.
        logger.warning("test clock %s: the broker did not take the advance; running it in this process", clock_id)
        clock_advance_run(test_clock_id=clock_id)


def clock_advance_run(*, test_clock_id: str) -> str | None:
    """The advance itself (the task's work): every due moment of the clock's customers up to the target, in order,
    each in the clock's time; then ``ready``. Any failure leaves the clock ``internal_failure``, as Stripe's. Safe to
    run twice: a run first takes the clock's lease (``_claim``), so a second delivery of the task returns at once
    while the first runs (and takes over only from a runner that died); after the advance it finds the clock
    ``ready``. Every step also claims only what is still due. Returns the clock's final status (None: not run)."""
    test_clock = _claim(test_clock_id)
    if test_clock is None:
        return None
    target = test_clock.target_frozen_time
    try:
        moment = test_clock.frozen_time
        for _ in range(MAX_STEPS):
            upcoming = billing_cycle.clock_next_moment(test_clock_id, moment)
            if upcoming is None or upcoming > target:
                break
            billing_cycle.clock_advance_step(test_clock_id, upcoming)
            moment = upcoming
            _record_progress(test_clock_id, moment)
        billing_cycle.clock_advance_step(test_clock_id, target)  # what falls due exactly at the target
    except Exception:
        logger.exception("test clock %s: the advance failed", test_clock_id)
        return _finish(test_clock_id, TestClock.Status.INTERNAL_FAILURE, "test_helpers.test_clock.internal_failure")
    return _finish(test_clock_id, TestClock.Status.READY, "test_helpers.test_clock.ready", frozen_time=target)


def _claim(clock_id: str) -> TestClock | None:
    """The advancing clock, leased to this run; None when it is not advancing or another run holds it. One
    conditional UPDATE: of two concurrent runs, PostgreSQL lets the second see the first's lease and match nothing."""
    now = timezone.now()  # leases go by real time
    claimed = (
        TestClock.objects.filter(pk=clock_id, deleted=False, status=TestClock.Status.ADVANCING)
        .filter(Q(advance_lease_until__isnull=True) | Q(advance_lease_until__lt=now))
        .update(advance_lease_until=now + ADVANCE_LEASE)
    )
    return TestClock.objects.get(pk=clock_id) if claimed else None


def _record_progress(clock_id: str, moment: dt.datetime) -> None:
    """The clock's time so far (an advance that fails halfway shows how far it came), and the lease renewed."""
    TestClock.objects.filter(pk=clock_id, frozen_time__lt=moment).update(frozen_time=moment)
    TestClock.objects.filter(pk=clock_id).update(advance_lease_until=timezone.now() + ADVANCE_LEASE)


@service
def _finish(clock_id: str, status: str, event: str, frozen_time: dt.datetime | None = None) -> str | None:
    test_clock = lock(TestClock, clock_id)
    if test_clock.deleted or test_clock.status != TestClock.Status.ADVANCING:
        return None
    test_clock.status = status
    if frozen_time is not None:
        test_clock.frozen_time = frozen_time
    test_clock.target_frozen_time = None
    test_clock.advance_lease_until = None
    test_clock.save(update_fields=["status", "frozen_time", "target_frozen_time", "advance_lease_until"])
    emit(event, test_clock)
    audit.record(SYSTEM, f"test_clock.{status}", test_clock)
    return status


@service
def clock_delete(*, test_clock: TestClock, actor: Actor) -> TestClock:
    """Stripe's delete: the clock's customers are deleted with it (their subscriptions end now), in its time."""
    from billing.services.customers import customer_delete  # customers build on clocks, not the other way round

    test_clock = lock(TestClock, test_clock.pk)
    customers = Customer.objects.filter(test_clock=test_clock, deleted=False).order_by("id")
    with clock.simulated_at(test_clock.frozen_time):
        deleted = [customer_delete(customer=customer, actor=actor).pk for customer in customers]
    emit("test_helpers.test_clock.deleted", test_clock)
    test_clock.deleted = True
    test_clock.status = TestClock.Status.READY
    test_clock.target_frozen_time = None
    test_clock.save(update_fields=["deleted", "status", "target_frozen_time"])
    audit.record(actor, "test_clock.delete", test_clock, {"deleted_customers": deleted})
    return test_clock


def clocks_delete_expired(*, limit: int = 100) -> list[str]:
    """Delete (as ``DELETE`` does, with ``test_helpers.test_clock.deleted``) the clocks past their ``deletes_after``,
    oldest first, at most ``limit`` per call, each in its own transaction. Returns their ids."""
    now = timezone.now()  # real time: a clock's lifetime is not its own simulated time
    expired = TestClock.objects.filter(deleted=False, deletes_after__lte=now).order_by("deletes_after", "pk")
    done = []
    for clock_id in list(expired.values_list("pk", flat=True)[:limit]):
        try:
            if _delete_if_expired(clock_id, now):
                done.append(clock_id)
        except Exception:
            logger.exception("test clock %s: the expiry delete failed", clock_id)
    return done


@service
def _delete_if_expired(clock_id: str, now: dt.datetime) -> bool:
    test_clock = lock(TestClock, clock_id)
    if test_clock.deleted or test_clock.deletes_after > now:
        return False  # deleted by its owner meanwhile
    clock_delete(test_clock=test_clock, actor=SYSTEM)
    return True


def in_clock_time(test_clock: TestClock | None):
    """The clock's time for a block that acts on one of its customers (nothing without a clock)."""
    if test_clock is None or test_clock.deleted:
        return contextlib.nullcontext()
    return clock.simulated_at(test_clock.frozen_time)
