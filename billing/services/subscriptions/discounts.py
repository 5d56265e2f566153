"""Discounts on subscriptions: redeeming a coupon or promotion code, attaching it, and the retention offer."""

import datetime as dt

from billing import audit, clock, events, money, representations
from billing.audit import Actor
from billing.exceptions import InvalidRequest, NotFound
from billing.models import Coupon, Customer, Discount, Invoice, PromotionCode, Subscription
from billing.periods import add_months
from billing.services.common import emit, render, same_tenant
from billing.services.door import service
from billing.services.subscriptions.state import take


def _redeem_promotion_code(
    customer: Customer,
    promotion_code: PromotionCode,
    now: dt.datetime,
    *,
    currency: str,
    amount: int | None,
    param: str,
) -> PromotionCode:
    """Check the code's restrictions as Stripe does (docs.stripe.com/billing/subscriptions/coupons#promotion-codes:
    active, expires_at, max_redemptions, customer, first_time_transaction, minimum_amount in its currency) and count
    the redemption."""
    same_tenant(customer, promotion_code)
    promo = PromotionCode.objects.select_for_update(no_key=True).get(pk=promotion_code.pk)
    # Stripe's words for each refusal: "This promotion code cannot be redeemed because …".
    if not promo.active:
        raise InvalidRequest(f"This promotion code is not active: {promo.code}.", param=param)
    if promo.expires_at and promo.expires_at <= now:
        raise InvalidRequest(
            "This promotion code cannot be redeemed because it has expired.", param=param, code="coupon_expired"
        )
    if promo.max_redemptions is not None and promo.times_redeemed >= promo.max_redemptions:
        raise InvalidRequest(
            "This promotion code cannot be redeemed because it has been used the maximum number of times.",
            param=param,
            code="coupon_expired",
        )
    if promo.customer_id and promo.customer_id != customer.id:
        raise InvalidRequest(f"This promotion code cannot be used by this customer: {promo.code}.", param=param)
    if (
        promo.first_time_transaction
        and customer.invoices.filter(status=Invoice.Status.PAID, amount_paid__gt=0).exists()
    ):
        raise InvalidRequest(
            "This promotion code cannot be redeemed because the associated customer has prior transactions.",
            param=param,
        )
    if promo.minimum_amount is not None and amount is not None:
        minimum_currency = (promo.minimum_amount_currency or currency).lower()
        if minimum_currency != currency.lower():
            raise InvalidRequest(
                f"This promotion code cannot be redeemed because it requires a purchase in "
                f"{minimum_currency.upper()}, not {currency.upper()}.",
                param=param,
            )
        if amount < promo.minimum_amount:
            minimum = money.format_amount(promo.minimum_amount, minimum_currency)
            raise InvalidRequest(
                "This promotion code cannot be redeemed because the associated purchase does not meet the minimum "
                f"amount requirement ({minimum}; the purchase comes to {money.format_amount(amount, currency)}).",
                param=param,
            )
    promo.times_redeemed += 1
    promo.save(update_fields=["times_redeemed"])
    return promo


def resolve_discount(
    customer: Customer,
    currency: str,
    coupon: Coupon | None,
    promotion_code: PromotionCode | None,
    *,
    amount: int | None = None,
    param: str | None = None,
) -> tuple[Coupon | None, PromotionCode | None]:
    """Redeem the coupon (directly, or through the promotion code): checks and counts the redemption. ``amount`` is
    what the purchase comes to before discounts (a promotion code's ``minimum_amount`` is checked against it);
    ``param`` names the parameter that carried the code or coupon in errors."""
    now = clock.now()
    if promotion_code is not None:
        promotion_code = _redeem_promotion_code(
            customer, promotion_code, now, currency=currency, amount=amount, param=param or "promotion_code"
        )
        coupon = promotion_code.coupon
    if coupon is None:
        return None, None
    param = param or "coupon"
    same_tenant(customer, coupon)
    coupon = Coupon.objects.select_for_update(no_key=True).get(pk=coupon.pk)
    if not coupon.is_valid_at(now):
        raise InvalidRequest(
            f"Coupon expired or fully redeemed: {coupon.coupon_id}.", param=param, code="coupon_expired"
        )
    if coupon.amount_off is not None and coupon.currency != currency:
        raise InvalidRequest(
            f"The coupon's currency ({coupon.currency}) does not match the subscription's ({currency}).", param=param
        )
    coupon.times_redeemed += 1
    coupon.save(update_fields=["times_redeemed"])
    return coupon, promotion_code


def attach_discount(
    subscription: Subscription, coupon: Coupon, promotion_code: PromotionCode | None, *, start: dt.datetime
) -> Discount:
    start = clock.whole_seconds(start)
    # Stripe's discount.end: "If the coupon has a duration of repeating, the date that this discount will end".
    end = add_months(start, coupon.duration_in_months) if coupon.duration == Coupon.Duration.REPEATING else None
    return Discount.objects.create(
        account_id=subscription.account_id,
        livemode=subscription.livemode,
        customer_id=subscription.customer_id,
        subscription=subscription,
        coupon=coupon,
        promotion_code=promotion_code,
        start=start,
        end=end,
    )


@service
def subscription_apply_coupon(
    *, subscription: Subscription, actor: Actor, coupon: Coupon, expected_version: str | None = None
) -> Subscription:
    """Give the subscription ``coupon`` from now on (a retention offer accepted in the portal). Like Stripe's
    ``coupon`` on a subscription update it replaces the discount in effect; spent and ended discounts stay."""
    subscription = take(subscription, expected_version=expected_version)
    before = render(subscription)
    now = clock.now()
    coupon, _promotion_code = resolve_discount(subscription.customer, subscription.currency, coupon, None)
    replaced = subscription.discounts.filter(used=False).exclude(end__lte=now)
    replaced_ids = list(replaced.values_list("id", flat=True))
    replaced.delete()
    discount = attach_discount(subscription, coupon, None, start=now)
    subscription.save(update_fields=[])  # a new version: the discounts changed
    emit("customer.subscription.updated", subscription, before=before)
    audit.record(
        actor,
        "subscription.apply_coupon",
        subscription,
        {"coupon": coupon.coupon_id, "discount": discount.id, "replaced_discounts": replaced_ids},
    )
    return subscription


@service
def subscription_delete_discount(*, subscription: Subscription, actor: Actor) -> Discount:
    """Remove the discount in effect (Stripe's ``DELETE /v1/subscriptions/{id}/discount``): later invoices are billed
    without it; records ``customer.discount.deleted`` and ``customer.subscription.updated``."""
    subscription = take(subscription)
    before = render(subscription)
    now = clock.now()
    current = list(subscription.discounts.filter(used=False).exclude(end__lte=now).select_related("coupon"))
    if not current:
        raise NotFound(f"The subscription {subscription.pk} has no discount.", param="subscription")
    Discount.objects.filter(pk__in=[discount.pk for discount in current]).delete()
    for discount in current:
        events.record(type="customer.discount.deleted", obj=subscription, data=representations.discount(discount))
    subscription.save(update_fields=[])  # a new version: the discounts changed
    emit("customer.subscription.updated", subscription, before=before)
    audit.record(actor, "subscription.delete_discount", subscription, {"discounts": [d.id for d in current]})
    return current[0]
