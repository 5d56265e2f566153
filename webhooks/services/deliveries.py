"""Delivery attempts outside the fan-out: batches of due deliveries claimed in one statement, and resends."""

import datetime as dt
import time

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Count, F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from billing import audit, clock
from billing.audit import Actor
from billing.exceptions import StateConflict
from billing.models import Event
from billing.services.common import no_such
from webhooks import queue
from webhooks.models import Attempt, Delivery, WebhookEndpoint
from webhooks.services.attempts import BATCH_SIZE, Claimed, chunks, send_claimed

# What CLAIM_SQL returns for each delivery, in its order (then the event's pending_webhooks).
DELIVERY_COLUMNS = (
    "id",
    "account_id",
    "livemode",
    "created",
    "event_id",
    "endpoint_id",
    "attempts",
    "first_attempt_at",
)
EVENT_COLUMNS = (
    "id",
    "account_id",
    "livemode",
    "created",
    "type",
    "api_version",
    "data_object",
    "previous_attributes",
    "request_id",
    "idempotency_key",
)
ENDPOINT_COLUMNS = (
    "id",
    "account_id",
    "livemode",
    "url",
    "status",
    "secret",
    "previous_secret",
    "previous_secret_expires_at",
    "failing_since",
    "api_version",
)

# PostgreSQL: claim the due ones among the ids, skipping rows another worker is claiming right now, and return
# each with its event, its endpoint and the event's pending_webhooks (counted before this attempt's outcome).
CLAIM_SQL = """
UPDATE webhooks_delivery d SET
    attempts = d.attempts + 1,
    next_attempt_at = %(lease_until)s,
    enqueued_at = NULL,
    last_attempt_at = %(now)s,
    first_attempt_at = COALESCE(d.first_attempt_at, %(now)s)
FROM (
    SELECT id FROM webhooks_delivery
    WHERE id = ANY(%(ids)s) AND status = %(pending)s AND next_attempt_at <= %(now)s
    ORDER BY id FOR UPDATE SKIP LOCKED
) due, billing_event e, webhooks_webhookendpoint w
WHERE d.id = due.id AND e.id = d.event_id AND w.id = d.endpoint_id
RETURNING
    d.id, d.account_id, d.livemode, d.created, d.event_id, d.endpoint_id, d.attempts, d.first_attempt_at,
    e.id, e.account_id, e.livemode, e.created, e.type, e.api_version, e.data_object, e.previous_attributes,
    e.request_id, e.idempotency_key,
    w.id, w.account_id, w.livemode, w.url, w.status, w.secret, w.previous_secret, w.previous_secret_expires_at,
    w.failing_since, w.api_version,
    (SELECT count(*) FROM webhooks_delivery p WHERE p.event_id = d.event_id AND p.status = %(pending)s)
"""


def _claim(delivery_ids: list[int], now: dt.datetime) -> list[Claimed]:
    """Claims the due deliveries among ``delivery_ids`` for one attempt each."""
    lease_until = now + dt.timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    if connection.vendor != "postgresql":
        return _claim_each(delivery_ids, now, lease_until)
    params = {"ids": delivery_ids, "now": now, "lease_until": lease_until, "pending": Delivery.Status.PENDING}
    with connection.cursor() as cursor:
        cursor.execute(CLAIM_SQL, params)
        rows = cursor.fetchall()
    events: dict[str, Event] = {}
    endpoints: dict[str, WebhookEndpoint] = {}
    claimed = []
    ends = (len(DELIVERY_COLUMNS), len(DELIVERY_COLUMNS) + len(EVENT_COLUMNS), -1)
    for row in rows:
        delivery = _from_row(Delivery, DELIVERY_COLUMNS, row[: ends[0]])
        event_row, endpoint_row = row[ends[0] : ends[1]], row[ends[1] : ends[2]]
        if event_row[0] not in events:
            events[event_row[0]] = _from_row(Event, EVENT_COLUMNS, event_row)
        if endpoint_row[0] not in endpoints:
            endpoints[endpoint_row[0]] = _from_row(WebhookEndpoint, ENDPOINT_COLUMNS, endpoint_row)
        delivery.event, delivery.endpoint = events[event_row[0]], endpoints[endpoint_row[0]]
        claimed.append(Claimed(delivery, pending=row[-1], started=now))
    return claimed


