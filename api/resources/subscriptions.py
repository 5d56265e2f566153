"""/v1/subscriptions, including search and pause_collection."""

import base64

from django.db.models import Q

from api import errors, expand
from api import params as p
from api.filters import time_bounds
from api.pagination import page
from api.router import operation
from api.search import SearchField, parse, timestamp_bound, to_q
from billing import representations, statements
from billing.models import (
    Coupon,
    Customer,
    PaymentMethod,
    Price,
    PromotionCode,
    Subscription,
    SubscriptionItem,
    TaxRate,
)
from billing.models.subscriptions import collection_paused_q, collection_resumes_q
from billing.services.subscriptions import (
    UNCHANGED,
    ChangeOptions,
    ItemChange,
    ItemSpec,
    subscription_cancel,
    subscription_create,
    subscription_update,
)

TAGS = ["Subscriptions"]
PRORATION = p.String(choices=("create_prorations", "always_invoice", "none"))
FEEDBACK = p.String(choices=Subscription.CancellationFeedback.values, unsettable=True)
CANCELLATION_DETAILS = p.Object({"comment": p.String(max_length=5000, unsettable=True), "feedback": FEEDBACK})
PAUSE = p.Object(
    {
        "behavior": p.String(choices=Subscription.PauseBehavior.values, required=True),
        "resumes_at": p.Timestamp(),
    },
    unsettable=True,
    description='Pause payment collection; "" resumes it. The status stays as it is.',
)
CREATE_ITEM = p.Object(
    {
        "price": p.Id(required=True),
        "quantity": p.Integer(min_value=0, max_value=10**7),
        "tax_rates": p.Array(p.Id(), max_items=5, unsettable=True),
        "metadata": p.Metadata(),
    }
)
UPDATE_ITEM = p.Object(
    {
        "id": p.Id(),
        "price": p.Id(),
        "quantity": p.Integer(min_value=0, max_value=10**7),
        "deleted": p.Boolean(),
        "metadata": p.Metadata(),
    }
)
DISCOUNT = p.Object({"coupon": p.String(max_length=64), "promotion_code": p.Id()})
PRICE_FILTER = p.Id()
ANCHOR_CONFIG = p.Object(
    {
        "day_of_month": p.Integer(min_value=1, max_value=31, required=True),
        "month": p.Integer(min_value=1, max_value=12),
        "hour": p.Integer(min_value=0, max_value=23),
        "minute": p.Integer(min_value=0, max_value=59),
        "second": p.Integer(min_value=0, max_value=59),
    },
    description="Anchor the billing cycle on a day of the month (month-end days clamp: 31 bills Feb 28/29, Mar 31).",
)


def _render(subscription: Subscription) -> dict:
    return representations.subscription(subscription)


def _fresh(ctx, pk: str) -> Subscription:
    return ctx.scope(Subscription).prefetch_related(*representations.PREFETCH[Subscription]).get(pk=pk)


def _price(ctx, price_id, param) -> Price:
    return ctx.get(Price, price_id, "price", param=param, queryset=ctx.scope(Price).select_related("product"))


def _tax_rates(ctx, ids, param) -> list[TaxRate]:
    if not ids or ids is p.UNSET:
        return []
    return [ctx.get(TaxRate, rate, "tax_rate", param=f"{param}[{i}]") for i, rate in enumerate(ids)]


def _discount(ctx, params) -> tuple[Coupon | None, PromotionCode | None]:
    coupon_id = params.get("coupon")
    promo_id = params.get("promotion_code")
    coupon_param, promo_param = "coupon", "promotion_code"
    for i, discount in enumerate(params.get("discounts") or []):
        if discount.get("coupon"):
            coupon_id, coupon_param = discount["coupon"], f"discounts[{i}][coupon]"
        if discount.get("promotion_code"):
            promo_id, promo_param = discount["promotion_code"], f"discounts[{i}][promotion_code]"
        if i:
            raise errors.invalid("discounts", "At most one discount per subscription is supported.")
    coupon = None
    if coupon_id:
        coupon = ctx.scope(Coupon).filter(coupon_id=coupon_id).first()
        if coupon is None:
            raise errors.no_such("coupon", coupon_id, param=coupon_param)
    promotion = ctx.get(PromotionCode, promo_id, "promotion_code", param=promo_param) if promo_id else None
    return coupon, promotion


