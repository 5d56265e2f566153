"""Advancing subscriptions through time: automatic resume, scheduled cancellation, renewals (catching up missed
periods in order), the change scheduled for the period end, expiry of an unpaid first invoice.

The billing cycle renews in batches (``renew_batch``): what a renewal reads (items with prices and products, tax
rates, discounts, pending invoice items) is loaded once for the whole batch without locks, then each subscription
is claimed in its own short transaction with ``FOR NO KEY UPDATE SKIP LOCKED`` (a row another worker holds is left
to it) and renewed from the batch's data when its version is still the one that was read. Processor calls run
after each commit, several at a time (``billing.services.payments.pipelined``).
"""

import datetime as dt
import logging

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, prefetch_related_objects

from billing import audit, clock, events
from billing.audit import SYSTEM, Actor
from billing.models import Customer, Discount, Invoice, InvoiceItem, PaymentMethod, Subscription, SubscriptionItem
from billing.periods import period_end
from billing.prefetch import mark_prefetched_empty
from billing.services import invoices, payments
from billing.services.common import emit, render
from billing.services.door import service
from billing.services.subscriptions.cancel import end_locked
from billing.services.subscriptions.create import period_until_cancel, stub_lines
from billing.services.subscriptions.lines import (
    active_discounts,
    customer_lines,
    pending_lines,
    scheduled_plan,
    spend_once_discounts,
)
from billing.services.subscriptions.pause import resume_locked
from billing.services.subscriptions.pending import expire_locked
from billing.services.subscriptions.usage import usage_lines

logger = logging.getLogger(__name__)

MAX_CATCH_UP_PERIODS = 400
# What a renewal changes on the subscription (with a scheduled change applied at the period end).
RENEWED_FIELDS = [
    "status",
    "period_index",
    "current_period_start",
    "current_period_end",
    "latest_invoice",
    "scheduled_change",
    "billing_cycle_anchor",
]
AUTOMATIC_RESUME = Actor.system("automatic resume")


def renewal_prefetch() -> list:
    """Everything a renewal reads besides the subscription row: five queries for a whole batch."""
    return [
        Prefetch(
            "items", queryset=SubscriptionItem.objects.select_related("price__product").prefetch_related("tax_rates")
        ),
        "default_tax_rates",
        Prefetch("discounts", queryset=Discount.objects.select_related("coupon")),
        Prefetch(
            "invoice_items",
            queryset=InvoiceItem.objects.filter(invoice__isnull=True).select_related("price", "tax_rate"),
            to_attr="pending_items",
        ),
    ]


CLAIM_RELATED = ("customer", "account", "default_payment_method", "customer__default_payment_method")


def _claim(subscription_id: str, now: dt.datetime, *, probe: bool) -> Subscription | None:
    """The subscription and its customer, locked, if it is due and no other transaction holds either row. With
    ``probe`` the same query tells which of its relations are empty, so reading them can be skipped."""
    claimed = (
        Subscription.objects.select_related(*CLAIM_RELATED)
        .select_for_update(no_key=True, skip_locked=True, of=("self", "customer"))
        .filter(pk=subscription_id, next_action_at__lte=now)
    )
    if probe:
        item_rates = SubscriptionItem.tax_rates.through.objects.filter(subscriptionitem__subscription=OuterRef("pk"))
        claimed = claimed.annotate(
            has_item_tax_rates=Exists(item_rates),
            has_default_tax_rates=Exists(
                Subscription.default_tax_rates.through.objects.filter(subscription=OuterRef("pk"))
            ),
            has_discounts=Exists(Discount.objects.filter(subscription=OuterRef("pk"))),
            has_pending_items=Exists(InvoiceItem.objects.filter(subscription=OuterRef("pk"), invoice__isnull=True)),
            has_customer_items=Exists(
                InvoiceItem.objects.filter(
                    customer=OuterRef("customer"), subscription__isnull=True, invoice__isnull=True
                )
            ),
        )
    return claimed.first()


