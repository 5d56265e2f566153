"""Invoices made by hand: a draft for a customer (taking up their pending invoice items when asked), its fields and
lines changed while it is a draft (each line is an invoice item), a draft deleted, and an invoice sent.

Lock order as everywhere (``billing.services.door``): customer, subscription, invoice, then the invoice items.
"""

import datetime as dt

from billing import audit, clock
from billing.audit import Actor
from billing.exceptions import InvalidRequest, StateConflict
from billing.models import Customer, Invoice, InvoiceItem, InvoiceLineItem, PaymentMethod, Subscription
from billing.services import invoices
from billing.services.common import emit, lock, merge_metadata, render, same_tenant, validate_metadata
from billing.services.door import service
from billing.services.invoice_items import invoice_item_delete
from billing.services.subscriptions.lines import customer_items_query, item_lines, pending_items_query

PENDING_BEHAVIORS = ("include", "exclude")
UNCHANGED = object()


def _check_collection(collection_method: str, days_until_due: int | None) -> None:
    if collection_method not in Subscription.CollectionMethod.values:
        raise InvalidRequest(f"Invalid collection_method: {collection_method}", param="collection_method")
    if collection_method == Subscription.CollectionMethod.SEND_INVOICE and days_until_due is None:
        raise InvalidRequest(
            "Missing required param: days_until_due.", param="days_until_due", code="parameter_missing"
        )


@service
def invoice_create(
    *,
    customer: Customer,
    actor: Actor,
    currency: str | None = None,
    subscription: Subscription | None = None,
    pending_invoice_items_behavior: str = "exclude",
    collection_method: str = Subscription.CollectionMethod.CHARGE_AUTOMATICALLY,
    days_until_due: int | None = None,
    auto_advance: bool = False,
    description: str = "",
    metadata: dict | None = None,
    default_payment_method: PaymentMethod | None = None,
) -> Invoice:
    """A draft invoice for ``customer``. ``pending_invoice_items_behavior="include"`` takes up the customer's pending
    invoice items (those of ``subscription`` when one is named, else those naming no subscription)."""
    if pending_invoice_items_behavior not in PENDING_BEHAVIORS:
        raise InvalidRequest(
            f"Invalid pending_invoice_items_behavior: {pending_invoice_items_behavior}",
            param="pending_invoice_items_behavior",
        )
    _check_collection(collection_method, days_until_due)
    customer = lock(Customer, customer.pk)
    if subscription is not None:
        same_tenant(customer, subscription)
        subscription = lock(Subscription, subscription.pk)
        if subscription.customer_id != customer.pk:
            raise InvalidRequest(
                f"The subscription {subscription.pk} does not belong to the customer {customer.pk}.",
                param="subscription",
            )
    if default_payment_method is not None:
        same_tenant(customer, default_payment_method)
        if default_payment_method.customer_id != customer.pk:
            raise InvalidRequest(
                f"The customer does not have a payment method with the ID {default_payment_method.id}.",
                param="default_payment_method",
            )
    currency = (currency or (subscription.currency if subscription else "") or customer.currency or "").lower()
    if not currency:
        raise InvalidRequest("Missing required param: currency.", param="currency", code="parameter_missing")
    items = []
    if pending_invoice_items_behavior == "include":
        query = pending_items_query([subscription.pk]) if subscription else customer_items_query(customer.pk, currency)
        items = list(query.select_for_update(of=("self",), no_key=True).filter(currency=currency))
    now = clock.now()
    invoice = invoices.invoice_build(
        customer=customer,
        subscription=subscription,
        currency=currency,
        billing_reason=Invoice.BillingReason.MANUAL,
        period_start=min([now, *(item.period_start for item in items)]),
        period_end=now,
        lines=item_lines(items),
        collection_method=collection_method,
        days_until_due=days_until_due,
    )
    invoice.auto_advance = auto_advance
    invoice.description = (description or "").strip()[:1500]
    invoice.metadata = validate_metadata(metadata)
    if default_payment_method is not None:
        invoice.default_payment_method = default_payment_method
    invoices.invoice_write(invoice)
    audit.record(actor, "invoice.create", invoice, {"items": [item.pk for item in items]})
    return invoice


def _draft(invoice_pk: str, action: str = "change") -> Invoice:
    invoice = Invoice.objects.only("customer_id", "subscription_id").get(pk=invoice_pk)
    lock(Customer, invoice.customer_id)
    invoice = lock(Invoice, invoice_pk)
    if invoice.status != Invoice.Status.DRAFT:
        raise StateConflict(
            f"You can only {action} draft invoices; this invoice is {invoice.status}.",
            param="invoice",
            code="invoice_not_editable" if action == "change" else None,
        )
    return invoice


