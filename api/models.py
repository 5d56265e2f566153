"""Stored results of idempotent POST requests (kept 24 hours)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from billing import clock


class IdempotencyRecord(models.Model):
    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", _("In progress")
        DONE = "done", _("Done")

    account = models.ForeignKey(
        "billing.Account", on_delete=models.CASCADE, related_name="+", verbose_name=_("account")
    )
    livemode = models.BooleanField(verbose_name=_("livemode"))
    key = models.CharField(max_length=255, verbose_name=_("key"))
    fingerprint = models.CharField(max_length=64, verbose_name=_("fingerprint"))
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.IN_PROGRESS, verbose_name=_("status")
    )
    response_status = models.PositiveSmallIntegerField(null=True, verbose_name=_("response status"))
    response_body = models.TextField(blank=True, verbose_name=_("response body"))
    request_id = models.CharField(max_length=64, blank=True, verbose_name=_("request id"))
    created = models.DateTimeField(default=clock.now, db_index=True, verbose_name=_("created"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "livemode", "key"], name="idempotency_unique_key"),
        ]
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")

    def __str__(self) -> str:
        return self.key
