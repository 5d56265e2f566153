"""Invoice services: drafts with computed totals, finalize (numbered from the account's counter), pay, void,
uncollectible. Payment attempts themselves are ``billing.services.payments``.

An invoice is built in memory (lines, totals, the events that describe it) and written once: a renewal inserts
its invoice already finalized, so numbering it costs one ``UPDATE … RETURNING`` on the counter, taken late in the
transaction, and no account row is locked.
"""

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from billing import audit, balance_ledger, clock, money, pricing
from billing.audit import Actor
from billing.exceptions import InvalidRequest, StateConflict
from billing.models import (
    Account,
    Coupon,
    Customer,
    Invoice,
    InvoiceCounter,
    InvoiceItem,
    InvoiceLineItem,
    PaymentMethod,
    Price,
    Subscription,
    SubscriptionItem,
    TaxRate,
)
from billing.services import payments
from billing.services.common import emit, lock, render
from billing.services.door import service

NEXT_NUMBER_SQL = (
    "UPDATE billing_invoicecounter SET next_number = next_number + 1 "
    "WHERE account_id = %s AND livemode = %s RETURNING next_number"
)


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
    discountable: bool = True


def coupon_terms(coupons: list[Coupon]) -> list[pricing.CouponTerms]:
    return [pricing.CouponTerms(percent_off=c.percent_off, amount_off=c.amount_off) for c in coupons]


def compute(lines: list[LineSpec], coupons: list[Coupon]) -> pricing.Totals:
    inputs = [
        pricing.LineInput(
            amount=line.amount,
            discountable=line.discountable,
            tax_percentage=line.tax_rate.percentage if line.tax_rate else None,
            tax_inclusive=bool(line.tax_rate and line.tax_rate.inclusive),
        )
        for line in lines
    ]
    return pricing.compute_totals(inputs, coupon_terms(coupons))


def invoice_build(
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
    account: Account | None = None,
    discounts: list = (),
) -> Invoice:
    """A draft invoice with its lines and totals, in memory (``invoice_write`` stores it); records
    ``invoice.created``. Call inside the caller's transaction. ``discounts`` (Discount rows) apply their coupons and
    are named on the invoice (Stripe's ``discounts``); ``coupons`` apply coupons that no discount stands for."""
    coupons = [*coupons, *(discount.coupon for discount in discounts)]
    totals = compute(lines, coupons)
    now = clock.now()
    invoice = Invoice(
        account_id=customer.account_id,
        livemode=customer.livemode,
        created=now,
        customer=customer,
        test_clock_id=customer.test_clock_id,
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
        discount_ids=[discount.id for discount in discounts],
    )
    if account is not None:
        invoice.account = account
    built = [line_row(invoice, spec, result, now) for spec, result in zip(lines, totals.lines, strict=True)]
    # The lines are final: keep them as the invoice's prefetched lines so each event renders without queries.
    cached = InvoiceLineItem.objects.filter(invoice=invoice)
    cached._result_cache, cached._prefetch_done = built, True
    invoice._prefetched_objects_cache = {"lines": cached}
    invoice._pending_item_ids = [spec.invoice_item.pk for spec in lines if spec.invoice_item is not None]
    emit("invoice.created", invoice)
    return invoice


def line_row(invoice: Invoice, spec: LineSpec, result: pricing.LineResult, now: dt.datetime) -> InvoiceLineItem:
    """The stored line of ``invoice`` for ``spec`` with its computed amounts (not saved)."""
    return InvoiceLineItem(
        account_id=invoice.account_id,
        livemode=invoice.livemode,
        created=now,
        invoice=invoice,
        type=spec.type,
        subscription=invoice.subscription,
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
        currency=invoice.currency,
        proration=spec.proration,
        period_start=spec.period_start,
        period_end=spec.period_end,
    )


def set_totals(invoice: Invoice, totals: pricing.Totals) -> None:
    invoice.subtotal = totals.subtotal
    invoice.total_discount = totals.total_discount
    invoice.total_excluding_tax = totals.total_excluding_tax
    invoice.tax = totals.tax
    invoice.total = totals.total
    invoice.amount_due = invoice.amount_remaining = max(totals.total, 0)


def invoice_write(invoice: Invoice) -> Invoice:
    """Store an invoice built by :func:`invoice_build` (in whatever state it has reached) with its lines, and take
    the pending invoice items it bills."""
    invoice.save(force_insert=True)
    InvoiceLineItem.objects.bulk_create(list(invoice.lines.all()))
    item_ids = getattr(invoice, "_pending_item_ids", None)
    if item_ids:
        # Only items still pending: one another invoice took meanwhile (a customer's item, billed by a renewal of
        # another of their subscriptions) undoes this invoice rather than billing the item twice.
        taken = InvoiceItem.objects.filter(pk__in=item_ids, invoice__isnull=True).update(invoice=invoice)
        if taken != len(set(item_ids)):
            raise StateConflict("An invoice item on this invoice has just been billed by another invoice; try again.")
    return invoice


