"""The fan-out: an event's deliveries written in the transaction that takes it, their first attempts then sent."""

import datetime as dt
import threading
import time
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from billing import clock, statements
from billing.models import Event
from webhooks.models import Delivery, WebhookEndpoint
from webhooks.services.attempts import BATCH_SIZE, Claimed, chunks, enqueue_deliveries, send_claimed


def events_fan_out(*, event_ids: list[str], send: bool = True) -> list[int]:
    """One delivery per enabled endpoint of each event's account and mode that subscribes to its type.

    Idempotent: the first call takes an event (sets ``fanned_out_at``), later calls skip it. With ``send``
    the deliveries are written claimed for their first attempt and sent after the commit. A fan-out that
    sends also takes other events still waiting for theirs (up to ``BATCH_SIZE`` in all): when hand-offs
    arrive faster than single fan-outs finish, one task serves many and the later messages find their
    events done. Without ``send`` (the sweeper) exactly these events' deliveries are written, due now,
    and queued as batch tasks on commit. Returns the deliveries' ids."""
    written = []
    for chunk in chunks(list(dict.fromkeys(event_ids)), BATCH_SIZE):
        if send:
            chunk = _taken_here.unknown(chunk)
            if not chunk:
                continue  # this process took them along with an earlier hand-off
        lease_ends = time.monotonic() + settings.WEBHOOK_LEASE_SECONDS
        events, deliveries = _fan_out(chunk, claim=send)
        if not connection.in_atomic_block:  # committed
            _taken_here.remember(event.pk for event in events)
        written += [delivery.pk for delivery in deliveries]
        if send:
            pending: dict[str, int] = defaultdict(int)
            for delivery in deliveries:
                pending[delivery.event_id] += 1
            send_claimed([Claimed(d, pending[d.event_id], d.last_attempt_at) for d in deliveries], lease_ends)
    return written


class _RecentlyTaken:
    """Ids of the events this process has fanned out lately (and committed). A fan-out that took other waiting
    events along leaves their hand-off messages to arrive later: they need no database round trip. The fact
    cannot go stale, ``fanned_out_at`` is set once and for good."""

    def __init__(self, size: int):
        self.size = size
        self.ids: dict[str, None] = {}  # insertion-ordered: the oldest are forgotten first
        self.lock = threading.Lock()

    def remember(self, event_ids: Iterable[str]) -> None:
        with self.lock:
            self.ids.update(dict.fromkeys(event_ids))
            while len(self.ids) > self.size:
                del self.ids[next(iter(self.ids))]

    def unknown(self, event_ids: list[str]) -> list[str]:
        with self.lock:
            return [event_id for event_id in event_ids if event_id not in self.ids]


_taken_here = _RecentlyTaken(size=50 * BATCH_SIZE)


def _fan_out(event_ids: list[str], *, claim: bool) -> tuple[list[Event], list[Delivery]]:
    """Takes the events and writes their deliveries in one transaction; returns both."""
    now = clock.now()
    with transaction.atomic():
        events = _take_events(event_ids, now, more=BATCH_SIZE - len(event_ids) if claim else 0)
        if not events:
            return [], []
        endpoints = _enabled_endpoints(events)
        if claim:
            state = {
                "attempts": 1,
                "first_attempt_at": now,
                "last_attempt_at": now,
                "next_attempt_at": now + dt.timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS),
            }
        else:
            state = {"next_attempt_at": now, "enqueued_at": now}
        deliveries = [
            Delivery(
                account_id=event.account_id,
                livemode=event.livemode,
                created=now,
                event=event,
                endpoint=endpoint,
                **state,
            )
            for event in events
            for endpoint in endpoints[(event.account_id, event.livemode)]
            if endpoint.subscribes_to(event.type)
        ]
        if not deliveries:
            return events, []
        # No conflicts are possible: only the call that took an event gets here (the unique constraint on
        # (event, endpoint) is the backstop), so the inserted ids come back directly.
        Delivery.objects.bulk_create(deliveries)
        if not claim:
            delivery_ids = [delivery.pk for delivery in deliveries]
            transaction.on_commit(lambda: enqueue_deliveries(delivery_ids))
    return events, deliveries


# PostgreSQL: take those of the events not fanned out yet and up to ``more`` other events still waiting for their
# fan-out, skipping any that a concurrent fan-out is taking right now. The ORDER BY keeps the search for waiting
# events on the fanned_out_at index whatever the statistics say (right after a burst of events they may say most
# are waiting); a sequential scan would read the whole table to find none.
TAKE_EVENTS_SQL = """
WITH own AS (
    SELECT id FROM billing_event WHERE id = ANY(%(ids)s) AND fanned_out_at IS NULL FOR UPDATE SKIP LOCKED
), waiting AS (
    SELECT id FROM billing_event WHERE fanned_out_at IS NULL AND id <> ALL(%(ids)s)
    ORDER BY fanned_out_at LIMIT %(more)s FOR UPDATE SKIP LOCKED
)
UPDATE billing_event e SET fanned_out_at = %(now)s
FROM (SELECT id FROM own UNION ALL SELECT id FROM waiting) taken
WHERE e.id = taken.id
RETURNING e.*
"""


def _take_events(event_ids: list[str], now: dt.datetime, *, more: int) -> list[Event]:
    """Marks those of the events not fanned out yet, and on PostgreSQL up to ``more`` other waiting events, as
    fanned out and returns them (one UPDATE … RETURNING)."""
    if connection.vendor == "postgresql":
        return list(Event.objects.raw(TAKE_EVENTS_SQL, {"ids": event_ids, "more": more, "now": now}))
    # SQLite, the embedded default: one writer at a time, and a fan-out racing this one between the two statements
    # would fail on the unique (event, endpoint) constraint and find the events taken when its task is retried.
    events = list(Event.objects.filter(pk__in=event_ids, fanned_out_at__isnull=True))
    Event.objects.filter(pk__in=[event.pk for event in events]).update(fanned_out_at=now)
    return events


def events_heard(events: list[Event]) -> set[str]:
    """The ids of those of ``events`` that an enabled endpoint of their account and mode subscribes to (one query;
    billing asks before it writes events, see ``billing.events.heard_by``). A statement written once per process
    and number of accounts (``billing.statements``): nearly every write through the API or the portal asks."""
    endpoints = defaultdict(list)
    for endpoint in statements.rows_where(
        WebhookEndpoint,
        "account",
        sorted({event.account_id for event in events}),
        (),
        matching=(("status", (WebhookEndpoint.Status.ENABLED,)),),
    ):
        endpoints[(endpoint.account_id, endpoint.livemode)].append(endpoint)
    return {
        event.id
        for event in events
        if any(endpoint.subscribes_to(event.type) for endpoint in endpoints[(event.account_id, event.livemode)])
    }


def _endpoints_of(events: list[Event]):
    condition = Q()
    for account_id, livemode in {(event.account_id, event.livemode) for event in events}:
        condition |= Q(account_id=account_id, livemode=livemode)
    return WebhookEndpoint.objects.filter(condition, status=WebhookEndpoint.Status.ENABLED)


def _enabled_endpoints(events: list[Event]) -> dict[tuple[str, bool], list[WebhookEndpoint]]:
    endpoints = defaultdict(list)
    for endpoint in _endpoints_of(events):
        endpoints[(endpoint.account_id, endpoint.livemode)].append(endpoint)
    return endpoints