PAYMENT_SETTINGS = p.Object(
    {
        "save_default_payment_method": p.String(choices=("off", "on_subscription")),
        "payment_method_types": p.Array(p.String(choices=("card", "sepa_debit")), max_items=10),
        "payment_method_options": p.Map(),
    },
    description="How the subscription's invoices are paid (Stripe's payment_settings).",
)
CREATE = {
    "customer": p.Id(required=True),
    "items": p.Array(CREATE_ITEM, max_items=20, required=True),
    "default_payment_method": p.Id(),
    "trial_end": p.Timestamp(keywords=("now",)),
    "trial_period_days": p.Integer(min_value=0, max_value=730),
    "collection_method": p.String(choices=Subscription.CollectionMethod.values),
    "days_until_due": p.Integer(min_value=0, max_value=730),
    "coupon": p.String(max_length=64),
    "promotion_code": p.Id(),
    "discounts": p.Array(DISCOUNT, max_items=1),
    "default_tax_rates": p.Array(p.Id(), max_items=5),
    "metadata": p.Metadata(),
    "description": p.String(max_length=500),
    "cancel_at_period_end": p.Boolean(),
    "cancel_at": p.Timestamp(
        description="End the subscription then; inside the first period, the first invoice bills the time up to it."
    ),
    "payment_behavior": p.String(
        choices=("allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete")
    ),
    "payment_settings": PAYMENT_SETTINGS,
    "proration_behavior": PRORATION,
    "off_session": p.Boolean(),
    "billing_cycle_anchor": p.Timestamp(description="A future moment the full billing periods align to."),
    "billing_cycle_anchor_config": ANCHOR_CONFIG,
    "backdate_start_date": p.Timestamp(description="A past start date; the elapsed time is invoiced (prorated)."),
    "expand": p.EXPAND,
}


@operation(
    "POST", "/v1/subscriptions", params=CREATE, response="subscription", summary="Create a subscription", tags=TAGS
)
def create(ctx, params):
    customer = ctx.get(Customer, params["customer"], "customer", param="customer")
    items = [
        ItemSpec(
            _price(ctx, item["price"], f"items[{i}][price]"),
            item.get("quantity", 1),
            _tax_rates(ctx, item.get("tax_rates"), f"items[{i}][tax_rates]"),
        )
        for i, item in enumerate(params["items"])
    ]
    pm = None
    if params.get("default_payment_method"):
        pm = ctx.get(PaymentMethod, params["default_payment_method"], "PaymentMethod", param="default_payment_method")
    trial_end = params.get("trial_end")
    coupon, promotion = _discount(ctx, params)
    subscription = subscription_create(
        customer=customer,
        items=items,
        actor=ctx.actor,
        default_payment_method=pm,
        trial_end=None if trial_end in (None, "now") else trial_end,
        trial_period_days=params.get("trial_period_days") or None,
        collection_method=params.get("collection_method", Subscription.CollectionMethod.CHARGE_AUTOMATICALLY),
        days_until_due=params.get("days_until_due"),
        coupon=coupon,
        promotion_code=promotion,
        default_tax_rates=_tax_rates(ctx, params.get("default_tax_rates"), "default_tax_rates"),
        metadata=params.get("metadata") or {},
        description=params.get("description") or "",
        cancel_at_period_end=bool(params.get("cancel_at_period_end")),
        cancel_at=params.get("cancel_at"),
        payment_behavior=params.get("payment_behavior") or "allow_incomplete",
        payment_settings=params.get("payment_settings") or {},
        billing_cycle_anchor=params.get("billing_cycle_anchor"),
        billing_cycle_anchor_config=params.get("billing_cycle_anchor_config"),
        backdate_start_date=params.get("backdate_start_date"),
        proration_behavior=params.get("proration_behavior") or "create_prorations",
        discount_param=_discount_param(params),
    )
    return _render(_fresh(ctx, subscription.pk))


