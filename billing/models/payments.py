"""Payment methods (only non-sensitive card and bank details) and charges."""

from django.db import models

from billing import ids
from billing.models.base import TenantModel


class PaymentMethod(TenantModel):
    class Type(models.TextChoices):
        CARD = "card", "Card"
        SEPA_DEBIT = "sepa_debit", "SEPA Direct Debit"

    # Which currencies each type can be charged in (SEPA: EUR only); None means any.
    CURRENCIES = {Type.CARD: None, Type.SEPA_DEBIT: frozenset({"eur"})}

    id = models.CharField(primary_key=True, max_length=40, default=ids.factory("payment_method"), editable=False)
    customer = models.ForeignKey(
        "billing.Customer", null=True, blank=True, on_delete=models.CASCADE, related_name="payment_methods"
    )
    type = models.CharField(max_length=16, choices=Type.choices)
    billing_details = models.JSONField(default=dict, blank=True)
    # Card: brand, last4, expiry, country, fingerprint. Never the number or the CVC.
    card_brand = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    card_funding = models.CharField(max_length=10, blank=True)
    country = models.CharField(max_length=2, blank=True)
    fingerprint = models.CharField(max_length=32, blank=True)
    # SEPA: bank code and last4 of the IBAN.
    sepa_bank_code = models.CharField(max_length=16, blank=True)
    sepa_last4 = models.CharField(max_length=4, blank=True)
    # The gateway's opaque handle for charging this method (a PSP token, never card data).
    gateway_reference = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]

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
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    id = models.CharField(primary_key=True, max_length=40, default=ids.factory("charge"), editable=False)
    customer = models.ForeignKey(
        "billing.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="charges"
    )
    invoice = models.ForeignKey(
        "billing.Invoice", null=True, blank=True, on_delete=models.PROTECT, related_name="charges"
    )
    payment_method = models.ForeignKey(PaymentMethod, null=True, blank=True, on_delete=models.SET_NULL)
    payment_intent = models.ForeignKey(
        "billing.PaymentIntent", null=True, blank=True, on_delete=models.PROTECT, related_name="charges"
    )
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices)
    # An authorized charge (capture_method=manual) waits uncaptured until its PaymentIntent is captured.
    captured = models.BooleanField(default=True)
    amount_captured = models.BigIntegerField(null=True, blank=True)
    amount_refunded = models.BigIntegerField(default=0)
    description = models.CharField(max_length=1000, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    decline_code = models.CharField(max_length=64, blank=True)
    gateway_reference = models.CharField(max_length=200, blank=True)
    # Sent with every processor call for this attempt (invoice id and attempt number): a call repeated after a
    # crash is answered from the processor's record of the first one and never charges twice.
    idempotency_key = models.CharField(max_length=100, unique=True, null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["created"], condition=models.Q(status="pending"), name="charge_pending_created"),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def paid(self) -> bool:
        return self.status == self.Status.SUCCEEDED