def recompute_locked(invoice: Invoice) -> None:
    """A draft made by hand, computed again from its invoice items: one line per item, each keeping its id."""
    items = list(InvoiceItem.objects.filter(invoice=invoice).select_related("price", "tax_rate"))
    lines = {line.invoice_item_id: line for line in InvoiceLineItem.objects.filter(invoice=invoice)}
    specs = item_lines(items)
    totals = invoices.compute(specs, [])
    now = clock.now()
    rows = []
    for spec, result in zip(specs, totals.lines, strict=True):
        row = invoices.line_row(invoice, spec, result, now)
        old = lines.get(spec.invoice_item.pk)
        if old is not None:
            row.pk, row.created = old.pk, old.created
            row._state.adding = False  # the same line, updated in place
        rows.append(row)
    InvoiceLineItem.objects.filter(invoice=invoice).exclude(pk__in=[row.pk for row in rows]).delete()
    for row in rows:
        row.save()
    invoices.set_totals(invoice, totals)
    invoice.save()


def check_by_hand(invoice: Invoice, param: str = "invoice") -> None:
    """Lines change on drafts made by hand only (a subscription's draft bills its period as the cycle built it)."""
    if invoice.billing_reason != Invoice.BillingReason.MANUAL:
        raise StateConflict(
            "Lines can only be changed on invoices made with POST /v1/invoices; this one belongs to a subscription.",
            param=param,
        )


def attach_items_locked(invoice: Invoice, items: list[InvoiceItem]) -> None:
    """Put invoice items (of the invoice's customer, locked by the caller) on a locked draft and compute it again."""
    InvoiceItem.objects.filter(pk__in=[item.pk for item in items]).update(invoice=invoice)
    changed_locked(invoice)


def changed_locked(invoice: Invoice) -> None:
    """Compute a locked draft again and record ``invoice.updated``."""
    before = render(Invoice.objects.get(pk=invoice.pk))
    recompute_locked(invoice)
    invoice = Invoice.objects.prefetch_related("lines").get(pk=invoice.pk)
    emit("invoice.updated", invoice, before=before)


@service
def invoice_update_draft(
    *,
    invoice: Invoice,
    actor: Actor,
    description=UNCHANGED,
    metadata=UNCHANGED,
    collection_method=UNCHANGED,
    days_until_due=UNCHANGED,
    auto_advance=UNCHANGED,
    default_payment_method=UNCHANGED,
) -> Invoice:
    """Change an invoice's fields: metadata at any time, the others while it is a draft."""
    if all(value is UNCHANGED for value in (description, collection_method, days_until_due, auto_advance,
                                              default_payment_method)):  # fmt: skip
        locked = lock(Invoice, invoice.pk)
    else:
        locked = _draft(invoice.pk)
    before = render(locked)
    if metadata is not UNCHANGED:
        locked.metadata = merge_metadata(locked.metadata, metadata)
    if description is not UNCHANGED:
        locked.description = (description or "").strip()[:1500]
    if auto_advance is not UNCHANGED:
        locked.auto_advance = bool(auto_advance)
    if collection_method is not UNCHANGED or days_until_due is not UNCHANGED:
        method = locked.collection_method if collection_method is UNCHANGED else collection_method
        days = None if days_until_due is UNCHANGED else days_until_due
        if days is None and method == Subscription.CollectionMethod.SEND_INVOICE and locked.due_date:
            days = max((locked.due_date - locked.created).days, 0)
        _check_collection(method, days)
        locked.collection_method = method
        locked.due_date = locked.created + dt.timedelta(days=days) if days is not None else None
    if default_payment_method is not UNCHANGED:
        if default_payment_method is not None and default_payment_method.customer_id != locked.customer_id:
            raise InvalidRequest(
                f"The customer does not have a payment method with the ID {default_payment_method.id}.",
                param="default_payment_method",
            )
        locked.default_payment_method = default_payment_method
    after = render(locked)
    if after != before:
        locked.save()
        emit("invoice.updated", locked, before=before)
        audit.record(actor, "invoice.update", locked, {k: after[k] for k in after if after[k] != before.get(k)})
    return locked


@service
def invoice_delete_draft(*, invoice: Invoice, actor: Actor) -> None:
    """Delete a draft made by hand; its invoice items are pending again, for the customer's next invoice."""
    locked = _draft(invoice.pk, action="delete")
    if locked.billing_reason != Invoice.BillingReason.MANUAL:
        raise StateConflict("A subscription's invoice cannot be deleted; void it once finalized.", param="invoice")
    data = render(Invoice.objects.prefetch_related("lines").get(pk=locked.pk))
    InvoiceItem.objects.filter(invoice=locked).update(invoice=None)
    audit.record(actor, "invoice.delete", locked)
    from billing import events

    events.record(type="invoice.deleted", obj=locked, data=data)
    locked.delete()