def _read_relations(subscription: Subscription) -> None:
    """What a lone renewal reads, skipping the relations the claim found empty."""
    from billing.models import TaxRate

    items = SubscriptionItem.objects.select_related("price__product")
    if subscription.has_item_tax_rates:
        items = items.prefetch_related("tax_rates")
    lookups = [Prefetch("items", queryset=items)]
    if subscription.has_default_tax_rates:
        lookups.append("default_tax_rates")
    if subscription.has_discounts:
        lookups.append(renewal_prefetch()[2])
    if subscription.has_pending_items:
        lookups.append(renewal_prefetch()[3])
    prefetch_related_objects([subscription], *lookups)
    if not subscription.has_item_tax_rates:
        for item in subscription.items.all():
            mark_prefetched_empty(item, "tax_rates", TaxRate)
    if not subscription.has_default_tax_rates:
        mark_prefetched_empty(subscription, "default_tax_rates", TaxRate)
    if not subscription.has_discounts:
        mark_prefetched_empty(subscription, "discounts", Discount)
    if not subscription.has_pending_items:
        subscription.pending_items = []
    if not subscription.has_customer_items:
        subscription.customer_items = []


# Locks a subscription the batch has read, and its customer, and reads what may have changed since.
CLAIM_READ_SQL = (
    "SELECT s.version, c.balance, c.default_payment_method_id, c.name, c.email, c.address, "
    "EXISTS (SELECT 1 FROM billing_invoiceitem ii WHERE ii.customer_id = c.id AND ii.subscription_id IS NULL "
    "AND ii.invoice_id IS NULL) "
    "FROM billing_subscription s JOIN billing_customer c ON c.id = s.customer_id "
    "WHERE s.id = %s AND s.next_action_at <= %s"
)
CLAIM_LOCK_SQL = " FOR NO KEY UPDATE OF s, c SKIP LOCKED"


def _claim_read(read: Subscription, now: dt.datetime) -> Subscription | None:
    """Claim a subscription the batch read (see ``_claim``) with one short query, and go on with the batch's copy
    when its version shows that nothing changed since; the customer's columns are taken fresh from the claim."""
    sql = CLAIM_READ_SQL + (CLAIM_LOCK_SQL if connection.features.has_select_for_update_skip_locked else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, [read.pk, now])
        row = cursor.fetchone()
    if row is None:
        return None
    version, balance, payment_method_id, name, email, address, has_customer_items = row
    if version != read.version:
        subscription = _claim(read.pk, now, probe=False)  # already locked by this transaction: read it again
        prefetch_related_objects([subscription], *renewal_prefetch())
        return subscription
    customer = read.customer
    customer.balance, customer.name, customer.email = balance, name, email
    customer.address = Customer._meta.get_field("address").from_db_value(address, None, connection)
    if payment_method_id != customer.default_payment_method_id:
        customer.default_payment_method = PaymentMethod.objects.filter(pk=payment_method_id).first()
    read.customer_items = None if has_customer_items else []  # None: read under the lock now held
    return read


@service
def _advance(subscription_id: str, read: Subscription | None = None) -> int:
    now = clock.now()
    if read is not None:
        subscription = _claim_read(read, now)
    else:
        subscription = _claim(subscription_id, now, probe=True)
        if subscription is not None:
            _read_relations(subscription)
    if subscription is None:
        return 0  # not due any more, or another worker holds it
    return _advance_locked(subscription, now)


def catch_up_locked(subscription: Subscription) -> int:
    """Bring a subscription the caller has locked up to now when the cycle has not yet (its period ended a moment
    ago): a change then applies to the period the customer is in. Returns the number of steps taken."""
    now = clock.now()
    if subscription.next_action_at is None or subscription.next_action_at > now:
        return 0
    prefetch_related_objects([subscription], *renewal_prefetch())
    return _advance_locked(subscription, now)


def subscription_advance(*, subscription_id: str) -> int:
    """Bring one subscription up to ``clock.now()``: automatic resume, scheduled cancellation, renewals (catching
    up missed periods in order), expiry of an unpaid first invoice. Idempotent: a second call for the same moment
    finds nothing to do. Returns the number of steps. The events of its transactions (the renewal's, the payment's)
    are handed to the webhook fan-out together."""
    with events.handoffs_gathered():
        return _advance(subscription_id)


