"""Customers of a merchant and their tax ids."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from billing import ids, tax_ids
from billing.models.base import TenantModel


class Customer(TenantModel):
    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("customer"), editable=False, verbose_name=_("id")
    )
    email = models.EmailField(blank=True, db_index=True, verbose_name=_("email"))
    name = models.CharField(max_length=256, blank=True, verbose_name=_("name"))
    phone = models.CharField(max_length=32, blank=True, verbose_name=_("phone"))
    description = models.CharField(max_length=500, blank=True, verbose_name=_("description"))
    # Stripe's address shape: line1, line2, city, state, postal_code, country.
    address = models.JSONField(null=True, blank=True, verbose_name=_("address"))
    # {name, phone, address{...}}
    shipping = models.JSONField(null=True, blank=True, verbose_name=_("shipping"))
    preferred_locales = models.JSONField(default=list, blank=True, verbose_name=_("preferred locales"))
    # The payment processor's id of this customer (Stripe's cus_…, Mollie's cst_…), once it has one.
    processor_reference = models.CharField(max_length=200, blank=True, verbose_name=_("processor reference"))
    default_payment_method = models.ForeignKey(
        "billing.PaymentMethod",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("default payment method"),
    )
    # Negative balance is credit the customer has with the merchant (Stripe's sign convention).
    balance = models.BigIntegerField(default=0, verbose_name=_("balance"))
    currency = models.CharField(max_length=3, blank=True, verbose_name=_("currency"))
    metadata = models.JSONField(default=dict, blank=True, verbose_name=_("metadata"))
    # Stripe's delete: the row stays (invoices, charges and events refer to it) but the API answers
    # the deleted stub for it and treats it as missing everywhere else.
    deleted = models.BooleanField(default=False, verbose_name=_("deleted"))
    # A test-mode customer created on a test clock lives in the clock's time: only the clock's advance bills it.
    test_clock = models.ForeignKey(
        "billing.TestClock",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="customers",
        verbose_name=_("test clock"),
    )

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["account", "livemode", "email"], name="customer_tenant_email")]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")

    def __str__(self) -> str:
        return self.email or self.name or self.id

    @property
    def display_name(self) -> str:
        return self.name or self.email or self.id


class TaxId(TenantModel):
    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("tax_id"), editable=False, verbose_name=_("id")
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="tax_ids", verbose_name=_("customer"))
    type = models.CharField(
        max_length=16, choices=tax_ids.TYPE_CHOICES, verbose_name=_("type")
    )  # Stripe's, as billing.tax_ids checks them
    value = models.CharField(max_length=64, verbose_name=_("value"))
    country = models.CharField(max_length=2, blank=True, verbose_name=_("country"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("tax id")
        verbose_name_plural = _("tax ids")

    def __str__(self) -> str:
        return self.value


class CustomerBalanceTransaction(TenantModel):
    """One change of a customer's balance (Stripe's ``customer_balance_transaction``): the ledger behind
    ``Customer.balance``. Negative amounts are credit for the customer, as the balance itself."""

    class Type(models.TextChoices):
        ADJUSTMENT = "adjustment", _("Adjustment")
        APPLIED_TO_INVOICE = "applied_to_invoice", _("Applied to invoice")
        UNAPPLIED_FROM_INVOICE = "unapplied_from_invoice", _("Unapplied from invoice")

    id = models.CharField(
        primary_key=True,
        max_length=40,
        default=ids.factory("customer_balance_transaction"),
        editable=False,
        verbose_name=_("id"),
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="balance_transactions", verbose_name=_("customer")
    )
    type = models.CharField(max_length=32, choices=Type.choices, verbose_name=_("type"))
    amount = models.BigIntegerField(verbose_name=_("amount"))
    currency = models.CharField(max_length=3, blank=True, verbose_name=_("currency"))
    ending_balance = models.BigIntegerField(verbose_name=_("ending balance"))
    # The invoice it belongs to (its id; the invoice may be written later in the same transaction).
    invoice_id = models.CharField(max_length=40, blank=True, verbose_name=_("invoice id"))
    description = models.CharField(max_length=350, blank=True, verbose_name=_("description"))
    metadata = models.JSONField(default=dict, blank=True, verbose_name=_("metadata"))

    class Meta:
        ordering = ["-id"]
        verbose_name = _("customer balance transaction")
        verbose_name_plural = _("customer balance transactions")

    def __str__(self) -> str:
        return f"{self.customer_id} {self.amount:+d}"
