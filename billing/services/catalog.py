"""Catalogue services: products, prices, tax rates, coupons and promotion codes."""

import datetime as dt
import re
import secrets
import string
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django_countries import countries

from billing import audit, clock, money
from billing.audit import Actor
from billing.exceptions import BillingError, InvalidRequest, NotFound, StateConflict
from billing.models import Account, Coupon, Customer, Price, Product, PromotionCode, TaxRate
from billing.services.common import emit, lock, merge_metadata, render, same_tenant, validate_metadata
from billing.services.door import service

# Stripe's limit: a billing period of at most three years.
MAX_INTERVAL_COUNT = {"day": 1095, "week": 156, "month": 36, "year": 3}
# Coupon ids travel in URL paths (/v1/coupons/{id}): slashes, whitespace and control characters would not
# round-trip through the SDK's quoting.
COUPON_ID = re.compile(r"^[^\s/\x00-\x1f\x7f]{1,64}$")
# Stripe: promotion codes are letters and digits only.
PROMOTION_CODE = re.compile(r"^[A-Za-z0-9]{1,64}$")
MAX_DURATION_IN_MONTHS = 1200
# The column is a PositiveIntegerField.
MAX_REDEMPTIONS = 2**31 - 1


def _created(obj, actor: Actor, action: str, event: str | None):
    audit.record(actor, action, obj)
    if event:
        emit(event, obj)
    return obj


def _save_changes(obj, before: dict, fields: list[str], *, actor: Actor, action: str, event: str):
    """Save ``fields`` and record the update, unless the Stripe JSON of ``obj`` did not change."""
    if render(obj) == before:
        return obj
    obj.save(update_fields=fields)
    after = emit(event, obj, before=before)
    changes = {key: after[key] for key in after if before.get(key) != after[key]}
    audit.record(actor, action, obj, changes)
    return obj


def _lock_account(account_id) -> None:
    """Serialise checks of per-account uniqueness rules the database cannot hold (lookup keys, codes)."""
    Account.objects.select_for_update(no_key=True).filter(pk=account_id).first()


