"""Customers of a merchant and their tax ids."""

from django.db import models

from billing import ids, tax_ids
from billing.models.base import TenantModel


class Customer(TenantModel):
    id = models.CharField(primary_key=True, max_length=40, default=ids.factory("customer"), editable=False)
    email = models.EmailField(blank=True, db_index=True)
    name = models.CharField(max_length=256, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    description = models.CharField(max_length=500, blank=True)
    # Stripe's address shape: line1, line2, city, state, postal_code, country.
    address = models.JSONField(null=True, blank=True)
    # {name, phone, address{...}}
    shipping = models.JSONField(null=True, blank=True)
    preferred_locales = models.JSONField(default=list, blank=True)
    # The payment processor's id of this customer (Stripe's cus_…, Mollie's cst_…), once it has one.
    processor_reference = models.CharField(max_length=200, blank=True)
    default_payment_method = models.ForeignKey(
        "billing.PaymentMethod", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Negative balance is credit the customer has with the merchant (Stripe's sign convention).
    balance = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Stripe's delete: the row stays (invoices, charges and events refer to it) but the API answers
    # the deleted stub for it and treats it as missing everywhere else.
    deleted = models.BooleanField(default=False)
    # A test-mode customer created on a test clock lives in the clock's time: only the clock's advance bills it.
    test_clock = models.ForeignKey(
        "billing.TestClock", null=True, blank=True, on_delete=models.PROTECT, related_name="customers"
    )

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["account", "livemode", "email"], name="customer_tenant_email")]

    def __str__(self) -> str:
        return self.email or self.name or self.id

    @property
    def display_name(self) -> str:
        return self.name or self.email or self.id


class TaxId(TenantModel):
    id = models.CharField(primary_key=True, max_length=40, default=ids.factory("tax_id"), editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="tax_ids")
    type = models.CharField(max_length=16, choices=tax_ids.TYPE_CHOICES)  # Stripe's, as billing.tax_ids checks them
    value = models.CharField(max_length=64)
    country = models.CharField(max_length=2, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.value


class CustomerBalanceTransaction(TenantModel):
    """One change of a customer's balance (Stripe's ``customer_balance_transaction``): the ledger behind
    ``Customer.balance``. Negative amounts are credit for the customer, as the balance itself."""

    class Type(models.TextChoices):
        ADJUSTMENT = "adjustment", "Adjustment"
        APPLIED_TO_INVOICE = "applied_to_invoice", "Applied to invoice"
        UNAPPLIED_FROM_INVOICE = "unapplied_from_invoice", "Unapplied from invoice"

    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("customer_balance_transaction"), editable=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="balance_transactions")
    type = models.CharField(max_length=32, choices=Type.choices)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3, blank=True)
    ending_balance = models.BigIntegerField()
    # The invoice it belongs to (its id; the invoice may be written later in the same transaction).
    invoice_id = models.CharField(max_length=40, blank=True)
    description = models.CharField(max_length=350, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.amount:+d}"
