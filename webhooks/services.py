"""Webhook services, the only writers of webhook rows: endpoints, fan-out, delivery attempts, resends,
test events, automatic disabling, the outbox sweeper and event retention.

Delivery protocol. A delivery is due when it is ``pending`` and ``next_attempt_at <= now``. The task
that wants to send it first *claims* it with one conditional UPDATE (count the attempt, push
``next_attempt_at`` one lease ahead); only the claimer sends, so duplicate task messages and parallel
workers never send the same attempt twice. The result is recorded in a second transaction that
schedules the retry by setting ``next_attempt_at``. Retries are put on the queue by the sweeper when
they fall due (no long Celery countdowns); a worker that dies mid-attempt leaves a claim whose lease
runs out, and the sweeper queues the delivery again, so nothing is lost.
"""

import datetime as dt
import logging
import re
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import URLValidator
from django.db import IntegrityError, models, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string

from billing import audit, clock, context
from billing import events as billing_events
from billing.audit import Actor
from billing.exceptions import InvalidRequest, NotFound, StateConflict
from billing.models import Account, Event
from billing.services.common import merge_metadata, validate_metadata
from webhooks import event_types, queue, representations, sending, signing, ssrf
from webhooks.models import DISABLE_AFTER_FAILING_FOR, Attempt, Delivery, WebhookEndpoint

logger = logging.getLogger(__name__)

SYSTEM = Actor.system("webhooks")
MAX_ENDPOINTS_PER_MODE = 16
URL_MAX_LENGTH = 2048
DESCRIPTION_MAX_LENGTH = 5000
MAX_ROLL_EXPIRY_HOURS = 24
SWEEP_BATCH = 5000
SWEEP_TIME_BUDGET_SECONDS = 45.0
PURGE_BATCH = 1000
UNSET = object()
API_VERSION_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}(\.[a-z]+)?")


# ---------------------------------------------------------------------------------------------- endpoints


def _clean_url(url, *, livemode: bool) -> str:
    url = (url or "").strip() if isinstance(url, str) else ""
    if not url:
        raise InvalidRequest("Missing required param: url.", param="url", code="parameter_missing")
    if len(url) > URL_MAX_LENGTH:
        raise InvalidRequest(f"Invalid URL: must be at most {URL_MAX_LENGTH} characters.", param="url")
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise InvalidRequest(f"Invalid URL: {url}", param="url", code="url_invalid")
    try:
        ssrf.check_url(url, livemode=livemode)
    except ssrf.RefusedTarget as refused:
        raise InvalidRequest(f"Invalid URL: {refused.message}", param="url", code="url_invalid")
    return url


def _clean_events(enabled_events) -> list[str]:
    if isinstance(enabled_events, str):
        enabled_events = [enabled_events]
    if not enabled_events or not isinstance(enabled_events, list | tuple):
        raise InvalidRequest(
            "Missing required param: enabled_events.", param="enabled_events", code="parameter_missing"
        )
    clean = []
    for index, name in enumerate(enabled_events):
        if name != event_types.WILDCARD and name not in event_types.KNOWN:
            raise InvalidRequest(
                f"Invalid enabled_events[{index}]: '{name}' is not a known event type; use '*' for all events "
                "or one of the types listed in the API reference.",
                param=f"enabled_events[{index}]",
            )
        if name not in clean:
            clean.append(name)
    return [event_types.WILDCARD] if event_types.WILDCARD in clean else clean


def _clean_description(description) -> str:
    description = (description or "").strip()
    if len(description) > DESCRIPTION_MAX_LENGTH:
        raise InvalidRequest(
            f"Invalid description: must be at most {DESCRIPTION_MAX_LENGTH} characters.", param="description"
        )
    return description


def _clean_api_version(api_version) -> str:
    """Stored as Stripe does; events carry the version they were rendered in (``event.api_version``)."""
    api_version = (api_version or "").strip()
    if api_version and not API_VERSION_FORMAT.fullmatch(api_version):
        raise InvalidRequest(
            f"Invalid api_version: '{api_version}' is not an API version such as {billing_events.API_VERSION}.",
            param="api_version",
        )
    return api_version


