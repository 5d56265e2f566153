"""Billing models, one module per aggregate."""

from billing.models.accounts import Account, ApiKey, InvoiceCounter, Membership
from billing.models.catalog import Price, Product, TaxRate
from billing.models.clocks import TestClock
from billing.models.customers import Customer, CustomerBalanceTransaction, TaxId
from billing.models.discounts import Coupon, Discount, PromotionCode
from billing.models.events import AuditEntry, Event
from billing.models.intents import Mandate, PaymentIntent, Refund, SetupIntent
from billing.models.invoices import Invoice, InvoiceItem, InvoiceLineItem
from billing.models.meters import Meter, MeterEvent
from billing.models.payments import Charge, PaymentMethod
from billing.models.processors import ProcessorAccount, ProcessorEventReceipt
from billing.models.subscriptions import BillingCycleRun, CancellationOfferOutcome, Subscription, SubscriptionItem

__all__ = [
    "Account",
    "ApiKey",
    "BillingCycleRun",
    "CancellationOfferOutcome",
    "AuditEntry",
    "Charge",
    "Coupon",
    "Customer",
    "CustomerBalanceTransaction",
    "Discount",
    "Event",
    "Invoice",
    "InvoiceCounter",
    "InvoiceItem",
    "InvoiceLineItem",
    "Mandate",
    "Membership",
    "Meter",
    "MeterEvent",
    "PaymentIntent",
    "PaymentMethod",
    "Price",
    "ProcessorAccount",
    "ProcessorEventReceipt",
    "Product",
    "PromotionCode",
    "Refund",
    "SetupIntent",
    "Subscription",
    "SubscriptionItem",
    "TaxId",
    "TaxRate",
    "TestClock",
]
