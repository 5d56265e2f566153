"""Coupons, promotion codes that reach them, and discounts applied to customers' subscriptions."""

from django.db import models

from billing import ids
from billing.models.base import TenantModel


class Coupon(TenantModel):
    class Duration(models.TextChoices):
        ONCE = "once", "Once"
        REPEATING = "repeating", "Repeating"
        FOREVER = "forever", "Forever"

    # Stripe lets merchants choose coupon ids, so the public id is unique per account and mode only.
    coupon_id = models.CharField("ID", max_length=64)
    name = models.CharField(max_length=40, blank=True)
    percent_off = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    amount_off = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    duration = models.CharField(max_length=16, choices=Duration.choices, default=Duration.ONCE)
    duration_in_months = models.PositiveIntegerField(null=True, blank=True)
    max_redemptions = models.PositiveIntegerField(null=True, blank=True)
    times_redeemed = models.PositiveIntegerField(default=0)
    redeem_by = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Deleting a coupon hides it from the API and stops new redemptions; discounts already applied keep it.
    deleted = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["account", "livemode", "coupon_id"], name="coupon_unique_public_id"),
            models.CheckConstraint(
                condition=models.Q(percent_off__isnull=False, amount_off__isnull=True)
                | models.Q(percent_off__isnull=True, amount_off__isnull=False),
                name="coupon_percent_xor_amount",
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.coupon_id

    def is_valid_at(self, moment) -> bool:
        if self.deleted:
            return False
        if self.redeem_by and moment > self.redeem_by:
            return False
        return not (self.max_redemptions is not None and self.times_redeemed >= self.max_redemptions)


class PromotionCode(TenantModel):
    id = models.CharField(primary_key=True, max_length=40, default=ids.factory("promotion_code"), editable=False)
    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="promotion_codes")
    code = models.CharField(max_length=64)
    active = models.BooleanField(default=True)
    customer = models.ForeignKey("billing.Customer", null=True, blank=True, on_delete=models.CASCADE)
    max_redemptions = models.PositiveIntegerField(null=True, blank=True)
    times_redeemed = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)
    first_time_transaction = models.BooleanField(default=False)
    minimum_amount = models.BigIntegerField(null=True, blank=True)
    minimum_amount_currency = models.CharField(max_length=3, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "livemode", "code"],
                condition=models.Q(active=True),
                name="promotion_code_unique_active_code",
            )
        ]

    def __str__(self) -> str:
        return self.code


class Discount(TenantModel):
    """A coupon in effect for a subscription from ``start`` until ``end`` (null: forever)."""

    id = models.CharField(primary_key=True, max_length=40, default=ids.factory("discount"), editable=False)
    customer = models.ForeignKey("billing.Customer", on_delete=models.CASCADE, related_name="discounts")
    subscription = models.ForeignKey(
        "billing.Subscription", null=True, blank=True, on_delete=models.CASCADE, related_name="discounts"
    )
    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="discounts")
    promotion_code = models.ForeignKey(PromotionCode, null=True, blank=True, on_delete=models.SET_NULL)
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True)
    # A "once" coupon is spent on the first invoice it discounts.
    used = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.coupon} on {self.subscription_id or self.customer_id}"

    def applies_at(self, moment) -> bool:
        if self.used:
            return False
        return self.start <= moment and (self.end is None or moment < self.end)
