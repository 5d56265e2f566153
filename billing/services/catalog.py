"""Catalogue services: products, prices, tax rates, coupons and promotion codes."""

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction

from billing import audit, money
from billing.audit import Actor
from billing.exceptions import InvalidRequest
from billing.models import Account, Coupon, Price, Product, PromotionCode, TaxRate
from billing.services.common import emit, validate_metadata


def _created(obj, actor: Actor, action: str, event: str | None):
    audit.record(account=obj.account, livemode=obj.livemode, actor=actor, action=action, obj=obj)
    if event:
        emit(event, obj)
    return obj


def product_create(
    *,
    account: Account,
    livemode: bool,
    actor: Actor,
    name: str,
    description: str = "",
    active: bool = True,
    metadata: dict | None = None,
) -> Product:
    name = (name or "").strip()
    if not name:
        raise InvalidRequest("Missing required param: name.", param="name", code="parameter_missing")
    with transaction.atomic():
        product = Product.objects.create(
            account=account,
            livemode=livemode,
            name=name[:250],
            description=description,
            active=active,
            metadata=validate_metadata(metadata),
        )
        return _created(product, actor, "product.create", "product.created")


def price_create(
    *,
    product: Product,
    actor: Actor,
    currency: str,
    unit_amount: int,
    interval: str | None = None,
    interval_count: int = 1,
    usage_type: str = Price.UsageType.LICENSED,
    tax_behavior: str = Price.TaxBehavior.UNSPECIFIED,
    nickname: str = "",
    lookup_key: str = "",
    active: bool = True,
    metadata: dict | None = None,
) -> Price:
    currency = (currency or "").lower()
    if not money.is_supported(currency):
        raise InvalidRequest(f"Invalid currency: {currency}.", param="currency")
    if unit_amount is None or int(unit_amount) < 0:
        raise InvalidRequest("Invalid unit_amount: must be a non-negative integer.", param="unit_amount")
    if interval and interval not in Price.Interval.values:
        raise InvalidRequest(f"Invalid recurring[interval]: {interval}", param="recurring[interval]")
    if interval and not 1 <= int(interval_count) <= (
        365 if interval == "day" else 52 if interval == "week" else 12 if interval == "month" else 3
    ):
        raise InvalidRequest(
            "Invalid recurring[interval_count]: the maximum billing period is 3 years.",
            param="recurring[interval_count]",
        )
    if tax_behavior not in Price.TaxBehavior.values:
        raise InvalidRequest(f"Invalid tax_behavior: {tax_behavior}", param="tax_behavior")
    with transaction.atomic():
        price = Price.objects.create(
            account=product.account,
            livemode=product.livemode,
            product=product,
            currency=currency,
            unit_amount=int(unit_amount),
            type=Price.Type.RECURRING if interval else Price.Type.ONE_TIME,
            recurring_interval=interval or "",
            recurring_interval_count=int(interval_count) if interval else 1,
            recurring_usage_type=usage_type,
            tax_behavior=tax_behavior,
            nickname=nickname,
            lookup_key=lookup_key,
            active=active,
            metadata=validate_metadata(metadata),
        )
        return _created(price, actor, "price.create", "price.created")


def tax_rate_create(
    *,
    account: Account,
    livemode: bool,
    actor: Actor,
    display_name: str,
    percentage,
    inclusive: bool,
    country: str = "",
    jurisdiction: str = "",
    description: str = "",
    metadata: dict | None = None,
) -> TaxRate:
    try:
        percentage = Decimal(str(percentage))
    except InvalidOperation:
        raise InvalidRequest("Invalid percentage: must be a number.", param="percentage")
    if not Decimal(0) <= percentage <= Decimal(100):
        raise InvalidRequest("Invalid percentage: must be between 0 and 100.", param="percentage")
    if not display_name:
        raise InvalidRequest("Missing required param: display_name.", param="display_name", code="parameter_missing")
    with transaction.atomic():
        rate = TaxRate.objects.create(
            account=account,
            livemode=livemode,
            display_name=display_name[:50],
            percentage=percentage,
            inclusive=bool(inclusive),
            country=country.upper(),
            jurisdiction=jurisdiction,
            description=description,
            metadata=validate_metadata(metadata),
        )
        return _created(rate, actor, "tax_rate.create", "tax_rate.created")


