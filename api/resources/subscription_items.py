"""/v1/subscription_items: each operation is a change of the item's subscription, made by the subscription update
service (prorations, invoices, events and audit as for POST /v1/subscriptions/{id} with ``items``)."""

from api import errors
from api import params as p
from api.pagination import page
from api.resources.subscriptions import PRORATION
from api.router import operation
from billing import representations
from billing.models import Coupon, Price, PromotionCode, Subscription, SubscriptionItem, TaxRate
from billing.services.subscriptions import ChangeOptions, ItemChange, subscription_update

LABEL = "subscription item"
TAGS = ["Subscription items"]
PAYMENT_BEHAVIOR = p.String(
    choices=("allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete")
)
DISCOUNTS = p.Array(
    p.Object({"coupon": p.String(max_length=64), "promotion_code": p.Id()}), max_items=1, unsettable=True
)
CHANGE = {
    "proration_behavior": PRORATION,
    "proration_date": p.Timestamp(),
    "payment_behavior": PAYMENT_BEHAVIOR,
}
WRITE = {
    **CHANGE,
    "price": p.Id(),
    "quantity": p.Integer(min_value=0, max_value=10**7),
    "metadata": p.Metadata(),
    "tax_rates": p.Array(p.Id(), max_items=5, unsettable=True),
    "discounts": DISCOUNTS,
    "off_session": p.Boolean(),
    "expand": p.EXPAND,
}


def _items(ctx):
    return ctx.scope(SubscriptionItem).select_related("subscription", "price__product").prefetch_related("tax_rates")


def _get(ctx, item_id: str) -> SubscriptionItem:
    return ctx.get(SubscriptionItem, item_id, LABEL, param="item", queryset=_items(ctx))


def _render(item: SubscriptionItem) -> dict:
    return representations.subscription_item(item)


def _options(ctx, params) -> ChangeOptions:
    if params.get("payment_behavior") == "pending_if_incomplete":
        raise errors.invalid(
            "payment_behavior",
            "payment_behavior=pending_if_incomplete is supported on POST /v1/subscriptions/{id} only.",
        )
    coupon, promotion = _discount(ctx, params.get("discounts"))
    return ChangeOptions.checked(
        proration_behavior=params.get("proration_behavior", "create_prorations"),
        proration_date=params.get("proration_date"),
        schedule_at_period_end_conditions=(),
        end_trial=False,
        billing_cycle_anchor="unchanged",
        coupon=coupon,
        promotion_code=promotion,
        payment_behavior="error_if_incomplete"
        if params.get("payment_behavior") == "error_if_incomplete"
        else "allow_incomplete",
    )


def _discount(ctx, discounts) -> tuple[Coupon | None, PromotionCode | None]:
    """An item's discount applies to its subscription (the subscription carries one discount)."""
    if not discounts:
        return None, None
    entry = discounts[0]
    coupon = None
    if entry.get("coupon"):
        coupon = ctx.scope(Coupon).filter(coupon_id=entry["coupon"]).first()
        if coupon is None:
            raise errors.no_such("coupon", entry["coupon"], param="discounts[0][coupon]")
    promotion = None
    if entry.get("promotion_code"):
        promotion = ctx.get(
            PromotionCode, entry["promotion_code"], "promotion_code", param="discounts[0][promotion_code]"
        )
    return coupon, promotion


def _tax_rates(ctx, params) -> list[TaxRate] | None:
    if "tax_rates" not in params:
        return None
    ids = params["tax_rates"] or []
    return [ctx.get(TaxRate, rate, "tax_rate", param=f"tax_rates[{i}]") for i, rate in enumerate(ids)]


def _price(ctx, params) -> Price | None:
    if not params.get("price"):
        return None
    return ctx.get(Price, params["price"], "price", param="price", queryset=ctx.scope(Price).select_related("product"))


def _change(ctx, subscription: Subscription, change: ItemChange, params) -> None:
    subscription_update(
        subscription=subscription, actor=ctx.actor, changes=[change], change_options=_options(ctx, params)
    )


@operation(
    "POST",
    "/v1/subscription_items",
    params={**WRITE, "subscription": p.Id(required=True)},
    response="subscription_item",
    summary="Add an item to a subscription",
    tags=TAGS,
)
def create(ctx, params):
    subscription = ctx.get(Subscription, params["subscription"], "subscription", param="subscription")
    price = _price(ctx, params)
    if price is None:
        raise errors.missing("price")
    change = ItemChange(
        price=price,
        quantity=params.get("quantity"),
        metadata=params.get("metadata"),
        tax_rates=_tax_rates(ctx, params),
    )
    _change(ctx, subscription, change, params)
    return _render(_items(ctx).get(subscription=subscription, price=price))


@operation(
    "GET",
    "/v1/subscription_items/{item}",
    params={"expand": p.EXPAND},
    response="subscription_item",
    summary="Retrieve a subscription item",
    tags=TAGS,
)
def retrieve(ctx, params, item):
    return _render(_get(ctx, item))


@operation(
    "POST",
    "/v1/subscription_items/{item}",
    params=WRITE,
    response="subscription_item",
    summary="Update a subscription item (price, quantity, metadata, tax rates)",
    tags=TAGS,
)
def update(ctx, params, item):
    obj = _get(ctx, item)
    metadata = params.get("metadata")
    change = ItemChange(
        item=obj,
        price=_price(ctx, params),
        quantity=params.get("quantity"),
        metadata="" if metadata is p.UNSET else metadata,
        tax_rates=_tax_rates(ctx, params),
    )
    _change(ctx, obj.subscription, change, params)
    return _render(_get(ctx, item))


@operation(
    "DELETE",
    "/v1/subscription_items/{item}",
    params={**CHANGE, "clear_usage": p.Boolean()},
    response="deleted_subscription_item",
    summary="Delete a subscription item",
    tags=TAGS,
)
def delete(ctx, params, item):
    obj = _get(ctx, item)
    _change(ctx, obj.subscription, ItemChange(item=obj, deleted=True), params)
    return {"id": obj.id, "object": "subscription_item", "deleted": True}


@operation(
    "GET",
    "/v1/subscription_items",
    params={**p.LIST, "subscription": p.Id(required=True)},
    response="list[subscription_item]",
    summary="List a subscription's items",
    tags=TAGS,
)
def list_(ctx, params):
    subscription = ctx.get(Subscription, params["subscription"], "subscription", param="subscription")
    queryset = _items(ctx).filter(subscription=subscription)
    return page(queryset, params, url="/v1/subscription_items", render=_render, label=LABEL)