@service
def invoice_add_lines(
    *, invoice: Invoice, actor: Actor, items: list[InvoiceItem] = (), new_items=(), invoice_metadata=None
) -> Invoice:
    """Add lines to a draft: pending invoice items of its customer (``items``), and new invoice items made with
    ``invoice_item_create`` arguments (``new_items``: dicts without customer, invoice and actor)."""
    from billing.services.invoice_items import invoice_item_create  # the item service drives drafts too

    locked = _draft(invoice.pk)
    check_by_hand(locked)
    for i, item in enumerate(items):
        item = lock(InvoiceItem, item.pk)
        if item.customer_id != locked.customer_id or item.currency != locked.currency:
            raise InvalidRequest(
                f"The invoice item {item.pk} is another customer's or in another currency.",
                param=f"lines[{i}][invoice_item]",
            )
        if item.invoice_id is not None:
            raise InvalidRequest(
                f"The invoice item {item.pk} is already on invoice {item.invoice_id}.",
                param=f"lines[{i}][invoice_item]",
            )
    InvoiceItem.objects.filter(pk__in=[item.pk for item in items]).update(invoice=locked)
    for arguments in new_items:
        item = invoice_item_create(customer=locked.customer, actor=actor, **arguments, currency=locked.currency)
        InvoiceItem.objects.filter(pk=item.pk).update(invoice=locked)
    _set_metadata(locked, invoice_metadata)
    changed_locked(locked)
    audit.record(actor, "invoice.add_lines", locked, {"items": [item.pk for item in items]})
    return locked


@service
def invoice_remove_lines(
    *, invoice: Invoice, actor: Actor, lines: list[tuple[InvoiceLineItem, str]], invoice_metadata=None
) -> Invoice:
    """Take lines off a draft: ``behavior`` ``delete`` deletes their invoice items, ``unassign`` makes them pending
    again. Only lines of invoice items can be removed."""
    locked = _draft(invoice.pk)
    check_by_hand(locked)
    for i, (line, behavior) in enumerate(lines):
        if line.invoice_id != locked.pk or line.invoice_item_id is None:
            raise InvalidRequest(
                f"The line {line.pk} is not an invoice item line of this invoice.", param=f"lines[{i}][id]"
            )
        if behavior == "delete":
            invoice_item_delete(invoice_item=line.invoice_item, actor=actor)
        else:
            InvoiceItem.objects.filter(pk=line.invoice_item_id).update(invoice=None)
    _set_metadata(locked, invoice_metadata)
    changed_locked(locked)
    audit.record(actor, "invoice.remove_lines", locked, {"lines": [line.pk for line, _ in lines]})
    return locked


@service
def invoice_send(*, invoice: Invoice, actor: Actor) -> Invoice:
    """Send the invoice to its customer (a draft is finalized first): records ``invoice.sent``. Test-mode invoices
    are never emailed, as at Stripe."""
    lock(Customer, invoice.customer_id)  # finalizing may change the customer's balance: customer before invoice
    locked = lock(Invoice, invoice.pk)
    if locked.status == Invoice.Status.DRAFT:
        invoices.finalize_locked(locked)
    if locked.status in (Invoice.Status.VOID, Invoice.Status.UNCOLLECTIBLE):
        raise StateConflict(f"You cannot send an invoice with status {locked.status}.", param="invoice")
    emit("invoice.sent", Invoice.objects.prefetch_related("lines").get(pk=locked.pk))
    audit.record(actor, "invoice.send", locked)
    return locked


@service
def invoice_update_lines(
    *, invoice: Invoice, actor: Actor, updates: list[tuple[InvoiceLineItem, dict]], invoice_metadata=None
) -> Invoice:
    """Change lines of a draft made by hand: each line's invoice item, with ``invoice_item_update`` arguments."""
    from billing.services.invoice_items import invoice_item_update  # the item service drives drafts too

    locked = _draft(invoice.pk)
    check_by_hand(locked)
    for i, (line, arguments) in enumerate(updates):
        if line.invoice_id != locked.pk or line.invoice_item_id is None:
            raise InvalidRequest(
                f"The line {line.pk} is not an invoice item line of this invoice.", param=f"lines[{i}][id]"
            )
        invoice_item_update(invoice_item=line.invoice_item, actor=actor, **arguments)
    if invoice_metadata is not None:
        locked = lock(Invoice, locked.pk)
        _set_metadata(locked, invoice_metadata)
        changed_locked(locked)
    return locked


def _set_metadata(invoice: Invoice, metadata) -> None:
    if metadata is not None:
        invoice.metadata = merge_metadata(invoice.metadata, metadata)
