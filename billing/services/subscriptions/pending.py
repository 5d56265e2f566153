"""Pending updates (Stripe's ``payment_behavior=pending_if_incomplete``): a change whose invoice must be paid before
it applies.

The change's invoice is built for the items as they will be, finalized and its payment started, while the
subscription keeps its items and goes on cycling as if nothing had been asked; ``pending_update`` shows the change.
The processor is asked after the commit, as for every payment (``billing.services.payments``). When the invoice is
paid (that first attempt, ``POST /v1/invoices/{id}/pay``, the hosted invoice page, its PaymentIntent confirmed) the
one place invoices settle, ``refresh_subscription_after_settlement``, applies the change without invoicing it
again. Unpaid by ``expires_at`` (the trial end, the period end or 23 hours, whichever comes first) the billing cycle
voids the invoice and drops the change. Voiding the invoice, a later item change and cancelling drop it too.

While the first attempt is unanswered the stored update keeps what the subscription showed before (``previous``):
a success then reads as one ``customer.subscription.updated``, exactly as if the change had been made with
``allow_incomplete``; a failure as one ``customer.subscription.updated`` that shows ``pending_update``.
"""

import datetime as dt

from django.conf import settings
from django.db.models import Prefetch, prefetch_related_objects

from billing import audit, clock, representations
from billing.audit import SYSTEM
from billing.exceptions import InvalidRequest
from billing.models import Invoice, InvoiceLineItem, Price, Subscription, SubscriptionItem, TaxRate
from billing.services import invoices, payments
from billing.services.common import emit, render

PENDING_IF_INCOMPLETE = "pending_if_incomplete"
BANK_DEBITS = ("sepa_debit",)


def check_supported(subscription: Subscription) -> None:
    """Stripe's limits: pending updates need automatic collection by a card-like method, never a bank debit."""
    if subscription.collection_method == Subscription.CollectionMethod.SEND_INVOICE:
        raise InvalidRequest(
            "payment_behavior=pending_if_incomplete is not supported for subscriptions with "
            "collection_method=send_invoice.",
            param="payment_behavior",
        )
    method = subscription.default_payment_method or subscription.customer.default_payment_method
    if method is not None and method.type in BANK_DEBITS:
        raise InvalidRequest(
            f"payment_behavior=pending_if_incomplete is not supported when a bank debit ({method.type}) pays the "
            "subscription.",
            param="payment_behavior",
        )


def expiry(subscription: Subscription, now: dt.datetime) -> dt.datetime:
    """Stripe's ``expires_at``: the trial end or the period end when one comes within 23 hours, else 23 hours on."""
    moments = [now + dt.timedelta(hours=settings.BILLING_INCOMPLETE_EXPIRY_HOURS), subscription.current_period_end]
    if subscription.status == Subscription.Status.TRIALING and subscription.trial_end:
        moments.append(subscription.trial_end)
    return min(moments)


def _no_tax_rates(item: SubscriptionItem) -> None:
    empty = TaxRate.objects.none()
    empty._result_cache, empty._prefetch_done = [], True
    item._prefetched_objects_cache = {"tax_rates": empty}


