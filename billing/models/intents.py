"""PaymentIntents (one payment, from creation to success), SetupIntents (saving a method for later), the SEPA
mandates they create, and refunds. Their processor calls happen outside transactions (``billing.services``)."""

import secrets

from django.db import models

from billing import ids
from billing.models.base import TenantModel


def client_secret(prefix_id: str) -> str:
    """Stripe's shape (``pi_…_secret_…``) with 256 random bits: what a browser holds to act on one intent."""
    return f"{prefix_id}_secret_{secrets.token_hex(32)}"


class Mandate(TenantModel):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"
        PENDING = "pending", "Pending"

    id = models.CharField(primary_key=True, max_length=40, default=ids.factory("mandate"), editable=False)
    payment_method = models.ForeignKey("billing.PaymentMethod", on_delete=models.CASCADE, related_name="mandates")
    # Stripe's customer_acceptance: type online/offline, accepted_at, online{ip_address, user_agent}.
    customer_acceptance = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    type = models.CharField(max_length=16, default="multi_use")
    reference = models.CharField(max_length=64)  # the mandate reference shown to the customer (SEPA)
    processor_reference = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.id


class IntentBase(TenantModel):
    customer = models.ForeignKey("billing.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    payment_method = models.ForeignKey(
        "billing.PaymentMethod", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    payment_method_types = models.JSONField(default=list)
    client_secret = models.CharField(max_length=120, editable=False)
    description = models.CharField(max_length=1000, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    next_action = models.JSONField(null=True, blank=True)
    return_url = models.URLField(max_length=2000, blank=True)
    mandate = models.ForeignKey(Mandate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Stripe's mandate_data.customer_acceptance, kept from create or confirm until the mandate is made.
    mandate_data = models.JSONField(null=True, blank=True)
    cancellation_reason = models.CharField(max_length=40, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    # The processor's id of the payment or setup while it waits for the customer or the bank.
    processor_reference = models.CharField(max_length=200, blank=True)
    attempt_count = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.id

    def save(self, *args, **kwargs):
        if not self.client_secret:
            self.client_secret = client_secret(self.id)
        super().save(*args, **kwargs)


class PaymentIntent(IntentBase):
    class Status(models.TextChoices):
        REQUIRES_PAYMENT_METHOD = "requires_payment_method", "Requires payment method"
        REQUIRES_CONFIRMATION = "requires_confirmation", "Requires confirmation"
        REQUIRES_ACTION = "requires_action", "Requires action"
        PROCESSING = "processing", "Processing"
        REQUIRES_CAPTURE = "requires_capture", "Requires capture"
        SUCCEEDED = "succeeded", "Succeeded"
        CANCELED = "canceled", "Canceled"

    class CaptureMethod(models.TextChoices):
        AUTOMATIC = "automatic", "Automatic"
        AUTOMATIC_ASYNC = "automatic_async", "Automatic (async)"
        MANUAL = "manual", "Manual"

    # Statuses in which the intent can still be confirmed, updated or canceled.
    OPEN = (Status.REQUIRES_PAYMENT_METHOD, Status.REQUIRES_CONFIRMATION, Status.REQUIRES_ACTION)

    id = models.CharField(primary_key=True, max_length=40, default=ids.factory("payment_intent"), editable=False)
    invoice = models.OneToOneField(
        "billing.Invoice", null=True, blank=True, on_delete=models.PROTECT, related_name="payment_intent"
    )
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    amount_capturable = models.BigIntegerField(default=0)
    amount_received = models.BigIntegerField(default=0)
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.REQUIRES_PAYMENT_METHOD)
    capture_method = models.CharField(max_length=16, choices=CaptureMethod.choices, default=CaptureMethod.AUTOMATIC)
    confirmation_method = models.CharField(max_length=16, default="automatic")
    setup_future_usage = models.CharField(max_length=16, blank=True)
    receipt_email = models.CharField(max_length=800, blank=True)
    statement_descriptor = models.CharField(max_length=22, blank=True)
    last_payment_error = models.JSONField(null=True, blank=True)
    # The confirm's off_session flag, kept for the answer that arrives later (authentication, processing).
    off_session = models.BooleanField(default=False)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["created"], condition=models.Q(status="processing"), name="pi_processing_created"),
            # The processor's webhooks find the payment by its reference.
            models.Index(fields=["processor_reference"], name="pi_processor_reference"),
        ]


class SetupIntent(IntentBase):
    class Status(models.TextChoices):
        REQUIRES_PAYMENT_METHOD = "requires_payment_method", "Requires payment method"
        REQUIRES_CONFIRMATION = "requires_confirmation", "Requires confirmation"
        REQUIRES_ACTION = "requires_action", "Requires action"
        PROCESSING = "processing", "Processing"
        SUCCEEDED = "succeeded", "Succeeded"
        CANCELED = "canceled", "Canceled"

    OPEN = (Status.REQUIRES_PAYMENT_METHOD, Status.REQUIRES_CONFIRMATION, Status.REQUIRES_ACTION)

    id = models.CharField(primary_key=True, max_length=40, default=ids.factory("setup_intent"), editable=False)
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.REQUIRES_PAYMENT_METHOD)
    usage = models.CharField(max_length=16, default="off_session")
    last_setup_error = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["processor_reference"], name="seti_processor_reference")]


class Refund(TenantModel):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        REQUIRES_ACTION = "requires_action", "Requires action"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    class Reason(models.TextChoices):
        DUPLICATE = "duplicate", "Duplicate"
        FRAUDULENT = "fraudulent", "Fraudulent"
        REQUESTED_BY_CUSTOMER = "requested_by_customer", "Requested by customer"

    id = models.CharField(primary_key=True, max_length=40, default=ids.factory("refund"), editable=False)
    charge = models.ForeignKey("billing.Charge", on_delete=models.PROTECT, related_name="refunds")
    payment_intent = models.ForeignKey(
        PaymentIntent, null=True, blank=True, on_delete=models.PROTECT, related_name="refunds"
    )
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=32, choices=Reason.choices, blank=True)
    failure_reason = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=1000, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    processor_reference = models.CharField(max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=100, unique=True, null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["processor_reference"], name="refund_processor_reference")]

    def __str__(self) -> str:
        return self.id