def _clean_text(value: str, *, param: str, max_length: int, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidRequest(f"Invalid {param}: must not be empty.", param=param, code="parameter_invalid_empty")
    if len(value) > max_length:
        raise InvalidRequest(f"Invalid {param}: must be at most {max_length} characters.", param=param)
    return value


def _decimal(value, *, param: str, places: int) -> Decimal:
    try:
        number = Decimal(str(value))
        if not number.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        raise InvalidRequest(f"Invalid {param}: must be a number.", param=param)
    if number.as_tuple().exponent < -places:
        raise InvalidRequest(f"Invalid {param}: at most {places} decimal places are allowed.", param=param)
    return number


def _country(value: str, *, param: str = "country") -> str:
    value = (value or "").strip().upper()
    if value and value not in dict(countries):
        raise InvalidRequest(f"Invalid {param}: {value} is not an ISO 3166-1 alpha-2 country code.", param=param)
    return value


# ---------------------------------------------------------------------------------------------- products


@service
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
    if not (name or "").strip():
        raise InvalidRequest("Missing required param: name.", param="name", code="parameter_missing")
    name = _clean_text(name, param="name", max_length=250)
    product = Product.objects.create(
        account=account,
        livemode=livemode,
        name=name,
        description=description or "",
        active=active,
        metadata=validate_metadata(metadata),
    )
    return _created(product, actor, "product.create", "product.created")


@service
def product_update(
    *,
    product: Product,
    actor: Actor,
    name: str | None = None,
    description: str | None = None,
    active: bool | None = None,
    metadata: dict | str | None = None,
) -> Product:
    """``None`` leaves a field as it is; ``description=""`` clears it; ``metadata`` merges as in Stripe."""
    if name is not None:
        name = _clean_text(name, param="name", max_length=250, required=True)
    product = lock(Product, product.pk)
    before = render(product)
    if name is not None:
        product.name = name
    if description is not None:
        product.description = description
    if active is not None:
        product.active = active
    if metadata is not None:
        product.metadata = merge_metadata(product.metadata, metadata)
    fields = ["name", "description", "active", "metadata", "updated"]
    return _save_changes(product, before, fields, actor=actor, action="product.update", event="product.updated")


@service
def product_delete(*, product: Product, actor: Actor) -> None:
    """Stripe's rule: only a product without prices can be deleted; others are archived (``active=false``)."""
    product = lock(Product, product.pk)
    if product.prices.exists():
        raise StateConflict(
            "This product cannot be deleted because it has one or more prices. "
            "Archive it instead by setting active=false.",
        )
    emit("product.deleted", product)
    audit.record(actor, "product.delete", product)
    try:
        product.delete()
    except ProtectedError:
        # Other apps may hold the product too (e.g. a portal configuration); the event and audit roll back.
        raise StateConflict("This product cannot be deleted because it is still in use; archive it instead.")


# ---------------------------------------------------------------------------------------------- prices


def _claim_lookup_key(price: Price, lookup_key: str, *, transfer: bool, actor: Actor) -> None:
    """Lookup keys are unique per account and mode; ``transfer`` takes the key from the price holding it.

    The caller holds the account lock (taken before any price row, so concurrent claims cannot deadlock).
    """
    holder = (
        Price.objects.select_for_update(no_key=True)
        .filter(account_id=price.account_id, livemode=price.livemode, lookup_key=lookup_key)
        .exclude(pk=price.pk)
        .first()
    )
    if holder is None:
        return
    if not transfer:
        raise InvalidRequest(
            f"A price ({holder.id}) already uses that lookup key. Pass transfer_lookup_key=true to move it.",
            param="lookup_key",
        )
    before = render(holder)
    holder.lookup_key = ""
    _save_changes(holder, before, ["lookup_key"], actor=actor, action="price.update", event="price.updated")


@service
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
    transfer_lookup_key: bool = False,
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
    if interval and not 1 <= int(interval_count) <= MAX_INTERVAL_COUNT[interval]:
        raise InvalidRequest(
            f"Invalid recurring[interval_count]: must be between 1 and {MAX_INTERVAL_COUNT[interval]} for "
            f"interval={interval} (the maximum billing period is 3 years).",
            param="recurring[interval_count]",
        )
    if usage_type not in Price.UsageType.values:
        raise InvalidRequest(f"Invalid recurring[usage_type]: {usage_type}", param="recurring[usage_type]")
    if tax_behavior not in Price.TaxBehavior.values:
        raise InvalidRequest(f"Invalid tax_behavior: {tax_behavior}", param="tax_behavior")
    nickname = _clean_text(nickname, param="nickname", max_length=250)
    lookup_key = _clean_text(lookup_key, param="lookup_key", max_length=200)
    if lookup_key:
        _lock_account(product.account_id)
    # Locking the product makes a concurrent product_delete wait for us (or us fail cleanly after it).
    try:
        product = Product.objects.select_for_update(no_key=True).get(pk=product.pk)
    except Product.DoesNotExist:
        raise NotFound(f"No such product: '{product.pk}'", param="product")
    price = Price(
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
    if lookup_key:
        _claim_lookup_key(price, lookup_key, transfer=transfer_lookup_key, actor=actor)
    price.save(force_insert=True)
    return _created(price, actor, "price.create", "price.created")


@service
def price_create_with_product(
    *, account: Account, livemode: bool, actor: Actor, product_data: dict, **price_fields
) -> Price:
    """Stripe's ``product_data``: a new product and its first price, both or neither."""
    try:
        product = product_create(account=account, livemode=livemode, actor=actor, **product_data)
    except BillingError as error:
        if error.param:
            head, bracket, rest = error.param.partition("[")
            error.param = f"product_data[{head}]{bracket}{rest}"
        raise
    return price_create(product=product, actor=actor, **price_fields)


@service
def price_update(
    *,
    price: Price,
    actor: Actor,
    active: bool | None = None,
    nickname: str | None = None,
    lookup_key: str | None = None,
    transfer_lookup_key: bool = False,
    tax_behavior: str | None = None,
    metadata: dict | str | None = None,
) -> Price:
    """Amounts, currency and interval are fixed (create a new price); ``tax_behavior`` only while unspecified."""
    if nickname is not None:
        nickname = _clean_text(nickname, param="nickname", max_length=250)
    if lookup_key is not None:
        lookup_key = _clean_text(lookup_key, param="lookup_key", max_length=200)
    if tax_behavior is not None and tax_behavior not in Price.TaxBehavior.values:
        raise InvalidRequest(f"Invalid tax_behavior: {tax_behavior}", param="tax_behavior")
    if lookup_key:
        _lock_account(price.account_id)
    price = lock(Price, price.pk)
    before = render(price)
    if tax_behavior is not None and tax_behavior != price.tax_behavior:
        if price.tax_behavior != Price.TaxBehavior.UNSPECIFIED:
            raise InvalidRequest(
                f"tax_behavior cannot be changed once it is set (this price is {price.tax_behavior}); "
                "create a new price instead.",
                param="tax_behavior",
            )
        price.tax_behavior = tax_behavior
    if active is not None:
        price.active = active
    if nickname is not None:
        price.nickname = nickname
    if lookup_key is not None and lookup_key != price.lookup_key:
        if lookup_key:
            _claim_lookup_key(price, lookup_key, transfer=transfer_lookup_key, actor=actor)
        price.lookup_key = lookup_key
    if metadata is not None:
        price.metadata = merge_metadata(price.metadata, metadata)
    fields = ["active", "nickname", "lookup_key", "tax_behavior", "metadata"]
    return _save_changes(price, before, fields, actor=actor, action="price.update", event="price.updated")


# ---------------------------------------------------------------------------------------------- tax rates


@service
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
    active: bool = True,
    metadata: dict | None = None,
) -> TaxRate:
    percentage = _decimal(percentage, param="percentage", places=4)
    if not Decimal(0) <= percentage <= Decimal(100):
        raise InvalidRequest("Invalid percentage: must be between 0 and 100.", param="percentage")
    if not (display_name or "").strip():
        raise InvalidRequest("Missing required param: display_name.", param="display_name", code="parameter_missing")
    display_name = _clean_text(display_name, param="display_name", max_length=50)
    rate = TaxRate.objects.create(
        account=account,
        livemode=livemode,
        display_name=display_name,
        percentage=percentage,
        inclusive=bool(inclusive),
        active=active,
        country=_country(country),
        jurisdiction=_clean_text(jurisdiction, param="jurisdiction", max_length=50),
        description=_clean_text(description, param="description", max_length=500),
        metadata=validate_metadata(metadata),
    )
    return _created(rate, actor, "tax_rate.create", "tax_rate.created")


@service
def tax_rate_update(
    *,
    tax_rate: TaxRate,
    actor: Actor,
    display_name: str | None = None,
    description: str | None = None,
    active: bool | None = None,
    country: str | None = None,
    jurisdiction: str | None = None,
    metadata: dict | str | None = None,
) -> TaxRate:
    """``percentage`` and ``inclusive`` are immutable, as in Stripe: invoices already reference the rate."""
    changes = {}
    if display_name is not None:
        changes["display_name"] = _clean_text(display_name, param="display_name", max_length=50, required=True)
    if description is not None:
        changes["description"] = _clean_text(description, param="description", max_length=500)
    if country is not None:
        changes["country"] = _country(country)
    if jurisdiction is not None:
        changes["jurisdiction"] = _clean_text(jurisdiction, param="jurisdiction", max_length=50)
    if active is not None:
        changes["active"] = active
    tax_rate = lock(TaxRate, tax_rate.pk)
    before = render(tax_rate)
    for key, value in changes.items():
        setattr(tax_rate, key, value)
    if metadata is not None:
        tax_rate.metadata = merge_metadata(tax_rate.metadata, metadata)
    fields = ["display_name", "description", "country", "jurisdiction", "active", "metadata"]
    return _save_changes(tax_rate, before, fields, actor=actor, action="tax_rate.update", event="tax_rate.updated")


# ---------------------------------------------------------------------------------------------- coupons


def _lock_coupon(coupon: Coupon) -> Coupon:
    coupon = Coupon.objects.select_for_update(no_key=True).filter(pk=coupon.pk, deleted=False).first()
    if coupon is None:
        raise NotFound(f"No such coupon: '{coupon.coupon_id}'", param="id")
    return coupon


@service
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
    if coupon_id and not COUPON_ID.match(coupon_id):
        raise InvalidRequest("Invalid id: a coupon id is 1 to 64 characters without whitespace or slashes.", param="id")
    if (percent_off is None) == (amount_off is None):
        raise InvalidRequest("Provide exactly one of percent_off or amount_off.", param="percent_off")
    if percent_off is not None:
        percent_off = _decimal(percent_off, param="percent_off", places=2)
        if not Decimal(0) < percent_off <= Decimal(100):
            raise InvalidRequest("Invalid percent_off: must be greater than 0 and at most 100.", param="percent_off")
    currency = (currency or "").lower()
    if amount_off is not None:
        if int(amount_off) <= 0:
            raise InvalidRequest("Invalid amount_off: must be a positive integer.", param="amount_off")
        if not currency:
            raise InvalidRequest(
                "Missing required param: currency (required with amount_off).",
                param="currency",
                code="parameter_missing",
            )
    if currency and not money.is_supported(currency):
        raise InvalidRequest(f"Invalid currency: {currency}.", param="currency")
    if duration not in Coupon.Duration.values:
        raise InvalidRequest(f"Invalid duration: {duration}", param="duration")
    if duration == Coupon.Duration.REPEATING:
        if not duration_in_months:
            raise InvalidRequest(
                "Missing required param: duration_in_months (required with duration=repeating).",
                param="duration_in_months",
                code="parameter_missing",
            )
        if not 1 <= int(duration_in_months) <= MAX_DURATION_IN_MONTHS:
            raise InvalidRequest(
                f"Invalid duration_in_months: must be between 1 and {MAX_DURATION_IN_MONTHS}.",
                param="duration_in_months",
            )
    elif duration_in_months is not None:
        raise InvalidRequest(
            "Invalid duration_in_months: it can only be set when duration is repeating.", param="duration_in_months"
        )
    if max_redemptions is not None and not 1 <= int(max_redemptions) <= MAX_REDEMPTIONS:
        raise InvalidRequest(
            f"Invalid max_redemptions: must be between 1 and {MAX_REDEMPTIONS}.", param="max_redemptions"
        )
    if redeem_by is not None and redeem_by <= clock.now():
        raise InvalidRequest("Invalid redeem_by: must be in the future.", param="redeem_by")
    name = _clean_text(name, param="name", max_length=40)
    coupon_id = coupon_id or "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(8))
    try:
        with transaction.atomic():
            coupon = Coupon.objects.create(
                account=account,
                livemode=livemode,
                coupon_id=coupon_id,
                name=name,
                percent_off=percent_off,
                amount_off=amount_off,
                currency=currency,
                duration=duration,
                duration_in_months=duration_in_months if duration == Coupon.Duration.REPEATING else None,
                max_redemptions=max_redemptions,
                redeem_by=redeem_by,
                metadata=validate_metadata(metadata),
            )
            return _created(coupon, actor, "coupon.create", "coupon.created")
    except IntegrityError:
        deleted = Coupon.objects.filter(account=account, livemode=livemode, coupon_id=coupon_id, deleted=True)
        if deleted.exists():
            raise InvalidRequest(
                f"Coupon id {coupon_id} belonged to a deleted coupon; ids of deleted coupons cannot be reused.",
                param="id",
                code="resource_already_exists",
            )
        raise InvalidRequest("Coupon already exists.", param="id", code="resource_already_exists")


@service
def coupon_update(
    *, coupon: Coupon, actor: Actor, name: str | None = None, metadata: dict | str | None = None
) -> Coupon:
    """Only the name and metadata change: the terms of a coupon are fixed once customers may hold it."""
    if name is not None:
        name = _clean_text(name, param="name", max_length=40)
    coupon = _lock_coupon(coupon)
    before = render(coupon)
    if name is not None:
        coupon.name = name
    if metadata is not None:
        coupon.metadata = merge_metadata(coupon.metadata, metadata)
    return _save_changes(
        coupon, before, ["name", "metadata"], actor=actor, action="coupon.update", event="coupon.updated"
    )


@service
def coupon_delete(*, coupon: Coupon, actor: Actor) -> Coupon:
    """Stripe's semantics: no new redemptions, discounts already applied keep working.

    The row stays (discounts reference it) with ``deleted`` set; its promotion codes are deactivated.
    """
    coupon = _lock_coupon(coupon)
    for promo in PromotionCode.objects.select_for_update(no_key=True).filter(coupon=coupon, active=True):
        promo.coupon = coupon
        before = render(promo)
        promo.active = False
        _save_changes(
            promo, before, ["active"], actor=actor, action="promotion_code.update", event="promotion_code.updated"
        )
    coupon.deleted = True
    coupon.save(update_fields=["deleted"])
    emit("coupon.deleted", coupon)
    audit.record(actor, "coupon.delete", coupon)
    return coupon


# ---------------------------------------------------------------------------------------------- promotion codes


def _active_code_taken(account_id, livemode: bool, code: str, *, exclude_pk=None) -> bool:
    """Stripe compares codes case-insensitively among active promotion codes."""
    taken = PromotionCode.objects.filter(account_id=account_id, livemode=livemode, active=True, code__iexact=code)
    return taken.exclude(pk=exclude_pk).exists()


def _code_taken(param: str) -> InvalidRequest:
    return InvalidRequest(
        "An active promotion code with this code already exists.", param=param, code="resource_already_exists"
    )


def _generate_code(account_id, livemode: bool) -> str:
    alphabet = string.ascii_uppercase + string.digits
    while True:
        code = "".join(secrets.choice(alphabet) for _ in range(8))
        if not _active_code_taken(account_id, livemode, code):
            return code


@service
def promotion_code_create(
    *,
    coupon: Coupon,
    actor: Actor,
    code: str = "",
    active: bool = True,
    max_redemptions: int | None = None,
    expires_at: dt.datetime | None = None,
    customer: Customer | None = None,
    first_time_transaction: bool = False,
    minimum_amount: int | None = None,
    minimum_amount_currency: str = "",
    metadata: dict | None = None,
) -> PromotionCode:
    """``code=""`` generates one, as Stripe does."""
    code = (code or "").strip()
    if code and not PROMOTION_CODE.match(code):
        raise InvalidRequest("Invalid code: use 1 to 64 letters (a-z, A-Z) and digits (0-9).", param="code")
    if coupon.deleted:
        raise NotFound(f"No such coupon: '{coupon.coupon_id}'", param="coupon")
    now = clock.now()
    if not coupon.is_valid_at(now):
        raise InvalidRequest(f"Coupon {coupon.coupon_id} is expired or fully redeemed.", param="coupon")
    if customer is not None:
        same_tenant(coupon, customer)
    if max_redemptions is not None:
        if not 1 <= int(max_redemptions) <= MAX_REDEMPTIONS:
            raise InvalidRequest(
                f"Invalid max_redemptions: must be between 1 and {MAX_REDEMPTIONS}.", param="max_redemptions"
            )
        if coupon.max_redemptions is not None and max_redemptions > coupon.max_redemptions:
            raise InvalidRequest(
                f"Invalid max_redemptions: cannot exceed the coupon's max_redemptions ({coupon.max_redemptions}).",
                param="max_redemptions",
            )
    if expires_at is not None:
        if expires_at <= now:
            raise InvalidRequest("Invalid expires_at: must be in the future.", param="expires_at")
        if coupon.redeem_by and expires_at > coupon.redeem_by:
            raise InvalidRequest("Invalid expires_at: cannot be after the coupon's redeem_by.", param="expires_at")
    minimum_amount_currency = (minimum_amount_currency or "").lower()
    if minimum_amount is not None:
        if int(minimum_amount) < 1:
            raise InvalidRequest(
                "Invalid restrictions[minimum_amount]: must be a positive integer.",
                param="restrictions[minimum_amount]",
            )
        if not minimum_amount_currency:
            raise InvalidRequest(
                "Missing required param: restrictions[minimum_amount_currency] (required with minimum_amount).",
                param="restrictions[minimum_amount_currency]",
                code="parameter_missing",
            )
    if minimum_amount_currency and not money.is_supported(minimum_amount_currency):
        raise InvalidRequest(
            f"Invalid restrictions[minimum_amount_currency]: {minimum_amount_currency}.",
            param="restrictions[minimum_amount_currency]",
        )
    try:
        with transaction.atomic():
            _lock_account(coupon.account_id)
            if not code:
                code = _generate_code(coupon.account_id, coupon.livemode)
            elif active and _active_code_taken(coupon.account_id, coupon.livemode, code):
                raise _code_taken("code")
            promo = PromotionCode.objects.create(
                account=coupon.account,
                livemode=coupon.livemode,
                coupon=coupon,
                code=code,
                active=active,
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
        raise _code_taken("code")


@service
def promotion_code_update(
    *, promotion_code: PromotionCode, actor: Actor, active: bool | None = None, metadata: dict | str | None = None
) -> PromotionCode:
    """Stripe's rule: a code can be reactivated only while its coupon is still valid and the code is free."""
    try:
        with transaction.atomic():
            if active:
                _lock_account(promotion_code.account_id)
            promo = lock(PromotionCode, promotion_code.pk)
            before = render(promo)
            if active and not promo.active:
                if not promo.coupon.is_valid_at(clock.now()):
                    raise InvalidRequest(
                        "This promotion code cannot be reactivated: its coupon is deleted, expired or fully redeemed.",
                        param="active",
                    )
                if _active_code_taken(promo.account_id, promo.livemode, promo.code, exclude_pk=promo.pk):
                    raise _code_taken("active")
            if active is not None:
                promo.active = active
            if metadata is not None:
                promo.metadata = merge_metadata(promo.metadata, metadata)
            return _save_changes(
                promo,
                before,
                ["active", "metadata"],
                actor=actor,
                action="promotion_code.update",
                event="promotion_code.updated",
            )
    except IntegrityError:
        raise _code_taken("active")