def target(subscription: Subscription, future: list, *, restart: bool, trial_ended: bool) -> dict:
    """The stored update for ``future`` ((item or None for an item to add, price, quantity) rows), read while the
    subscription's fields in memory are the ones the change gives it (a restarted period, an ended trial)."""
    rows, items = [], []
    for item, price, quantity in future:
        shown_item = SubscriptionItem(
            account_id=subscription.account_id,
            livemode=subscription.livemode,
            subscription=subscription,
            price=price,
            quantity=quantity,
        )
        if item is None:
            _no_tax_rates(shown_item)
        else:
            shown_item.id, shown_item.created, shown_item.metadata = item.id, item.created, item.metadata
            shown_item._prefetched_objects_cache = {"tax_rates": item.tax_rates.all()}
        rows.append({"id": shown_item.id, "price": price.pk, "quantity": quantity})
        items.append(representations.subscription_item(shown_item, subscription))
    period = None
    if restart:
        period = {
            "billing_cycle_anchor": clock.to_unix(subscription.billing_cycle_anchor),
            "start": clock.to_unix(subscription.current_period_start),
            "end": clock.to_unix(subscription.current_period_end),
            "index": subscription.period_index,
        }
    return {
        "billing_cycle_anchor": clock.to_unix(subscription.billing_cycle_anchor) if restart else None,
        "subscription_items": items,
        "trial_end": clock.to_unix(subscription.trial_end) if trial_ended else None,
        "trial_from_plan": None,
        "apply": {
            "items": rows,
            "period": period,
            "status": subscription.status if trial_ended else None,
            "trial_end": clock.to_unix(subscription.trial_end) if trial_ended else None,
        },
    }


def collect_pending(subscription: Subscription, invoice: Invoice, pending: dict, before: dict) -> None:
    """Finalize the change's invoice and start its payment; the change waits in ``pending_update`` for the answer.
    Nothing due (a credit, the customer's balance pays it): the change applies at once."""
    invoices.finalize_built(invoice, subscription.customer)
    invoices.invoice_write(invoice)
    subscription.latest_invoice = invoice
    if not invoices.charges_automatically(invoice):
        _write(subscription, pending["apply"], invoice)
        return
    subscription.pending_update = {
        **pending,
        "expires_at": clock.to_unix(expiry(subscription, clock.now())),
        "invoice": invoice.pk,
        "previous": {"latest_invoice": before["latest_invoice"], "pending_update": before["pending_update"]},
    }
    subscription.save(update_fields=["pending_update", "latest_invoice"])
    payments.payment_start(invoice)


def _shown_before(subscription: Subscription) -> dict:
    """The subscription as its last event showed it (before an unanswered first attempt: as before the change)."""
    before = render(subscription)
    before.update(subscription.pending_update.get("previous") or {})
    return before


def _write(subscription: Subscription, apply: dict, invoice: Invoice) -> None:
    """Give the subscription the items and period the update says (prices are read once), and clear the update."""
    current = {item.pk: item for item in SubscriptionItem.objects.filter(subscription=subscription)}
    wanted = {row["id"] for row in apply["items"]}
    prices = Price.objects.in_bulk([row["price"] for row in apply["items"] if row["id"] not in current])
    for pk, item in current.items():
        if pk not in wanted:
            item.delete()
    for row in apply["items"]:
        item = current.get(row["id"])
        if item is None:
            SubscriptionItem.objects.create(
                id=row["id"],
                account_id=subscription.account_id,
                livemode=subscription.livemode,
                subscription=subscription,
                price=prices[row["price"]],
                quantity=row["quantity"],
            )
            # The invoice billed the new item before it existed: its line refers to it from now on.
            InvoiceLineItem.objects.filter(
                invoice=invoice, subscription_item__isnull=True, proration=False, price_id=row["price"]
            ).update(subscription_item_id=row["id"])
        elif (item.price_id, item.quantity) != (row["price"], row["quantity"]):
            item.price_id, item.quantity = row["price"], row["quantity"]
            item.save(update_fields=["price", "quantity"])
    if apply.get("period"):
        period = apply["period"]
        subscription.billing_cycle_anchor = clock.from_unix(period["billing_cycle_anchor"])
        subscription.current_period_start = clock.from_unix(period["start"])
        subscription.current_period_end = clock.from_unix(period["end"])
        subscription.period_index = period["index"]
    if apply.get("status"):
        subscription.status = apply["status"]
        subscription.trial_end = clock.from_unix(apply["trial_end"])
    subscription.scheduled_change = None
    subscription.pending_update = None
    subscription.save()
    subscription._prefetched_objects_cache = {}
    items = SubscriptionItem.objects.select_related("price").prefetch_related("tax_rates")
    prefetch_related_objects([subscription], Prefetch("items", queryset=items))