def invoice_create_draft(**kwargs) -> Invoice:
    """A stored draft invoice (see :func:`invoice_build` for the arguments). Call inside the caller's transaction."""
    return invoice_write(invoice_build(**kwargs))


def _next_number(invoice: Invoice) -> str:
    """The account's next number in the invoice's mode: one ``UPDATE … RETURNING`` on the counter row, which stays
    locked only until the caller's transaction commits (a moment later: nothing slow runs after numbering)."""
    sql = NEXT_NUMBER_SQL
    params = [invoice.account_id, invoice.livemode]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        if row is None:  # the account's first invoice in this mode: its counter row is made now
            counter = InvoiceCounter(account_id=invoice.account_id, livemode=invoice.livemode)
            InvoiceCounter.objects.bulk_create([counter], ignore_conflicts=True)
            cursor.execute(sql, params)
            row = cursor.fetchone()
    return f"{invoice.account.invoice_prefix}-{row[0] - 1:04d}"


def _apply_balance(invoice: Invoice, customer: Customer) -> None:
    """Snapshot who is billed and let the customer's balance pay (or add to) the invoice. ``customer`` was read in
    this transaction; it is locked and read again only when it has a balance to change."""
    rounds = money.chargeable(max(invoice.total, 0), invoice.currency) != max(invoice.total, 0)
    if customer.balance or rounds:  # a three-decimal amount due rounded to a multiple of 10 leaves a remainder
        customer = lock(Customer, customer.pk)
    invoice.customer_name = customer.name
    invoice.customer_email = customer.email
    invoice.customer_address = customer.address
    invoice.starting_balance = customer.balance
    amount_due, new_balance = pricing.apply_balance(invoice.total, customer.balance, invoice.currency)
    invoice.ending_balance = new_balance
    invoice.amount_due = amount_due
    invoice.amount_remaining = amount_due
    if customer.balance != new_balance:
        before = render(customer)
        change = new_balance - customer.balance
        customer.balance = new_balance
        customer.save(update_fields=["balance"])
        balance_ledger.record(
            customer, amount=change, type="applied_to_invoice", currency=invoice.currency, invoice_id=invoice.pk
        )
        emit("customer.updated", customer, before=before)


def finalize_built(invoice: Invoice, customer: Customer, *, before_numbering=None) -> Invoice:
    """Draft -> open (or paid when nothing is due), in memory: number, customer snapshot, balance applied, events.
    The caller stores the invoice (``invoice_write`` for a new one, ``save()`` for a stored draft).
    ``before_numbering(invoice)`` runs once the amount due is known and before the counter is taken."""
    if invoice.status != Invoice.Status.DRAFT:
        raise StateConflict(f"This invoice is already finalized (status {invoice.status}).", param="invoice")
    _apply_balance(invoice, customer)
    if before_numbering is not None:
        before_numbering(invoice)
    now = clock.now()
    invoice.number = _next_number(invoice)
    invoice.status = Invoice.Status.OPEN
    invoice.finalized_at = now
    if invoice.amount_due == 0:
        invoice.status = Invoice.Status.PAID
        invoice.paid_at = now
    emit("invoice.finalized", invoice)
    if invoice.status == Invoice.Status.PAID:
        emit("invoice.paid", invoice)
    return invoice


def finalize_locked(invoice: Invoice) -> Invoice:
    """Finalize a stored, locked draft."""
    finalize_built(invoice, Customer.objects.get(pk=invoice.customer_id))
    invoice.save()
    return invoice


def close_built(invoice: Invoice, status: str) -> None:
    """Void or mark uncollectible a finalized invoice in memory (a paused subscription's renewal), with its event."""
    invoice.status = status
    invoice.next_payment_attempt = None
    if status == Invoice.Status.VOID:
        invoice.voided_at = clock.now()
        restore_applied_balance(invoice)
        emit("invoice.voided", invoice)
    else:
        invoice.marked_uncollectible_at = clock.now()
        emit("invoice.marked_uncollectible", invoice)


def restore_applied_balance(invoice: Invoice) -> None:
    """Voiding gives back what finalizing took from the customer's balance (a credit it used, or a debt it
    carried), as Stripe does; the invoice keeps its starting and ending balance as a record."""
    if invoice.ending_balance is None or invoice.ending_balance == invoice.starting_balance:
        return
    customer = lock(Customer, invoice.customer_id)
    before = render(customer)
    change = invoice.starting_balance - invoice.ending_balance
    customer.balance += change
    customer.save(update_fields=["balance"])
    balance_ledger.record(
        customer, amount=change, type="unapplied_from_invoice", currency=invoice.currency, invoice_id=invoice.pk
    )
    emit("customer.updated", customer, before=before)


