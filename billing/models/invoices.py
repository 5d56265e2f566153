"""Invoices, their line items, and pending invoice items (prorations waiting for the next invoice)."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from billing import ids
from billing.models.base import TenantModel
from billing.models.clocks import customer_test_clock


class InvoiceQuerySet(models.QuerySet):
    def finalized(self):
        return self.exclude(status=Invoice.Status.DRAFT)

    def due_for_retry(self, moment):
        return self.filter(
            status=Invoice.Status.OPEN,
            collection_method="charge_automatically",
            next_payment_attempt__isnull=False,
            next_payment_attempt__lte=moment,
        )


class Invoice(TenantModel):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        OPEN = "open", pgettext_lazy("invoice status", "Open")
        PAID = "paid", pgettext_lazy("invoice status", "Paid")
        VOID = "void", pgettext_lazy("invoice status", "Void")
        UNCOLLECTIBLE = "uncollectible", pgettext_lazy("invoice status", "Uncollectible")

    class BillingReason(models.TextChoices):
        SUBSCRIPTION_CREATE = "subscription_create", _("Subscription created")
        SUBSCRIPTION_CYCLE = "subscription_cycle", _("Renewal")
        SUBSCRIPTION_UPDATE = "subscription_update", _("Subscription changed")
        MANUAL = "manual", _("Manual")

    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("invoice"), editable=False, verbose_name=_("id")
    )
    customer = models.ForeignKey(
        "billing.Customer", on_delete=models.PROTECT, related_name="invoices", verbose_name=_("customer")
    )
    test_clock = customer_test_clock()
    subscription = models.ForeignKey(
        "billing.Subscription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoices",
        verbose_name=_("subscription"),
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True, verbose_name=_("status")
    )
    number = models.CharField(max_length=32, blank=True, verbose_name=_("number"))
    currency = models.CharField(max_length=3, verbose_name=_("currency"))
    billing_reason = models.CharField(
        max_length=24, choices=BillingReason.choices, default=BillingReason.MANUAL, verbose_name=_("billing reason")
    )
    collection_method = models.CharField(
        max_length=24,
        default="charge_automatically",
        choices=[("charge_automatically", _("Charge automatically")), ("send_invoice", _("Send invoice"))],
        verbose_name=_("collection method"),
    )
    auto_advance = models.BooleanField(default=True, verbose_name=_("auto advance"))
    period_start = models.DateTimeField(verbose_name=_("period start"))
    period_end = models.DateTimeField(verbose_name=_("period end"))
    due_date = models.DateTimeField(null=True, blank=True, verbose_name=_("due date"))
    subtotal = models.BigIntegerField(default=0, verbose_name=_("subtotal"))
    total_discount = models.BigIntegerField(default=0, verbose_name=_("total discount"))
    total_excluding_tax = models.BigIntegerField(default=0, verbose_name=_("total excluding tax"))
    tax = models.BigIntegerField(default=0, verbose_name=_("tax"))
    total = models.BigIntegerField(default=0, verbose_name=_("total"))
    starting_balance = models.BigIntegerField(default=0, verbose_name=_("starting balance"))
    ending_balance = models.BigIntegerField(null=True, blank=True, verbose_name=_("ending balance"))
    amount_due = models.BigIntegerField(default=0, verbose_name=_("amount due"))
    amount_paid = models.BigIntegerField(default=0, verbose_name=_("amount paid"))
    amount_remaining = models.BigIntegerField(default=0, verbose_name=_("amount remaining"))
    attempt_count = models.PositiveIntegerField(default=0, verbose_name=_("attempt count"))
    attempted = models.BooleanField(default=False, verbose_name=_("attempted"))
    next_payment_attempt = models.DateTimeField(
        null=True, blank=True, db_index=True, verbose_name=_("next payment attempt")
    )
    first_failed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("first failed at"))
    default_payment_method = models.ForeignKey(
        "billing.PaymentMethod",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("default payment method"),
    )
    finalized_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finalized at"))
    paid_at = models.DateTimeField(null=True, blank=True, verbose_name=_("paid at"))
    voided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("voided at"))
    marked_uncollectible_at = models.DateTimeField(null=True, blank=True, verbose_name=_("marked uncollectible at"))
    # 256-bit secret behind the hosted invoice page and PDF links.
    hosted_token = models.CharField(
        max_length=64, unique=True, default=ids.new_token, editable=False, verbose_name=_("hosted token")
    )
    # Snapshot of who was billed, fixed at finalization.
    customer_name = models.CharField(max_length=256, blank=True, verbose_name=_("customer name"))
    customer_email = models.CharField(max_length=254, blank=True, verbose_name=_("customer email"))
    customer_address = models.JSONField(null=True, blank=True, verbose_name=_("customer address"))
    metadata = models.JSONField(default=dict, blank=True, verbose_name=_("metadata"))
    description = models.CharField(max_length=1500, blank=True, verbose_name=_("description"))
    # The discounts (di_…) applied to the invoice, in order: Stripe's expandable ``discounts``.
    discount_ids = models.JSONField(default=list, blank=True, verbose_name=_("discount ids"))

    objects = InvoiceQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["customer", "status"], name="invoice_customer_status")]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "livemode", "number"], condition=~models.Q(number=""), name="invoice_unique_number"
            ),
            models.CheckConstraint(condition=models.Q(amount_due__gte=0), name="invoice_amount_due_not_negative"),
        ]
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")

    def __str__(self) -> str:
        return self.number or self.id

    @property
    def payment_method_types(self) -> list[str] | None:
        """The payment method types that may pay this invoice (its subscription's
        ``payment_settings.payment_method_types``); None: any the customer has."""
        if not self.subscription_id:
            return None
        return self.subscription.payment_settings.get("payment_method_types") or None

    def can_be_paid_with(self, payment_method) -> bool:
        """Whether ``payment_method`` may pay this invoice: a type its settings allow, in a currency it can pay."""
        types = self.payment_method_types
        return (
            payment_method is not None
            and payment_method.can_charge(self.currency)
            and (types is None or payment_method.type in types)
        )

    @property
    def is_finalized(self) -> bool:
        return self.status != self.Status.DRAFT


class InvoiceItem(TenantModel):
    """A pending charge or credit (e.g. a proration) that the customer's next invoice picks up."""

    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("invoice_item"), editable=False, verbose_name=_("id")
    )
    customer = models.ForeignKey(
        "billing.Customer", on_delete=models.CASCADE, related_name="invoice_items", verbose_name=_("customer")
    )
    test_clock = customer_test_clock()
    subscription = models.ForeignKey(
        "billing.Subscription",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="invoice_items",
        verbose_name=_("subscription"),
    )
    price = models.ForeignKey(
        "billing.Price", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("price")
    )
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.SET_NULL, related_name="items", verbose_name=_("invoice")
    )
    description = models.CharField(max_length=500, verbose_name=_("description"))
    amount = models.BigIntegerField(verbose_name=_("amount"))
    currency = models.CharField(max_length=3, verbose_name=_("currency"))
    quantity = models.PositiveIntegerField(default=1, verbose_name=_("quantity"))
    proration = models.BooleanField(default=False, verbose_name=_("proration"))
    tax_rate = models.ForeignKey(
        "billing.TaxRate", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("tax rate")
    )
    period_start = models.DateTimeField(verbose_name=_("period start"))
    period_end = models.DateTimeField(verbose_name=_("period end"))
    discountable = models.BooleanField(default=True, verbose_name=_("discountable"))
    metadata = models.JSONField(default=dict, blank=True, verbose_name=_("metadata"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("invoice item")
        verbose_name_plural = _("invoice items")

    def __str__(self) -> str:
        return self.description

    @property
    def is_pending(self) -> bool:
        """Not yet on an invoice: the customer's next invoice picks it up."""
        return self.invoice_id is None


class InvoiceLineItem(TenantModel):
    class Type(models.TextChoices):
        SUBSCRIPTION = "subscription", _("Subscription")
        INVOICEITEM = "invoiceitem", _("Invoice item")

    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("invoice_line_item"), editable=False, verbose_name=_("id")
    )
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines", verbose_name=_("invoice"))
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.SUBSCRIPTION, verbose_name=_("type"))
    subscription = models.ForeignKey(
        "billing.Subscription",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("subscription"),
    )
    subscription_item = models.ForeignKey(
        "billing.SubscriptionItem",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("subscription item"),
    )
    invoice_item = models.ForeignKey(
        InvoiceItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("invoice item")
    )
    price = models.ForeignKey(
        "billing.Price", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("price")
    )
    description = models.CharField(max_length=500, verbose_name=_("description"))
    quantity = models.PositiveIntegerField(default=1, verbose_name=_("quantity"))
    # Amount before discounts; for an inclusive tax rate the tax is inside it.
    amount = models.BigIntegerField(verbose_name=_("amount"))
    discount_amount = models.BigIntegerField(default=0, verbose_name=_("discount amount"))
    tax_amount = models.BigIntegerField(default=0, verbose_name=_("tax amount"))
    tax_rate = models.ForeignKey(
        "billing.TaxRate", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("tax rate")
    )
    tax_inclusive = models.BooleanField(default=False, verbose_name=_("tax inclusive"))
    taxable_amount = models.BigIntegerField(default=0, verbose_name=_("taxable amount"))
    currency = models.CharField(max_length=3, verbose_name=_("currency"))
    proration = models.BooleanField(default=False, verbose_name=_("proration"))
    period_start = models.DateTimeField(verbose_name=_("period start"))
    period_end = models.DateTimeField(verbose_name=_("period end"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("invoice line item")
        verbose_name_plural = _("invoice line items")

    def __str__(self) -> str:
        return self.description
