"""/v1/invoiceitems: one-off charges and credits for a customer's next invoice (or a draft invoice)."""

from api import errors
from api import params as p
from api.filters import time_range
from api.pagination import page
from api.router import operation
from billing import representations
from billing.models import Customer, Invoice, InvoiceItem, Price, Subscription, TaxRate
from billing.services.invoice_items import invoice_item_create, invoice_item_delete, invoice_item_update

LABEL = "invoiceitem"
TAGS = ["Invoice items"]
PERIOD = p.Object({"start": p.Timestamp(required=True), "end": p.Timestamp(required=True)})
AMOUNT = p.Integer(min_value=-99_999_999_999, max_value=99_999_999_999)
FIELDS = {
    "amount": AMOUNT,
    "unit_amount": AMOUNT,
    "unit_amount_decimal": p.Decimal(),
    "description": p.String(max_length=500, unsettable=True),
    "price": p.Id(),
    "pricing": p.Object({"price": p.Id()}),
    "quantity": p.Integer(min_value=1, max_value=10**7),
    "period": PERIOD,
    "tax_rates": p.Array(p.Id(), max_items=1, unsettable=True),
    "discountable": p.Boolean(),
    "metadata": p.Metadata(),
    "expand": p.EXPAND,
}


def _items(ctx):
    return ctx.scope(InvoiceItem).select_related("price", "tax_rate")


def _get(ctx, item_id: str) -> InvoiceItem:
    return ctx.get(InvoiceItem, item_id, LABEL, param="invoiceitem", queryset=_items(ctx))


def _render(item: InvoiceItem) -> dict:
    return representations.invoice_item(item)


def _price(ctx, params) -> Price | None:
    price_id = params.get("price") or (params.get("pricing") or {}).get("price")
    if not price_id:
        return None
    param = "price" if params.get("price") else "pricing[price]"
    return ctx.get(Price, price_id, "price", param=param, queryset=ctx.scope(Price).select_related("product"))


def _unit_amount(params) -> int | None:
    if "unit_amount_decimal" in params:
        value = params["unit_amount_decimal"]
        if value != value.to_integral_value():
            raise errors.invalid("unit_amount_decimal", "Fractions of the smallest currency unit are not supported.")
        return int(value)
    return params.get("unit_amount")


def _tax_rates(ctx, params) -> list[TaxRate]:
    return [
        ctx.get(TaxRate, rate, "tax_rate", param=f"tax_rates[{i}]") for i, rate in enumerate(params["tax_rates"] or [])
    ]


def _period(params):
    return params["period"]["start"], params["period"]["end"]


def item_arguments(ctx, params) -> dict:
    """``invoice_item_create`` arguments (besides customer) from an invoice item's parameters."""
    arguments = {
        "amount": params.get("amount"),
        "unit_amount": _unit_amount(params),
        "price": _price(ctx, params),
        "quantity": params.get("quantity", 1),
        "description": params.get("description") or None,
        "discountable": params.get("discountable", True),
        "metadata": params.get("metadata") or {},
    }
    if "period" in params:
        arguments["period"] = _period(params)
    if "tax_rates" in params:
        arguments["tax_rates"] = _tax_rates(ctx, params)
    return arguments


@operation(
    "POST",
    "/v1/invoiceitems",
    params={
        **FIELDS,
        "customer": p.Id(required=True),
        "currency": p.String(max_length=3),
        "subscription": p.Id(),
        "invoice": p.Id(),
        "tax_behavior": p.String(choices=("exclusive", "inclusive", "unspecified")),
    },
    response="invoiceitem",
    summary="Create an invoice item (pending for the customer's next invoice, or on a draft invoice)",
    tags=TAGS,
)
def create(ctx, params):
    customer = ctx.get(Customer, params["customer"], "customer", param="customer")
    subscription = None
    if params.get("subscription"):
        subscription = ctx.get(Subscription, params["subscription"], "subscription", param="subscription")
    invoice = ctx.get(Invoice, params["invoice"], "invoice", param="invoice") if params.get("invoice") else None
    item = invoice_item_create(
        customer=customer,
        actor=ctx.actor,
        currency=params.get("currency"),
        subscription=subscription,
        invoice=invoice,
        **item_arguments(ctx, params),
    )
    return _render(_get(ctx, item.pk))


@operation(
    "GET",
    "/v1/invoiceitems/{invoiceitem}",
    params={"expand": p.EXPAND},
    response="invoiceitem",
    summary="Retrieve an invoice item",
    tags=TAGS,
)
def retrieve(ctx, params, invoiceitem):
    return _render(_get(ctx, invoiceitem))


def update_arguments(ctx, params) -> dict:
    """``invoice_item_update`` arguments for the parameters given."""
    arguments = {}
    for name in ("amount", "quantity", "discountable"):
        if name in params:
            arguments[name] = params[name]
    if "unit_amount" in params or "unit_amount_decimal" in params:
        arguments["unit_amount"] = _unit_amount(params)
    if "price" in params or "pricing" in params:
        arguments["price"] = _price(ctx, params)
    if "description" in params:
        arguments["description"] = params["description"] or ""
    if "period" in params:
        arguments["period"] = _period(params)
    if "tax_rates" in params:
        arguments["tax_rates"] = _tax_rates(ctx, params)
    if "metadata" in params:
        arguments["metadata"] = "" if params["metadata"] is p.UNSET else params["metadata"]
    return arguments


@operation(
    "POST",
    "/v1/invoiceitems/{invoiceitem}",
    params=FIELDS,
    response="invoiceitem",
    summary="Update a pending invoice item (or one on a draft invoice)",
    tags=TAGS,
)
def update(ctx, params, invoiceitem):
    item = _get(ctx, invoiceitem)
    invoice_item_update(invoice_item=item, actor=ctx.actor, **update_arguments(ctx, params))
    return _render(_get(ctx, invoiceitem))


@operation(
    "DELETE",
    "/v1/invoiceitems/{invoiceitem}",
    response="deleted_invoiceitem",
    summary="Delete a pending invoice item (or one on a draft invoice)",
    tags=TAGS,
)
def delete(ctx, params, invoiceitem):
    item = _get(ctx, invoiceitem)
    invoice_item_delete(invoice_item=item, actor=ctx.actor)
    return {"id": item.pk, "object": "invoiceitem", "deleted": True}


@operation(
    "GET",
    "/v1/invoiceitems",
    params={**p.LIST, "customer": p.Id(), "invoice": p.Id(), "pending": p.Boolean(), "created": p.Range()},
    response="list[invoiceitem]",
    summary="List invoice items",
    tags=TAGS,
)
def list_(ctx, params):
    queryset = _items(ctx)
    if params.get("customer"):
        queryset = queryset.filter(customer=ctx.get(Customer, params["customer"], "customer", param="customer"))
    if params.get("invoice"):
        queryset = queryset.filter(invoice=ctx.get(Invoice, params["invoice"], "invoice", param="invoice"))
    if "pending" in params:
        queryset = queryset.filter(invoice__isnull=params["pending"])
    queryset = time_range(queryset, "created", params.get("created"))
    return page(queryset, params, url="/v1/invoiceitems", render=_render, label=LABEL)
