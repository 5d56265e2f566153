"""PaymentIntents (one payment, from creation to success), SetupIntents (saving a method for later), the SEPA
mandates they create, and refunds. Their processor calls happen outside transactions (``billing.services``)."""

import secrets

from django.db import models
from django.utils.translation import gettext_lazy as _

from billing import ids
from billing.models.base import TenantModel


def client_secret(prefix_id: str) -> str:
    """Stripe's shape (``pi_…_secret_…``) with 256 random bits: what a browser holds to act on one intent."""
    return f"{prefix_id}_secret_{secrets.token_hex(32)}"


class Mandate(TenantModel):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        INACTIVE = "inactive", _("Inactive")
        PENDING = "pending", _("Pending")

    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("mandate"), editable=False, verbose_name=_("id")
    )
    payment_method = models.ForeignKey(
        "billing.PaymentMethod", on_delete=models.CASCADE, related_name="mandates", verbose_name=_("payment method")
    )
    # Stripe's customer_acceptance: type online/offline, accepted_at, online{ip_address, user_agent}.
    customer_acceptance = models.JSONField(default=dict, verbose_name=_("customer acceptance"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, verbose_name=_("status"))
    type = models.CharField(max_length=16, default="multi_use", verbose_name=_("type"))
    reference = models.CharField(
        max_length=64, verbose_name=_("reference")
    )  # the mandate reference shown to the customer (SEPA)
    processor_reference = models.CharField(max_length=200, blank=True, verbose_name=_("processor reference"))

    class Meta:
        ordering = ["-id"]
        verbose_name = _("mandate")
        verbose_name_plural = _("mandates")

    def __str__(self) -> str:
        return self.id


class IntentBase(TenantModel):
    customer = models.ForeignKey(
        "billing.Customer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("customer"),
    )
    payment_method = models.ForeignKey(
        "billing.PaymentMethod",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("payment method"),
    )
    payment_method_types = models.JSONField(default=list, verbose_name=_("payment method types"))
    client_secret = models.CharField(max_length=120, editable=False, verbose_name=_("client secret"))
    description = models.CharField(max_length=1000, blank=True, verbose_name=_("description"))
    metadata = models.JSONField(default=dict, blank=True, verbose_name=_("metadata"))
    next_action = models.JSONField(null=True, blank=True, verbose_name=_("next action"))
    return_url = models.URLField(max_length=2000, blank=True, verbose_name=_("return url"))
    mandate = models.ForeignKey(
        Mandate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("mandate")
    )
    # Stripe's mandate_data.customer_acceptance, kept from create or confirm until the mandate is made.
    mandate_data = models.JSONField(null=True, blank=True, verbose_name=_("mandate data"))
    cancellation_reason = models.CharField(max_length=40, blank=True, verbose_name=_("cancellation reason"))
    canceled_at = models.DateTimeField(null=True, blank=True, verbose_name=_("canceled at"))
    # The processor's id of the payment or setup while it waits for the customer or the bank.
    processor_reference = models.CharField(max_length=200, blank=True, verbose_name=_("processor reference"))
    attempt_count = models.PositiveIntegerField(default=0, verbose_name=_("attempt count"))

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
        REQUIRES_PAYMENT_METHOD = "requires_payment_method", _("Requires payment method")
        REQUIRES_CONFIRMATION = "requires_confirmation", _("Requires confirmation")
        REQUIRES_ACTION = "requires_action", _("Requires action")
        PROCESSING = "processing", _("Processing")
        REQUIRES_CAPTURE = "requires_capture", _("Requires capture")
        SUCCEEDED = "succeeded", _("Succeeded")
        CANCELED = "canceled", _("Canceled")

    class CaptureMethod(models.TextChoices):
        AUTOMATIC = "automatic", _("Automatic")
        AUTOMATIC_ASYNC = "automatic_async", _("Automatic (async)")
        MANUAL = "manual", _("Manual")

    # Statuses in which the intent can still be confirmed, updated or canceled.
    OPEN = (Status.REQUIRES_PAYMENT_METHOD, Status.REQUIRES_CONFIRMATION, Status.REQUIRES_ACTION)

    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("payment_intent"), editable=False, verbose_name=_("id")
    )
    invoice = models.OneToOneField(
        "billing.Invoice",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payment_intent",
        verbose_name=_("invoice"),
    )
    amount = models.BigIntegerField(verbose_name=_("amount"))
    currency = models.CharField(max_length=3, verbose_name=_("currency"))
    amount_capturable = models.BigIntegerField(default=0, verbose_name=_("amount capturable"))
    amount_received = models.BigIntegerField(default=0, verbose_name=_("amount received"))
    status = models.CharField(
        max_length=32, choices=Status.choices, default=Status.REQUIRES_PAYMENT_METHOD, verbose_name=_("status")
    )
    capture_method = models.CharField(
        max_length=16, choices=CaptureMethod.choices, default=CaptureMethod.AUTOMATIC, verbose_name=_("capture method")
    )
    confirmation_method = models.CharField(max_length=16, default="automatic", verbose_name=_("confirmation method"))
    setup_future_usage = models.CharField(max_length=16, blank=True, verbose_name=_("setup future usage"))
    receipt_email = models.CharField(max_length=800, blank=True, verbose_name=_("receipt email"))
    statement_descriptor = models.CharField(max_length=22, blank=True, verbose_name=_("statement descriptor"))
    last_payment_error = models.JSONField(null=True, blank=True, verbose_name=_("last payment error"))
    # The confirm's off_session flag, kept for the answer that arrives later (authentication, processing).
    off_session = models.BooleanField(default=False, verbose_name=_("off session"))

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["created"], condition=models.Q(status="processing"), name="pi_processing_created"),
            # The processor's webhooks find the payment by its reference.
            models.Index(fields=["processor_reference"], name="pi_processor_reference"),
        ]
        verbose_name = _("payment intent")
        verbose_name_plural = _("payment intents")


