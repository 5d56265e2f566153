"""Which payment processor takes an account's payments in one mode, with its credentials encrypted at rest."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from billing import clock, crypto
from billing.models.base import TenantModel


class ProcessorAccount(TenantModel):
    """One row per account and mode. Secrets live only as ciphertext (``billing.crypto``) in ``*_ciphertext``
    columns; read them with :meth:`secret`."""

    class Processor(models.TextChoices):
        TEST = "test", _("Test gateway (test mode only)")
        STRIPE = "stripe", _("Stripe")
        MOLLIE = "mollie", _("Mollie")

    # The secrets of each processor, by name; the column of ``name`` is ``f"{name}_ciphertext"``.
    SECRETS = {
        Processor.TEST: (),
        Processor.STRIPE: ("stripe_secret_key", "stripe_webhook_secret"),
        Processor.MOLLIE: ("mollie_api_key",),
    }
    SECRET_NAMES = ("stripe_secret_key", "stripe_webhook_secret", "mollie_api_key")

    processor = models.CharField(_("processor"), max_length=16, choices=Processor.choices)
    stripe_secret_key_ciphertext = models.TextField(
        blank=True, default="", editable=False, verbose_name=_("stripe secret key ciphertext")
    )
    stripe_webhook_secret_ciphertext = models.TextField(
        blank=True, default="", editable=False, verbose_name=_("stripe webhook secret ciphertext")
    )
    mollie_api_key_ciphertext = models.TextField(
        blank=True, default="", editable=False, verbose_name=_("mollie api key ciphertext")
    )
    stripe_publishable_key = models.CharField(_("Stripe publishable key"), max_length=255, blank=True, default="")
    mollie_profile_id = models.CharField(_("Mollie profile ID"), max_length=64, blank=True, default="")
    verified_at = models.DateTimeField(_("connection verified"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True, default="")
    updated = models.DateTimeField(default=clock.now, verbose_name=_("updated"))

    class Meta:
        verbose_name = _("payment processor")
        verbose_name_plural = _("payment processors")
        constraints = [
            models.UniqueConstraint(
                fields=["account", "livemode"],
                name="processoraccount_unique_mode",
                violation_error_message=_(
                    "This account already has a payment processor in this mode: change that one instead."
                ),
            )
        ]

    def __str__(self) -> str:
        mode = _("live mode") if self.livemode else _("test mode")
        return f"{self.get_processor_display()} ({mode})"

    def secret(self, name: str) -> str:
        """The decrypted secret ``name`` (one of ``SECRET_NAMES``), or ``""`` when none is stored."""
        return crypto.decrypt(getattr(self, self.column(name)))

    def set_secret(self, name: str, plaintext: str) -> None:
        setattr(self, self.column(name), crypto.encrypt(plaintext))

    def has_secret(self, name: str) -> bool:
        return bool(getattr(self, self.column(name)))

    def secrets(self) -> dict[str, str]:
        """Every stored secret, decrypted, by name (to keep them out of messages)."""
        return {name: self.secret(name) for name in self.SECRET_NAMES if self.has_secret(name)}

    def cache_key(self) -> tuple:
        """Changes whenever anything a gateway is built from changes (see ``billing.gateways.gateway_for``)."""
        return (
            self.pk,
            self.updated,
            self.processor,
            self.stripe_publishable_key,
            self.mollie_profile_id,
            *(getattr(self, self.column(name)) for name in self.SECRET_NAMES),
        )

    @classmethod
    def column(cls, name: str) -> str:
        if name not in cls.SECRET_NAMES:
            raise ValueError(f"Not a processor secret: {name!r}")
        return f"{name}_ciphertext"


class ProcessorEventReceipt(models.Model):
    """A processor's webhook event that was applied (or found to concern none of our objects): written in the
    transaction that applied it, so the same event delivered again, or twice at once, changes nothing twice."""

    account = models.ForeignKey(
        "billing.Account", on_delete=models.CASCADE, related_name="+", verbose_name=_("account")
    )
    livemode = models.BooleanField(default=False, verbose_name=_("livemode"))
    processor = models.CharField(max_length=16, choices=ProcessorAccount.Processor.choices, verbose_name=_("processor"))
    event_id = models.CharField(max_length=255, verbose_name=_("event id"))
    # Our PaymentIntent, SetupIntent or Refund the event concerned; blank when it was none of ours.
    object_id = models.CharField(max_length=40, blank=True, default="", verbose_name=_("object id"))
    received_at = models.DateTimeField(default=clock.now, db_index=True, verbose_name=_("received at"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "processor", "event_id"], name="processoreventreceipt_unique")
        ]
        verbose_name = _("processor event receipt")
        verbose_name_plural = _("processor event receipts")

    def __str__(self) -> str:
        return f"{self.processor} {self.event_id}"
