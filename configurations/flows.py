"""``flow_data`` of a portal session: validated against the customer and the configuration, stored as Stripe's
``flow`` object (every key present, the unused ones null)."""

from urllib.parse import urlsplit

from billing import clock
from billing.exceptions import InvalidRequest, NotFound, StateConflict
from billing.models import Coupon, Customer, PromotionCode, Subscription
from billing.selectors import subscription_get_for_customer
from configurations.models import PortalConfiguration

TYPES = (
    "customer_update",
    "payment_method_update",
    "subscription_cancel",
    "subscription_update",
    "subscription_update_confirm",
)
AFTER_COMPLETION = ("hosted_confirmation", "portal_homepage", "redirect")
MAX_CUSTOM_MESSAGE = 500
MAX_URL = 5000


def _is_web_address(value: str) -> bool:
    """An absolute http(s) URL with a host; single-label hosts (an intranet name, a test server) count too."""
    if any(char.isspace() or ord(char) < 32 for char in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises ValueError for a malformed port)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def check_url(value, *, param: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"Missing required param: {param}.", param=param, code="parameter_missing")
    if not _is_web_address(value):
        raise InvalidRequest(f"Not a valid URL: {param} must be an http or https address.", param=param)
    if len(value) > MAX_URL:
        raise InvalidRequest(f"Invalid {param}: must be at most {MAX_URL} characters.", param=param)
    return value


def _after_completion(data) -> dict:
    data = data or {}
    # Stripe's default: a confirmation page in the customer's language once the flow's action is done.
    kind = data.get("type") or "hosted_confirmation"
    if kind not in AFTER_COMPLETION:
        raise InvalidRequest(
            f"Invalid flow_data[after_completion][type]: must be one of {', '.join(AFTER_COMPLETION)}.",
            param="flow_data[after_completion][type]",
        )
    hosted = redirect = None
    if kind == "hosted_confirmation":
        message = (data.get("hosted_confirmation") or {}).get("custom_message") or None
        if message is not None and len(message) > MAX_CUSTOM_MESSAGE:
            raise InvalidRequest(
                f"Invalid flow_data[after_completion][hosted_confirmation][custom_message]: must be at most "
                f"{MAX_CUSTOM_MESSAGE} characters.",
                param="flow_data[after_completion][hosted_confirmation][custom_message]",
            )
        hosted = {"custom_message": message}
    elif kind == "redirect":
        param = "flow_data[after_completion][redirect][return_url]"
        redirect = {"return_url": check_url((data.get("redirect") or {}).get("return_url"), param=param)}
    return {"type": kind, "hosted_confirmation": hosted, "redirect": redirect}


def _subscription(customer: Customer, data: dict, kind: str) -> Subscription:
    param = f"flow_data[{kind}][subscription]"
    subscription_id = (data.get(kind) or {}).get("subscription")
    if not subscription_id:
        raise InvalidRequest(f"Missing required param: {param}.", param=param, code="parameter_missing")
    try:
        subscription = subscription_get_for_customer(customer=customer, subscription_id=subscription_id)
    except NotFound:
        raise NotFound(f"No such subscription: '{subscription_id}'", param=param)
    if subscription.status in (Subscription.Status.CANCELED, Subscription.Status.INCOMPLETE_EXPIRED):
        raise StateConflict(
            f"The subscription {subscription.id} is canceled and cannot be used in a portal flow.", param=param
        )
    return subscription


def _require_feature(enabled: bool, kind: str, feature: str) -> None:
    if not enabled:
        raise InvalidRequest(
            f"The {kind} flow cannot be used because features[{feature}] is disabled in the portal configuration.",
            param="flow_data[type]",
        )


def _coupon(account_id, livemode: bool, coupon_id, param: str) -> Coupon:
    coupon = Coupon.objects.filter(account_id=account_id, livemode=livemode, coupon_id=coupon_id).first()
    if coupon is None or coupon.deleted:
        raise NotFound(f"No such coupon: '{coupon_id}'", param=param)
    if not coupon.is_valid_at(clock.now()):
        raise InvalidRequest(
            f"The coupon {coupon.coupon_id} can no longer be redeemed (it has expired or reached its max_redemptions).",
            param=param,
        )
    return coupon


def _retention(customer: Customer, subscription: Subscription, retention) -> dict | None:
    """A coupon the cancel page offers instead of cancelling; it must be redeemable on this subscription."""
    if not retention:
        return None
    base = "flow_data[subscription_cancel][retention]"
    if retention.get("type") != "coupon_offer":
        raise InvalidRequest(f"Invalid {base}[type]: must be coupon_offer.", param=f"{base}[type]")
    param = f"{base}[coupon_offer][coupon]"
    coupon_id = (retention.get("coupon_offer") or {}).get("coupon")
    if not coupon_id:
        raise InvalidRequest(f"Missing required param: {param}.", param=param, code="parameter_missing")
    coupon = _coupon(customer.account_id, customer.livemode, coupon_id, param)
    if coupon.amount_off is not None and coupon.currency != subscription.currency:
        raise InvalidRequest(
            f"The coupon {coupon.coupon_id} takes an amount off in {coupon.currency.upper()} and cannot be applied "
            f"to the subscription {subscription.id}, which is billed in {subscription.currency.upper()}.",
            param=param,
        )
    return {"type": "coupon_offer", "coupon_offer": {"coupon": coupon.coupon_id}}


