"""/v1/invoices made by hand: create a draft, update or delete it, add, remove and update its lines, and send."""

from api import params as p
from api.resources.invoice_items import FIELDS, item_arguments, update_arguments
from api.resources.invoices import TAGS, _get, _render
from api.router import operation
from billing.models import Customer, InvoiceItem, InvoiceLineItem, PaymentMethod, Subscription
from billing.services.invoice_drafts import (
    invoice_add_lines,
    invoice_create,
    invoice_delete_draft,
    invoice_remove_lines,
    invoice_send,
    invoice_update_draft,
    invoice_update_lines,
)

COLLECTION = p.String(choices=Subscription.CollectionMethod.values)
LINE_FIELDS = {key: value for key, value in FIELDS.items() if key != "expand"}


def _payment_method(ctx, params):
    pm = params["default_payment_method"]
    if pm is p.UNSET:
        return None
    return ctx.get(PaymentMethod, pm, "PaymentMethod", param="default_payment_method")


@operation(
    "POST",
    "/v1/invoices",
    params={
        "customer": p.Id(required=True),
        "auto_advance": p.Boolean(),
        "collection_method": COLLECTION,
        "days_until_due": p.Integer(min_value=0, max_value=730),
        "currency": p.String(max_length=3),
        "description": p.String(max_length=1500),
        "metadata": p.Metadata(),
        "pending_invoice_items_behavior": p.String(choices=("include", "exclude")),
        "subscription": p.Id(),
        "default_payment_method": p.Id(),
        "expand": p.EXPAND,
    },
    response="invoice",
    summary="Create a draft invoice (pending invoice items with pending_invoice_items_behavior=include)",
    tags=TAGS,
)
def create(ctx, params):
    customer = ctx.get(Customer, params["customer"], "customer", param="customer")
    subscription = None
    if params.get("subscription"):
        subscription = ctx.get(Subscription, params["subscription"], "subscription", param="subscription")
    invoice = invoice_create(
        customer=customer,
        actor=ctx.actor,
        currency=params.get("currency"),
        subscription=subscription,
        pending_invoice_items_behavior=params.get("pending_invoice_items_behavior", "exclude"),
        collection_method=params.get("collection_method", Subscription.CollectionMethod.CHARGE_AUTOMATICALLY),
        days_until_due=params.get("days_until_due"),
        auto_advance=params.get("auto_advance", False),
        description=params.get("description") or "",
        metadata=params.get("metadata") or {},
        default_payment_method=_payment_method(ctx, params) if "default_payment_method" in params else None,
    )
    return _render(_get(ctx, invoice.pk))


@operation(
    "POST",
    "/v1/invoices/{invoice}",
    params={
        "auto_advance": p.Boolean(),
        "collection_method": COLLECTION,
        "days_until_due": p.Integer(min_value=0, max_value=730),
        "description": p.String(max_length=1500, unsettable=True),
        "metadata": p.Metadata(),
        "default_payment_method": p.Id(unsettable=True),
        "expand": p.EXPAND,
    },
    response="invoice",
    summary="Update an invoice (metadata at any time; the other fields while it is a draft)",
    tags=TAGS,
)
def update(ctx, params, invoice):
    obj = _get(ctx, invoice)
    arguments = {
        name: params[name] for name in ("auto_advance", "collection_method", "days_until_due") if name in params
    }
    if "description" in params:
        arguments["description"] = params["description"] or ""
    if "metadata" in params:
        arguments["metadata"] = "" if params["metadata"] is p.UNSET else params["metadata"]
    if "default_payment_method" in params:
        arguments["default_payment_method"] = _payment_method(ctx, params)
    invoice_update_draft(invoice=obj, actor=ctx.actor, **arguments)
    return _render(_get(ctx, invoice))


@operation("DELETE", "/v1/invoices/{invoice}", response="deleted_invoice", summary="Delete a draft invoice", tags=TAGS)
def delete(ctx, params, invoice):
    obj = _get(ctx, invoice)
    invoice_delete_draft(invoice=obj, actor=ctx.actor)
    return {"id": obj.pk, "object": "invoice", "deleted": True}


