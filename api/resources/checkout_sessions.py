"""/v1/checkout/sessions: create, retrieve, list, expire, and a session's line items (Stripe's Checkout)."""

from api import errors, expand, includable
from api import params as p
from api.filters import time_range
from api.pagination import page
from api.router import operation
from billing.models import Customer, Price, TaxRate
from checkout.models import CheckoutLineItem, CheckoutSession
from checkout.representations import checkout_session, line_item
from checkout.services.create import CUSTOM_TEXT_MAX, LineItemSpec, checkout_session_create
from checkout.services.expire import checkout_session_expire
from configurations.sessions import LOCALES

TAGS = ["Checkout"]
LABEL = "checkout.session"
URL = p.String(max_length=5000)
MESSAGE = p.Object({"message": p.String(max_length=CUSTOM_TEXT_MAX, required=True)})
LINE_ITEM = p.Object(
    {
        "price": p.Id(required=True),
        "quantity": p.Integer(min_value=1, max_value=999_999),
        "adjustable_quantity": p.Object(
            {
                "enabled": p.Boolean(required=True),
                "minimum": p.Integer(min_value=0, max_value=999_999),
                "maximum": p.Integer(min_value=1, max_value=999_999),
            }
        ),
    }
)
CREATE = {
    "mode": p.String(choices=CheckoutSession.Mode.values, required=True),
    "line_items": p.Array(LINE_ITEM, max_items=100),
    "success_url": URL,
    "cancel_url": URL,
    "ui_mode": p.String(choices=["hosted"]),
    "customer": p.Id(),
    "customer_email": p.String(max_length=800),
    "customer_creation": p.String(choices=["always", "if_required"]),
    "currency": p.String(min_length=3, max_length=3),
    "allow_promotion_codes": p.Boolean(),
    "discounts": p.Array(p.Object({"coupon": p.String(max_length=5000), "promotion_code": p.Id()}), max_items=20),
    "subscription_data": p.Object(
        {
            "trial_period_days": p.Integer(min_value=1, max_value=730),
            "metadata": p.Metadata(),
            "description": p.String(max_length=500),
            "default_tax_rates": p.Array(p.Id(), max_items=5),
        }
    ),
    "payment_method_types": p.Array(p.String(max_length=40), max_items=20),
    "payment_method_collection": p.String(choices=["always"]),
    "billing_address_collection": p.String(choices=["auto", "required"]),
    "tax_id_collection": p.Object({"enabled": p.Boolean(required=True), "required": p.String(choices=["never"])}),
    "phone_number_collection": p.Object({"enabled": p.Boolean(required=True)}),
    "consent_collection": p.Object({"terms_of_service": p.String(choices=["none", "required"])}),
    "custom_text": p.Object(
        {
            "after_submit": MESSAGE,
            "shipping_address": MESSAGE,
            "submit": MESSAGE,
            "terms_of_service_acceptance": MESSAGE,
        }
    ),
    "locale": p.String(choices=LOCALES),
    "metadata": p.Metadata(),
    "client_reference_id": p.String(max_length=200),
    "expires_at": p.Timestamp(),
    "expand": p.EXPAND,
}


def _get(ctx, session_id: str) -> CheckoutSession:
    return ctx.get(CheckoutSession, session_id, LABEL, param="session")


def _line_items(ctx, params: dict) -> list[LineItemSpec]:
    specs = []
    for i, item in enumerate(params.get("line_items") or []):
        price = ctx.get(Price, item["price"], "price", param=f"line_items[{i}][price]")
        specs.append(LineItemSpec(price, item.get("quantity", 1), item.get("adjustable_quantity")))
    return specs


def _subscription_data(ctx, params: dict) -> dict | None:
    data = params.get("subscription_data")
    if not data:
        return None
    rates = [
        ctx.get(TaxRate, rate, "tax_rate", param=f"subscription_data[default_tax_rates][{i}]")
        for i, rate in enumerate(data.get("default_tax_rates") or [])
    ]
    return {**data, "default_tax_rates": rates}


