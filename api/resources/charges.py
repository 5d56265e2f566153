"""/v1/charges: retrieve, list, search and update (charges are made by payments, never through this resource)."""

from django.db.models import F, Q

from api import errors
from api import params as p
from api.filters import time_range
from api.pagination import page
from api.router import operation
from api.search import SearchField, integer_q, parse, search_page, to_q
from billing import payment_representations
from billing.models import Charge, Customer, PaymentIntent
from billing.services.charges import charge_update

LABEL = "charge"
TAGS = ["Charges"]


def _charges(ctx):
    return ctx.scope(Charge).select_related("payment_method")


def _get(ctx, charge_id: str) -> Charge:
    return ctx.get(Charge, charge_id, LABEL, param="charge", queryset=_charges(ctx))


def _render(charge: Charge) -> dict:
    return payment_representations.charge(charge)


@operation(
    "GET",
    "/v1/charges/{charge}",
    params={"expand": p.EXPAND},
    response="charge",
    summary="Retrieve a charge",
    tags=TAGS,
)
def retrieve(ctx, params, charge):
    return _render(_get(ctx, charge))


@operation(
    "POST",
    "/v1/charges/{charge}",
    params={"description": p.String(max_length=1000, unsettable=True), "metadata": p.Metadata(), "expand": p.EXPAND},
    response="charge",
    summary="Update a charge's description and metadata",
    tags=TAGS,
)
def update(ctx, params, charge):
    obj = _get(ctx, charge)
    description = params.get("description")
    metadata = params.get("metadata")
    charge_update(
        charge=obj,
        actor=ctx.actor,
        description="" if description is p.UNSET else description,
        metadata="" if metadata is p.UNSET else metadata,
    )
    return _render(_get(ctx, charge))


@operation(
    "GET",
    "/v1/charges",
    params={**p.LIST, "customer": p.Id(), "payment_intent": p.Id(), "created": p.Range()},
    response="list[charge]",
    summary="List charges",
    tags=TAGS,
)
def list_(ctx, params):
    queryset = _charges(ctx)
    if "customer" in params:
        queryset = queryset.filter(customer=ctx.get(Customer, params["customer"], "customer", param="customer"))
    if "payment_intent" in params:
        intent = ctx.get(PaymentIntent, params["payment_intent"], "payment_intent", param="payment_intent")
        queryset = queryset.filter(payment_intent=intent)
    queryset = time_range(queryset, "created", params.get("created"))
    return page(queryset, params, url="/v1/charges", render=_render, label=LABEL)


def _refunded(op: str, value) -> Q:
    if op != ":" or value not in ("true", "false"):
        raise errors.ApiError('refunded supports only refunded:"true" or refunded:"false".', param="query")
    fully = Q(amount_refunded__gt=0, amount_refunded__gte=F("amount"))
    return fully if value == "true" else ~fully


SEARCH_FIELDS = {
    "amount": SearchField("number", to_q=integer_q("amount")),
    "created": SearchField("number", lookup="created"),
    "currency": SearchField("string", lookup="currency"),
    "customer": SearchField("string", lookup="customer_id"),
    "metadata": SearchField("metadata"),
    "payment_intent": SearchField("string", lookup="payment_intent_id"),
    "refunded": SearchField("string", to_q=_refunded),
    "status": SearchField("string", lookup="status"),
}


@operation(
    "GET",
    "/v1/charges/search",
    params=p.SEARCH,
    response="search_result[charge]",
    summary="Search charges with Stripe's query language (amount, created, currency, customer, metadata, "
    "payment_intent, refunded, status)",
    tags=TAGS,
)
def search(ctx, params):
    clauses, joiner = parse(params["query"])
    queryset = _charges(ctx).filter(to_q(clauses, joiner, SEARCH_FIELDS))
    return search_page(queryset, params, url="/v1/charges/search", render=_render)
