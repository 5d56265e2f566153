"""/v1/prices: per-unit prices, one-time or recurring (no tiers, custom amounts or currency options)."""

from api import errors
from api import params as p
from api.pagination import page
from api.resources.products import filter_created, unset_to_blank
from api.router import operation
from billing import representations
from billing.models import Meter, Price, Product
from billing.services.products import price_create, price_create_with_product, price_update

TAGS = ["Prices"]
# Stripe's limit for amounts: eight digits.
MAX_UNIT_AMOUNT = 99_999_999
TAX_BEHAVIOR = p.String(choices=Price.TaxBehavior.values)
CREATE = {
    "active": p.Boolean(),
    "currency": p.String(max_length=3, required=True),
    "expand": p.EXPAND,
    "lookup_key": p.String(max_length=200),
    "metadata": p.Metadata(),
    "nickname": p.String(max_length=250),
    "product": p.Id(),
    "product_data": p.Object(
        {"name": p.String(max_length=250, required=True), "active": p.Boolean(), "metadata": p.Metadata()}
    ),
    "recurring": p.Object(
        {
            "interval": p.String(choices=Price.Interval.values, required=True),
            "interval_count": p.Integer(),
            "meter": p.Id(),
            "usage_type": p.String(choices=Price.UsageType.values),
        }
    ),
    "tax_behavior": TAX_BEHAVIOR,
    "transfer_lookup_key": p.Boolean(),
    "unit_amount": p.Integer(min_value=0, max_value=MAX_UNIT_AMOUNT),
    "unit_amount_decimal": p.Decimal(min_value=0, max_value=MAX_UNIT_AMOUNT),
}
UPDATE = {
    "active": p.Boolean(),
    "expand": p.EXPAND,
    "lookup_key": p.String(max_length=200, unsettable=True),
    "metadata": p.Metadata(),
    "nickname": p.String(max_length=250, unsettable=True),
    "tax_behavior": TAX_BEHAVIOR,
    "transfer_lookup_key": p.Boolean(),
}
LIST = {
    **p.LIST,
    "active": p.Boolean(),
    "created": p.Range(),
    "currency": p.String(max_length=3),
    "lookup_keys": p.Array(p.String(max_length=200), max_items=10),
    "product": p.Id(),
    "recurring": p.Object(
        {"interval": p.String(choices=Price.Interval.values), "usage_type": p.String(choices=Price.UsageType.values)}
    ),
    "type": p.String(choices=Price.Type.values),
}


def _unit_amount(params: dict) -> int:
    if "unit_amount" in params and "unit_amount_decimal" in params:
        raise errors.invalid("unit_amount_decimal", "Only one of unit_amount and unit_amount_decimal can be set.")
    if "unit_amount_decimal" in params:
        amount = params["unit_amount_decimal"]
        if amount != amount.to_integral_value():
            raise errors.invalid(
                "unit_amount_decimal",
                "Invalid unit_amount_decimal: fractions of the currency's smallest unit are not supported.",
                "parameter_invalid_number",
            )
        return int(amount)
    if "unit_amount" not in params:
        raise errors.missing("unit_amount")
    return params["unit_amount"]


def _meter(ctx, recurring: dict) -> Meter | None:
    """Stripe needs a meter for a new metered price (``recurring[meter]``); prices made before meters keep none."""
    if "meter" in recurring:
        return ctx.get(Meter, recurring["meter"], "billing.meter", param="recurring[meter]")
    if recurring.get("usage_type") == Price.UsageType.METERED:
        raise errors.missing("recurring[meter]")
    return None


@operation("POST", "/v1/prices", params=CREATE, response="price", summary="Create a price", tags=TAGS)
def create(ctx, params):
    if "product" in params and "product_data" in params:
        raise errors.invalid("product_data", "You may only specify one of these parameters: product, product_data.")
    if "product" not in params and "product_data" not in params:
        raise errors.missing("product")
    recurring = params.get("recurring") or {}
    fields = {
        "meter": _meter(ctx, recurring),
        "actor": ctx.actor,
        "currency": params["currency"],
        "unit_amount": _unit_amount(params),
        "interval": recurring.get("interval"),
        "interval_count": recurring.get("interval_count", 1),
        "usage_type": recurring.get("usage_type", Price.UsageType.LICENSED),
        "tax_behavior": params.get("tax_behavior", Price.TaxBehavior.UNSPECIFIED),
        "nickname": params.get("nickname", ""),
        "lookup_key": params.get("lookup_key", ""),
        "transfer_lookup_key": params.get("transfer_lookup_key", False),
        "active": params.get("active", True),
        "metadata": params.get("metadata") or {},
    }
    if "product" in params:
        price = price_create(product=ctx.get(Product, params["product"], "product", param="product"), **fields)
    else:
        data = params["product_data"]
        product_data = {
            "name": data["name"],
            "active": data.get("active", True),
            "metadata": data.get("metadata") or {},
        }
        price = price_create_with_product(
            account=ctx.account, livemode=ctx.livemode, product_data=product_data, **fields
        )
    return representations.price(price)


@operation(
    "GET", "/v1/prices/{price}", params={"expand": p.EXPAND}, response="price", summary="Retrieve a price", tags=TAGS
)
def retrieve(ctx, params, price):
    return representations.price(ctx.get(Price, price, "price"))


@operation("POST", "/v1/prices/{price}", params=UPDATE, response="price", summary="Update a price", tags=TAGS)
def update(ctx, params, price):
    obj = price_update(
        price=ctx.get(Price, price, "price"),
        actor=ctx.actor,
        active=params.get("active"),
        nickname=unset_to_blank(params["nickname"]) if "nickname" in params else None,
        lookup_key=unset_to_blank(params["lookup_key"]) if "lookup_key" in params else None,
        transfer_lookup_key=params.get("transfer_lookup_key", False),
        tax_behavior=params.get("tax_behavior"),
        metadata=unset_to_blank(params["metadata"]) if "metadata" in params else None,
    )
    return representations.price(obj)


@operation("GET", "/v1/prices", params=LIST, response="list[price]", summary="List prices", tags=TAGS)
def list_(ctx, params):
    queryset = ctx.scope(Price)
    if "active" in params:
        queryset = queryset.filter(active=params["active"])
    if "currency" in params:
        queryset = queryset.filter(currency=params["currency"].lower())
    if "product" in params:
        queryset = queryset.filter(product_id=params["product"])
    if "type" in params:
        queryset = queryset.filter(type=params["type"])
    recurring = params.get("recurring") or {}
    if "interval" in recurring:
        queryset = queryset.filter(type=Price.Type.RECURRING, recurring_interval=recurring["interval"])
    if "usage_type" in recurring:
        queryset = queryset.filter(type=Price.Type.RECURRING, recurring_usage_type=recurring["usage_type"])
    if "lookup_keys" in params:
        queryset = queryset.filter(lookup_key__in=[key for key in params["lookup_keys"] if key])
    queryset = filter_created(queryset, params.get("created"))
    return page(queryset, params, url="/v1/prices", render=representations.price, label="price")
