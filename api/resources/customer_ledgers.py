"""/v1/customers/{customer}/tax_ids and /v1/customers/{customer}/balance_transactions."""

from api import params as p
from api.filters import time_range
from api.pagination import page
from api.router import operation
from billing import representations, tax_ids
from billing.models import Customer, CustomerBalanceTransaction, TaxId
from billing.services.customers import customer_balance_adjust
from billing.services.tax_ids import tax_id_create, tax_id_delete

TAGS = ["Customers"]
TAX_ID_TYPES = sorted(tax_ids.TYPES)


def _customer(ctx, customer_id: str) -> Customer:
    return ctx.get(Customer, customer_id, "customer", param="customer")


def _tax_id(ctx, customer: Customer, tax_id: str) -> TaxId:
    return ctx.get(TaxId, tax_id, "tax_id", queryset=ctx.scope(TaxId).filter(customer=customer))


@operation(
    "POST",
    "/v1/customers/{customer}/tax_ids",
    params={
        "type": p.String(choices=TAX_ID_TYPES, required=True),
        "value": p.String(max_length=64, required=True),
        "expand": p.EXPAND,
    },
    response="tax_id",
    summary="Add a tax id to a customer (Stripe's types; the value's format is checked)",
    tags=TAGS,
)
def tax_id_add(ctx, params, customer):
    obj = tax_id_create(customer=_customer(ctx, customer), type=params["type"], value=params["value"], actor=ctx.actor)
    return representations.tax_id(obj)


@operation(
    "GET",
    "/v1/customers/{customer}/tax_ids/{id}",
    params={"expand": p.EXPAND},
    response="tax_id",
    summary="Retrieve a customer's tax id",
    tags=TAGS,
)
def tax_id_retrieve(ctx, params, customer, id):
    return representations.tax_id(_tax_id(ctx, _customer(ctx, customer), id))


@operation(
    "DELETE",
    "/v1/customers/{customer}/tax_ids/{id}",
    params={},
    response="deleted_tax_id",
    summary="Remove a customer's tax id",
    tags=TAGS,
)
def tax_id_remove(ctx, params, customer, id):
    tax_id_delete(tax_id=_tax_id(ctx, _customer(ctx, customer), id), actor=ctx.actor)
    return {"id": id, "object": "tax_id", "deleted": True}


@operation(
    "GET",
    "/v1/customers/{customer}/tax_ids",
    params=p.LIST,
    response="list[tax_id]",
    summary="List a customer's tax ids",
    tags=TAGS,
)
def tax_id_list(ctx, params, customer):
    obj = _customer(ctx, customer)
    return page(
        ctx.scope(TaxId).filter(customer=obj),
        params,
        url=f"/v1/customers/{obj.pk}/tax_ids",
        render=representations.tax_id,
        label="tax_id",
    )


@operation(
    "GET",
    "/v1/customers/{customer}/balance_transactions",
    params={**p.LIST, "created": p.Range(), "invoice": p.String(max_length=5000)},
    response="list[customer_balance_transaction]",
    summary="List the changes of a customer's balance (newest first)",
    tags=TAGS,
)
def balance_transaction_list(ctx, params, customer):
    obj = _customer(ctx, customer)
    queryset = ctx.scope(CustomerBalanceTransaction).filter(customer=obj)
    if "invoice" in params:
        queryset = queryset.filter(invoice_id=params["invoice"])
    queryset = time_range(queryset, "created", params.get("created"))
    return page(
        queryset,
        params,
        url=f"/v1/customers/{obj.pk}/balance_transactions",
        render=representations.customer_balance_transaction,
        label="customer_balance_transaction",
    )


@operation(
    "POST",
    "/v1/customers/{customer}/balance_transactions",
    params={
        "amount": p.Integer(required=True),
        "currency": p.String(max_length=3, required=True),
        "description": p.String(max_length=350),
        "metadata": p.Metadata(),
        "expand": p.EXPAND,
    },
    response="customer_balance_transaction",
    summary="Adjust a customer's balance (negative: credit for the customer)",
    tags=TAGS,
)
def balance_transaction_create(ctx, params, customer):
    row = customer_balance_adjust(
        customer=_customer(ctx, customer),
        amount=params["amount"],
        currency=params["currency"],
        description=params.get("description") or "",
        metadata=params.get("metadata") or None,
        actor=ctx.actor,
    )
    return representations.customer_balance_transaction(row)


@operation(
    "GET",
    "/v1/customers/{customer}/balance_transactions/{transaction}",
    params={"expand": p.EXPAND},
    response="customer_balance_transaction",
    summary="Retrieve one change of a customer's balance",
    tags=TAGS,
)
def balance_transaction_retrieve(ctx, params, customer, transaction):
    obj = _customer(ctx, customer)
    row = ctx.get(
        CustomerBalanceTransaction,
        transaction,
        "customer_balance_transaction",
        queryset=ctx.scope(CustomerBalanceTransaction).filter(customer=obj),
    )
    return representations.customer_balance_transaction(row)