def renew_batch(subscription_ids: list[str]) -> dict:
    """Advance each of the subscriptions (see the module docstring). Failures are counted and logged, one
    subscription's failure does not hold back the others."""
    summary = {"subscriptions": 0, "steps": 0, "errors": 0}
    read = {
        subscription.pk: subscription
        for subscription in Subscription.objects.filter(pk__in=subscription_ids)
        .select_related(*CLAIM_RELATED)
        .prefetch_related(*renewal_prefetch())
    }
    # The payments' outcomes, recorded as the processor answers (until the pipeline drains), hand their events over
    # with the renewals'.
    with events.handoffs_gathered(), payments.pipelined() as collector:
        for subscription_id in subscription_ids:
            try:
                steps = _advance(subscription_id, read.get(subscription_id))
            except Exception:
                logger.exception("billing cycle: subscription %s failed", subscription_id)
                summary["errors"] += 1
                continue
            summary["subscriptions"] += 1 if steps else 0
            summary["steps"] += steps
            collector.poll()
    summary["errors"] += collector.errors
    return summary


def _advance_locked(subscription: Subscription, now: dt.datetime) -> int:
    steps = 0
    if subscription.pending_update and subscription.pending_update_expires_at <= now:
        expire_locked(subscription)  # before any renewal: the update was for the period it was asked in
        steps += 1
    for _ in range(MAX_CATCH_UP_PERIODS):
        if subscription.is_ended:
            break
        resumes_at = subscription.pause_collection_resumes_at
        period_end_ = subscription.current_period_end
        cancel_at = subscription.cancel_at
        if resumes_at and resumes_at <= now and resumes_at <= period_end_:
            resume_locked(subscription, AUTOMATIC_RESUME)
        elif cancel_at and cancel_at <= now and cancel_at <= period_end_:
            end_locked(subscription, at=cancel_at)
            _final_invoice(subscription)
            audit.record(SYSTEM, "subscription.end", subscription)
        elif period_end_ <= now and subscription.status == Subscription.Status.INCOMPLETE:
            break
        elif period_end_ <= now and subscription.cancel_at_period_end:
            end_locked(subscription, at=period_end_)
            _final_invoice(subscription)
            audit.record(SYSTEM, "subscription.end", subscription)
        elif period_end_ <= now:
            _renew_locked(subscription)
        else:
            break
        steps += 1
    expiry = dt.timedelta(hours=settings.BILLING_INCOMPLETE_EXPIRY_HOURS)
    if subscription.status == Subscription.Status.INCOMPLETE and subscription.created + expiry <= now:
        _expire_incomplete(subscription)
        steps += 1
    return steps


def _final_invoice(subscription: Subscription) -> None:
    """A subscription that ended where it was scheduled to collects its pending prorations (the credit for a
    ``cancel_at`` inside the period) and the usage of its last period on a last invoice: Stripe leaves them "in
    place and collected at the end of the period" (docs.stripe.com/api/subscriptions/cancel)."""
    from billing.services.subscriptions.change import ChangeOptions, collect_now, invoice_now

    end = min(subscription.ended_at, subscription.current_period_end)
    usage = usage_lines(subscription, subscription.current_period_start, end)
    if not pending_lines(subscription) and not any(line.quantity for line in usage):
        return
    collect_now(subscription, invoice_now(subscription, usage), ChangeOptions())
    subscription.pending_items = []