def _discount_param(params) -> str | None:
    """The parameter that carried the coupon or promotion code, for errors about it."""
    for key in ("promotion_code", "coupon"):
        for i, discount in enumerate(params.get("discounts") or []):
            if discount.get(key):
                return f"discounts[{i}][{key}]"
        if params.get(key):
            return key
    return None


@operation(
    "GET",
    "/v1/subscriptions/{subscription}",
    params={"expand": p.EXPAND},
    response="subscription",
    summary="Retrieve a subscription",
    tags=TAGS,
)
def retrieve(ctx, params, subscription):
    ctx.get(Subscription, subscription, "subscription")
    return _render(_fresh(ctx, subscription))


UPDATE = {
    "items": p.Array(UPDATE_ITEM, max_items=20),
    "billing_cycle_anchor": p.String(choices=("now", "unchanged")),
    "proration_behavior": PRORATION,
    "proration_date": p.Timestamp(),
    "cancel_at_period_end": p.Boolean(),
    "cancel_at": p.Timestamp(unsettable=True),
    "cancellation_details": CANCELLATION_DETAILS,
    "coupon": p.String(max_length=64),
    "promotion_code": p.Id(),
    "discounts": p.Array(DISCOUNT, max_items=1),
    "pause_collection": PAUSE,
    "default_payment_method": p.Id(unsettable=True),
    "default_tax_rates": p.Array(p.Id(), max_items=5, unsettable=True),
    "metadata": p.Metadata(),
    "payment_behavior": p.String(
        choices=("allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete")
    ),
    "off_session": p.Boolean(),
    "expand": p.EXPAND,
}


@operation(
    "POST",
    "/v1/subscriptions/{subscription}",
    params=UPDATE,
    response="subscription",
    summary="Update a subscription",
    tags=TAGS,
)
def update(ctx, params, subscription):
    sub = ctx.get(Subscription, subscription, "subscription")
    if params.get("payment_behavior") == "pending_if_incomplete":
        _check_pending(params)
    pause = params.get("pause_collection", UNCHANGED)
    details = params.get("cancellation_details") or {}
    changes = None
    if "items" in params:
        changes = [_item_change(ctx, sub, i, item) for i, item in enumerate(params["items"])]
    coupon, promotion = _discount(ctx, params)
    if changes is None and (params.get("billing_cycle_anchor") == "now" or coupon or promotion):
        changes = []  # the same items, in a period that starts now or with a new discount
    subscription_update(
        subscription=sub,
        actor=ctx.actor,
        fields=_fields(ctx, params),
        pause_collection=None if pause is p.UNSET else pause,
        cancel_at_period_end=params.get("cancel_at_period_end"),
        cancellation_details={key: _text(value) for key, value in details.items()},
        changes=changes,
        change_options=ChangeOptions.checked(
            proration_behavior=params.get("proration_behavior", "create_prorations"),
            proration_date=params.get("proration_date"),
            schedule_at_period_end_conditions=(),
            end_trial=False,
            billing_cycle_anchor=params.get("billing_cycle_anchor", "unchanged"),
            coupon=coupon,
            promotion_code=promotion,
            discount_param=_discount_param(params),
            # error_if_incomplete: a failed payment undoes the change; pending_if_incomplete: the change waits for its
            # invoice to be paid; the other values keep it (allow_incomplete).
            payment_behavior=(
                params["payment_behavior"]
                if params.get("payment_behavior") in ("error_if_incomplete", "pending_if_incomplete")
                else "allow_incomplete"
            ),
        ),
    )
    return _render(_fresh(ctx, sub.pk))


# Stripe's pending updates take only what prices the change or invoices it (its "Pending updates reference"; of
# those, trial_end, trial_from_plan and add_invoice_items are not update parameters here).
PENDING_PARAMS = ("expand", "payment_behavior", "proration_behavior", "proration_date", "billing_cycle_anchor", "items")
PENDING_ITEM_PARAMS = ("id", "price", "quantity", "deleted")


def _check_pending(params) -> None:
    named = [key for key in params if key not in PENDING_PARAMS]
    named += [
        f"items[{i}][{key}]"
        for i, item in enumerate(params.get("items") or [])
        for key in item
        if key not in PENDING_ITEM_PARAMS
    ]
    if named:
        raise errors.ApiError(
            f"{named[0]} cannot be updated with payment_behavior=pending_if_incomplete: a pending update takes only "
            "expand, payment_behavior, proration_behavior, proration_date, billing_cycle_anchor and items (id, price, "
            "quantity, deleted). Make the other changes in a separate request.",
            param=named[0],
        )


