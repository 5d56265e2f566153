"""/v1/promotion_codes: customer-facing codes for a coupon.

The coupon is named by ``coupon`` (API versions before 2025-09-30.clover) or by
``promotion[type]=coupon&promotion[coupon]=…`` (newer versions); both are accepted.
"""

from api import errors
from api import params as p
from api.pagination import page
from api.resources.coupons import get_coupon
from api.resources.products import filter_created, unset_to_blank
from api.router import operation
from billing import representations
from billing.models import Customer, PromotionCode
from billing.services.coupons import promotion_code_create, promotion_code_update

TAGS = ["Promotion codes"]
CREATE = {
    "active": p.Boolean(),
    "code": p.String(max_length=64),
    "coupon": p.Id(),
    "customer": p.Id(),
    "expand": p.EXPAND,
    "expires_at": p.Timestamp(),
    "max_redemptions": p.Integer(),
    "metadata": p.Metadata(),
    "promotion": p.Object({"coupon": p.Id(), "type": p.String(choices=["coupon"], required=True)}),
    "restrictions": p.Object(
        {
            "first_time_transaction": p.Boolean(),
            "minimum_amount": p.Integer(),
            "minimum_amount_currency": p.String(max_length=3),
        }
    ),
}
UPDATE = {"active": p.Boolean(), "expand": p.EXPAND, "metadata": p.Metadata()}
LIST = {
    **p.LIST,
    "active": p.Boolean(),
    "code": p.String(max_length=64),
    "coupon": p.Id(),
    "created": p.Range(),
    "customer": p.Id(),
}


def _scope(ctx):
    return ctx.scope(PromotionCode).select_related("coupon")


def _coupon_id(params: dict) -> tuple[str, str]:
    """The coupon's public id and the param that named it."""
    legacy = params.get("coupon")
    promotion = params.get("promotion") or {}
    if "promotion" in params and "coupon" not in promotion:
        raise errors.missing("promotion[coupon]")
    current = promotion.get("coupon")
    if legacy and current and legacy != current:
        raise errors.invalid("coupon", "coupon and promotion[coupon] name different coupons; pass only one.")
    if current:
        return current, "promotion[coupon]"
    if legacy:
        return legacy, "coupon"
    raise errors.missing("promotion[coupon]")


@operation(
    "POST",
    "/v1/promotion_codes",
    params=CREATE,
    response="promotion_code",
    summary="Create a promotion code",
    tags=TAGS,
)
def create(ctx, params):
    coupon_id, param = _coupon_id(params)
    coupon = get_coupon(ctx, coupon_id, param=param)
    customer = ctx.get(Customer, params["customer"], "customer", param="customer") if "customer" in params else None
    restrictions = params.get("restrictions") or {}
    promo = promotion_code_create(
        coupon=coupon,
        actor=ctx.actor,
        code=params.get("code", ""),
        active=params.get("active", True),
        customer=customer,
        max_redemptions=params.get("max_redemptions"),
        expires_at=params.get("expires_at"),
        first_time_transaction=restrictions.get("first_time_transaction", False),
        minimum_amount=restrictions.get("minimum_amount"),
        minimum_amount_currency=restrictions.get("minimum_amount_currency", ""),
        metadata=params.get("metadata") or {},
    )
    return representations.promotion_code(promo)


@operation(
    "GET",
    "/v1/promotion_codes/{promotion_code}",
    params={"expand": p.EXPAND},
    response="promotion_code",
    summary="Retrieve a promotion code",
    tags=TAGS,
)
def retrieve(ctx, params, promotion_code):
    return representations.promotion_code(
        ctx.get(PromotionCode, promotion_code, "promotion code", queryset=_scope(ctx))
    )


@operation(
    "POST",
    "/v1/promotion_codes/{promotion_code}",
    params=UPDATE,
    response="promotion_code",
    summary="Update a promotion code",
    tags=TAGS,
)
def update(ctx, params, promotion_code):
    promo = promotion_code_update(
        promotion_code=ctx.get(PromotionCode, promotion_code, "promotion code"),
        actor=ctx.actor,
        active=params.get("active"),
        metadata=unset_to_blank(params["metadata"]) if "metadata" in params else None,
    )
    return representations.promotion_code(promo)


@operation(
    "GET",
    "/v1/promotion_codes",
    params=LIST,
    response="list[promotion_code]",
    summary="List promotion codes",
    tags=TAGS,
)
def list_(ctx, params):
    queryset = _scope(ctx)
    if "active" in params:
        queryset = queryset.filter(active=params["active"])
    if "code" in params:
        queryset = queryset.filter(code__iexact=params["code"])
    if "coupon" in params:
        queryset = queryset.filter(coupon__coupon_id=params["coupon"])
    if "customer" in params:
        queryset = queryset.filter(customer_id=params["customer"])
    queryset = filter_created(queryset, params.get("created"))
    return page(
        queryset, params, url="/v1/promotion_codes", render=representations.promotion_code, label="promotion code"
    )