def _renew_locked(subscription: Subscription) -> Invoice:
    """Start the next period and bill it (the renewal invoice, or the first one after a trial)."""
    before = render(subscription)
    usage = usage_lines(subscription, subscription.current_period_start, subscription.current_period_end)
    if subscription.scheduled_change:
        _apply_scheduled_change_locked(subscription)
    interval, count = subscription.interval()
    start = subscription.current_period_end
    stub = subscription.billing_cycle_anchor > start  # a trial ended before the anchor: bill the time up to it
    if not stub:
        subscription.period_index += 1
    subscription.current_period_start = start
    subscription.current_period_end = period_end(
        subscription.billing_cycle_anchor,
        interval,
        count,
        subscription.period_index,
        day_of_month=subscription.anchor_day,
    )
    if subscription.status == Subscription.Status.TRIALING:
        subscription.status = Subscription.Status.ACTIVE
    discounts = active_discounts(subscription, start)
    end = subscription.current_period_end
    if stub:
        prorate = (subscription.billing_cycle_anchor_config or {}).get("stub") != "none"
        lines = stub_lines(subscription, start, end, prorate=prorate)
    else:
        lines = period_until_cancel(subscription, start, end)
    lines += usage + pending_lines(subscription) + customer_lines(subscription)
    # Billed now; a further period caught up in this pass has none.
    subscription.pending_items, subscription.customer_items = [], []
    invoice = invoices.invoice_build(
        customer=subscription.customer,
        subscription=subscription,
        currency=subscription.currency,
        billing_reason=Invoice.BillingReason.SUBSCRIPTION_CYCLE,
        period_start=start,
        period_end=subscription.current_period_end,
        lines=lines,
        discounts=discounts,
        collection_method=subscription.collection_method,
        days_until_due=subscription.days_until_due,
        account=subscription.account,
    )
    spend_once_discounts(discounts)
    subscription.latest_invoice = invoice
    emit("customer.subscription.updated", subscription, before=before)
    unpaid = subscription.status == Subscription.Status.UNPAID
    invoices.collect(invoice, paused_behavior=subscription.pause_collection_behavior, unpaid=unpaid)
    if not subscription.collection_paused and invoices.charges_automatically(invoice):
        payments.payment_start(invoice)
    invoices.invoice_write(invoice)
    subscription.save(update_fields=RENEWED_FIELDS)
    audit.record(SYSTEM, "subscription.renew", subscription, {"invoice": invoice.id, "invoice_status": invoice.status})
    return invoice


def _apply_scheduled_change_locked(subscription: Subscription) -> None:
    """At the period end, the change that waited for it: the new items bill from the period that starts now (a new
    interval starts a new cycle there)."""
    plan = scheduled_plan(subscription) or []
    old_interval = subscription.interval()
    kept = {item.pk for item, _price, _quantity in plan if item is not None}
    for item in subscription.items.all():
        if item.pk not in kept:
            item.delete()
    for item, price, quantity in plan:
        if item is None:
            SubscriptionItem.objects.create(
                account_id=subscription.account_id,
                livemode=subscription.livemode,
                subscription=subscription,
                price=price,
                quantity=quantity,
            )
        elif (item.price_id, item.quantity) != (price.pk, quantity):
            item.price, item.quantity = price, quantity
            item.save(update_fields=["price", "quantity"])
    applied = subscription.scheduled_change
    subscription.scheduled_change = None
    subscription._prefetched_objects_cache.pop("items", None)
    prefetch_related_objects([subscription], renewal_prefetch()[0])
    if subscription.interval() != old_interval:
        subscription.billing_cycle_anchor = subscription.current_period_end
        subscription.period_index = 0
    audit.record(SYSTEM, "subscription.apply_scheduled_change", subscription, applied)


def _expire_incomplete(subscription: Subscription) -> None:
    before = render(subscription)
    subscription.status = Subscription.Status.INCOMPLETE_EXPIRED
    subscription.ended_at = clock.now()
    subscription.save(update_fields=["status", "ended_at"])
    for invoice in Invoice.objects.select_for_update(no_key=True).filter(
        subscription=subscription, status=Invoice.Status.OPEN
    ):
        invoice.status = Invoice.Status.VOID
        invoice.voided_at = clock.now()
        invoice.next_payment_attempt = None
        invoice.save()
        emit("invoice.voided", invoice)
    emit("customer.subscription.updated", subscription, before=before)
    audit.record(SYSTEM, "subscription.expire", subscription)