def _item_change(ctx, sub, i, item) -> ItemChange:
    existing = None
    if item.get("id"):
        existing = ctx.get(
            SubscriptionItem, item["id"], "subscription item", param=f"items[{i}][id]", queryset=sub.items.all()
        )
    price = _price(ctx, item["price"], f"items[{i}][price]") if item.get("price") else None
    metadata = item.get("metadata")
    return ItemChange(
        item=existing,
        price=price,
        quantity=item.get("quantity"),
        deleted=bool(item.get("deleted")),
        metadata="" if metadata is p.UNSET else metadata,
    )


def _fields(ctx, params) -> dict:
    """The plain fields of an update, looked up (and so checked) before anything is written."""
    fields = {}
    if "default_payment_method" in params:
        pm = params["default_payment_method"]
        fields["default_payment_method"] = (
            None if pm is p.UNSET else ctx.get(PaymentMethod, pm, "PaymentMethod", param="default_payment_method")
        )
    if "metadata" in params:
        fields["metadata"] = "" if params["metadata"] is p.UNSET else params["metadata"]
    if "default_tax_rates" in params:
        fields["default_tax_rates"] = _tax_rates(ctx, params["default_tax_rates"], "default_tax_rates")
    if "cancel_at" in params:
        fields["cancel_at"] = None if params["cancel_at"] is p.UNSET else params["cancel_at"]
    details = params.get("cancellation_details") or {}
    if details and params.get("cancel_at_period_end") is not True:
        fields["cancellation_details"] = {k: _text(v) for k, v in details.items()}
    return fields


def _text(value) -> str:
    return "" if value in (None, p.UNSET) else value


@operation(
    "DELETE",
    "/v1/subscriptions/{subscription}",
    params={
        "cancellation_details": CANCELLATION_DETAILS,
        "invoice_now": p.Boolean(),
        "prorate": p.Boolean(),
        "expand": p.EXPAND,
    },
    response="subscription",
    summary="Cancel a subscription",
    tags=TAGS,
)
def cancel(ctx, params, subscription):
    sub = ctx.get(Subscription, subscription, "subscription")
    details = params.get("cancellation_details") or {}
    subscription_cancel(
        subscription=sub,
        actor=ctx.actor,
        at_period_end=False,
        feedback=_text(details.get("feedback")),
        comment=_text(details.get("comment")),
        prorate=bool(params.get("prorate")),
        invoice_now=bool(params.get("invoice_now")),
    )
    return _render(_fresh(ctx, sub.pk))


STATUSES = (*Subscription.Status.values, "all", "ended")


@operation(
    "GET",
    "/v1/subscriptions",
    params={
        **p.LIST,
        "customer": p.Id(),
        "price": PRICE_FILTER,
        "status": p.String(choices=STATUSES),
        "collection_method": p.String(choices=Subscription.CollectionMethod.values),
        "created": p.Range(),
        "current_period_end": p.Range(),
    },
    response="list[subscription]",
    summary="List subscriptions (not canceled unless status says so)",
    tags=TAGS,
)
def list_(ctx, params):
    with_customers = expand.wants(params, "data.customer")

    def prepare(rows: list[Subscription]) -> None:
        representations.subscriptions_prefetch(rows)
        if with_customers:  # joined by the list's statement, the expansion takes them from the page
            ctx.remember(row.customer for row in rows)

    rows = SubscriptionRows(ctx, params, with_customers=with_customers)
    return page(rows, params, url="/v1/subscriptions", render=_render, label="subscription", prepare=prepare)