def _lock(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    try:
        return WebhookEndpoint.objects.select_for_update(no_key=True).get(pk=endpoint.pk)
    except WebhookEndpoint.DoesNotExist:
        raise NotFound(f"No such webhook endpoint: '{endpoint.pk}'", param="id")


def webhook_endpoint_create(
    *,
    account: Account,
    livemode: bool,
    url: str,
    enabled_events: list[str],
    description: str = "",
    metadata: dict | None = None,
    api_version: str | None = None,
    actor: Actor,
) -> WebhookEndpoint:
    """A new enabled endpoint with a fresh ``whsec_`` secret (``endpoint.secret``: show it once)."""
    url = _clean_url(url, livemode=livemode)
    enabled_events = _clean_events(enabled_events)
    description = _clean_description(description)
    metadata = validate_metadata(metadata)
    api_version = _clean_api_version(api_version)
    with transaction.atomic():
        # Serialises creations per account so the limit holds under concurrency.
        Account.objects.select_for_update(no_key=True).filter(pk=account.pk).first()
        count = WebhookEndpoint.objects.filter(account=account, livemode=livemode).count()
        if count >= MAX_ENDPOINTS_PER_MODE:
            mode = "live" if livemode else "test"
            raise InvalidRequest(
                f"You have reached the maximum of {MAX_ENDPOINTS_PER_MODE} {mode} webhook endpoints; "
                "delete one before adding another.",
                param="url",
            )
        endpoint = WebhookEndpoint.objects.create(
            account=account,
            livemode=livemode,
            url=url,
            enabled_events=enabled_events,
            description=description,
            metadata=metadata,
            api_version=api_version,
        )
        audit.record(actor, "webhook_endpoint.create", endpoint, {"url": url, "enabled_events": enabled_events})
    return endpoint


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    actor: Actor,
    url=UNSET,
    enabled_events=UNSET,
    description=UNSET,
    metadata=UNSET,
    disabled=UNSET,
) -> WebhookEndpoint:
    """Stripe's update: any of url, enabled_events, description, metadata (merged), disabled."""
    changes: dict = {}
    if url is not UNSET:
        changes["url"] = _clean_url(url, livemode=endpoint.livemode)
    if enabled_events is not UNSET:
        changes["enabled_events"] = _clean_events(enabled_events)
    if description is not UNSET:
        changes["description"] = _clean_description(description)
    if disabled is not UNSET and not isinstance(disabled, bool):
        raise InvalidRequest("Invalid disabled: must be a boolean.", param="disabled")
    with transaction.atomic():
        endpoint = _lock(endpoint)
        if metadata is not UNSET:
            if metadata not in ("", None) and not isinstance(metadata, dict):
                raise InvalidRequest("Invalid metadata: must be a set of key-value pairs.", param="metadata")
            merged = merge_metadata(endpoint.metadata, metadata)
            if merged != endpoint.metadata:
                changes["metadata"] = merged
        changes = {key: value for key, value in changes.items() if getattr(endpoint, key) != value}
        for key, value in changes.items():
            setattr(endpoint, key, value)
        fields = list(changes)
        if disabled is True and endpoint.is_enabled:
            _disable(endpoint, WebhookEndpoint.DisabledReason.MANUAL)
            fields += ["status", "disabled_reason"]
            changes["status"] = endpoint.status
        elif disabled is False and not endpoint.is_enabled:
            endpoint.status = WebhookEndpoint.Status.ENABLED
            endpoint.disabled_reason = ""
            endpoint.failing_since = None
            fields += ["status", "disabled_reason", "failing_since"]
            changes["status"] = endpoint.status
        if not fields:
            return endpoint
        endpoint.save(update_fields=fields)
        audit.record(actor, "webhook_endpoint.update", endpoint, changes)
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: Actor) -> str:
    """Deletes the endpoint with its deliveries (pending ones are never sent). Returns the id."""
    with transaction.atomic():
        endpoint = _lock(endpoint)
        endpoint_id = endpoint.pk
        audit.record(actor, "webhook_endpoint.delete", endpoint, {"url": endpoint.url})
        Attempt.objects.filter(delivery__endpoint_id=endpoint_id).delete()
        Delivery.objects.filter(endpoint_id=endpoint_id).delete()
        endpoint.delete()
    return endpoint_id