class SetupIntent(IntentBase):
    class Status(models.TextChoices):
        REQUIRES_PAYMENT_METHOD = "requires_payment_method", _("Requires payment method")
        REQUIRES_CONFIRMATION = "requires_confirmation", _("Requires confirmation")
        REQUIRES_ACTION = "requires_action", _("Requires action")
        PROCESSING = "processing", _("Processing")
        SUCCEEDED = "succeeded", _("Succeeded")
        CANCELED = "canceled", _("Canceled")

    OPEN = (Status.REQUIRES_PAYMENT_METHOD, Status.REQUIRES_CONFIRMATION, Status.REQUIRES_ACTION)

    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("setup_intent"), editable=False, verbose_name=_("id")
    )
    status = models.CharField(
        max_length=32, choices=Status.choices, default=Status.REQUIRES_PAYMENT_METHOD, verbose_name=_("status")
    )
    usage = models.CharField(max_length=16, default="off_session", verbose_name=_("usage"))
    last_setup_error = models.JSONField(null=True, blank=True, verbose_name=_("last setup error"))

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["processor_reference"], name="seti_processor_reference")]
        verbose_name = _("setup intent")
        verbose_name_plural = _("setup intents")


class Refund(TenantModel):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        REQUIRES_ACTION = "requires_action", _("Requires action")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELED = "canceled", _("Canceled")

    class Reason(models.TextChoices):
        DUPLICATE = "duplicate", _("Duplicate")
        FRAUDULENT = "fraudulent", _("Fraudulent")
        REQUESTED_BY_CUSTOMER = "requested_by_customer", _("Requested by customer")

    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("refund"), editable=False, verbose_name=_("id")
    )
    charge = models.ForeignKey(
        "billing.Charge", on_delete=models.PROTECT, related_name="refunds", verbose_name=_("charge")
    )
    payment_intent = models.ForeignKey(
        PaymentIntent,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="refunds",
        verbose_name=_("payment intent"),
    )
    amount = models.BigIntegerField(verbose_name=_("amount"))
    currency = models.CharField(max_length=3, verbose_name=_("currency"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, verbose_name=_("status"))
    reason = models.CharField(max_length=32, choices=Reason.choices, blank=True, verbose_name=_("reason"))
    failure_reason = models.CharField(max_length=64, blank=True, verbose_name=_("failure reason"))
    description = models.CharField(max_length=1000, blank=True, verbose_name=_("description"))
    metadata = models.JSONField(default=dict, blank=True, verbose_name=_("metadata"))
    processor_reference = models.CharField(max_length=200, blank=True, verbose_name=_("processor reference"))
    idempotency_key = models.CharField(
        max_length=100, unique=True, null=True, blank=True, verbose_name=_("idempotency key")
    )

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["processor_reference"], name="refund_processor_reference")]
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")

    def __str__(self) -> str:
        return self.id