@operation(
    "POST", "/v1/checkout/sessions", params=CREATE, response=LABEL, summary="Create a Checkout Session", tags=TAGS
)
def create(ctx, params):
    customer = None
    if "customer" in params:
        customer = ctx.get(Customer, params["customer"], "customer", param="customer")
    custom_text = {key: value["message"] for key, value in (params.get("custom_text") or {}).items() if value}
    consent = params.get("consent_collection") or {}
    session = checkout_session_create(
        account=ctx.account,
        livemode=ctx.livemode,
        actor=ctx.actor,
        mode=params["mode"],
        success_url=params.get("success_url", ""),
        cancel_url=params.get("cancel_url"),
        line_items=_line_items(ctx, params),
        customer=customer,
        customer_email=params.get("customer_email", ""),
        customer_creation=params.get("customer_creation"),
        currency=params.get("currency"),
        allow_promotion_codes=params.get("allow_promotion_codes"),
        discounts=params.get("discounts"),
        subscription_data=_subscription_data(ctx, params),
        payment_method_types=params.get("payment_method_types"),
        billing_address_collection=params.get("billing_address_collection"),
        tax_id_collection=(params.get("tax_id_collection") or {}).get("enabled", False),
        phone_number_collection=(params.get("phone_number_collection") or {}).get("enabled", False),
        consent_collection={"terms_of_service": consent["terms_of_service"]}
        if consent.get("terms_of_service")
        else None,
        custom_text=custom_text,
        locale=None if params.get("locale") == "auto" else params.get("locale"),
        metadata=params.get("metadata"),
        client_reference_id=params.get("client_reference_id"),
        expires_at=params.get("expires_at"),
    )
    return checkout_session(session)


@operation(
    "GET",
    "/v1/checkout/sessions/{session}",
    params={"expand": p.EXPAND},
    response=LABEL,
    summary="Retrieve a Checkout Session",
    tags=TAGS,
)
def retrieve(ctx, params, session):
    return checkout_session(_get(ctx, session))


@operation(
    "GET",
    "/v1/checkout/sessions",
    params={
        **p.LIST,
        "customer": p.Id(),
        "subscription": p.Id(),
        "payment_intent": p.Id(),
        "status": p.String(choices=CheckoutSession.Status.values),
        "created": p.Range(),
    },
    response=f"list[{LABEL}]",
    summary="List Checkout Sessions",
    tags=TAGS,
)
def list_(ctx, params):
    queryset = ctx.scope(CheckoutSession).select_related("account", "coupon")
    for name in ("customer", "subscription", "payment_intent", "status"):
        if name in params:
            queryset = queryset.filter(**{f"{name}_id" if name != "status" else name: params[name]})

    queryset = time_range(queryset, "created", params.get("created"))
    return page(queryset, params, url="/v1/checkout/sessions", render=checkout_session, label=LABEL)


@operation(
    "POST",
    "/v1/checkout/sessions/{session}/expire",
    params={"expand": p.EXPAND},
    response=LABEL,
    summary="Expire a Checkout Session",
    tags=TAGS,
)
def expire(ctx, params, session):
    return checkout_session(checkout_session_expire(session=_get(ctx, session), actor=ctx.actor))


@operation(
    "GET",
    "/v1/checkout/sessions/{session}/line_items",
    params=p.LIST,
    response="list[item]",
    summary="List a Checkout Session's line items",
    tags=TAGS,
)
def line_items(ctx, params, session):
    obj = _get(ctx, session)
    return _line_item_page(obj, params)


def _line_item_page(session: CheckoutSession, params: dict) -> dict:
    """Line items in their order, paged by position (Stripe lists them as given, not newest first)."""
    rows = list(CheckoutLineItem.objects.filter(session=session).select_related("price__product").order_by("position"))
    ids = [row.pk for row in rows]
    after, before = params.get("starting_after"), params.get("ending_before")
    for cursor, param in ((after, "starting_after"), (before, "ending_before")):
        if cursor and cursor not in ids:
            raise errors.no_such("line item", cursor, param=param)
    limit = params.get("limit") or 10
    start = ids.index(after) + 1 if after else 0
    end = ids.index(before) if before else len(rows)
    if before:
        start = max(0, end - limit)
    chosen = rows[start:end][:limit]
    url = f"/v1/checkout/sessions/{session.pk}/line_items"
    has_more = (start + len(chosen) < end) if not before else start > 0
    return {"object": "list", "data": [line_item(row) for row in chosen], "has_more": has_more, "url": url}


def _include_line_items(nodes: list[dict], caller) -> None:
    found = {
        row.pk: row
        for row in CheckoutSession.objects.filter(
            pk__in=[node["id"] for node in nodes], account=caller.account, livemode=caller.livemode
        )
    }
    for node in nodes:
        node["line_items"] = _line_item_page(found[node["id"]], {"limit": includable.EMBEDDED_LIST_LIMIT})


includable.FIELDS[(LABEL, "line_items")] = _include_line_items
expand.register("cs", CheckoutSession, checkout_session, ["account", "coupon"])
