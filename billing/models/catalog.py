"""Products, their prices, and tax rates."""

from django.db import models

from billing import ids
from billing.models.base import TenantModel


class Product(TenantModel):
    id = models.CharField(primary_key=True, max_length=40, default=ids.factory("product"), editable=False)
    name = models.CharField(max_length=250)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    updated = models.DateTimeField(auto_now=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class Price(TenantModel):
    class Type(models.TextChoices):
        ONE_TIME = "one_time", "One-time"
        RECURRING = "recurring", "Recurring"

    class Interval(models.TextChoices):
        DAY = "day", "Day"
        WEEK = "week", "Week"
        MONTH = "month", "Month"
        YEAR = "year", "Year"

    class UsageType(models.TextChoices):
        LICENSED = "licensed", "Licensed"
        METERED = "metered", "Metered"

    class TaxBehavior(models.TextChoices):
        EXCLUSIVE = "exclusive", "Exclusive"
        INCLUSIVE = "inclusive", "Inclusive"
        UNSPECIFIED = "unspecified", "Unspecified"

    id = models.CharField(primary_key=True, max_length=40, default=ids.factory("price"), editable=False)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="prices")
    active = models.BooleanField(default=True)
    currency = models.CharField(max_length=3)
    unit_amount = models.BigIntegerField(null=True, blank=True)
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.RECURRING)
    recurring_interval = models.CharField(max_length=8, choices=Interval.choices, blank=True)
    recurring_interval_count = models.PositiveIntegerField(default=1)
    recurring_usage_type = models.CharField(max_length=16, choices=UsageType.choices, default=UsageType.LICENSED)
    tax_behavior = models.CharField(max_length=16, choices=TaxBehavior.choices, default=TaxBehavior.UNSPECIFIED)
    nickname = models.CharField(max_length=250, blank=True)
    lookup_key = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # A metered price bills its meter's usage in arrears; a metered price made before meters existed has none and
    # bills 0.
    meter = models.ForeignKey("billing.Meter", on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(type="one_time", recurring_interval="")
                | models.Q(type="recurring") & ~models.Q(recurring_interval=""),
                name="price_interval_matches_type",
            ),
            models.CheckConstraint(condition=models.Q(unit_amount__gte=0), name="price_unit_amount_not_negative"),
        ]

    def __str__(self) -> str:
        from billing.money import format_amount

        amount = format_amount(self.unit_amount or 0, self.currency)
        if self.type == self.Type.RECURRING:
            every = (
                self.recurring_interval
                if self.recurring_interval_count == 1
                else (f"{self.recurring_interval_count} {self.recurring_interval}s")
            )
            return f"{self.product.name}: {amount} / {every}"
        return f"{self.product.name}: {amount}"

    @property
    def is_recurring(self) -> bool:
        return self.type == self.Type.RECURRING

    @property
    def is_metered(self) -> bool:
        return self.is_recurring and self.recurring_usage_type == self.UsageType.METERED


class TaxRate(TenantModel):
    id = models.CharField(primary_key=True, max_length=40, default=ids.factory("tax_rate"), editable=False)
    display_name = models.CharField(max_length=50)
    description = models.CharField(max_length=500, blank=True)
    percentage = models.DecimalField(max_digits=7, decimal_places=4)
    inclusive = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    country = models.CharField(max_length=2, blank=True)
    jurisdiction = models.CharField(max_length=50, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(percentage__gte=0, percentage__lte=100), name="tax_rate_percentage_range"
            )
        ]

    def __str__(self) -> str:
        kind = "incl." if self.inclusive else "excl."
        return f"{self.display_name} {self.percentage.normalize()} % ({kind})"
