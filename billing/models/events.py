"""Stripe-shaped events (the transactional outbox for webhooks) and the audit log."""

from django.db import models

from billing import ids
from billing.models.base import TenantModel


class EventDataField(models.JSONField):
    """A JSON column inserted in bulk as rows of VALUES: PostgreSQL's array (UNNEST) path would send each payload as
    an element of a text array, whose escaping costs more than the insert itself."""

    def get_placeholder(self, value, compiler, connection) -> str:
        return "%s"


class Event(TenantModel):
    id = models.CharField(primary_key=True, max_length=40, default=ids.factory("event"), editable=False)
    type = models.CharField(max_length=100, db_index=True)
    api_version = models.CharField(max_length=40, blank=True)
    data_object = EventDataField()
    # The id of the object the event carries (``data.object.id``: ``sub_…``, ``in_…``), so staff find an object's
    # events through an index instead of a scan of the JSON.
    object_id = models.CharField(max_length=40, blank=True, db_index=True)
    previous_attributes = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    idempotency_key = models.CharField(max_length=255, blank=True)
    # Outbox bookkeeping: set once the webhook fan-out has taken the event.
    fanned_out_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Recorded in a test clock's time: ``created`` is the clock's, so the webhooks sweeper and the retention purge
    # go by real time for it (``fanned_out_at``, or at once when its fan-out was lost).
    simulated = models.BooleanField(default=False)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["account", "livemode", "type"], name="event_tenant_type")]

    def __str__(self) -> str:
        return f"{self.type} ({self.id})"


class AuditEntry(TenantModel):
    class ActorType(models.TextChoices):
        STAFF = "staff", "Staff user"
        API_KEY = "api_key", "API key"
        CUSTOMER = "customer", "Portal customer"
        SYSTEM = "system", "System"

    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=40, db_index=True)
    changes = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.action} {self.object_id} by {self.actor_label or self.actor_type}"
