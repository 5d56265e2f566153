"""Payment methods (only non-sensitive card and bank details) and charges."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from billing import ids
from billing.models.base import TenantModel


class PaymentMethod(TenantModel):
    class Type(models.TextChoices):
        CARD = "card", _("Card")
        SEPA_DEBIT = "sepa_debit", _("SEPA Direct Debit")

    # Which currencies each type can be charged in (SEPA: EUR only); None means any.
    CURRENCIES = {Type.CARD: None, Type.SEPA_DEBIT: frozenset({"eur"})}

    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("payment_method"), editable=False, verbose_name=_("id")
    )
    customer = models.ForeignKey(
        "billing.Customer",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="payment_methods",
        verbose_name=_("customer"),
    )
    type = models.CharField(max_length=16, choices=Type.choices, verbose_name=_("type"))
    billing_details = models.JSONField(default=dict, blank=True, verbose_name=_("billing details"))
    # Card: brand, last4, expiry, country, fingerprint. Never the number or the CVC.
    card_brand = models.CharField(max_length=20, blank=True, verbose_name=_("card brand"))
    card_last4 = models.CharField(max_length=4, blank=True, verbose_name=_("card last4"))
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("card exp month"))
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("card exp year"))
    card_funding = models.CharField(max_length=10, blank=True, verbose_name=_("card funding"))
    country = models.CharField(max_length=2, blank=True, verbose_name=_("country"))
    fingerprint = models.CharField(max_length=32, blank=True, verbose_name=_("fingerprint"))
    # SEPA: bank code and last4 of the IBAN.
    sepa_bank_code = models.CharField(max_length=16, blank=True, verbose_name=_("sepa bank code"))
    sepa_last4 = models.CharField(max_length=4, blank=True, verbose_name=_("sepa last4"))
    # The gateway's opaque handle for charging this method (a PSP token, never card data).
    gateway_reference = models.CharField(max_length=200, blank=True, verbose_name=_("gateway reference"))
    metadata = models.JSONField(default=dict, blank=True, verbose_name=_("metadata"))

    class Meta:
        ordering = ["-id"]
        verbose_name = _("payment method")
        verbose_name_plural = _("payment methods")

    def __str__(self) -> str:
        if self.type == self.Type.CARD:
            return f"{self.card_brand.title()} •••• {self.card_last4}"
        return f"SEPA •••• {self.sepa_last4}"

    @property
    def last4(self) -> str:
        return self.card_last4 if self.type == self.Type.CARD else self.sepa_last4

    def can_charge(self, currency: str) -> bool:
        allowed = self.CURRENCIES.get(self.type)
        return allowed is None or currency.lower() in allowed


class Charge(TenantModel):
    class Status(models.TextChoices):
        # The processor is being (or is to be) asked: set in the transaction that starts the attempt, settled in
        # another once the processor has answered (see ``billing.services.payments``).
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("charge"), editable=False, verbose_name=_("id")
    )
    customer = models.ForeignKey(
        "billing.Customer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="charges",
        verbose_name=_("customer"),
    )
    invoice = models.ForeignKey(
        "billing.Invoice",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="charges",
        verbose_name=_("invoice"),
    )
    payment_method = models.ForeignKey(
        PaymentMethod, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("payment method")
    )
    payment_intent = models.ForeignKey(
        "billing.PaymentIntent",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="charges",
        verbose_name=_("payment intent"),
    )
    amount = models.BigIntegerField(verbose_name=_("amount"))
    currency = models.CharField(max_length=3, verbose_name=_("currency"))
    status = models.CharField(max_length=16, choices=Status.choices, verbose_name=_("status"))
    # An authorized charge (capture_method=manual) waits uncaptured until its PaymentIntent is captured.
    captured = models.BooleanField(default=True, verbose_name=_("captured"))
    amount_captured = models.BigIntegerField(null=True, blank=True, verbose_name=_("amount captured"))
    amount_refunded = models.BigIntegerField(default=0, verbose_name=_("amount refunded"))
    description = models.CharField(max_length=1000, blank=True, verbose_name=_("description"))
    metadata = models.JSONField(default=dict, blank=True, verbose_name=_("metadata"))
    failure_code = models.CharField(max_length=64, blank=True, verbose_name=_("failure code"))
    failure_message = models.CharField(max_length=500, blank=True, verbose_name=_("failure message"))
    decline_code = models.CharField(max_length=64, blank=True, verbose_name=_("decline code"))
    gateway_reference = models.CharField(max_length=200, blank=True, verbose_name=_("gateway reference"))
    # Sent with every processor call for this attempt (invoice id and attempt number): a call repeated after a
    # crash is answered from the processor's record of the first one and never charges twice.
    idempotency_key = models.CharField(
        max_length=100, unique=True, null=True, blank=True, verbose_name=_("idempotency key")
    )

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["created"], condition=models.Q(status="pending"), name="charge_pending_created"),
        ]
        verbose_name = _("charge")
        verbose_name_plural = _("charges")

    def __str__(self) -> str:
        return self.id

    @property
    def paid(self) -> bool:
        return self.status == self.Status.SUCCEEDED
