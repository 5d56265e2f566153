"""A Checkout Session (Stripe's ``checkout.session``) and the line items it sells."""

import datetime as dt

from django.db import models

from billing import ids
from billing.models.base import TenantModel


def generate_checkout_session_id() -> str:
    return ids.generate("cs")


def generate_checkout_line_item_id() -> str:
    return ids.generate("li")


class CheckoutSession(TenantModel):
    class Mode(models.TextChoices):
        PAYMENT = "payment"
        SETUP = "setup"
        SUBSCRIPTION = "subscription"

    class Status(models.TextChoices):
        OPEN = "open"
        COMPLETE = "complete"
        EXPIRED = "expired"

    class PaymentStatus(models.TextChoices):
        PAID = "paid"
        UNPAID = "unpaid"
        NO_PAYMENT_REQUIRED = "no_payment_required"

    id = models.CharField(primary_key=True, max_length=40, default=generate_checkout_session_id, editable=False)
    mode = models.CharField(max_length=16, choices=Mode.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    payment_status = models.CharField(max_length=24, choices=PaymentStatus.choices, default=PaymentStatus.UNPAID)
    currency = models.CharField(max_length=3, blank=True)
    customer = models.ForeignKey("billing.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    customer_email = models.CharField(max_length=800, blank=True)
    customer_creation = models.CharField(max_length=16, blank=True)  # always | if_required ("" in other modes)
    # What the customer typed on the page: email, name, phone, address, tax_ids ([{type, value}]).
    customer_details = models.JSONField(null=True, blank=True)
    success_url = models.CharField(max_length=5000)
    cancel_url = models.CharField(max_length=5000, blank=True)
    allow_promotion_codes = models.BooleanField(null=True)
    coupon = models.ForeignKey("billing.Coupon", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    promotion_code = models.ForeignKey(
        "billing.PromotionCode", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # trial_period_days, metadata, description, default_tax_rates (ids)
    subscription_data = models.JSONField(default=dict, blank=True)
    payment_method_types = models.JSONField(default=list, blank=True)
    billing_address_collection = models.CharField(max_length=16, blank=True)  # auto | required
    tax_id_collection = models.BooleanField(default=False)
    phone_number_collection = models.BooleanField(default=False)
    consent_collection = models.JSONField(null=True, blank=True)  # {terms_of_service: required|none}
    consent = models.JSONField(null=True, blank=True)  # {terms_of_service: accepted}
    custom_text = models.JSONField(default=dict, blank=True)
    locale = models.CharField(max_length=8, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    client_reference_id = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField(db_index=True)
    amount_subtotal = models.BigIntegerField(null=True, blank=True)
    amount_discount = models.BigIntegerField(default=0)
    amount_tax = models.BigIntegerField(default=0)
    amount_total = models.BigIntegerField(null=True, blank=True)
    subscription = models.ForeignKey(
        "billing.Subscription", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    invoice = models.ForeignKey("billing.Invoice", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    payment_intent = models.ForeignKey(
        "billing.PaymentIntent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    setup_intent = models.ForeignKey(
        "billing.SetupIntent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The payment method of the attempt under way (a subscription's trial waits for its setup to succeed).
    payment_method = models.ForeignKey(
        "billing.PaymentMethod", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    # A delayed payment (SEPA) that failed after completion: checkout.session.async_payment_failed was sent.
    async_payment_failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "expires_at"], name="checkout_session_open_expiry")]

    def __str__(self) -> str:
        return self.id

    @property
    def trial_period_days(self) -> int | None:
        return self.subscription_data.get("trial_period_days")

    def is_expired_at(self, now: dt.datetime) -> bool:
        return self.status == self.Status.EXPIRED or (self.status == self.Status.OPEN and self.expires_at <= now)


class CheckoutLineItem(TenantModel):
    id = models.CharField(primary_key=True, max_length=40, default=generate_checkout_line_item_id, editable=False)
    session = models.ForeignKey(CheckoutSession, on_delete=models.CASCADE, related_name="line_items")
    price = models.ForeignKey("billing.Price", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(default=1)
    # {enabled, minimum, maximum} | null
    adjustable_quantity = models.JSONField(null=True, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.id

    @property
    def amount_subtotal(self) -> int:
        return (self.price.unit_amount or 0) * self.quantity
