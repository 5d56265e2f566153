"""Tenant-scoped reads. Every function takes the tenant (and, for the portal, the customer)."""

import functools
import hmac

from django.db.models import OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from billing.exceptions import NotFound
from billing.models import Account, Charge, Customer, Invoice, PaymentMethod, Subscription


def _get(queryset, pk: str, label: str):
    try:
        return queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError):
        raise NotFound(f"No such {label}: '{pk}'", param="id")


def invoices_with_refunds(queryset: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """Each invoice with ``amount_charged`` and ``amount_refunded``, the sums over its succeeded charges (refunds
    leave a paid invoice paid, as at Stripe: this is what tells "Refunded" from "Partially refunded"). Two
    subqueries in the same SELECT, so a page of invoices is still one query."""
    return queryset.annotate(**_refund_totals())


@functools.cache
def _refund_totals() -> dict[str, Coalesce]:
    """Built once: ``annotate()`` resolves copies of these expressions, never the expressions themselves."""
    charges = Charge.objects.filter(invoice=OuterRef("pk"), status=Charge.Status.SUCCEEDED).order_by()
    grouped = charges.values("invoice")

    def total(field: str) -> Coalesce:
        return Coalesce(Subquery(grouped.annotate(total=Sum(field)).values("total")[:1]), Value(0))

    return {"amount_charged": total("amount"), "amount_refunded": total("amount_refunded")}


def customer_get_for_account(*, account_id: str, livemode: bool, customer_id: str) -> Customer:
    """A customer of the account in the mode (not deleted), with its account; NotFound for anything else."""
    customers = Customer.objects.select_related("account").filter(account_id=account_id, livemode=livemode)
    return _get(customers.filter(deleted=False), customer_id, "customer")


def subscription_get_for_customer(*, customer: Customer, subscription_id: str) -> Subscription:
    return _get(Subscription.objects.filter(customer=customer), subscription_id, "subscription")


def invoice_get_for_customer(*, customer: Customer, invoice_id: str) -> Invoice:
    return _get(Invoice.objects.filter(customer=customer), invoice_id, "invoice")


def payment_method_get_for_customer(*, customer: Customer, payment_method_id: str) -> PaymentMethod:
    return _get(PaymentMethod.objects.filter(customer=customer), payment_method_id, "payment method")


def invoice_get_by_hosted_token(*, token: str) -> Invoice:
    """The hosted invoice page: the 256-bit token is the capability; drafts are never shown."""
    try:
        return (
            invoices_with_refunds(Invoice.objects.finalized())
            .select_related("account", "customer", "subscription")
            .prefetch_related("lines__price__product", "lines__tax_rate", "charges__payment_method")
            .get(hosted_token=token)
        )
    except Invoice.DoesNotExist:
        raise NotFound("No such invoice.")


def accounts_for_user(user):
    if user.is_superuser:
        return Account.objects.all()
    return Account.objects.filter(memberships__user=user)


def tax_id_get_for_customer(*, customer: Customer, tax_id_id: str):
    """One of the customer's tax ids; someone else's answers NotFound like a missing one."""
    return _get(customer.tax_ids.all(), tax_id_id, "tax id")


def intent_get_by_client_secret(*, intent_id: str, client_secret: str):
    """A PaymentIntent or SetupIntent reached through its client secret (the customer's browser holds it, as
    Stripe.js does); compared in constant time. NotFound for anything else."""
    from billing.models import PaymentIntent, SetupIntent

    model = PaymentIntent if intent_id.startswith("pi_") else SetupIntent if intent_id.startswith("seti_") else None
    intent = (
        model.objects.select_related("account", "payment_method", "customer").filter(pk=intent_id).first()
        if model is not None and "\x00" not in intent_id
        else None
    )
    if intent is None or not hmac.compare_digest(intent.client_secret.encode(), (client_secret or "").encode()):
        raise NotFound("No such intent.")
    return intent
