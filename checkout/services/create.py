"""Creating a Checkout Session: Stripe's rules for its modes, line items, URLs, discounts and expiry."""

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.utils.translation import gettext_lazy as _

from billing import audit, clock, events, money
from billing.audit import Actor
from billing.exceptions import InvalidRequest
from billing.models import Account, Coupon, Customer, Price, PromotionCode, TaxRate
from billing.services.common import same_tenant, validate_metadata
from billing.services.door import service
from checkout.models import CheckoutLineItem, CheckoutLink, CheckoutSession
from checkout.representations import checkout_session
from checkout.services.amounts import recompute

Mode = CheckoutSession.Mode
MIN_EXPIRY = dt.timedelta(minutes=30)
MAX_EXPIRY = dt.timedelta(hours=24)
MAX_LINE_ITEMS = 20
MAX_QUANTITY = 999_999
DEFAULT_MAX_QUANTITY = 99
MAX_TRIAL_DAYS = 730
PAYMENT_METHOD_TYPES = ("card", "sepa_debit")
CUSTOM_TEXT_MAX = 1200


@dataclass
class LineItemSpec:
    price: Price
    quantity: int = 1
    adjustable_quantity: dict | None = None  # {enabled, minimum, maximum}


def check_url(value: str | None, param: str, *, required: bool = False) -> str:
    """An absolute http(s) URL (``{CHECKOUT_SESSION_ID}`` may stand in it), as Stripe requires."""
    if not value:
        if required:
            raise InvalidRequest(f"Missing required param: {param}.", param=param, code="parameter_missing")
        return ""
    parts = urlsplit(value.replace("{CHECKOUT_SESSION_ID}", "x"))
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise InvalidRequest("Not a valid URL", param=param, code="url_invalid")
    return value


def check_adjustable(spec: LineItemSpec, i: int) -> dict | None:
    adjustable = spec.adjustable_quantity
    if not adjustable:
        return None
    if not adjustable.get("enabled"):
        return None
    minimum = adjustable.get("minimum", 0 if spec.quantity == 0 else 1)
    maximum = adjustable.get("maximum", DEFAULT_MAX_QUANTITY)
    param = f"line_items[{i}][adjustable_quantity]"
    if not 0 <= minimum <= maximum <= MAX_QUANTITY:
        raise InvalidRequest(
            "adjustable_quantity[minimum] must be at most adjustable_quantity[maximum] (and maximum at most 999999).",
            param=f"{param}[maximum]",
        )
    if not minimum <= spec.quantity <= maximum:
        raise InvalidRequest(
            f"The quantity {spec.quantity} is outside the adjustable range {minimum}..{maximum}.",
            param=f"line_items[{i}][quantity]",
        )
    return {"enabled": True, "minimum": minimum, "maximum": maximum}


def _check_price(account: Account, livemode: bool, spec: LineItemSpec, i: int, mode: str) -> None:
    price = spec.price
    param = f"line_items[{i}][price]"
    if price.account_id != account.pk or price.livemode != livemode:
        raise InvalidRequest(f"No such price: '{price.pk}'", param=param, code="resource_missing")
    if not price.active:
        raise InvalidRequest(f"The price `{price.pk}` is not active.", param=param)
    if price.unit_amount is None:
        raise InvalidRequest(f"The price `{price.pk}` has no unit_amount.", param=param)
    if not isinstance(spec.quantity, int) or not 1 <= spec.quantity <= MAX_QUANTITY:
        raise InvalidRequest(
            "Invalid quantity: must be at least 1 and at most 999999.", param=f"line_items[{i}][quantity]"
        )
    if mode == Mode.PAYMENT and price.type == Price.Type.RECURRING:
        raise InvalidRequest(
            "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or "
            "use only one-time prices.",
            param=param,
        )
    if price.type == Price.Type.RECURRING and price.recurring_usage_type == Price.UsageType.METERED:
        raise InvalidRequest("Metered prices cannot be sold through Checkout here.", param=param)


