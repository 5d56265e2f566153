"""/v1/coupons

Coupon ids are chosen by the merchant and unique per account and mode only, so the public id is
``Coupon.coupon_id`` (never the primary key). A deleted coupon answers 404 here but keeps working in
the discounts already applied with it; its id cannot be reused.
"""

from api import errors
from api import params as p
from api.pagination import page
from api.resources.products import filter_created, unset_to_blank
from api.router import operation
from billing import representations
from billing.models import Coupon
from billing.services.coupons import coupon_create, coupon_delete, coupon_update

TAGS = ["Coupons"]
CREATE = {
    "amount_off": p.Integer(),
    "currency": p.String(max_length=3),
    "duration": p.String(choices=Coupon.Duration.values),
    "duration_in_months": p.Integer(),
    "expand": p.EXPAND,
    "id": p.String(max_length=64),
    "max_redemptions": p.Integer(),
    "metadata": p.Metadata(),
    "name": p.String(max_length=40),
    "percent_off": p.Decimal(),
    "redeem_by": p.Timestamp(),
}
UPDATE = {"expand": p.EXPAND, "metadata": p.Metadata(), "name": p.String(max_length=40, unsettable=True)}


def get_coupon(ctx, coupon_id: str, *, param: str = "id") -> Coupon:
    """The tenant's live (not deleted) coupon with this public id, or 404."""
    # PostgreSQL refuses NUL in text; such an id cannot exist.
    coupon = None if "\x00" in coupon_id else ctx.scope(Coupon).filter(coupon_id=coupon_id, deleted=False).first()
    if coupon is None:
        raise errors.no_such("coupon", coupon_id, param=param)
    return coupon


@operation("POST", "/v1/coupons", params=CREATE, response="coupon", summary="Create a coupon", tags=TAGS)
def create(ctx, params):
    coupon = coupon_create(
        account=ctx.account,
        livemode=ctx.livemode,
        actor=ctx.actor,
        coupon_id=params.get("id", ""),
        name=params.get("name", ""),
        percent_off=params.get("percent_off"),
        amount_off=params.get("amount_off"),
        currency=params.get("currency", ""),
        duration=params.get("duration", Coupon.Duration.ONCE),
        duration_in_months=params.get("duration_in_months"),
        max_redemptions=params.get("max_redemptions"),
        redeem_by=params.get("redeem_by"),
        metadata=params.get("metadata") or {},
    )
    return representations.coupon(coupon)


@operation(
    "GET",
    "/v1/coupons/{coupon}",
    params={"expand": p.EXPAND},
    response="coupon",
    summary="Retrieve a coupon",
    tags=TAGS,
)
def retrieve(ctx, params, coupon):
    return representations.coupon(get_coupon(ctx, coupon))


@operation("POST", "/v1/coupons/{coupon}", params=UPDATE, response="coupon", summary="Update a coupon", tags=TAGS)
def update(ctx, params, coupon):
    obj = coupon_update(
        coupon=get_coupon(ctx, coupon),
        actor=ctx.actor,
        name=unset_to_blank(params["name"]) if "name" in params else None,
        metadata=unset_to_blank(params["metadata"]) if "metadata" in params else None,
    )
    return representations.coupon(obj)


@operation(
    "DELETE",
    "/v1/coupons/{coupon}",
    params={},
    response="deleted_coupon",
    summary="Delete a coupon (applied discounts keep it)",
    tags=TAGS,
)
def delete(ctx, params, coupon):
    obj = coupon_delete(coupon=get_coupon(ctx, coupon), actor=ctx.actor)
    return {"id": obj.coupon_id, "object": "coupon", "deleted": True}


@operation(
    "GET",
    "/v1/coupons",
    params={**p.LIST, "created": p.Range()},
    response="list[coupon]",
    summary="List coupons",
    tags=TAGS,
)
def list_(ctx, params):
    # The cursors are public ids; pagination runs on the primary key (creation order). A cursor whose
    # coupon was deleted meanwhile still marks a place: it is kept in the queryset, and the strict
    # pk comparison of the page leaves it out of the results.
    scope = ctx.scope(Coupon)
    cursors = {}
    for param in ("starting_after", "ending_before"):
        if params.get(param):
            pk = scope.filter(coupon_id=params[param]).values_list("pk", flat=True).first()
            if pk is None:
                raise errors.no_such("coupon", params[param], param=param)
            cursors[param] = str(pk)
    queryset = filter_created(scope.filter(deleted=False), params.get("created"))
    if cursors:
        queryset = queryset | scope.filter(pk__in=cursors.values())
    return page(queryset, {**params, **cursors}, url="/v1/coupons", render=representations.coupon, label="coupon")
