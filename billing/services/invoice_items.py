"""Invoice items: one-off charges and credits that wait, pending, for the customer's next invoice (a subscription's
when they name one, else the next invoice made for the customer), or that go straight onto a draft invoice.

Pending items change under their customer's lock (and their subscription's, when they name one), the lock a
renewal or an invoice takes before it picks them up, so an item is never billed twice nor changed once billed.
"""

import datetime as dt

from billing import audit, clock
from billing.audit import Actor
from billing.exceptions import InvalidRequest, StateConflict
from billing.models import Customer, Invoice, InvoiceItem, Price, Subscription, TaxRate
from billing.services.common import emit, lock, merge_metadata, render, same_tenant, validate_metadata
from billing.services.door import service

MAX_AMOUNT = 99_999_999_999
UNCHANGED = object()


def _check_price(customer: Customer, price: Price | None) -> None:
    if price is None:
        return
    same_tenant(customer, price)
    if price.is_recurring:
        raise InvalidRequest(
            f"The price specified ({price.id}) is a recurring price; an invoice item takes a one-time price.",
            param="price",
        )
    if not price.active:
        raise InvalidRequest(f"The price specified is inactive: {price.id}.", param="price")


def _amount(price: Price | None, amount: int | None, unit_amount: int | None, quantity: int) -> int:
    if price is not None:
        if amount is not None or unit_amount is not None:
            raise InvalidRequest("Pass either price or amount (or unit_amount), not both.", param="amount")
        return (price.unit_amount or 0) * quantity
    if amount is not None and unit_amount is not None:
        raise InvalidRequest("Pass either amount or unit_amount, not both.", param="unit_amount")
    total = unit_amount * quantity if unit_amount is not None else amount
    if total is None:
        raise InvalidRequest("Missing required param: amount.", param="amount", code="parameter_missing")
    if abs(total) > MAX_AMOUNT:
        raise InvalidRequest("Invalid amount: it must be at most 99999999999.", param="amount")
    return total


def _check_tax_rates(customer: Customer, tax_rates: list[TaxRate]) -> TaxRate | None:
    for rate in tax_rates:
        same_tenant(customer, rate)
    if len(tax_rates) > 1:
        raise InvalidRequest("An invoice item takes at most one tax rate here.", param="tax_rates")
    return tax_rates[0] if tax_rates else None


def _target(customer: Customer, subscription: Subscription | None, invoice: Invoice | None, currency: str):
    """Lock the invoice item's customer, then its subscription or draft invoice, and check they go together."""
    locked = lock(Customer, customer.pk)
    if subscription is not None:
        same_tenant(customer, subscription)
        subscription = lock(Subscription, subscription.pk)
        if subscription.customer_id != customer.pk:
            raise InvalidRequest(
                f"The subscription {subscription.pk} does not belong to the customer {customer.pk}.",
                param="subscription",
            )
        if subscription.is_ended:
            raise StateConflict("A canceled subscription takes no invoice items.", param="subscription")
        if subscription.currency != currency:
            raise InvalidRequest(
                f"The invoice item's currency ({currency}) must match the subscription's ({subscription.currency}).",
                param="currency",
            )
    if invoice is not None:
        same_tenant(customer, invoice)
        invoice = lock(Invoice, invoice.pk)
        if invoice.customer_id != customer.pk:
            raise InvalidRequest(f"The invoice {invoice.pk} is another customer's.", param="invoice")
        if invoice.status != Invoice.Status.DRAFT:
            raise StateConflict(
                f"Invoice items can only be added to draft invoices; {invoice.pk} is {invoice.status}.",
                param="invoice",
            )
        if invoice.currency != currency:
            raise InvalidRequest(
                f"The invoice item's currency ({currency}) must match the invoice's ({invoice.currency}).",
                param="currency",
            )
    return locked, subscription, invoice


@service
def invoice_item_create(
    *,
    customer: Customer,
    actor: Actor,
    currency: str | None = None,
    amount: int | None = None,
    unit_amount: int | None = None,
    price: Price | None = None,
    quantity: int = 1,
    description: str | None = None,
    period: tuple[dt.datetime, dt.datetime] | None = None,
    subscription: Subscription | None = None,
    invoice: Invoice | None = None,
    tax_rates: list[TaxRate] = (),
    discountable: bool = True,
    metadata: dict | None = None,
) -> InvoiceItem:
    """A pending invoice item (or, with ``invoice``, an item on that draft invoice, which is then computed again);
    ``amount`` in minor units (negative: a credit), or ``unit_amount`` × ``quantity``, or a one-time ``price``."""
    _check_price(customer, price)
    currency = (price.currency if price is not None else currency or customer.currency or "").lower()
    if not currency:
        raise InvalidRequest("Missing required param: currency.", param="currency", code="parameter_missing")
    if price is not None and currency != price.currency:
        raise InvalidRequest("The currency must match the price's currency.", param="currency")
    total = _amount(price, amount, unit_amount, quantity)
    rate = _check_tax_rates(customer, list(tax_rates))
    customer, subscription, invoice = _target(customer, subscription, invoice, currency)
    now = clock.now()
    start, end = period or (now, now)
    if end < start:
        raise InvalidRequest("period[end] must not be before period[start].", param="period[end]")
    item = InvoiceItem.objects.create(
        account_id=customer.account_id,
        livemode=customer.livemode,
        customer=customer,
        test_clock_id=customer.test_clock_id,
        subscription=subscription,
        price=price,
        description=(description or (price.product.name if price is not None else "")).strip()[:500],
        amount=total,
        currency=currency,
        quantity=quantity,
        tax_rate=rate,
        period_start=start,
        period_end=end,
        discountable=discountable,
        metadata=validate_metadata(metadata),
    )
    emit("invoiceitem.created", item)
    audit.record(actor, "invoiceitem.create", item, {"amount": total, "currency": currency})
    if invoice is not None:
        from billing.services.invoice_drafts import attach_items_locked, check_by_hand  # drafts build on this

        check_by_hand(invoice)
        attach_items_locked(invoice, [item])
    return item


