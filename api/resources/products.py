"""/v1/products

Stripe lets callers choose a product ``id``; this server does not (ids are the time-ordered pagination
cursor and unique across accounts), so ``id`` answers ``parameter_unknown``.
"""

from api import errors
from api import params as p
from api.filters import time_range
from api.pagination import page
from api.router import operation
from billing import representations
from billing.models import Product
from billing.services.products import product_create, product_delete, product_update

TAGS = ["Products"]
FIELDS = {
    "active": p.Boolean(),
    "description": p.String(max_length=40000, unsettable=True),
    "metadata": p.Metadata(),
    "name": p.String(max_length=250),
    "expand": p.EXPAND,
}


def unset_to_blank(value):
    """``""`` in a request (``UNSET``) clears a text field or metadata: the services take ``""`` for that."""
    return "" if value is p.UNSET else value


def filter_created(queryset, created):
    """Stripe's ``created`` filter: an exact second or a ``gt/gte/lt/lte`` range."""
    return time_range(queryset, "created", created)


@operation(
    "POST",
    "/v1/products",
    params={**FIELDS, "name": p.String(max_length=250, required=True)},
    response="product",
    summary="Create a product",
    tags=TAGS,
)
def create(ctx, params):
    product = product_create(
        account=ctx.account,
        livemode=ctx.livemode,
        actor=ctx.actor,
        name=params["name"],
        description=unset_to_blank(params.get("description", "")),
        active=params.get("active", True),
        metadata=params.get("metadata") or {},
    )
    return representations.product(product)


@operation(
    "GET", "/v1/products/{id}", params={"expand": p.EXPAND}, response="product", summary="Retrieve a product", tags=TAGS
)
def retrieve(ctx, params, id):
    return representations.product(ctx.get(Product, id, "product"))


@operation("POST", "/v1/products/{id}", params=FIELDS, response="product", summary="Update a product", tags=TAGS)
def update(ctx, params, id):
    product = product_update(
        product=ctx.get(Product, id, "product"),
        actor=ctx.actor,
        name=params.get("name"),
        description=unset_to_blank(params["description"]) if "description" in params else None,
        active=params.get("active"),
        metadata=unset_to_blank(params["metadata"]) if "metadata" in params else None,
    )
    return representations.product(product)


@operation(
    "DELETE",
    "/v1/products/{id}",
    params={},
    response="deleted_product",
    summary="Delete a product (only one without prices)",
    tags=TAGS,
)
def delete(ctx, params, id):
    product = ctx.get(Product, id, "product")
    product_delete(product=product, actor=ctx.actor)
    return {"id": id, "object": "product", "deleted": True}


@operation(
    "GET",
    "/v1/products",
    params={**p.LIST, "active": p.Boolean(), "created": p.Range(), "ids": p.Array(p.Id(), max_items=100)},
    response="list[product]",
    summary="List products",
    tags=TAGS,
)
def list_(ctx, params):
    queryset = ctx.scope(Product)
    if "active" in params:
        queryset = queryset.filter(active=params["active"])
    if "ids" in params:
        if params.get("starting_after") or params.get("ending_before"):
            raise errors.invalid("ids", "ids cannot be used with starting_after or ending_before.")
        queryset = queryset.filter(pk__in=params["ids"])
    queryset = filter_created(queryset, params.get("created"))
    return page(queryset, params, url="/v1/products", render=representations.product, label="product")


@operation(
    "GET",
    "/v1/products/{product}/features",
    params=p.LIST,
    response="list[product_feature]",
    summary="List a product's entitlement features (always empty: entitlements are not kept here)",
    tags=TAGS,
)
def features(ctx, params, product):
    obj = ctx.get(Product, product, "product", param="product")
    return {"object": "list", "data": [], "has_more": False, "url": f"/v1/products/{obj.pk}/features"}
