"""Invoices, their line items, and pending invoice items (prorations waiting for the next invoice)."""

from django.db import models

from billing import ids
from billing.models.base import TenantModel


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
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        PAID = "paid", "Paid"
        VOID = "void", "Void"
        UNCOLLECTIBLE = "uncollectible", "Uncollectible"

    class BillingReason(models.TextChoices):
        SUBSCRIPTION_CREATE = "subscription_create", "Subscription created"
        SUBSCRIPTION_CYCLE = "subscription_cycle", "Renewal"
        SUBSCRIPTION_UPDATE = "subscription_update", "Subscription changed"
        MANUAL = "manual", "Manual"

    id = models.CharField(primary_key=True, max_length=40, default=ids.factory("invoice"), editable=False)
    customer = models.ForeignKey("billing.Customer", on_delete=models.PROTECT, related_name="invoices")
    # The customer's test clock, copied when the row is made (a customer never changes clocks): Stripe's
    # ``test_clock``, rendered without a look-up of the customer.
    test_clock = models.ForeignKey(
        "billing.TestClock", null=True, blank=True, editable=False, on_delete=models.PROTECT, related_name="+"
    )
    subscription = models.ForeignKey(
        "billing.Subscription", null=True, blank=True, on_delete=models.PROTECT, related_name="invoices"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    number = models.CharField(max_length=32, blank=True)
    currency = models.CharField(max_length=3)
    billing_reason = models.CharField(max_length=24, choices=BillingReason.choices, default=BillingReason.MANUAL)
    collection_method = models.CharField(max_length=24, default="charge_automatically")
    auto_advance = models.BooleanField(default=True)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    due_date = models.DateTimeField(null=True, blank=True)
    subtotal = models.BigIntegerField(default=0)
    total_discount = models.BigIntegerField(default=0)
    total_excluding_tax = models.BigIntegerField(default=0)
    tax = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    starting_balance = models.BigIntegerField(default=0)
    ending_balance = models.BigIntegerField(null=True, blank=True)
    amount_due = models.BigIntegerField(default=0)
    amount_paid = models.BigIntegerField(default=0)
    amount_remaining = models.BigIntegerField(default=0)
    attempt_count = models.PositiveIntegerField(default=0)
    attempted = models.BooleanField(default=False)
    next_payment_attempt = models.DateTimeField(null=True, blank=True, db_index=True)
    first_failed_at = models.DateTimeField(null=True, blank=True)
    default_payment_method = models.ForeignKey(
        "billing.PaymentMethod", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    finalized_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    marked_uncollectible_at = models.DateTimeField(null=True, blank=True)
    # 256-bit secret behind the hosted invoice page and PDF links.
    hosted_token = models.CharField(max_length=64, unique=True, default=ids.new_token, editable=False)
    # Snapshot of who was billed, fixed at finalization.
    customer_name = models.CharField(max_length=256, blank=True)
    customer_email = models.CharField(max_length=254, blank=True)
    customer_address = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    description = models.CharField(max_length=1500, blank=True)
    # The discounts (di_…) applied to the invoice, in order: Stripe's expandable ``discounts``.
    discount_ids = models.JSONField(default=list, blank=True)

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

    id = models.CharField(primary_key=True, max_length=40, default=ids.factory("invoice_item"), editable=False)
    customer = models.ForeignKey("billing.Customer", on_delete=models.CASCADE, related_name="invoice_items")
    # The customer's test clock, copied when the row is made (a customer never changes clocks): Stripe's
    # ``test_clock``, rendered without a look-up of the customer.
    test_clock = models.ForeignKey(
        "billing.TestClock", null=True, blank=True, editable=False, on_delete=models.PROTECT, related_name="+"
    )
    subscription = models.ForeignKey(
        "billing.Subscription", null=True, blank=True, on_delete=models.CASCADE, related_name="invoice_items"
    )
    price = models.ForeignKey("billing.Price", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.SET_NULL, related_name="items")
    description = models.CharField(max_length=500)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    quantity = models.PositiveIntegerField(default=1)
    proration = models.BooleanField(default=False)
    tax_rate = models.ForeignKey("billing.TaxRate", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    discountable = models.BooleanField(default=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.description

    @property
    def is_pending(self) -> bool:
        """Not yet on an invoice: the customer's next invoice picks it up."""
        return self.invoice_id is None


class InvoiceLineItem(TenantModel):
    class Type(models.TextChoices):
        SUBSCRIPTION = "subscription", "Subscription"
        INVOICEITEM = "invoiceitem", "Invoice item"

    id = models.CharField(primary_key=True, max_length=40, default=ids.factory("invoice_line_item"), editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.SUBSCRIPTION)
    subscription = models.ForeignKey(
        "billing.Subscription", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subscription_item = models.ForeignKey(
        "billing.SubscriptionItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    invoice_item = models.ForeignKey(InvoiceItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    price = models.ForeignKey("billing.Price", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    description = models.CharField(max_length=500)
    quantity = models.PositiveIntegerField(default=1)
    # Amount before discounts; for an inclusive tax rate the tax is inside it.
    amount = models.BigIntegerField()
    discount_amount = models.BigIntegerField(default=0)
    tax_amount = models.BigIntegerField(default=0)
    tax_rate = models.ForeignKey("billing.TaxRate", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    tax_inclusive = models.BooleanField(default=False)
    taxable_amount = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    proration = models.BooleanField(default=False)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.description