def _editable(item_pk: str) -> InvoiceItem:
    item = InvoiceItem.objects.select_related("invoice").get(pk=item_pk)
    lock(Customer, item.customer_id)
    if item.subscription_id:
        lock(Subscription, item.subscription_id)
    item = lock(InvoiceItem, item_pk)
    if item.invoice_id is not None and item.invoice.status != Invoice.Status.DRAFT:
        raise StateConflict(
            f"The invoice item {item.pk} is on a finalized invoice ({item.invoice_id}) and can no longer be changed.",
            param="id",
        )
    if item.invoice_id is not None and item.invoice.billing_reason != Invoice.BillingReason.MANUAL:
        raise StateConflict(
            f"The invoice item {item.pk} is billed by a subscription's invoice ({item.invoice_id}).", param="id"
        )
    return item


@service
def invoice_item_update(
    *,
    invoice_item: InvoiceItem,
    actor: Actor,
    amount=UNCHANGED,
    unit_amount=UNCHANGED,
    price=UNCHANGED,
    quantity=UNCHANGED,
    description=UNCHANGED,
    period=UNCHANGED,
    tax_rates=UNCHANGED,
    discountable=UNCHANGED,
    metadata=UNCHANGED,
) -> InvoiceItem:
    """Change a pending item, or one on a draft invoice (which is then computed again). Stripe sends no event."""
    item = _editable(invoice_item.pk)
    before = render(item)
    if price is not UNCHANGED:
        _check_price(item.customer, price)
        if price is not None and price.currency != item.currency:
            raise InvalidRequest("The price's currency must match the invoice item's currency.", param="price")
        item.price = price
    new_quantity = item.quantity if quantity is UNCHANGED else quantity
    if price is not UNCHANGED or quantity is not UNCHANGED or amount is not UNCHANGED or unit_amount is not UNCHANGED:
        if item.price is not None and amount is UNCHANGED and unit_amount is UNCHANGED:
            item.amount = _amount(item.price, None, None, new_quantity)
        elif amount is UNCHANGED and unit_amount is UNCHANGED:
            item.amount = _amount(None, None, item.amount // max(item.quantity, 1), new_quantity)
        else:
            if price is UNCHANGED:
                item.price = None
            item.amount = _amount(
                None, None if amount is UNCHANGED else amount, None if unit_amount is UNCHANGED else unit_amount,
                new_quantity,
            )  # fmt: skip
        item.quantity = new_quantity
    if description is not UNCHANGED:
        item.description = (description or "").strip()[:500]
    if period is not UNCHANGED:
        item.period_start, item.period_end = period
        if item.period_end < item.period_start:
            raise InvalidRequest("period[end] must not be before period[start].", param="period[end]")
    if tax_rates is not UNCHANGED:
        item.tax_rate = _check_tax_rates(item.customer, list(tax_rates))
    if discountable is not UNCHANGED:
        item.discountable = discountable
    if metadata is not UNCHANGED:
        item.metadata = merge_metadata(item.metadata, metadata)
    after = render(item)
    if after != before:
        item.save()
        audit.record(actor, "invoiceitem.update", item, {k: after[k] for k in after if after[k] != before.get(k)})
        if item.invoice_id is not None:
            from billing.services.invoice_drafts import changed_locked  # drafts build on this module

            changed_locked(lock(Invoice, item.invoice_id))
    return item


@service
def invoice_item_delete(*, invoice_item: InvoiceItem, actor: Actor) -> None:
    """Delete a pending item, or take it off its draft invoice and delete it."""
    item = _editable(invoice_item.pk)
    invoice_id = item.invoice_id
    data = render(item)
    audit.record(actor, "invoiceitem.delete", item, {"amount": item.amount, "currency": item.currency})
    item.delete()
    emit_deleted(item, data)
    if invoice_id is not None:
        from billing.services.invoice_drafts import changed_locked  # drafts build on this module

        changed_locked(lock(Invoice, invoice_id))


def emit_deleted(item: InvoiceItem, data: dict) -> None:
    from billing import events

    events.record(type="invoiceitem.deleted", obj=item, data=data)