def webhook_endpoint_roll_secret(
    *, endpoint: WebhookEndpoint, expires_in_hours: float = 24, actor: Actor
) -> WebhookEndpoint:
    """A new secret now; the old one keeps signing (a second ``v1``) for ``expires_in_hours`` (0..24)."""
    try:
        hours = float(expires_in_hours)
    except (TypeError, ValueError):
        hours = -1
    if not 0 <= hours <= MAX_ROLL_EXPIRY_HOURS:
        raise InvalidRequest(
            f"Invalid expires_in_hours: must be between 0 and {MAX_ROLL_EXPIRY_HOURS}.", param="expires_in_hours"
        )
    with transaction.atomic():
        endpoint = _lock(endpoint)
        now = clock.now()
        if hours:
            endpoint.previous_secret = endpoint.secret
            endpoint.previous_secret_expires_at = now + dt.timedelta(hours=hours)
        else:
            endpoint.previous_secret = ""
            endpoint.previous_secret_expires_at = None
        endpoint.secret = signing.generate_secret()
        endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
        audit.record(
            actor,
            "webhook_endpoint.roll_secret",
            endpoint,
            {"previous_secret_expires_at": clock.to_unix(endpoint.previous_secret_expires_at)},
        )
    return endpoint


def _disable(endpoint: WebhookEndpoint, reason: str) -> None:
    """Marks a locked endpoint disabled (caller saves) and abandons its pending deliveries."""
    endpoint.status = WebhookEndpoint.Status.DISABLED
    endpoint.disabled_reason = reason
    Delivery.objects.filter(endpoint_id=endpoint.pk, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.ABANDONED, next_attempt_at=None, enqueued_at=None
    )


def _disable_automatically(endpoint_id: str, reason: str, detail: str) -> None:
    """Disables a failing endpoint (inside the caller's transaction) and emails the account's staff."""
    endpoint = WebhookEndpoint.objects.select_for_update(no_key=True).filter(pk=endpoint_id).first()
    if endpoint is None or not endpoint.is_enabled:
        return
    _disable(endpoint, reason)
    endpoint.save(update_fields=["status", "disabled_reason"])
    audit.record(SYSTEM, "webhook_endpoint.disable", endpoint, {"reason": reason, "detail": detail[:500]})
    transaction.on_commit(lambda: _email_staff_endpoint_disabled(endpoint, detail))


