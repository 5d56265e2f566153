"""Invoice services: drafts with computed totals, finalize, pay (with dunning), void, uncollectible."""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from billing import audit, clock, pricing
from billing.audit import SYSTEM, Actor
from billing.exceptions import CardDeclined, InvalidRequest, StateConflict
from billing.gateways import get_gateway
from billing.models import (
    Account,
    Charge,
    Coupon,
    Customer,
    Invoice,
    InvoiceItem,
    InvoiceLineItem,
    PaymentMethod,
    Price,
    Subscription,
    SubscriptionItem,
    TaxRate,
)
from billing.services.common import emit, lock, render


@dataclass
class LineSpec:
    description: str
    amount: int
    period_start: dt.datetime
    period_end: dt.datetime
    quantity: int = 1
    price: Price | None = None
    subscription_item: SubscriptionItem | None = None
    invoice_item: InvoiceItem | None = None
    proration: bool = False
    tax_rate: TaxRate | None = None
    type: str = InvoiceLineItem.Type.SUBSCRIPTION


def coupon_terms(coupons: list[Coupon]) -> list[pricing.CouponTerms]:
    return [pricing.CouponTerms(percent_off=c.percent_off, amount_off=c.amount_off) for c in coupons]


def compute(lines: list[LineSpec], coupons: list[Coupon]) -> pricing.Totals:
    inputs = [
        pricing.LineInput(
            amount=line.amount,
            tax_percentage=line.tax_rate.percentage if line.tax_rate else None,
            tax_inclusive=bool(line.tax_rate and line.tax_rate.inclusive),
        )
        for line in lines
    ]
    return pricing.compute_totals(inputs, coupon_terms(coupons))


def invoice_create_draft(
    *,
    customer: Customer,
    subscription: Subscription | None,
    currency: str,
    billing_reason: str,
    period_start: dt.datetime,
    period_end: dt.datetime,
    lines: list[LineSpec],
    coupons: list[Coupon] = (),
    collection_method: str = Subscription.CollectionMethod.CHARGE_AUTOMATICALLY,
    days_until_due: int | None = None,
) -> Invoice:
    """A draft invoice with its lines and totals. Call inside the caller's transaction."""
    totals = compute(lines, list(coupons))
    now = clock.now()
    invoice = Invoice.objects.create(
        account_id=customer.account_id,
        livemode=customer.livemode,
        customer=customer,
        subscription=subscription,
        currency=currency,
        billing_reason=billing_reason,
        collection_method=collection_method,
        period_start=period_start,
        period_end=period_end,
        due_date=now + dt.timedelta(days=days_until_due) if days_until_due is not None else None,
        subtotal=totals.subtotal,
        total_discount=totals.total_discount,
        total_excluding_tax=totals.total_excluding_tax,
        tax=totals.tax,
        total=totals.total,
        amount_due=max(totals.total, 0),
        amount_remaining=max(totals.total, 0),
        default_payment_method=subscription.default_payment_method if subscription else None,
    )
    created_lines = InvoiceLineItem.objects.bulk_create(
        [
            InvoiceLineItem(
                account_id=invoice.account_id,
                livemode=invoice.livemode,
                invoice=invoice,
                type=spec.type,
                subscription=subscription,
                subscription_item=spec.subscription_item,
                invoice_item=spec.invoice_item,
                price=spec.price,
                description=spec.description[:500],
                quantity=spec.quantity,
                amount=result.amount,
                discount_amount=result.discount_amount,
                tax_amount=result.tax_amount,
                taxable_amount=result.taxable_amount,
                tax_rate=spec.tax_rate,
                tax_inclusive=bool(spec.tax_rate and spec.tax_rate.inclusive),
                currency=currency,
                proration=spec.proration,
                period_start=spec.period_start,
                period_end=spec.period_end,
            )
            for spec, result in zip(lines, totals.lines, strict=True)
        ]
    )
    # The lines are final: keep them as the invoice's prefetched lines so each event renders without queries.
    cached = InvoiceLineItem.objects.filter(invoice=invoice)
    cached._result_cache, cached._prefetch_done = created_lines, True
    invoice._prefetched_objects_cache = {"lines": cached}
    item_ids = [spec.invoice_item.pk for spec in lines if spec.invoice_item is not None]
    if item_ids:
        InvoiceItem.objects.filter(pk__in=item_ids).update(invoice=invoice)
    emit("invoice.created", invoice)
    return invoice


def _next_number(invoice: Invoice) -> str:
    account = Account.objects.select_for_update(no_key=True).get(pk=invoice.account_id)
    field = "next_invoice_number_live" if invoice.livemode else "next_invoice_number_test"
    sequence = getattr(account, field)
    setattr(account, field, sequence + 1)
    account.save(update_fields=[field])
    return f"{account.invoice_prefix}-{sequence:04d}"