def coupon_create(
    *,
    account: Account,
    livemode: bool,
    actor: Actor,
    coupon_id: str = "",
    name: str = "",
    percent_off=None,
    amount_off: int | None = None,
    currency: str = "",
    duration: str = Coupon.Duration.ONCE,
    duration_in_months: int | None = None,
    max_redemptions: int | None = None,
    redeem_by: dt.datetime | None = None,
    metadata: dict | None = None,
) -> Coupon:
    import secrets
    import string

    if (percent_off is None) == (amount_off is None):
        raise InvalidRequest("Provide exactly one of percent_off or amount_off.", param="percent_off")
    if percent_off is not None:
        percent_off = Decimal(str(percent_off))
        if not Decimal(0) < percent_off <= Decimal(100):
            raise InvalidRequest("Invalid percent_off: must be greater than 0 and at most 100.", param="percent_off")
    if amount_off is not None:
        if int(amount_off) <= 0:
            raise InvalidRequest("Invalid amount_off: must be a positive integer.", param="amount_off")
        if not money.is_supported(currency or ""):
            raise InvalidRequest("Missing required param: currency.", param="currency", code="parameter_missing")
    if duration not in Coupon.Duration.values:
        raise InvalidRequest(f"Invalid duration: {duration}", param="duration")
    if duration == Coupon.Duration.REPEATING and not duration_in_months:
        raise InvalidRequest(
            "Missing required param: duration_in_months.", param="duration_in_months", code="parameter_missing"
        )
    coupon_id = coupon_id or "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(8))
    try:
        with transaction.atomic():
            coupon = Coupon.objects.create(
                account=account,
                livemode=livemode,
                coupon_id=coupon_id,
                name=name[:40],
                percent_off=percent_off,
                amount_off=amount_off,
                currency=(currency or "").lower(),
                duration=duration,
                duration_in_months=duration_in_months if duration == Coupon.Duration.REPEATING else None,
                max_redemptions=max_redemptions,
                redeem_by=redeem_by,
                metadata=validate_metadata(metadata),
            )
            return _created(coupon, actor, "coupon.create", "coupon.created")
    except IntegrityError:
        raise InvalidRequest("Coupon already exists.", param="id", code="resource_already_exists")


def promotion_code_create(
    *,
    coupon: Coupon,
    actor: Actor,
    code: str,
    max_redemptions: int | None = None,
    expires_at: dt.datetime | None = None,
    customer=None,
    first_time_transaction: bool = False,
    minimum_amount: int | None = None,
    minimum_amount_currency: str = "",
    metadata: dict | None = None,
) -> PromotionCode:
    code = (code or "").strip()
    if not code or len(code) > 64:
        raise InvalidRequest("Invalid code: must be 1 to 64 characters.", param="code")
    try:
        with transaction.atomic():
            promo = PromotionCode.objects.create(
                account=coupon.account,
                livemode=coupon.livemode,
                coupon=coupon,
                code=code,
                max_redemptions=max_redemptions,
                expires_at=expires_at,
                customer=customer,
                first_time_transaction=first_time_transaction,
                minimum_amount=minimum_amount,
                minimum_amount_currency=minimum_amount_currency,
                metadata=validate_metadata(metadata),
            )
            return _created(promo, actor, "promotion_code.create", "promotion_code.created")
    except IntegrityError:
        raise InvalidRequest(
            "An active promotion code with this code already exists.", param="code", code="resource_already_exists"
        )