def _email_staff_endpoint_disabled(endpoint: WebhookEndpoint, detail: str) -> None:
    recipients = sorted(
        set(
            get_user_model()
            .objects.filter(billing_memberships__account_id=endpoint.account_id, is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
    if not recipients:
        return
    email_context = {
        "endpoint": endpoint,
        "account": endpoint.account,
        "mode": "live" if endpoint.livemode else "test",
        "reason": WebhookEndpoint.DisabledReason(endpoint.disabled_reason).label,
        "detail": detail,
        "failing_since": endpoint.failing_since,
        "admin_url": f"{settings.PORTAL_BASE_URL}/admin/webhooks/webhookendpoint/{endpoint.pk}/change/",
    }
    subject = render_to_string("webhooks/email/endpoint_disabled_subject.txt", email_context).strip()
    body = render_to_string("webhooks/email/endpoint_disabled.txt", email_context)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:  # the endpoint stays disabled either way; the audit log has it
        logger.exception("could not email staff that webhook endpoint %s was disabled", endpoint.pk)


# ---------------------------------------------------------------------------------------------- fan-out


def event_fan_out(*, event_id: str) -> list[int]:
    """One delivery per enabled endpoint of the event's account and mode that subscribes to its type.

    Idempotent: the first call marks ``fanned_out_at`` (a conditional UPDATE, so concurrent calls
    serialise on the row) and later calls do nothing. Returns the ids of the deliveries it queued."""
    now = clock.now()
    with transaction.atomic():
        if not Event.objects.filter(pk=event_id, fanned_out_at__isnull=True).update(fanned_out_at=now):
            return []
        event = Event.objects.only("id", "account_id", "livemode", "type").get(pk=event_id)
        endpoints = [
            endpoint
            for endpoint in WebhookEndpoint.objects.filter(
                account_id=event.account_id, livemode=event.livemode, status=WebhookEndpoint.Status.ENABLED
            ).only("id", "enabled_events")
            if endpoint.subscribes_to(event.type)
        ]
        if not endpoints:
            return []
        # No conflicts are possible: only the call that set fanned_out_at gets here (the unique
        # constraint on (event, endpoint) is the backstop), so the inserted ids come back directly.
        created = Delivery.objects.bulk_create(
            [
                Delivery(
                    account_id=event.account_id,
                    livemode=event.livemode,
                    created=now,
                    event_id=event.pk,
                    endpoint_id=endpoint.pk,
                    next_attempt_at=now,
                    enqueued_at=now,
                )
                for endpoint in endpoints
            ]
        )
        delivery_ids = [delivery.pk for delivery in created]
        transaction.on_commit(lambda: _enqueue_deliveries(delivery_ids))
    return delivery_ids


def _enqueue_deliveries(delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        queue.enqueue(queue.DELIVER, delivery_id)


# ---------------------------------------------------------------------------------------------- attempts


def _claim(delivery_id: int, now: dt.datetime) -> bool:
    lease = dt.timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    return bool(
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING, next_attempt_at__lte=now).update(
            attempts=F("attempts") + 1,
            next_attempt_at=now + lease,
            enqueued_at=None,  # the message is taken; if this worker dies, the sweeper re-queues after the lease
            last_attempt_at=now,
            first_attempt_at=Coalesce("first_attempt_at", Value(now, output_field=models.DateTimeField())),
        )
    )


def delivery_attempt(*, delivery_id: int, attempt_id: int | None = None) -> Attempt | None:
    """Send one attempt: the automatic one that is due, or the queued manual resend ``attempt_id``.

    Returns the recorded attempt, or None when there was nothing to do (not due, already sent,
    claimed by another worker, deleted)."""
    now = clock.now()
    if attempt_id is None:
        if not _claim(delivery_id, now):
            return None
    elif not Attempt.objects.filter(pk=attempt_id, delivery_id=delivery_id, started_at__isnull=True).update(
        started_at=now
    ):
        return None
    delivery = Delivery.objects.select_related("event", "endpoint").filter(pk=delivery_id).first()
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    if not endpoint.is_enabled:
        outcome = sending.Outcome(None, "", "Not sent: the endpoint is disabled.", 0)
        return _record(delivery, attempt_id, outcome, started=now, abandon=True)
    # Serialised once; exactly these bytes are signed and sent. A new timestamp and signature per attempt.
    body = representations.event_body(delivery.event)
    sent_at = clock.now()
    headers = signing.signature_headers(
        body,
        endpoint.signing_secrets(sent_at),
        message_id=delivery.event_id,
        timestamp=int(sent_at.timestamp()),
    )
    outcome = sending.post(endpoint.url, body, headers, livemode=endpoint.livemode)
    return _record(delivery, attempt_id, outcome, started=now)


def _record(
    delivery: Delivery,
    attempt_id: int | None,
    outcome: sending.Outcome,
    *,
    started: dt.datetime,
    abandon: bool = False,
) -> Attempt | None:
    """Store the outcome of an attempt of ``delivery`` (as loaded right after its claim) and schedule
    the next one. Conditional updates, no row lock: a concurrent disable, resend or newer claim wins."""
    finished = clock.now()
    result = {
        "response_status": outcome.status,
        "response_body": outcome.body,
        "error": outcome.error,
        "duration_ms": outcome.duration_ms,
        "succeeded": outcome.succeeded,
    }
    last = {
        "last_attempt_at": started,
        "last_response_status": outcome.status,
        "last_response_body": outcome.body,
        "last_error": outcome.error,
        "duration_ms": outcome.duration_ms,
    }
    pending = Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.PENDING)
    try:
        with transaction.atomic():
            if attempt_id is None:
                attempt = Attempt.objects.create(
                    delivery_id=delivery.pk, requested_at=started, started_at=started, **result
                )
            else:
                Attempt.objects.filter(pk=attempt_id).update(**result)
                attempt = Attempt.objects.get(pk=attempt_id)
            if outcome.succeeded:
                Delivery.objects.filter(pk=delivery.pk).update(
                    **last,
                    status=Delivery.Status.SUCCEEDED,
                    next_attempt_at=None,
                    enqueued_at=None,
                    delivered_at=Coalesce("delivered_at", Value(finished, output_field=models.DateTimeField())),
                )
            elif abandon:
                if not pending.update(**last, status=Delivery.Status.ABANDONED, next_attempt_at=None, enqueued_at=None):
                    Delivery.objects.filter(pk=delivery.pk).update(**last)
            elif attempt_id is None:
                retry_at = delivery.next_retry_at(finished)
                status = Delivery.Status.PENDING if retry_at else Delivery.Status.FAILED
                # Only while this attempt is still the latest claim (its lease may have run out).
                if not pending.filter(attempts=delivery.attempts).update(
                    **last, status=status, next_attempt_at=retry_at, enqueued_at=None
                ):
                    Delivery.objects.filter(pk=delivery.pk).update(**last)
            else:
                Delivery.objects.filter(pk=delivery.pk).update(**last)
            if not abandon:
                _update_endpoint_health(delivery.endpoint, outcome, finished)
    except (IntegrityError, Attempt.DoesNotExist):
        if Delivery.objects.filter(pk=delivery.pk).exists():
            raise
        return None  # the endpoint (and with it the delivery) was deleted meanwhile
    return attempt


def _update_endpoint_health(endpoint: WebhookEndpoint, outcome: sending.Outcome, now: dt.datetime) -> None:
    """Track the current run of failures (``failing_since``); disable on 410 or after three days of it."""
    endpoints = WebhookEndpoint.objects.filter(pk=endpoint.pk)
    if outcome.succeeded:
        if endpoint.failing_since is not None:
            endpoints.filter(failing_since__isnull=False).update(failing_since=None)
        return
    if endpoint.failing_since is None:
        endpoints.filter(failing_since__isnull=True).update(failing_since=now)
    if outcome.status == 410:
        _disable_automatically(endpoint.pk, WebhookEndpoint.DisabledReason.GONE, outcome.error)
    elif endpoint.failing_since is not None and endpoint.failing_since <= now - DISABLE_AFTER_FAILING_FOR:
        _disable_automatically(endpoint.pk, WebhookEndpoint.DisabledReason.FAILING, outcome.error)


def delivery_resend(*, delivery: Delivery, actor: Actor) -> Attempt:
    """Queue one more attempt now, whatever the delivery's status (a success marks it succeeded)."""
    with transaction.atomic():
        try:
            delivery = Delivery.objects.select_for_update(no_key=True).select_related("endpoint").get(pk=delivery.pk)
        except Delivery.DoesNotExist:
            raise NotFound(f"No such webhook delivery: '{delivery.pk}'", param="id")
        if not delivery.endpoint.is_enabled:
            raise StateConflict(
                "This webhook endpoint is disabled; enable it before resending events to it.", param="endpoint"
            )
        attempt = Attempt.objects.create(delivery=delivery, manual=True, requested_at=clock.now())
        audit.record(
            actor, "webhook_delivery.resend", delivery, {"event": delivery.event_id, "endpoint": delivery.endpoint_id}
        )
        transaction.on_commit(lambda: queue.enqueue(queue.DELIVER, delivery.pk, attempt.pk))
    return attempt


def send_test_event(*, endpoint: WebhookEndpoint, actor: Actor) -> Delivery:
    """A synthetic ``webhook_endpoint.test_event`` (data.object: the endpoint) sent to this endpoint only."""
    with transaction.atomic():
        endpoint = _lock(endpoint)
        if not endpoint.is_enabled:
            raise StateConflict("This webhook endpoint is disabled; enable it to send a test event.", param="endpoint")
        now = clock.now()
        request = context.current()
        event = Event.objects.create(
            account_id=endpoint.account_id,
            livemode=endpoint.livemode,
            created=now,
            type=event_types.TEST_EVENT,
            api_version=billing_events.API_VERSION,
            data_object=representations.webhook_endpoint(endpoint),
            request_id=request.request_id,
            idempotency_key=request.idempotency_key,
            fanned_out_at=now,  # never fanned out to other endpoints
        )
        delivery = Delivery.objects.create(
            account_id=endpoint.account_id,
            livemode=endpoint.livemode,
            created=now,
            event=event,
            endpoint=endpoint,
            next_attempt_at=now,
            enqueued_at=now,
        )
        audit.record(actor, "webhook_endpoint.send_test_event", endpoint, {"event": event.pk})
        transaction.on_commit(lambda: queue.enqueue(queue.DELIVER, delivery.pk))
    return delivery


# ---------------------------------------------------------------------------------------------- sweeper


def sweep(*, now: dt.datetime | None = None) -> dict:
    """The outbox and retry sweeper (every minute): fans out events whose fan-out was lost, queues due
    retries and deliveries whose task was lost, re-queues lost manual resends, drops expired secrets."""
    now = now or clock.now()
    deadline = time.monotonic() + SWEEP_TIME_BUDGET_SECONDS
    grace = dt.timedelta(seconds=settings.WEBHOOK_OUTBOX_GRACE_SECONDS)
    requeue_before = now - dt.timedelta(seconds=settings.WEBHOOK_REQUEUE_SECONDS)

    fanned_out = 0
    stranded = Event.objects.filter(fanned_out_at__isnull=True, created__lte=now - grace).order_by("created")
    for event_id in stranded.values_list("pk", flat=True)[:SWEEP_BATCH]:
        event_fan_out(event_id=event_id)
        fanned_out += 1
        if time.monotonic() > deadline:
            break

    with transaction.atomic():
        due = (
            Delivery.objects.due(now, enqueued_before=requeue_before)
            .select_for_update(skip_locked=True)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        delivery_ids = list(due)
        if delivery_ids:
            Delivery.objects.filter(pk__in=delivery_ids).update(enqueued_at=now)
            transaction.on_commit(lambda: _enqueue_deliveries(delivery_ids))

    lost_resends = list(
        Attempt.objects.filter(
            manual=True,
            started_at__isnull=True,
            requested_at__lte=requeue_before,
            requested_at__gt=now - dt.timedelta(days=1),
        ).values_list("delivery_id", "pk")[:SWEEP_BATCH]
    )
    for delivery_id, attempt_id in lost_resends:
        queue.enqueue(queue.DELIVER, delivery_id, attempt_id)

    expired_secrets = WebhookEndpoint.objects.filter(previous_secret_expires_at__lte=now).update(
        previous_secret="", previous_secret_expires_at=None
    )
    return {
        "fanned_out": fanned_out,
        "enqueued": len(delivery_ids),
        "resends_requeued": len(lost_resends),
        "expired_secrets": expired_secrets,
    }


def events_purge(*, now: dt.datetime | None = None) -> int:
    """Deletes events older than ``WEBHOOK_EVENT_RETENTION_DAYS`` with their deliveries and attempts."""
    cutoff = (now or clock.now()) - dt.timedelta(days=settings.WEBHOOK_EVENT_RETENTION_DAYS)
    deleted = 0
    while True:
        event_ids = list(
            Event.objects.filter(created__lt=cutoff).order_by("created").values_list("pk", flat=True)[:PURGE_BATCH]
        )
        if not event_ids:
            return deleted
        with transaction.atomic():
            Attempt.objects.filter(delivery__event_id__in=event_ids).delete()
            Delivery.objects.filter(event_id__in=event_ids).delete()
            Event.objects.filter(pk__in=event_ids).delete()
        deleted += len(event_ids)
