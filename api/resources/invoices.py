"""/v1/invoices: list, retrieve, finalize, pay, void, mark_uncollectible and the line items."""

from api import errors
from api import params as p
from api.filters import time_range
from api.pagination import page
from api.router import operation
from billing import representations
from billing.models import Customer, Invoice, InvoiceLineItem, PaymentMethod, Subscription
from billing.services.invoices import invoice_finalize, invoice_mark_uncollectible, invoice_pay, invoice_void

LABEL = "invoice"
TAGS = ["Invoices"]
ACTION = {"expand": p.EXPAND}


def _invoices(ctx):
    return ctx.scope(Invoice).select_related("account").prefetch_related(*representations.PREFETCH[Invoice])


def _get(ctx, invoice_id: str) -> Invoice:
    return ctx.get(Invoice, invoice_id, LABEL, param="invoice", queryset=_invoices(ctx))


def _render(invoice: Invoice) -> dict:
    return representations.invoice(invoice)


@operation(
    "GET",
    "/v1/invoices",
    params={
        **p.LIST,
        "customer": p.Id(),
        "subscription": p.Id(),
        "status": p.String(choices=Invoice.Status.values),
        "collection_method": p.String(choices=Subscription.CollectionMethod.values),
        "created": p.Range(),
        "due_date": p.Range(),
    },
    response="list[invoice]",
    summary="List invoices",
    tags=TAGS,
)
def list_(ctx, params):
    queryset = _invoices(ctx)
    if "customer" in params:
        queryset = queryset.filter(customer=ctx.get(Customer, params["customer"], "customer", param="customer"))
    if "subscription" in params:
        subscription = ctx.get(Subscription, params["subscription"], "subscription", param="subscription")
        queryset = queryset.filter(subscription=subscription)
    for field in ("status", "collection_method"):
        if field in params:
            queryset = queryset.filter(**{field: params[field]})
    queryset = time_range(queryset, "created", params.get("created"))
    queryset = time_range(queryset, "due_date", params.get("due_date"))
    return page(queryset, params, url="/v1/invoices", render=_render, label=LABEL)


@operation("GET", "/v1/invoices/{invoice}", params=ACTION, response="invoice", summary="Retrieve an invoice", tags=TAGS)
def retrieve(ctx, params, invoice):
    return _render(_get(ctx, invoice))


@operation(
    "POST",
    "/v1/invoices/{invoice}/finalize",
    params=ACTION,
    response="invoice",
    summary="Finalize a draft invoice",
    tags=TAGS,
)
def finalize(ctx, params, invoice):
    invoice_finalize(invoice=_get(ctx, invoice), actor=ctx.actor)
    return _render(_get(ctx, invoice))


@operation(
    "POST",
    "/v1/invoices/{invoice}/pay",
    params={
        "payment_method": p.Id(description="A payment method of the invoice's customer; default: the invoice's."),
        "off_session": p.Boolean(description="Accepted for compatibility: payments here are always off-session."),
        "expand": p.EXPAND,
    },
    response="invoice",
    summary="Pay an invoice now",
    tags=TAGS,
)
def pay(ctx, params, invoice):
    obj = _get(ctx, invoice)
    payment_method = None
    if "payment_method" in params:
        payment_method = ctx.get(PaymentMethod, params["payment_method"], "PaymentMethod", param="payment_method")
    invoice_pay(invoice=obj, actor=ctx.actor, payment_method=payment_method)
    return _render(_get(ctx, invoice))


@operation(
    "POST", "/v1/invoices/{invoice}/void", params=ACTION, response="invoice", summary="Void an invoice", tags=TAGS
)
def void(ctx, params, invoice):
    invoice_void(invoice=_get(ctx, invoice), actor=ctx.actor)
    return _render(_get(ctx, invoice))


@operation(
    "POST",
    "/v1/invoices/{invoice}/mark_uncollectible",
    params=ACTION,
    response="invoice",
    summary="Mark an invoice as uncollectible",
    tags=TAGS,
)
def mark_uncollectible(ctx, params, invoice):
    invoice_mark_uncollectible(invoice=_get(ctx, invoice), actor=ctx.actor)
    return _render(_get(ctx, invoice))


@operation(
    "GET",
    "/v1/invoices/{invoice}/lines",
    params=p.LIST,
    response="list[line_item]",
    summary="List an invoice's line items (in invoice order)",
    tags=TAGS,
)
def lines(ctx, params, invoice):
    obj = ctx.get(Invoice, invoice, LABEL, param="invoice")
    queryset = ctx.scope(InvoiceLineItem).filter(invoice=obj).select_related("price")
    return _page_in_order(queryset, params, url=f"/v1/invoices/{obj.id}/lines")


def _page_in_order(queryset, params: dict, *, url: str) -> dict:
    """Like ``api.pagination.page`` but oldest first: an invoice's lines read in the order it prints them."""
    limit = params.get("limit") or 10
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        raise errors.invalid(
            "ending_before", "You may only specify one of these parameters: starting_after, ending_before."
        )
    for cursor, param in ((after, "starting_after"), (before, "ending_before")):
        if cursor and not queryset.filter(pk=cursor).exists():
            raise errors.no_such("line item", cursor, param=param)
    if before:
        rows = list(queryset.filter(pk__lt=before).order_by("-pk")[: limit + 1])
        has_more = len(rows) > limit
        rows = list(reversed(rows[:limit]))
    else:
        if after:
            queryset = queryset.filter(pk__gt=after)
        rows = list(queryset.order_by("pk")[: limit + 1])
        has_more = len(rows) > limit
        rows = rows[:limit]
    return {"object": "list", "data": [representations.invoice_line(r) for r in rows], "has_more": has_more, "url": url}