def check_line_items(account: Account, livemode: bool, mode: str, specs: list[LineItemSpec]) -> str:
    """The currency the line items share; Stripe's errors for everything else, naming the line item."""
    if mode == Mode.SETUP:
        if specs:
            raise InvalidRequest("`line_items` cannot be used in `setup` mode.", param="line_items")
        return ""
    if not specs:
        raise InvalidRequest(
            f"Missing required param: line_items (required in `{mode}` mode).",
            param="line_items",
            code="parameter_missing",
        )
    if len(specs) > MAX_LINE_ITEMS:
        raise InvalidRequest(f"A Checkout Session can have at most {MAX_LINE_ITEMS} line items.", param="line_items")
    shapes = set()
    for i, spec in enumerate(specs):
        _check_price(account, livemode, spec, i, mode)
        if spec.price.currency != specs[0].price.currency:
            raise InvalidRequest(
                "All line items must have the same currency; line_items[0] is in "
                f"{specs[0].price.currency} but line_items[{i}] is in {spec.price.currency}.",
                param=f"line_items[{i}][price]",
            )
        if spec.price.type == Price.Type.RECURRING:
            shapes.add((spec.price.recurring_interval, spec.price.recurring_interval_count))
    if mode == Mode.SUBSCRIPTION:
        _check_subscription_items(specs, shapes)
    return specs[0].price.currency


def _check_subscription_items(specs: list[LineItemSpec], shapes: set) -> None:
    """One-time prices beside the recurring ones are set-up fees: billed once, on the first invoice."""
    if not shapes:
        raise InvalidRequest(
            "You must provide at least one recurring price in `subscription` mode when using prices.",
            param="line_items",
        )
    if len(shapes) > 1:
        raise InvalidRequest(
            _("All prices on a subscription must have the same `recurring[interval]` and `recurring[interval_count]`."),
            param="line_items",
        )


def check_fees_without_trial(specs: list[LineItemSpec], trial_period_days: int | None, param: str) -> None:
    """A set-up fee would be charged at once while a trial charges nothing: not both in one session here."""
    if trial_period_days and any(spec.price.type == Price.Type.ONE_TIME for spec in specs):
        raise InvalidRequest(_("One-time prices (set-up fees) cannot be combined with a trial here."), param=param)


