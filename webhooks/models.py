"""Webhook endpoints, one delivery row per (event, endpoint) and one attempt row per try."""

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing import ids
from billing.models.base import TenantModel
from webhooks import signing

# A live delivery is retried for this long after its first attempt (Stripe: "up to three days").
LIVE_RETRY_WINDOW = dt.timedelta(days=3)
# An endpoint whose deliveries have failed without a single success for this long is disabled.
DISABLE_AFTER_FAILING_FOR = dt.timedelta(days=3)
RESPONSE_BODY_LIMIT = 1024


class WebhookEndpoint(TenantModel):
    class Status(models.TextChoices):
        ENABLED = "enabled", _("Enabled")
        DISABLED = "disabled", _("Disabled")

    class DisabledReason(models.TextChoices):
        NONE = "", _("—")
        MANUAL = "manual", _("Disabled by the merchant")
        GONE = "gone", _("The endpoint answered 410 Gone")
        FAILING = "failing", _("Deliveries failed for 3 days")

    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("webhook_endpoint"), editable=False, verbose_name=_("id")
    )
    url = models.URLField(max_length=2048, verbose_name=_("url"))
    description = models.CharField(max_length=5000, blank=True, verbose_name=_("description"))
    enabled_events = models.JSONField(default=list, verbose_name=_("enabled events"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ENABLED, verbose_name=_("status"))
    # The signing secret must be stored in the clear: every attempt is signed with it.
    secret = models.CharField(max_length=100, default=signing.generate_secret, editable=False, verbose_name=_("secret"))
    # After a roll the old secret keeps signing (a second v1) until it expires.
    previous_secret = models.CharField(max_length=100, blank=True, editable=False, verbose_name=_("previous secret"))
    previous_secret_expires_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("previous secret expires at")
    )
    metadata = models.JSONField(default=dict, blank=True, verbose_name=_("metadata"))
    api_version = models.CharField(max_length=40, blank=True, verbose_name=_("api version"))
    disabled_reason = models.CharField(
        max_length=16, choices=DisabledReason.choices, blank=True, verbose_name=_("disabled reason")
    )
    # Start of the current unbroken run of failed attempts; cleared by any success.
    failing_since = models.DateTimeField(null=True, blank=True, verbose_name=_("failing since"))

    class Meta:
        ordering = ["-id"]
        verbose_name = "webhook endpoint"
        indexes = [models.Index(fields=["account", "livemode", "status"], name="webhookendpoint_tenant_status")]
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return self.url

    @property
    def is_enabled(self) -> bool:
        return self.status == self.Status.ENABLED

    def subscribes_to(self, event_type: str) -> bool:
        return "*" in self.enabled_events or event_type in self.enabled_events

    def signing_secrets(self, now: dt.datetime) -> list[str]:
        """The secrets that sign a request sent at ``now``: the current one, then a rolled one still valid."""
        secrets = [self.secret]
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            secrets.append(self.previous_secret)
        return secrets

    @property
    def masked_secret(self) -> str:
        return f"whsec_…{self.secret[-4:]}" if self.secret else ""


class DeliveryQuerySet(models.QuerySet):
    def due(self, now: dt.datetime, *, enqueued_before: dt.datetime) -> "DeliveryQuerySet":
        """Pending deliveries whose next attempt is due and that are not (or no longer) in the queue."""
        return self.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now).filter(
            models.Q(enqueued_at__isnull=True) | models.Q(enqueued_at__lte=enqueued_before)
        )


class Delivery(TenantModel):
    """One event for one endpoint. ``attempts`` counts the automatic tries; manual resends are
    Attempt rows with ``manual=True`` that update the ``last_*`` columns but not the retry schedule."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")  # automatic retries exhausted
        ABANDONED = "abandoned", _("Abandoned")  # the endpoint was disabled or lost before success

    event = models.ForeignKey(
        "billing.Event", on_delete=models.CASCADE, related_name="webhook_deliveries", verbose_name=_("event")
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("endpoint")
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, verbose_name=_("status"))
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    # When the next automatic attempt is due; while an attempt is in flight, when its lease expires.
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True, verbose_name=_("next attempt at"))
    # When a task for the due attempt was last put on the queue (the sweeper does not queue it twice).
    enqueued_at = models.DateTimeField(null=True, blank=True, verbose_name=_("enqueued at"))
    first_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=_("first attempt at"))
    last_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last attempt at"))
    last_response_status = models.PositiveSmallIntegerField(
        null=True, blank=True, verbose_name=_("last response status")
    )
    last_response_body = models.TextField(blank=True, verbose_name=_("last response body"))
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    duration_ms = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("duration ms"))
    delivered_at = models.DateTimeField(null=True, blank=True, verbose_name=_("delivered at"))

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = _("deliveries")
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="delivery_unique_event_endpoint")]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_status_due")]
        verbose_name = _("delivery")

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id}"

    def next_retry_at(self, now: dt.datetime) -> dt.datetime | None:
        """When to try again after the automatic attempt number ``attempts`` failed at ``now``; None: give up.

        Live: exponential back-off until three days after the first attempt (a last try at the three-day
        mark). Test: as many retries as ``WEBHOOK_RETRY_DELAYS_TEST`` lists (three tries by default)."""
        index = max(self.attempts - 1, 0)
        if not self.livemode:
            delays = settings.WEBHOOK_RETRY_DELAYS_TEST
            return now + dt.timedelta(seconds=delays[index]) if index < len(delays) else None
        delays = settings.WEBHOOK_RETRY_DELAYS_LIVE
        deadline = (self.first_attempt_at or now) + LIVE_RETRY_WINDOW
        if now >= deadline or not delays:
            return None
        return min(now + dt.timedelta(seconds=delays[min(index, len(delays) - 1)]), deadline)


class Attempt(models.Model):
    """One HTTP request (or a refusal to send one) for a delivery, kept for the admin's history."""

    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("delivery")
    )
    manual = models.BooleanField(default=False, verbose_name=_("manual"))
    # A manual resend is queued with ``started_at`` empty; the task that sets it owns the attempt.
    requested_at = models.DateTimeField(verbose_name=_("requested at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    response_status = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("response status"))
    response_body = models.TextField(blank=True, verbose_name=_("response body"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    duration_ms = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("duration ms"))
    succeeded = models.BooleanField(default=False, verbose_name=_("succeeded"))

    class Meta:
        ordering = ["-id"]
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")

    def __str__(self) -> str:
        outcome = self.response_status or self.error[:40] or gettext("queued")
        return gettext("attempt %(number)s of %(delivery)s: %(outcome)s") % {
            "number": self.pk,
            "delivery": self.delivery_id,
            "outcome": outcome,
        }