def finalize_locked(invoice: Invoice) -> Invoice:
    """Draft -> open (or paid when nothing is due): number, customer snapshot, balance applied."""
    if invoice.status != Invoice.Status.DRAFT:
        raise StateConflict(f"This invoice is already finalized (status {invoice.status}).", param="invoice")
    customer = lock(Customer, invoice.customer_id)
    now = clock.now()
    invoice.number = _next_number(invoice)
    invoice.customer_name = customer.name
    invoice.customer_email = customer.email
    invoice.customer_address = customer.address
    invoice.starting_balance = customer.balance
    amount_due, new_balance = pricing.apply_balance(invoice.total, customer.balance)
    invoice.ending_balance = new_balance
    invoice.amount_due = amount_due
    invoice.amount_remaining = amount_due
    invoice.status = Invoice.Status.OPEN
    invoice.finalized_at = now
    if customer.balance != new_balance:
        before = render(customer)
        customer.balance = new_balance
        customer.save(update_fields=["balance"])
        emit("customer.updated", customer, before=before)
    if amount_due == 0:
        invoice.status = Invoice.Status.PAID
        invoice.paid_at = now
    invoice.save()
    emit("invoice.finalized", invoice)
    if invoice.status == Invoice.Status.PAID:
        emit("invoice.paid", invoice)
    return invoice


def set_subscription_status(subscription: Subscription, status: str) -> None:
    if subscription.status == status:
        return
    before = render(subscription)
    subscription.status = status
    subscription.save(update_fields=["status"])
    emit("customer.subscription.updated", subscription, before=before)


def _refresh_subscription_after_settlement(invoice: Invoice) -> None:
    """A subscription that was behind on payment is current again once nothing is owed."""
    if invoice.subscription_id is None:
        return
    subscription = lock(Subscription, invoice.subscription_id)
    behind = (Subscription.Status.PAST_DUE, Subscription.Status.UNPAID, Subscription.Status.INCOMPLETE)
    if subscription.status not in behind:
        return
    still_owed = (
        Invoice.objects.filter(subscription=subscription, status=Invoice.Status.OPEN, attempt_count__gt=0)
        .exclude(pk=invoice.pk)
        .exists()
    )
    if not still_owed:
        set_subscription_status(subscription, Subscription.Status.ACTIVE)


def _schedule_retry(invoice: Invoice, now: dt.datetime) -> None:
    """Dunning: retry on the configured days after the first failure, then mark the subscription unpaid."""
    subscription = lock(Subscription, invoice.subscription_id) if invoice.subscription_id else None
    if subscription is None or subscription.collection_method != Subscription.CollectionMethod.CHARGE_AUTOMATICALLY:
        invoice.next_payment_attempt = None
        return
    if subscription.status == Subscription.Status.INCOMPLETE:
        invoice.next_payment_attempt = None  # first invoice: the customer must act; it expires otherwise
        return
    if invoice.first_failed_at is None:
        invoice.first_failed_at = now
    retry_days = settings.BILLING_RETRY_DAYS
    retries_done = invoice.attempt_count - 1
    if retries_done < len(retry_days):
        invoice.next_payment_attempt = invoice.first_failed_at + dt.timedelta(days=retry_days[retries_done])
        if subscription.status in (Subscription.Status.ACTIVE, Subscription.Status.TRIALING):
            set_subscription_status(subscription, Subscription.Status.PAST_DUE)
    else:
        invoice.next_payment_attempt = None
        set_subscription_status(subscription, Subscription.Status.UNPAID)


def payment_method_for(invoice: Invoice) -> PaymentMethod | None:
    if invoice.default_payment_method_id:
        return invoice.default_payment_method
    if invoice.subscription_id and invoice.subscription.default_payment_method_id:
        return invoice.subscription.default_payment_method
    return invoice.customer.default_payment_method


def attempt_payment_locked(
    invoice: Invoice, payment_method: PaymentMethod | None = None, *, settle_subscription: bool = True
) -> Charge | None:
    """Charge what remains on an open invoice. A decline is recorded, not raised.

    ``settle_subscription=False`` leaves the subscription's status to the caller (subscription create)."""
    if invoice.status not in (Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE):
        raise StateConflict(f"You cannot pay an invoice with status {invoice.status}.", param="invoice")
    now = clock.now()
    pm = payment_method or payment_method_for(invoice)
    invoice.attempt_count += 1
    invoice.attempted = True
    charge = None
    if pm is None or not pm.can_charge(invoice.currency):
        failure = ("payment_method_required", "", "There is no payment method that can pay this invoice.")
        succeeded = False
    else:
        result = get_gateway().charge(
            reference=pm.gateway_reference,
            amount=invoice.amount_remaining,
            currency=invoice.currency,
            livemode=invoice.livemode,
            idempotency_key=f"{invoice.id}:{invoice.attempt_count}",
        )
        succeeded = result.succeeded
        failure = (result.failure_code, result.decline_code, result.failure_message)
        charge = Charge.objects.create(
            account_id=invoice.account_id,
            livemode=invoice.livemode,
            customer_id=invoice.customer_id,
            invoice=invoice,
            payment_method=pm,
            amount=invoice.amount_remaining,
            currency=invoice.currency,
            status=Charge.Status.SUCCEEDED if succeeded else Charge.Status.FAILED,
            failure_code=failure[0] if not succeeded else "",
            decline_code=failure[1] if not succeeded else "",
            failure_message=failure[2] if not succeeded else "",
            gateway_reference=result.reference,
        )
        emit("charge.succeeded" if succeeded else "charge.failed", charge)
    if succeeded:
        invoice.amount_paid += invoice.amount_remaining
        invoice.amount_remaining = 0
        invoice.status = Invoice.Status.PAID
        invoice.paid_at = now
        invoice.next_payment_attempt = None
        invoice.save()
        emit("invoice.paid", invoice)
        emit("invoice.payment_succeeded", invoice)
        if settle_subscription:
            _refresh_subscription_after_settlement(invoice)
    else:
        if settle_subscription:
            _schedule_retry(invoice, now)
        invoice.save()
        invoice.last_failure = failure  # read by callers that report the decline
        emit("invoice.payment_failed", invoice)
    invoice.last_charge = charge
    return charge