def _from_row(model: type[models.Model], columns: tuple[str, ...], values) -> models.Model:
    """An instance with ``columns`` loaded (the others deferred) from a raw PostgreSQL row."""
    loaded = dict(zip(columns, values, strict=True))
    for field in model._meta.concrete_fields:
        if field.attname in loaded and isinstance(field, models.JSONField):
            loaded[field.attname] = field.from_db_value(loaded[field.attname], None, connection)
    names = [field.attname for field in model._meta.concrete_fields if field.attname in loaded]
    return model.from_db(connection.alias, names, [loaded[name] for name in names])


def _claim_each(delivery_ids: list[int], now: dt.datetime, lease_until: dt.datetime) -> list[Claimed]:
    """The claim for databases without ``UPDATE … FROM … RETURNING`` and row locks (SQLite: one writer)."""
    claimed_ids = [
        delivery_id
        for delivery_id in delivery_ids
        if Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING, next_attempt_at__lte=now).update(
            attempts=F("attempts") + 1,
            next_attempt_at=lease_until,
            enqueued_at=None,
            last_attempt_at=now,
            first_attempt_at=Coalesce("first_attempt_at", Value(now, output_field=models.DateTimeField())),
        )
    ]
    return [Claimed(delivery, pending=delivery.pending, started=now) for delivery in _load(claimed_ids)]


def _load(delivery_ids: list[int]) -> list[Delivery]:
    """The deliveries with their event and endpoint (one instance per endpoint) and ``pending`` counted."""
    pending = (
        Delivery.objects.filter(event_id=OuterRef("event_id"), status=Delivery.Status.PENDING)
        .order_by()
        .values("event_id")
        .annotate(count=Count("pk"))
        .values("count")
    )
    deliveries = list(
        Delivery.objects.filter(pk__in=delivery_ids)
        .select_related("event", "endpoint")
        .annotate(pending=Coalesce(Subquery(pending), 0))
        .order_by("pk")
    )
    endpoints: dict[str, WebhookEndpoint] = {}
    for delivery in deliveries:
        delivery.endpoint = endpoints.setdefault(delivery.endpoint_id, delivery.endpoint)
    return deliveries


# ---------------------------------------------------------------------------------------------- attempts


def deliveries_attempt(*, delivery_ids: list[int]) -> int:
    """Claims the due deliveries among ``delivery_ids`` and sends one attempt of each (the batch task).

    Deliveries that are not due, claimed by someone else, finished or deleted are skipped. Returns the
    number of attempts made."""
    made = 0
    for chunk in chunks(list(dict.fromkeys(delivery_ids)), BATCH_SIZE):
        lease_ends = time.monotonic() + settings.WEBHOOK_LEASE_SECONDS
        made += send_claimed(_claim(chunk, clock.now()), lease_ends)
    return made


def delivery_attempt(*, delivery_id: int, attempt_id: int | None = None) -> bool:
    """Send one attempt: the automatic one that is due, or the queued manual resend ``attempt_id``.

    Returns whether an attempt was made (not when it was not due, already sent, claimed by another worker,
    or deleted)."""
    if attempt_id is None:
        return bool(deliveries_attempt(delivery_ids=[delivery_id]))
    now = clock.now()
    lease_ends = time.monotonic() + settings.WEBHOOK_LEASE_SECONDS
    taken = Attempt.objects.filter(pk=attempt_id, delivery_id=delivery_id, started_at__isnull=True).update(
        started_at=now
    )
    deliveries = _load([delivery_id]) if taken else []
    if not deliveries:
        return False
    return bool(send_claimed([Claimed(deliveries[0], deliveries[0].pending, now, attempt_id=attempt_id)], lease_ends))


def delivery_resend(*, delivery: Delivery, actor: Actor) -> Attempt:
    """Queue one more attempt now, whatever the delivery's status (a success marks it succeeded)."""
    with transaction.atomic():
        try:
            delivery = Delivery.objects.select_for_update(no_key=True).select_related("endpoint").get(pk=delivery.pk)
        except Delivery.DoesNotExist:
            raise no_such("webhook delivery", delivery.pk, param="id")
        if not delivery.endpoint.is_enabled:
            raise StateConflict(
                _("This webhook endpoint is disabled; enable it before resending events to it."), param="endpoint"
            )
        attempt = Attempt.objects.create(delivery=delivery, manual=True, requested_at=clock.now())
        audit.record(
            actor, "webhook_delivery.resend", delivery, {"event": delivery.event_id, "endpoint": delivery.endpoint_id}
        )
        transaction.on_commit(lambda: queue.enqueue(queue.DELIVER, delivery.pk, attempt.pk))
    return attempt