def _discounts(customer: Customer, discounts) -> list[dict] | None:
    if not discounts:
        return None
    result = []
    for index, entry in enumerate(discounts):
        entry = entry or {}
        base = f"flow_data[subscription_update_confirm][discounts][{index}]"
        coupon_id, code_id = entry.get("coupon"), entry.get("promotion_code")
        if bool(coupon_id) == bool(code_id):
            raise InvalidRequest(f"Provide exactly one of coupon or promotion_code in {base}.", param=base)
        if coupon_id:
            coupon = _coupon(customer.account_id, customer.livemode, coupon_id, f"{base}[coupon]")
            result.append({"coupon": coupon.coupon_id, "promotion_code": None})
        else:
            exists = PromotionCode.objects.filter(
                account_id=customer.account_id, livemode=customer.livemode, pk=code_id, active=True
            ).exists()
            if not exists:
                raise NotFound(f"No such promotion code: '{code_id}'", param=f"{base}[promotion_code]")
            result.append({"coupon": None, "promotion_code": code_id})
    return result


def _update_confirm(customer: Customer, configuration: PortalConfiguration, data: dict) -> dict:
    subscription = _subscription(customer, data, "subscription_update_confirm")
    body = data.get("subscription_update_confirm") or {}
    items = body.get("items") or []
    param = "flow_data[subscription_update_confirm][items]"
    if not items:
        raise InvalidRequest(f"Missing required param: {param}.", param=param, code="parameter_missing")
    if len(items) > 1:
        raise InvalidRequest(
            "Only one item can be updated in a subscription_update_confirm flow; subscriptions with multiple items "
            "are not updatable in the portal.",
            param=param,
        )
    item = items[0] or {}
    item_id = item.get("id")
    if not item_id:
        raise InvalidRequest(
            f"Missing required param: {param}[0][id].", param=f"{param}[0][id]", code="parameter_missing"
        )
    item_ids = set(subscription.items.values_list("pk", flat=True))
    if item_id not in item_ids:
        raise NotFound(f"No such subscription item: '{item_id}'", param=f"{param}[0][id]")
    if len(item_ids) > 1:
        raise InvalidRequest(
            f"The subscription {subscription.id} has multiple items; subscriptions with multiple items are not "
            "updatable in the portal.",
            param="flow_data[subscription_update_confirm][subscription]",
        )
    price_id = item.get("price")
    if price_id:
        allowed = configuration.products.filter(prices__pk=price_id).exists()
        if not allowed:
            raise InvalidRequest(
                f"The item `{item_id}` cannot be updated to price `{price_id}` because the configuration "
                f"`{configuration.id}` does not include the price in its `features[subscription_update][products]`.",
                param=f"{param}[0][price]",
            )
    quantity = item.get("quantity")
    if quantity is not None and (not isinstance(quantity, int) or quantity < 1):
        raise InvalidRequest("Invalid quantity: must be a positive integer.", param=f"{param}[0][quantity]")
    return {
        "subscription": subscription.id,
        "items": [{"id": item_id, "price": price_id or None, "quantity": quantity}],
        "discounts": _discounts(customer, body.get("discounts")),
    }


def clean_flow(*, customer: Customer, configuration: PortalConfiguration, data: dict | None) -> dict | None:
    """``flow_data`` as given -> Stripe's ``flow`` object, or ``None`` without a flow."""
    if not data:
        return None
    kind = data.get("type")
    if kind not in TYPES:
        raise InvalidRequest(f"Invalid flow_data[type]: must be one of {', '.join(TYPES)}.", param="flow_data[type]")
    flow = {
        "type": kind,
        "after_completion": _after_completion(data.get("after_completion")),
        "customer_update": None,
        "subscription_cancel": None,
        "subscription_update": None,
        "subscription_update_confirm": None,
    }
    if kind == "customer_update":
        _require_feature(configuration.customer_update_enabled, kind, "customer_update")
        flow[kind] = {}
    elif kind == "payment_method_update":
        _require_feature(configuration.payment_method_update_enabled, kind, "payment_method_update")
    elif kind == "subscription_cancel":
        _require_feature(configuration.subscription_cancel_enabled, kind, "subscription_cancel")
        subscription = _subscription(customer, data, kind)
        retention = _retention(customer, subscription, (data.get(kind) or {}).get("retention"))
        flow[kind] = {"subscription": subscription.id, "retention": retention}
    elif kind == "subscription_update":
        _require_feature(configuration.subscription_update_enabled, kind, "subscription_update")
        flow[kind] = {"subscription": _subscription(customer, data, kind).id}
    else:
        _require_feature(configuration.subscription_update_enabled, kind, "subscription_update")
        flow[kind] = _update_confirm(customer, configuration, data)
    return flow