class SubscriptionRows:
    """The list's rows with its filters, read by one statement per shape of filters (``billing.statements``): the
    ORM would build and compile the same query again on every request. Scoped as ``ctx.scope`` scopes."""

    def __init__(self, ctx, params: dict, *, with_customers: bool):
        matching, excluding = [("livemode", [ctx.livemode])], []
        status = params.get("status")
        if status is None:
            excluding.append(("status", [Subscription.Status.CANCELED]))
        elif status == "ended":
            matching.append(("status", list(Subscription.ENDED_STATUSES)))
        elif status != "all":
            matching.append(("status", [status]))
        for name in ("customer", "collection_method"):
            if params.get(name):
                matching.append((name, [params[name]]))
        price = params.get("price")
        self.account = ctx.account.pk
        self.terms = {
            "related": ("customer",) if with_customers else (),
            "flags": representations.subscription_flags(),
            "matching": tuple(matching),
            "excluding": tuple(excluding),
            "having": ((SubscriptionItem, "subscription", "price", [price]),) if price else (),
        }
        self.bounds = (
            *time_bounds("created", params.get("created")),
            *time_bounds("current_period_end", params.get("current_period_end")),
        )

    def _read(self, order: str, count: int, *, bounds=(), matching=()) -> list:
        terms = {**self.terms, "matching": (*self.terms["matching"], *matching)}
        return statements.rows_where(
            Subscription, "account", [self.account], (order,), bounds=(*self.bounds, *bounds), limit=count, **terms
        )

    def has(self, pk: str) -> bool:
        return bool(self._read("id", 1, matching=(("id", [pk]),)))

    def newest(self, count: int, *, below: str | None = None) -> list:
        return self._read("-id", count, bounds=(("id", "<", below),) if below else ())

    def oldest(self, count: int, *, above: str) -> list:
        return self._read("id", count, bounds=(("id", ">", above),))


def _pause_behavior(op: str, value) -> Q:
    if op != ":":
        raise errors.ApiError("pause_collection.behavior supports only ':'.", param="query")
    if value is None:
        return ~collection_paused_q()
    if value not in Subscription.PauseBehavior.values:
        raise errors.ApiError(
            f"pause_collection.behavior must be one of {', '.join(Subscription.PauseBehavior.values)} or null.",
            param="query",
        )
    return collection_paused_q(value)


def _pause_resumes_at(op: str, value) -> Q:
    if value is None:
        if op != ":":
            raise errors.ApiError("pause_collection.resumes_at supports only ':' with null.", param="query")
        return ~collection_resumes_q()
    lookup, moment = timestamp_bound("pause_collection.resumes_at", op, value)
    return collection_resumes_q(**{lookup: moment})


SEARCH_FIELDS = {
    "status": SearchField("string", lookup="status"),
    "created": SearchField("number", lookup="created"),
    "canceled_at": SearchField("number", lookup="canceled_at"),
    "metadata": SearchField("metadata"),
    "pause_collection.behavior": SearchField("string", to_q=_pause_behavior),
    "pause_collection.resumes_at": SearchField("number", to_q=_pause_resumes_at),
}


@operation(
    "GET",
    "/v1/subscriptions/search",
    params=p.SEARCH,
    response="search_result[subscription]",
    summary="Search subscriptions with Stripe's query language (created, status, canceled_at, metadata, pause_collection)",
    tags=TAGS,
)
def search(ctx, params):
    clauses, joiner = parse(params["query"])
    queryset = ctx.scope(Subscription).filter(to_q(clauses, joiner, SEARCH_FIELDS))
    limit = params.get("limit") or 10
    rows_qs = representations.subscriptions_flagged(queryset).order_by("-pk")
    if params.get("page"):
        try:
            cursor = base64.urlsafe_b64decode(params["page"].encode()).decode()
        except (ValueError, UnicodeDecodeError):
            raise errors.invalid("page", "Invalid page cursor: use the next_page value of the previous result.")
        rows_qs = rows_qs.filter(pk__lt=cursor)
    rows = list(rows_qs[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    representations.subscriptions_prefetch(rows)
    result = {
        "object": "search_result",
        "data": [_render(row) for row in rows],
        "has_more": has_more,
        "next_page": base64.urlsafe_b64encode(rows[-1].pk.encode()).decode() if has_more else None,
        "url": "/v1/subscriptions/search",
    }
    expand = params.get("expand") or []
    if "total_count" in expand:
        result["total_count"] = min(queryset.count(), 10000)
        params["expand"] = [e for e in expand if e != "total_count"]
    return result
