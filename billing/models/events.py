"""Stripe-shaped events (the transactional outbox for webhooks) and the audit log."""

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing import ids
from billing.models.base import TenantModel


class EventDataField(models.JSONField):
    """A JSON column inserted in bulk as rows of VALUES: PostgreSQL's array (UNNEST) path would send each payload as
    an element of a text array, whose escaping costs more than the insert itself."""

    def get_placeholder(self, value, compiler, connection) -> str:
        return "%s"


class Event(TenantModel):
    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("event"), editable=False, verbose_name=_("id")
    )
    type = models.CharField(max_length=100, db_index=True, verbose_name=_("type"))
    api_version = models.CharField(max_length=40, blank=True, verbose_name=_("api version"))
    data_object = EventDataField(verbose_name=_("data object"))
    # The id of the object the event carries (``data.object.id``: ``sub_…``, ``in_…``), so staff find an object's
    # events through an index instead of a scan of the JSON.
    object_id = models.CharField(max_length=40, blank=True, db_index=True, verbose_name=_("object id"))
    previous_attributes = models.JSONField(null=True, blank=True, verbose_name=_("previous attributes"))
    request_id = models.CharField(max_length=64, blank=True, verbose_name=_("request id"))
    idempotency_key = models.CharField(max_length=255, blank=True, verbose_name=_("idempotency key"))
    # Outbox bookkeeping: set once the webhook fan-out has taken the event.
    fanned_out_at = models.DateTimeField(null=True, blank=True, db_index=True, verbose_name=_("fanned out at"))
    # Recorded in a test clock's time: ``created`` is the clock's, so the webhooks sweeper and the retention purge
    # go by real time for it (``fanned_out_at``, or at once when its fan-out was lost).
    simulated = models.BooleanField(default=False, verbose_name=_("simulated"))

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["account", "livemode", "type"], name="event_tenant_type")]
        verbose_name = _("event")
        verbose_name_plural = _("events")

    def __str__(self) -> str:
        return f"{self.type} ({self.id})"


class AuditEntry(TenantModel):
    class ActorType(models.TextChoices):
        STAFF = "staff", _("Staff user")
        API_KEY = "api_key", _("API key")
        CUSTOMER = "customer", _("Portal customer")
        SYSTEM = "system", _("System")

    actor_type = models.CharField(max_length=16, choices=ActorType.choices, verbose_name=_("actor type"))
    actor_id = models.CharField(max_length=64, blank=True, verbose_name=_("actor id"))
    actor_label = models.CharField(max_length=200, blank=True, verbose_name=_("actor label"))
    action = models.CharField(max_length=64, db_index=True, verbose_name=_("action"))
    object_type = models.CharField(max_length=40, verbose_name=_("object type"))
    object_id = models.CharField(max_length=40, db_index=True, verbose_name=_("object id"))
    changes = models.JSONField(default=dict, blank=True, verbose_name=_("changes"))
    request_id = models.CharField(max_length=64, blank=True, verbose_name=_("request id"))

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = _("audit entries")
        verbose_name = _("audit entry")

    def __str__(self) -> str:
        actor = self.actor_label or self.get_actor_type_display()
        return gettext("%(action)s %(object)s by %(actor)s") % {
            "action": self.action,
            "object": self.object_id,
            "actor": actor,
        }
