"""Coupons, promotion codes that reach them, and discounts applied to customers' subscriptions."""

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing import ids
from billing.models.base import TenantModel


class Coupon(TenantModel):
    class Duration(models.TextChoices):
        ONCE = "once", _("Once")
        REPEATING = "repeating", _("Repeating")
        FOREVER = "forever", _("Forever")

    # Stripe lets merchants choose coupon ids, so the public id is unique per account and mode only.
    coupon_id = models.CharField("ID", max_length=64)
    name = models.CharField(max_length=40, blank=True, verbose_name=_("name"))
    percent_off = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, verbose_name=_("percent off")
    )
    amount_off = models.BigIntegerField(null=True, blank=True, verbose_name=_("amount off"))
    currency = models.CharField(max_length=3, blank=True, verbose_name=_("currency"))
    duration = models.CharField(
        max_length=16, choices=Duration.choices, default=Duration.ONCE, verbose_name=_("duration")
    )
    duration_in_months = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("duration in months"))
    max_redemptions = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("max redemptions"))
    times_redeemed = models.PositiveIntegerField(default=0, verbose_name=_("times redeemed"))
    redeem_by = models.DateTimeField(null=True, blank=True, verbose_name=_("redeem by"))
    metadata = models.JSONField(default=dict, blank=True, verbose_name=_("metadata"))
    # Deleting a coupon hides it from the API and stops new redemptions; discounts already applied keep it.
    deleted = models.BooleanField(default=False, verbose_name=_("deleted"))

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
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")

    def __str__(self) -> str:
        return self.name or self.coupon_id

    def is_valid_at(self, moment) -> bool:
        if self.deleted:
            return False
        if self.redeem_by and moment > self.redeem_by:
            return False
        return not (self.max_redemptions is not None and self.times_redeemed >= self.max_redemptions)


class PromotionCode(TenantModel):
    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("promotion_code"), editable=False, verbose_name=_("id")
    )
    coupon = models.ForeignKey(
        Coupon, on_delete=models.PROTECT, related_name="promotion_codes", verbose_name=_("coupon")
    )
    code = models.CharField(max_length=64, verbose_name=_("code"))
    active = models.BooleanField(default=True, verbose_name=_("active"))
    customer = models.ForeignKey(
        "billing.Customer", null=True, blank=True, on_delete=models.CASCADE, verbose_name=_("customer")
    )
    max_redemptions = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("max redemptions"))
    times_redeemed = models.PositiveIntegerField(default=0, verbose_name=_("times redeemed"))
    expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("expires at"))
    first_time_transaction = models.BooleanField(default=False, verbose_name=_("first time transaction"))
    minimum_amount = models.BigIntegerField(null=True, blank=True, verbose_name=_("minimum amount"))
    minimum_amount_currency = models.CharField(max_length=3, blank=True, verbose_name=_("minimum amount currency"))
    metadata = models.JSONField(default=dict, blank=True, verbose_name=_("metadata"))

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "livemode", "code"],
                condition=models.Q(active=True),
                name="promotion_code_unique_active_code",
            )
        ]
        verbose_name = _("promotion code")
        verbose_name_plural = _("promotion codes")

    def __str__(self) -> str:
        return self.code


class Discount(TenantModel):
    """A coupon in effect for a subscription from ``start`` until ``end`` (null: forever)."""

    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("discount"), editable=False, verbose_name=_("id")
    )
    customer = models.ForeignKey(
        "billing.Customer", on_delete=models.CASCADE, related_name="discounts", verbose_name=_("customer")
    )
    subscription = models.ForeignKey(
        "billing.Subscription",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="discounts",
        verbose_name=_("subscription"),
    )
    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="discounts", verbose_name=_("coupon"))
    promotion_code = models.ForeignKey(
        PromotionCode, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("promotion code")
    )
    start = models.DateTimeField(verbose_name=_("start"))
    end = models.DateTimeField(null=True, blank=True, verbose_name=_("end"))
    # A "once" coupon is spent on the first invoice it discounts.
    used = models.BooleanField(default=False, verbose_name=_("used"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("discount")
        verbose_name_plural = _("discounts")

    def __str__(self) -> str:
        return gettext("%(coupon)s on %(target)s") % {
            "coupon": self.coupon,
            "target": self.subscription_id or self.customer_id,
        }

    def applies_at(self, moment) -> bool:
        if self.used:
            return False
        return self.start <= moment and (self.end is None or moment < self.end)