def pending_invoice_ids(subscription: Subscription) -> list[str]:
    """The invoice of the subscription's pending update, if any: unpaid, it puts the subscription behind on nothing."""
    return [subscription.pending_update["invoice"]] if subscription.pending_update else []


def pending_update_settled(subscription: Subscription, invoice: Invoice) -> None:
    """The invoice of the (locked) subscription's pending update was paid (the change applies) or voided (it is
    dropped). Other invoices, and an uncollectible one, leave the update as it is."""
    pending = subscription.pending_update
    if not pending or pending.get("invoice") != invoice.pk:
        return
    before = _shown_before(subscription)
    if invoice.status == Invoice.Status.VOID:
        subscription.pending_update = None
        subscription.save(update_fields=["pending_update"])
        emit("customer.subscription.updated", subscription, before=before)
        audit.record(SYSTEM, "subscription.pending_update_discard", subscription, {"invoice": invoice.pk})
        return
    if invoice.status != Invoice.Status.PAID:
        return
    if subscription.is_ended:
        subscription.pending_update = None
        subscription.save(update_fields=["pending_update"])
        return
    _write(subscription, pending["apply"], invoice)
    if "previous" not in pending:  # shown as pending before: Stripe's event for its application
        emit("customer.subscription.pending_update_applied", subscription, before=before)
    emit("customer.subscription.updated", subscription, before=before)
    audit.record(SYSTEM, "subscription.pending_update_apply", subscription, {"invoice": invoice.pk})


def pending_payment_failed(subscription: Subscription, invoice: Invoice) -> bool:
    """An attempt on the (locked) subscription's pending-update invoice failed: no dunning (the update expires
    instead) and, at the first answer, the event that shows the update. False for any other invoice."""
    pending = subscription.pending_update
    if not pending or pending.get("invoice") != invoice.pk:
        return False
    if "previous" in pending:
        before = _shown_before(subscription)
        subscription.pending_update = {key: value for key, value in pending.items() if key != "previous"}
        subscription.save(update_fields=["pending_update"])
        emit("customer.subscription.updated", subscription, before=before)
    return True


def _void(invoice_id: str) -> None:
    """Void the update's invoice (locked, with what its event shows read at once: the billing cycle voids many)."""
    lines = InvoiceLineItem.objects.select_related("price", "tax_rate")
    invoice = (
        Invoice.objects.select_for_update(no_key=True, of=("self",))
        .select_related("account")
        .prefetch_related(Prefetch("lines", queryset=lines))
        .get(pk=invoice_id)
    )
    if invoice.status in (Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE):
        invoices.close_built(invoice, Invoice.Status.VOID)
        invoice.save()


def discard_locked(subscription: Subscription) -> None:
    """Drop the (locked) subscription's pending update and void its invoice (a new item change replaces it, the
    subscription ends); the caller records the subscription's event."""
    pending = subscription.pending_update
    if not pending:
        return
    _void(pending["invoice"])
    subscription.pending_update = None
    subscription.save(update_fields=["pending_update"])
    audit.record(SYSTEM, "subscription.pending_update_discard", subscription, {"invoice": pending["invoice"]})


def expire_locked(subscription: Subscription) -> None:
    """The billing cycle: a pending update unpaid at ``expires_at`` is dropped and its invoice voided (Stripe's
    ``customer.subscription.pending_update_expired``)."""
    pending = subscription.pending_update
    before = render(subscription)
    _void(pending["invoice"])
    subscription.pending_update = None
    subscription.save(update_fields=["pending_update"])
    emit("customer.subscription.pending_update_expired", subscription, before=before)
    emit("customer.subscription.updated", subscription, before=before)
    audit.record(SYSTEM, "subscription.pending_update_expire", subscription, {"invoice": pending["invoice"]})