def _decline_from(invoice: Invoice) -> CardDeclined:
    code, decline_code, message = getattr(invoice, "last_failure", ("card_declined", "", "Your card was declined."))
    charge = getattr(invoice, "last_charge", None)
    return CardDeclined(message, decline_code=decline_code or None, charge_id=charge.id if charge else None)


def invoice_finalize(*, invoice: Invoice, actor: Actor) -> Invoice:
    with transaction.atomic():
        invoice = lock(Invoice, invoice.pk)
        finalize_locked(invoice)
        audit.record(actor, "invoice.finalize", invoice)
    return invoice


def invoice_pay(*, invoice: Invoice, actor: Actor, payment_method: PaymentMethod | None = None) -> Invoice:
    """Pay now. A decline is saved (attempt, charge, events) and then raised as CardDeclined."""
    if payment_method is not None and payment_method.customer_id != invoice.customer_id:
        raise InvalidRequest("The payment method is not attached to this invoice's customer.", param="payment_method")
    with transaction.atomic():
        invoice = lock(Invoice, invoice.pk)
        was_draft = invoice.status == Invoice.Status.DRAFT
        if was_draft:
            finalize_locked(invoice)  # nothing due: finalizing pays it
        if invoice.status == Invoice.Status.PAID and not was_draft:
            raise StateConflict("Invoice is already paid.", param="invoice", code="invoice_already_paid")
        if invoice.status != Invoice.Status.PAID:
            attempt_payment_locked(invoice, payment_method)
        audit.record(actor, "invoice.pay", invoice, {"status": invoice.status})
    if invoice.status != Invoice.Status.PAID:
        raise _decline_from(invoice)
    return invoice


def invoice_retry(*, invoice_id: str) -> Invoice | None:
    """The billing cycle's automatic retry: idempotent for a given moment."""
    with transaction.atomic():
        invoice = lock(Invoice, invoice_id)
        due = invoice.next_payment_attempt
        if invoice.status != Invoice.Status.OPEN or due is None or due > clock.now():
            return None
        attempt_payment_locked(invoice)
        audit.record(
            SYSTEM, "invoice.retry", invoice, {"status": invoice.status, "attempt_count": invoice.attempt_count}
        )
    return invoice


def restore_applied_balance(invoice: Invoice) -> None:
    """Voiding gives back what finalizing took from the customer's balance (a credit it used, or a debt it
    carried), as Stripe does; the invoice keeps its starting and ending balance as a record."""
    if invoice.ending_balance is None or invoice.ending_balance == invoice.starting_balance:
        return
    customer = lock(Customer, invoice.customer_id)
    before = render(customer)
    customer.balance -= invoice.ending_balance - invoice.starting_balance
    customer.save(update_fields=["balance"])
    emit("customer.updated", customer, before=before)


def _close(
    invoice_pk: str, *, actor: Actor, status: str, allowed: tuple, stamp: str, event: str, action: str
) -> Invoice:
    with transaction.atomic():
        invoice = lock(Invoice, invoice_pk)
        if invoice.status not in allowed:
            raise StateConflict(
                f"You can only {action.split('.')[-1].replace('_', ' ')} an invoice with status "
                f"{' or '.join(allowed)}; this invoice is {invoice.status}.",
                param="invoice",
            )
        invoice.status = status
        setattr(invoice, stamp, clock.now())
        invoice.next_payment_attempt = None
        invoice.save()
        if status == Invoice.Status.VOID:
            restore_applied_balance(invoice)
        emit(event, invoice)
        _refresh_subscription_after_settlement(invoice)
        audit.record(actor, action, invoice)
    return invoice


def invoice_void(*, invoice: Invoice, actor: Actor) -> Invoice:
    return _close(
        invoice.pk,
        actor=actor,
        status=Invoice.Status.VOID,
        allowed=(Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE),
        stamp="voided_at",
        event="invoice.voided",
        action="invoice.void",
    )


def invoice_mark_uncollectible(*, invoice: Invoice, actor: Actor) -> Invoice:
    return _close(
        invoice.pk,
        actor=actor,
        status=Invoice.Status.UNCOLLECTIBLE,
        allowed=(Invoice.Status.OPEN,),
        stamp="marked_uncollectible_at",
        event="invoice.marked_uncollectible",
        action="invoice.mark_uncollectible",
    )
