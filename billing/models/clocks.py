"""Stripe's test clocks: a test-mode time of its own for the customers created on it."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from billing import ids
from billing.models.base import TenantModel


class TestClock(TenantModel):
    """``created`` is real time; ``frozen_time`` is the clock's time, which its customers' billing runs in."""

    __test__ = False  # not a pytest test class, whatever its name

    class Status(models.TextChoices):
        READY = "ready", _("Ready")
        ADVANCING = "advancing", _("Advancing")
        INTERNAL_FAILURE = "internal_failure", _("Internal failure")

    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("test_clock"), editable=False, verbose_name=_("id")
    )
    name = models.CharField(max_length=300, blank=True, verbose_name=_("name"))
    frozen_time = models.DateTimeField(verbose_name=_("frozen time"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READY, verbose_name=_("status"))
    # While advancing: the time it is advancing to (Stripe's ``status_details.advancing.target_frozen_time``).
    target_frozen_time = models.DateTimeField(null=True, blank=True, verbose_name=_("target frozen time"))
    # While an advance runs: until when its runner holds it (renewed at every step). A second delivery of the
    # advance task (Celery's redelivery) runs it only once this has passed, i.e. when the first runner died.
    advance_lease_until = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("advance lease until")
    )
    deletes_after = models.DateTimeField(verbose_name=_("deletes after"))
    # Stripe's delete: the clock is gone for the API; the row stays, as its customers' do.
    deleted = models.BooleanField(default=False, verbose_name=_("deleted"))

    class Meta:
        ordering = ["-id"]
        verbose_name = _("test clock")
        verbose_name_plural = _("test clocks")

    def __str__(self) -> str:
        return self.name or self.id


def customer_test_clock() -> models.ForeignKey:
    """The field for a row's customer's test clock, copied when the row is made (a customer never changes clocks):
    Stripe's ``test_clock`` on subscriptions, invoices and invoice items, rendered without a look-up of the
    customer."""
    return models.ForeignKey(
        TestClock,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("test clock"),
    )
