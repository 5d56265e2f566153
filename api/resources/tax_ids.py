"""/v1/tax_ids: Stripe's account-wide Tax ID API, read side (list by owner, retrieve any of the account's tax ids).

Every tax id here belongs to a customer (the merchant's own tax ids are not kept here), so ``owner[type]=self``, the
default, lists nothing, as for a Stripe account that has added none. Customer tax ids are made and removed through
/v1/customers/{customer}/tax_ids; clients that sync (dj-stripe) retrieve them here.

Extension: ``id=cus_…`` lists that customer's tax ids, as ``owner[type]=customer&owner[customer]=cus_…`` does.
dj-stripe 2.11's ``djstripe_sync_models TaxId`` asks exactly this (``stripe.TaxId.list(id=customer.id)``), a
parameter Stripe's list does not take; served so its sync of tax ids works.
"""

from api import errors
from api import params as p
from api.pagination import page
from api.router import operation
from billing import representations
from billing.models import Customer, TaxId

TAGS = ["Tax IDs"]
OWNER = p.Object(
    {
        "type": p.String(choices=["account", "application", "customer", "self"], required=True),
        "account": p.String(max_length=5000),
        "customer": p.String(max_length=5000),
        "customer_account": p.String(max_length=5000),
    }
)


def _tax_ids(ctx):
    return ctx.scope(TaxId).filter(customer__deleted=False)


@operation(
    "GET",
    "/v1/tax_ids",
    params={
        **p.LIST,
        "owner": OWNER,
        "id": p.String(
            max_length=5000,
            description="Extension (dj-stripe's sync): a customer's id; lists that customer's tax ids, as "
            "owner[type]=customer with owner[customer] does.",
        ),
    },
    response="list[tax_id]",
    summary="List tax ids by owner (default: the account itself, which has none here)",
    tags=TAGS,
)
def list_(ctx, params):
    owner, param = params.get("owner") or {"type": "self"}, "owner[customer]"
    if params.get("id"):  # the extension dj-stripe uses (module docstring)
        if params.get("owner"):
            raise errors.ApiError(
                "You may only specify one of these parameters: id, owner.", code="parameters_exclusive", param="id"
            )
        owner, param = {"type": "customer", "customer": params["id"]}, "id"
    queryset = _tax_ids(ctx)
    if owner["type"] == "customer":
        if not owner.get("customer"):
            raise errors.missing("owner[customer]")
        customer = ctx.get(Customer, owner["customer"], "customer", param=param)
        queryset = queryset.filter(customer=customer)
    else:
        queryset = queryset.none()  # no Connect accounts, applications or own tax ids
    return page(queryset, params, url="/v1/tax_ids", render=representations.tax_id, label="tax_id")


@operation(
    "GET",
    "/v1/tax_ids/{id}",
    params={"expand": p.EXPAND},
    response="tax_id",
    summary="Retrieve a tax id (any of the account's customers')",
    tags=TAGS,
)
def retrieve(ctx, params, id):
    return representations.tax_id(ctx.get(TaxId, id, "tax_id", queryset=_tax_ids(ctx)))