def collect(invoice: Invoice, *, paused_behavior: str = "", unpaid: bool = False) -> Invoice:
    """Advance a draft the way its subscription's collection settings say (in memory; the caller stores it): a
    paused ``keep_as_draft`` or an ``unpaid`` subscription keeps it a draft, other pauses finalize and void or mark
    it uncollectible, otherwise it is finalized and, when charged automatically, an attempt is started (its
    processor call runs after the commit)."""
    if paused_behavior == Subscription.PauseBehavior.KEEP_AS_DRAFT or unpaid:
        invoice.auto_advance = False  # Stripe leaves renewals of unpaid subscriptions as drafts
        return invoice
    finalize_built(invoice, invoice.customer)
    if invoice.status != Invoice.Status.OPEN:
        return invoice
    if paused_behavior:
        void = paused_behavior == Subscription.PauseBehavior.VOID
        close_built(invoice, Invoice.Status.VOID if void else Invoice.Status.UNCOLLECTIBLE)
    return invoice


def charges_automatically(invoice: Invoice) -> bool:
    return (
        invoice.status == Invoice.Status.OPEN
        and invoice.collection_method == Subscription.CollectionMethod.CHARGE_AUTOMATICALLY
    )


@service
def invoice_finalize(*, invoice: Invoice, actor: Actor) -> Invoice:
    invoice = lock(Invoice, invoice.pk)
    finalize_locked(invoice)
    audit.record(actor, "invoice.finalize", invoice)
    return invoice


@service
def _invoice_pay(invoice_pk: str, actor: Actor, payment_method: PaymentMethod | None) -> tuple[Invoice, str | None]:
    invoice = lock(Invoice, invoice_pk)
    if payment_method is not None and payment_method.customer_id != invoice.customer_id:
        raise InvalidRequest("The payment method is not attached to this invoice's customer.", param="payment_method")
    was_draft = invoice.status == Invoice.Status.DRAFT
    if was_draft:
        finalize_locked(invoice)  # nothing due: finalizing pays it
    if invoice.status == Invoice.Status.PAID and not was_draft:
        raise StateConflict("Invoice is already paid.", param="invoice", code="invoice_already_paid")
    charge = None
    if invoice.status != Invoice.Status.PAID:
        if invoice.status not in (Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE):
            raise StateConflict(
                _("You cannot pay an invoice with status %(status)s."),
                params={"status": STATUS_WORDS[invoice.status]},
                param="invoice",
            )
        charge = payments.payment_start(invoice, payment_method)
    audit.record(actor, "invoice.pay", invoice, {"status": invoice.status})
    return invoice, charge.pk if charge else None


def invoice_pay(*, invoice: Invoice, actor: Actor, payment_method: PaymentMethod | None = None) -> Invoice:
    """Pay now. An attempt still waiting for the processor (a crash, an outage) is sent again with its own
    idempotency key instead of starting a new one. A decline is recorded (attempt, charge, events) and then
    raised as CardDeclined; an unreachable processor as GatewayUnavailable (the attempt stays pending)."""
    charge_id = payments.pending_charge(invoice)
    if charge_id is not None:
        payments.payment_resume(charge_id=charge_id)
    else:
        invoice, charge_id = _invoice_pay(invoice.pk, actor, payment_method)
    invoice = Invoice.objects.get(pk=invoice.pk)
    payments.raise_unless_paid(invoice, charge_id)
    return invoice


# An invoice's status in a sentence, in the API's words in English ("this invoice is draft").
STATUS_WORDS = {
    Invoice.Status.DRAFT: pgettext_lazy("invoice status in a sentence", "draft"),
    Invoice.Status.OPEN: pgettext_lazy("invoice status in a sentence", "open"),
    Invoice.Status.PAID: pgettext_lazy("invoice status in a sentence", "paid"),
    Invoice.Status.UNCOLLECTIBLE: pgettext_lazy("invoice status in a sentence", "uncollectible"),
    Invoice.Status.VOID: pgettext_lazy("invoice status in a sentence", "void"),
}
CLOSE_REFUSALS = {
    "invoice.void": _("You can only void an invoice with status open or uncollectible; this invoice is %(status)s."),
    "invoice.mark_uncollectible": _(
        "You can only mark uncollectible an invoice with status open; this invoice is %(status)s."
    ),
}


def _close(
    invoice_pk: str, *, actor: Actor, status: str, allowed: tuple, stamp: str, event: str, action: str
) -> Invoice:
    invoice = lock(Invoice, invoice_pk)
    if invoice.status not in allowed:
        raise StateConflict(CLOSE_REFUSALS[action], params={"status": STATUS_WORDS[invoice.status]}, param="invoice")
    invoice.status = status
    setattr(invoice, stamp, clock.now())
    invoice.next_payment_attempt = None
    invoice.save()
    if status == Invoice.Status.VOID:
        restore_applied_balance(invoice)
    emit(event, invoice)
    payments.refresh_subscription_after_settlement(invoice)
    audit.record(actor, action, invoice)
    return invoice


@service
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


@service
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
