"""Webhook endpoint services: create, update, delete, roll the secret, disable (by the merchant or
automatically, with an email to the account's staff) and send a test event."""

import datetime as dt
import logging
import re

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import URLValidator
from django.db import transaction
from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy as _

from billing import audit, clock, context
from billing import events as billing_events
from billing.audit import Actor
from billing.exceptions import InvalidRequest, StateConflict
from billing.models import Account, Event
from billing.services.common import merge_metadata, no_such, validate_metadata
from webhooks import event_types, queue, representations, signing, ssrf
from webhooks.models import Attempt, Delivery, WebhookEndpoint

logger = logging.getLogger(__name__)

SYSTEM = Actor.system("webhooks")
MAX_ENDPOINTS_PER_MODE = 16
URL_MAX_LENGTH = 2048
DESCRIPTION_MAX_LENGTH = 5000
MAX_ROLL_EXPIRY_HOURS = 24
UNSET = object()
API_VERSION_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}(\.[a-z]+)?")


def _clean_url(url, *, livemode: bool) -> str:
    url = (url or "").strip() if isinstance(url, str) else ""
    if not url:
        raise InvalidRequest("Missing required param: url.", param="url", code="parameter_missing")
    if len(url) > URL_MAX_LENGTH:
        raise InvalidRequest(
            _("Invalid URL: must be at most %(max)s characters."), params={"max": URL_MAX_LENGTH}, param="url"
        )
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise InvalidRequest(_("Invalid URL: %(url)s"), params={"url": url}, param="url", code="url_invalid")
    try:
        ssrf.check_url(url, livemode=livemode)
    except ssrf.RefusedTarget as refused:
        raise InvalidRequest(
            _("Invalid URL: %(reason)s"), params={"reason": refused.reason}, param="url", code="url_invalid"
        )
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
            _("Invalid description: must be at most %(max)s characters."),
            params={"max": DESCRIPTION_MAX_LENGTH},
            param="description",
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
        raise no_such("webhook endpoint", endpoint.pk, param="id")


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
            raise InvalidRequest(
                _("You have reached the maximum of %(max)s live webhook endpoints; delete one before adding another.")
                if livemode
                else _(
                    "You have reached the maximum of %(max)s test webhook endpoints; delete one before adding another."
                ),
                params={"max": MAX_ENDPOINTS_PER_MODE},
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


def disable_automatically(endpoint_id: str, reason: str, detail: str) -> None:
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


def send_test_event(*, endpoint: WebhookEndpoint, actor: Actor) -> Delivery:
    """A synthetic ``webhook_endpoint.test_event`` (data.object: the endpoint) sent to this endpoint only."""
    with transaction.atomic():
        endpoint = _lock(endpoint)
        if not endpoint.is_enabled:
            raise StateConflict(
                _("This webhook endpoint is disabled; enable it to send a test event."), param="endpoint"
            )
        now = clock.now()
        request = context.current()
        event = Event.objects.create(
            account_id=endpoint.account_id,
            livemode=endpoint.livemode,
            created=now,
            type=event_types.TEST_EVENT,
            api_version=billing_events.API_VERSION,
            data_object=representations.webhook_endpoint(endpoint),
            object_id=endpoint.id,
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
