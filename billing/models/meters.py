"""Billing meters (Stripe's ``billing.meter``) and the usage events they aggregate."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from billing import ids
from billing.models.base import TenantModel


class Meter(TenantModel):
    """What a metered price bills: the events named ``event_name`` of a customer, aggregated over a period."""

    class Formula(models.TextChoices):
        SUM = "sum", _("Sum")
        COUNT = "count", _("Count")
        LAST = "last", _("Last value")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        INACTIVE = "inactive", _("Inactive")

    id = models.CharField(primary_key=True, max_length=40, default=ids.factory("meter"), editable=False)
    display_name = models.CharField(max_length=250)
    event_name = models.CharField(max_length=100)
    formula = models.CharField(max_length=8, choices=Formula.choices)
    customer_payload_key = models.CharField(max_length=100, default="stripe_customer_id")
    value_payload_key = models.CharField(max_length=100, default="value")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    updated = models.DateTimeField()

    class Meta:
        verbose_name = _("meter")
        verbose_name_plural = _("meters")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "livemode", "event_name"],
                condition=models.Q(status="active"),
                name="meter_active_event_name_unique",
            )
        ]

    def __str__(self) -> str:
        return self.display_name


class MeterEvent(TenantModel):
    """One usage event, kept with the meter it counted for (the active meter of its name when it came in)."""

    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="events")
    customer = models.ForeignKey("billing.Customer", on_delete=models.PROTECT, related_name="+")
    event_name = models.CharField(max_length=100)
    identifier = models.CharField(max_length=100)
    value = models.BigIntegerField()
    payload = models.JSONField(default=dict)
    timestamp = models.DateTimeField()

    class Meta:
        verbose_name = _("meter event")
        verbose_name_plural = _("meter events")
        constraints = [
            models.UniqueConstraint(fields=["account", "livemode", "identifier"], name="meter_event_identifier_unique")
        ]
        indexes = [models.Index(fields=["customer", "meter", "timestamp"], name="meter_event_usage")]

    def __str__(self) -> str:
        return f"{self.event_name} {self.identifier}"
