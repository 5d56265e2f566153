"""Products, their prices, and tax rates."""

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing import ids
from billing.models.base import TenantModel


class Product(TenantModel):
    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("product"), editable=False, verbose_name=_("id")
    )
    name = models.CharField(max_length=250, verbose_name=_("name"))
    description = models.TextField(blank=True, verbose_name=_("description"))
    active = models.BooleanField(default=True, verbose_name=_("active"))
    updated = models.DateTimeField(auto_now=True, verbose_name=_("updated"))
    metadata = models.JSONField(default=dict, blank=True, verbose_name=_("metadata"))

    class Meta:
        ordering = ["-id"]
        verbose_name = _("product")
        verbose_name_plural = _("products")

    def __str__(self) -> str:
        return self.name


class Price(TenantModel):
    class Type(models.TextChoices):
        ONE_TIME = "one_time", _("One-time")
        RECURRING = "recurring", _("Recurring")

    class Interval(models.TextChoices):
        DAY = "day", _("Day")
        WEEK = "week", _("Week")
        MONTH = "month", _("Month")
        YEAR = "year", _("Year")

    class UsageType(models.TextChoices):
        LICENSED = "licensed", _("Licensed")
        METERED = "metered", _("Metered")

    class TaxBehavior(models.TextChoices):
        EXCLUSIVE = "exclusive", _("Exclusive")
        INCLUSIVE = "inclusive", _("Inclusive")
        UNSPECIFIED = "unspecified", _("Unspecified")

    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("price"), editable=False, verbose_name=_("id")
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="prices", verbose_name=_("product"))
    active = models.BooleanField(default=True, verbose_name=_("active"))
    currency = models.CharField(max_length=3, verbose_name=_("currency"))
    unit_amount = models.BigIntegerField(null=True, blank=True, verbose_name=_("unit amount"))
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.RECURRING, verbose_name=_("type"))
    recurring_interval = models.CharField(
        max_length=8, choices=Interval.choices, blank=True, verbose_name=_("recurring interval")
    )
    recurring_interval_count = models.PositiveIntegerField(default=1, verbose_name=_("recurring interval count"))
    recurring_usage_type = models.CharField(
        max_length=16, choices=UsageType.choices, default=UsageType.LICENSED, verbose_name=_("recurring usage type")
    )
    tax_behavior = models.CharField(
        max_length=16, choices=TaxBehavior.choices, default=TaxBehavior.UNSPECIFIED, verbose_name=_("tax behavior")
    )
    nickname = models.CharField(max_length=250, blank=True, verbose_name=_("nickname"))
    lookup_key = models.CharField(max_length=200, blank=True, verbose_name=_("lookup key"))
    metadata = models.JSONField(default=dict, blank=True, verbose_name=_("metadata"))
    # A metered price bills its meter's usage in arrears; a metered price made before meters existed has none and
    # bills 0.
    meter = models.ForeignKey(
        "billing.Meter", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("meter")
    )

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
        verbose_name = _("price")
        verbose_name_plural = _("prices")

    def __str__(self) -> str:
        # In the active language, as the admin shows it: "Alpha Plan: 10,00 € pro Monat".
        from billing.templatetags.billing_format import money, recurring_price

        if self.type == self.Type.RECURRING:
            return f"{self.product.name}: {recurring_price(self)}"
        return f"{self.product.name}: {money(self.unit_amount or 0, self.currency)}"

    @property
    def is_recurring(self) -> bool:
        return self.type == self.Type.RECURRING

    @property
    def is_metered(self) -> bool:
        return self.is_recurring and self.recurring_usage_type == self.UsageType.METERED


class TaxRate(TenantModel):
    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("tax_rate"), editable=False, verbose_name=_("id")
    )
    display_name = models.CharField(max_length=50, verbose_name=_("display name"))
    description = models.CharField(max_length=500, blank=True, verbose_name=_("description"))
    percentage = models.DecimalField(max_digits=7, decimal_places=4, verbose_name=_("percentage"))
    inclusive = models.BooleanField(default=False, verbose_name=_("inclusive"))
    active = models.BooleanField(default=True, verbose_name=_("active"))
    country = models.CharField(max_length=2, blank=True, verbose_name=_("country"))
    jurisdiction = models.CharField(max_length=50, blank=True, verbose_name=_("jurisdiction"))
    metadata = models.JSONField(default=dict, blank=True, verbose_name=_("metadata"))

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(percentage__gte=0, percentage__lte=100), name="tax_rate_percentage_range"
            )
        ]
        verbose_name = _("tax rate")
        verbose_name_plural = _("tax rates")

    def __str__(self) -> str:
        from billing.templatetags.billing_format import percentage

        values = {"name": self.display_name, "percentage": percentage(self.percentage)}
        if self.inclusive:
            return gettext("%(name)s %(percentage)s (incl.)") % values
        return gettext("%(name)s %(percentage)s (excl.)") % values