def _expires_at(expires_at: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    if expires_at is None:
        return now + MAX_EXPIRY
    if not now + MIN_EXPIRY - dt.timedelta(seconds=5) <= expires_at <= now + MAX_EXPIRY + dt.timedelta(seconds=5):
        raise InvalidRequest(
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
            param="expires_at",
        )
    return expires_at


def _subscription_data(data: dict | None, mode: str, account: Account, livemode: bool) -> dict:
    data = dict(data or {})
    if data and mode != Mode.SUBSCRIPTION:
        raise InvalidRequest("`subscription_data` can only be used in `subscription` mode.", param="subscription_data")
    days = data.get("trial_period_days")
    if days is not None and not 1 <= int(days) <= MAX_TRIAL_DAYS:
        raise InvalidRequest(
            f"Invalid trial_period_days: must be between 1 and {MAX_TRIAL_DAYS}.",
            param="subscription_data[trial_period_days]",
        )
    rates = data.get("default_tax_rates") or []
    for i, rate in enumerate(rates):
        if not isinstance(rate, TaxRate):
            continue
        if rate.account_id != account.pk or rate.livemode != livemode:
            raise InvalidRequest(
                f"No such tax rate: '{rate.pk}'",
                param=f"subscription_data[default_tax_rates][{i}]",
                code="resource_missing",
            )
    return {
        "trial_period_days": int(days) if days is not None else None,
        "metadata": validate_metadata(data.get("metadata"), param="subscription_data[metadata]"),
        "description": (data.get("description") or "")[:500],
        "default_tax_rates": [rate.pk if isinstance(rate, TaxRate) else rate for rate in rates],
    }


def _payment_method_types(types: list[str] | None, mode: str, currency: str) -> list[str]:
    types = list(types or ["card"])
    for i, kind in enumerate(types):
        if kind not in PAYMENT_METHOD_TYPES:
            raise InvalidRequest(
                f"The payment method type `{kind}` is not supported here; use card or sepa_debit.",
                param=f"payment_method_types[{i}]",
            )
    if "sepa_debit" in types and currency and currency != "eur":
        raise InvalidRequest(
            f"The payment method type `sepa_debit` only supports eur; the line items are in {currency}.",
            param="payment_method_types",
        )
    return types


def _discount(discounts: list[dict] | None, allow_promotion_codes, session_account) -> tuple:
    if not discounts:
        return None, None
    if allow_promotion_codes:
        raise InvalidRequest(
            "You may only specify one of these parameters: allow_promotion_codes, discounts.", param="discounts"
        )
    if len(discounts) > 1:
        raise InvalidRequest("You may only specify one discount.", param="discounts")
    entry = discounts[0]
    coupon, promotion_code = entry.get("coupon"), entry.get("promotion_code")
    if bool(coupon) == bool(promotion_code):
        raise InvalidRequest("Each discount takes one of coupon or promotion_code.", param="discounts[0]")
    return coupon, promotion_code


def _customer_fields(customer: Customer | None, customer_email: str, customer_creation: str | None, mode: str):
    if customer is not None and customer_email:
        raise InvalidRequest(
            "You may only specify one of these parameters: customer, customer_email.", param="customer_email"
        )
    if customer is not None and customer_creation:
        raise InvalidRequest(
            "You may only specify one of these parameters: customer, customer_creation.", param="customer_creation"
        )
    if customer_creation and mode != Mode.PAYMENT:
        raise InvalidRequest("`customer_creation` can only be used in `payment` mode.", param="customer_creation")
    if customer is not None:
        return ""
    return customer_creation or ("if_required" if mode == Mode.PAYMENT else "always")


def checkout_session_create(
    *,
    account: Account,
    livemode: bool,
    actor: Actor,
    mode: str,
    success_url: str,
    cancel_url: str | None = None,
    line_items: list[LineItemSpec] = (),
    customer: Customer | None = None,
    customer_email: str = "",
    customer_creation: str | None = None,
    currency: str | None = None,
    allow_promotion_codes: bool | None = None,
    discounts: list[dict] | None = None,
    subscription_data: dict | None = None,
    payment_method_types: list[str] | None = None,
    billing_address_collection: str | None = None,
    tax_id_collection: bool = False,
    phone_number_collection: bool = False,
    consent_collection: dict | None = None,
    custom_text: dict | None = None,
    locale: str | None = None,
    metadata: dict | None = None,
    client_reference_id: str | None = None,
    expires_at: dt.datetime | None = None,
    checkout_link: CheckoutLink | None = None,
) -> CheckoutSession:
    """A new ``open`` session of ``mode`` (payment, setup or subscription) for ``line_items`` at the server's
    prices. ``discounts``: ``[{coupon: id} | {promotion_code: promo_…}]`` (at most one; not with
    ``allow_promotion_codes``). Raises InvalidRequest with Stripe's ``param`` for anything Stripe refuses."""
    if mode not in Mode.values:
        raise InvalidRequest(f"Invalid mode: must be one of {', '.join(Mode.values)}.", param="mode")
    items = list(line_items)
    line_currency = check_line_items(account, livemode, mode, items)
    if mode == Mode.SETUP and currency:
        currency = currency.lower()
        if not money.is_supported(currency):
            raise InvalidRequest(f"Invalid currency: {currency}.", param="currency")
    options = {
        "success_url": check_url(success_url, "success_url", required=True),
        "cancel_url": check_url(cancel_url, "cancel_url"),
        "customer_creation": _customer_fields(customer, customer_email or "", customer_creation, mode),
        "currency": line_currency or (currency or ""),
        "subscription_data": _subscription_data(subscription_data, mode, account, livemode),
        "metadata": validate_metadata(metadata),
        "expires_at": _expires_at(expires_at, clock.now()),
        "discount": _discount(discounts, allow_promotion_codes, account),
    }
    options["payment_method_types"] = _payment_method_types(payment_method_types, mode, options["currency"])
    check_fees_without_trial(
        items, options["subscription_data"].get("trial_period_days"), "subscription_data[trial_period_days]"
    )
    if customer is not None:
        same_tenant(customer, *(spec.price for spec in items))
    return _create(
        account=account,
        livemode=livemode,
        actor=actor,
        mode=mode,
        items=items,
        customer=customer,
        customer_email=customer_email or "",
        allow_promotion_codes=allow_promotion_codes,
        billing_address_collection=billing_address_collection or "",
        tax_id_collection=bool(tax_id_collection),
        phone_number_collection=bool(phone_number_collection),
        consent_collection=consent_collection or None,
        custom_text={k: v[:CUSTOM_TEXT_MAX] for k, v in (custom_text or {}).items() if v},
        locale=locale or "",
        client_reference_id=client_reference_id or "",
        checkout_link=checkout_link,
        **options,
    )


def _resolve_discount(account: Account, livemode: bool, currency: str, discount: tuple):
    coupon_id, promotion_code_id = discount
    if coupon_id:
        coupon = Coupon.objects.filter(account=account, livemode=livemode, coupon_id=coupon_id, deleted=False).first()
        if coupon is None:
            raise InvalidRequest(
                f"No such coupon: '{coupon_id}'", param="discounts[0][coupon]", code="resource_missing"
            )
        if not coupon.is_valid_at(clock.now()):
            raise InvalidRequest(f"Coupon expired or fully redeemed: {coupon_id}.", param="discounts[0][coupon]")
        if coupon.amount_off is not None and coupon.currency != currency:
            raise InvalidRequest(
                f"The coupon's currency ({coupon.currency}) does not match the line items' ({currency}).",
                param="discounts[0][coupon]",
            )
        return coupon, None
    if promotion_code_id:
        promo = PromotionCode.objects.filter(account=account, livemode=livemode, pk=promotion_code_id).first()
        if promo is None:
            raise InvalidRequest(
                f"No such promotion code: '{promotion_code_id}'",
                param="discounts[0][promotion_code]",
                code="resource_missing",
            )
        return None, promo
    return None, None


@service
def _create(*, account: Account, livemode: bool, actor: Actor, items: list[LineItemSpec], discount: tuple, **fields):
    coupon, promotion_code = _resolve_discount(account, livemode, fields["currency"], discount)
    session = CheckoutSession(
        account=account, livemode=livemode, created=clock.now(), coupon=coupon, promotion_code=promotion_code, **fields
    )
    line_items = [
        CheckoutLineItem(
            account=account,
            livemode=livemode,
            session=session,
            price=spec.price,
            quantity=spec.quantity,
            adjustable_quantity=check_adjustable(spec, i),
            position=i,
        )
        for i, spec in enumerate(items)
    ]
    recompute(session, line_items)
    if session.mode == CheckoutSession.Mode.PAYMENT and (
        error := money.charge_amount_error(session.amount_total, session.currency, total=True)
    ):
        # A payment session is one PaymentIntent for its total: refused now rather than when the customer pays.
        raise InvalidRequest(error, param="line_items", code="invalid_charge_amount")
    session.save(force_insert=True)
    CheckoutLineItem.objects.bulk_create(line_items)
    audit.record(actor, "checkout_session.create", session, {"mode": session.mode})
    return session


def record_event(type_: str, session: CheckoutSession) -> None:
    """The session's event, inside the caller's door (billing's ``emit`` knows billing's objects only)."""
    events.record(type=type_, obj=session, data=checkout_session(session))
