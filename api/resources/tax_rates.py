"""/v1/tax_rates: percentage tax rates; ``percentage`` and ``inclusive`` are immutable, as in Stripe."""

from api import params as p
from api.pagination import page
from api.resources.products import filter_created, unset_to_blank
from api.router import operation
from billing import representations
from billing.models import TaxRate
from billing.services.tax_rates import tax_rate_create, tax_rate_update

TAGS = ["Tax rates"]
UPDATE = {
    "active": p.Boolean(),
    "country": p.String(max_length=2, unsettable=True),
    "description": p.String(max_length=500, unsettable=True),
    "display_name": p.String(max_length=50),
    "expand": p.EXPAND,
    "jurisdiction": p.String(max_length=50, unsettable=True),
    "metadata": p.Metadata(),
}
CREATE = {
    **UPDATE,
    "country": p.String(max_length=2),
    "description": p.String(max_length=500),
    "display_name": p.String(max_length=50, required=True),
    "inclusive": p.Boolean(required=True),
    "jurisdiction": p.String(max_length=50),
    "percentage": p.Decimal(required=True),
}


@operation("POST", "/v1/tax_rates", params=CREATE, response="tax_rate", summary="Create a tax rate", tags=TAGS)
def create(ctx, params):
    rate = tax_rate_create(
        account=ctx.account,
        livemode=ctx.livemode,
        actor=ctx.actor,
        display_name=params["display_name"],
        percentage=params["percentage"],
        inclusive=params["inclusive"],
        active=params.get("active", True),
        country=params.get("country", ""),
        jurisdiction=params.get("jurisdiction", ""),
        description=params.get("description", ""),
        metadata=params.get("metadata") or {},
    )
    return representations.tax_rate(rate)


@operation(
    "GET",
    "/v1/tax_rates/{tax_rate}",
    params={"expand": p.EXPAND},
    response="tax_rate",
    summary="Retrieve a tax rate",
    tags=TAGS,
)
def retrieve(ctx, params, tax_rate):
    return representations.tax_rate(ctx.get(TaxRate, tax_rate, "tax rate"))


@operation(
    "POST", "/v1/tax_rates/{tax_rate}", params=UPDATE, response="tax_rate", summary="Update a tax rate", tags=TAGS
)
def update(ctx, params, tax_rate):
    changes = {
        key: unset_to_blank(params[key])
        for key in ("display_name", "description", "active", "country", "jurisdiction", "metadata")
        if key in params
    }
    return representations.tax_rate(
        tax_rate_update(tax_rate=ctx.get(TaxRate, tax_rate, "tax rate"), actor=ctx.actor, **changes)
    )


@operation(
    "GET",
    "/v1/tax_rates",
    params={**p.LIST, "active": p.Boolean(), "created": p.Range(), "inclusive": p.Boolean()},
    response="list[tax_rate]",
    summary="List tax rates",
    tags=TAGS,
)
def list_(ctx, params):
    queryset = ctx.scope(TaxRate)
    for key in ("active", "inclusive"):
        if key in params:
            queryset = queryset.filter(**{key: params[key]})
    queryset = filter_created(queryset, params.get("created"))
    return page(queryset, params, url="/v1/tax_rates", render=representations.tax_rate, label="tax rate")
