"""Coupon and promotion code services: create, update and delete coupons; create and update promotion codes."""

import datetime as dt
import re
import secrets
import string
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from billing import audit, clock, money
from billing.audit import Actor
from billing.exceptions import InvalidRequest
from billing.models import Account, Coupon, Customer, PromotionCode
from billing.services.common import (
    clean_decimal,
    clean_text,
    emit,
    lock,
    lock_account,
    merge_metadata,
    no_such,
    record_created,
    render,
    same_tenant,
    save_changes,
    validate_metadata,
)
from billing.services.door import service

# Coupon ids travel in URL paths (/v1/coupons/{id}): slashes, whitespace and control characters would not
# round-trip through the SDK's quoting.
COUPON_ID = re.compile(r"^[^\s/\x00-\x1f\x7f]{1,64}$")
# Stripe: promotion codes are letters and digits only.
PROMOTION_CODE = re.compile(r"^[A-Za-z0-9]{1,64}$")
MAX_DURATION_IN_MONTHS = 1200
# The column is a PositiveIntegerField.
MAX_REDEMPTIONS = 2**31 - 1


def _check_max_redemptions(max_redemptions: int | None) -> None:
    if max_redemptions is not None and not 1 <= int(max_redemptions) <= MAX_REDEMPTIONS:
        raise InvalidRequest(
            _("Invalid max_redemptions: must be between 1 and %(max)s."),
            params={"max": MAX_REDEMPTIONS},
            param="max_redemptions",
        )


# ---------------------------------------------------------------------------------------------- coupons


def _lock_coupon(coupon: Coupon) -> Coupon:
    locked = Coupon.objects.select_for_update(no_key=True).filter(pk=coupon.pk, deleted=False).first()
    if locked is None:
        raise no_such("coupon", coupon.coupon_id, param="id")
    return locked


def _clean_discount(percent_off, amount_off: int | None, currency: str) -> tuple[Decimal | None, str]:
    """Exactly one of ``percent_off`` and ``amount_off`` (which needs a currency); returns both cleaned."""
    if (percent_off is None) == (amount_off is None):
        raise InvalidRequest(_("Provide exactly one of percent_off or amount_off."), param="percent_off")
    if percent_off is not None:
        percent_off = clean_decimal(percent_off, param="percent_off", places=2)
        if not Decimal(0) < percent_off <= Decimal(100):
            raise InvalidRequest(_("Invalid percent_off: must be greater than 0 and at most 100."), param="percent_off")
    currency = (currency or "").lower()
    if amount_off is not None:
        if int(amount_off) <= 0:
            raise InvalidRequest(_("Invalid amount_off: must be a positive integer."), param="amount_off")
        if not currency:
            raise InvalidRequest(
                _("Missing required param: currency (required with amount_off)."),
                param="currency",
                code="parameter_missing",
            )
    if currency and not money.is_supported(currency):
        raise InvalidRequest(_("Invalid currency: %(currency)s."), params={"currency": currency}, param="currency")
    return percent_off, currency


def _check_duration(duration: str, duration_in_months: int | None) -> None:
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
                _("Invalid duration_in_months: must be between 1 and %(max)s."),
                params={"max": MAX_DURATION_IN_MONTHS},
                param="duration_in_months",
            )
    elif duration_in_months is not None:
        raise InvalidRequest(
            _("Invalid duration_in_months: it can only be set when duration is repeating."),
            param="duration_in_months",
        )


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
        raise InvalidRequest(
            _("Invalid id: a coupon id is 1 to 64 characters without whitespace or slashes."), param="id"
        )
    percent_off, currency = _clean_discount(percent_off, amount_off, currency)
    _check_duration(duration, duration_in_months)
    _check_max_redemptions(max_redemptions)
    if redeem_by is not None and redeem_by <= clock.now():
        raise InvalidRequest(_("Invalid redeem_by: must be in the future."), param="redeem_by")
    name = clean_text(name, param="name", max_length=40)
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
            return record_created(coupon, actor, "coupon.create", "coupon.created")
    except IntegrityError:
        deleted = Coupon.objects.filter(account=account, livemode=livemode, coupon_id=coupon_id, deleted=True)
        if deleted.exists():
            raise InvalidRequest(
                _("Coupon id %(id)s belonged to a deleted coupon; ids of deleted coupons cannot be reused."),
                params={"id": coupon_id},
                param="id",
                code="resource_already_exists",
            )
        raise InvalidRequest(_("Coupon already exists."), param="id", code="resource_already_exists")