ADD_LINE = p.Object({**LINE_FIELDS, "invoice_item": p.Id()})


@operation(
    "POST",
    "/v1/invoices/{invoice}/add_lines",
    params={
        "lines": p.Array(ADD_LINE, max_items=50, required=True),
        "invoice_metadata": p.Metadata(),
        "expand": p.EXPAND,
    },
    response="invoice",
    summary="Add lines to a draft invoice (pending invoice items, or new ones)",
    tags=TAGS,
)
def add_lines(ctx, params, invoice):
    obj = _get(ctx, invoice)
    items, new_items = [], []
    for i, line in enumerate(params["lines"]):
        if line.get("invoice_item"):
            items.append(ctx.get(InvoiceItem, line["invoice_item"], "invoiceitem", param=f"lines[{i}][invoice_item]"))
        else:
            new_items.append(item_arguments(ctx, line))
    invoice_add_lines(
        invoice=obj, actor=ctx.actor, items=items, new_items=new_items, invoice_metadata=_invoice_metadata(params)
    )
    return _render(_get(ctx, invoice))


def _line(ctx, obj, i: int, line_id: str) -> InvoiceLineItem:
    queryset = ctx.scope(InvoiceLineItem).filter(invoice=obj).select_related("invoice_item")
    return ctx.get(InvoiceLineItem, line_id, "line item", param=f"lines[{i}][id]", queryset=queryset)


def _invoice_metadata(params):
    if "invoice_metadata" not in params:
        return None
    return "" if params["invoice_metadata"] is p.UNSET else params["invoice_metadata"]


REMOVE_LINE = p.Object({"id": p.Id(required=True), "behavior": p.String(choices=("delete", "unassign"), required=True)})


@operation(
    "POST",
    "/v1/invoices/{invoice}/remove_lines",
    params={
        "lines": p.Array(REMOVE_LINE, max_items=50, required=True),
        "invoice_metadata": p.Metadata(),
        "expand": p.EXPAND,
    },
    response="invoice",
    summary="Remove lines from a draft invoice (delete their invoice items, or make them pending again)",
    tags=TAGS,
)
def remove_lines(ctx, params, invoice):
    obj = _get(ctx, invoice)
    lines = [(_line(ctx, obj, i, line["id"]), line["behavior"]) for i, line in enumerate(params["lines"])]
    invoice_remove_lines(invoice=obj, actor=ctx.actor, lines=lines, invoice_metadata=_invoice_metadata(params))
    return _render(_get(ctx, invoice))


UPDATE_LINE = p.Object({**LINE_FIELDS, "id": p.Id(required=True)})


@operation(
    "POST",
    "/v1/invoices/{invoice}/update_lines",
    params={
        "lines": p.Array(UPDATE_LINE, max_items=50, required=True),
        "invoice_metadata": p.Metadata(),
        "expand": p.EXPAND,
    },
    response="invoice",
    summary="Update lines of a draft invoice",
    tags=TAGS,
)
def update_lines(ctx, params, invoice):
    obj = _get(ctx, invoice)
    updates = [
        (_line(ctx, obj, i, line["id"]), update_arguments(ctx, {k: v for k, v in line.items() if k != "id"}))
        for i, line in enumerate(params["lines"])
    ]
    invoice_update_lines(invoice=obj, actor=ctx.actor, updates=updates, invoice_metadata=_invoice_metadata(params))
    return _render(_get(ctx, invoice))


@operation(
    "POST",
    "/v1/invoices/{invoice}/send",
    params={"expand": p.EXPAND},
    response="invoice",
    summary="Send an invoice to its customer (a draft is finalized first)",
    tags=TAGS,
)
def send(ctx, params, invoice):
    invoice_send(invoice=_get(ctx, invoice), actor=ctx.actor)
    return _render(_get(ctx, invoice))