@service
def coupon_update(
    *, coupon: Coupon, actor: Actor, name: str | None = None, metadata: dict | str | None = None
) -> Coupon:
    """Only the name and metadata change: the terms of a coupon are fixed once customers may hold it."""
    if name is not None:
        name = clean_text(name, param="name", max_length=40)
    coupon = _lock_coupon(coupon)
    before = render(coupon)
    if name is not None:
        coupon.name = name
    if metadata is not None:
        coupon.metadata = merge_metadata(coupon.metadata, metadata)
    return save_changes(
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
        save_changes(
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
        _("An active promotion code with this code already exists."), param=param, code="resource_already_exists"
    )


def _generate_code(account_id, livemode: bool) -> str:
    alphabet = string.ascii_uppercase + string.digits
    while True:
        code = "".join(secrets.choice(alphabet) for _ in range(8))
        if not _active_code_taken(account_id, livemode, code):
            return code


def _check_within_coupon(coupon: Coupon, *, max_redemptions: int | None, expires_at, now: dt.datetime) -> None:
    """A promotion code's limits stay within its coupon's."""
    if max_redemptions is not None:
        _check_max_redemptions(max_redemptions)
        if coupon.max_redemptions is not None and max_redemptions > coupon.max_redemptions:
            raise InvalidRequest(
                _("Invalid max_redemptions: cannot exceed the coupon's max_redemptions (%(max)s)."),
                params={"max": coupon.max_redemptions},
                param="max_redemptions",
            )
    if expires_at is not None:
        if expires_at <= now:
            raise InvalidRequest(_("Invalid expires_at: must be in the future."), param="expires_at")
        if coupon.redeem_by and expires_at > coupon.redeem_by:
            raise InvalidRequest(_("Invalid expires_at: cannot be after the coupon's redeem_by."), param="expires_at")


def _clean_minimum_amount(minimum_amount: int | None, currency: str) -> str:
    """Checks ``restrictions[minimum_amount]`` and returns its currency, lowercased."""
    currency = (currency or "").lower()
    if minimum_amount is not None:
        if int(minimum_amount) < 1:
            raise InvalidRequest(
                "Invalid restrictions[minimum_amount]: must be a positive integer.",
                param="restrictions[minimum_amount]",
            )
        if not currency:
            raise InvalidRequest(
                "Missing required param: restrictions[minimum_amount_currency] (required with minimum_amount).",
                param="restrictions[minimum_amount_currency]",
                code="parameter_missing",
            )
    if currency and not money.is_supported(currency):
        raise InvalidRequest(
            f"Invalid restrictions[minimum_amount_currency]: {currency}.",
            param="restrictions[minimum_amount_currency]",
        )
    return currency


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
        raise InvalidRequest(_("Invalid code: use 1 to 64 letters (a-z, A-Z) and digits (0-9)."), param="code")
    if coupon.deleted:
        raise no_such("coupon", coupon.coupon_id, param="coupon")
    now = clock.now()
    if not coupon.is_valid_at(now):
        raise InvalidRequest(
            _("Coupon %(id)s is expired or fully redeemed."), params={"id": coupon.coupon_id}, param="coupon"
        )
    if customer is not None:
        same_tenant(coupon, customer)
    _check_within_coupon(coupon, max_redemptions=max_redemptions, expires_at=expires_at, now=now)
    minimum_amount_currency = _clean_minimum_amount(minimum_amount, minimum_amount_currency)
    try:
        with transaction.atomic():
            lock_account(coupon.account_id)
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
            return record_created(promo, actor, "promotion_code.create", "promotion_code.created")
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
                lock_account(promotion_code.account_id)
            promo = lock(PromotionCode, promotion_code.pk)
            before = render(promo)
            if active and not promo.active:
                if not promo.coupon.is_valid_at(clock.now()):
                    raise InvalidRequest(
                        _(
                            "This promotion code cannot be reactivated: its coupon is deleted, expired or fully "
                            "redeemed."
                        ),
                        param="active",
                    )
                if _active_code_taken(promo.account_id, promo.livemode, promo.code, exclude_pk=promo.pk):
                    raise _code_taken("active")
            if active is not None:
                promo.active = active
            if metadata is not None:
                promo.metadata = merge_metadata(promo.metadata, metadata)
            return save_changes(
                promo,
                before,
                ["active", "metadata"],
                actor=actor,
                action="promotion_code.update",
                event="promotion_code.updated",
            )
    except IntegrityError:
        raise _code_taken("active")
