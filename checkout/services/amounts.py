"""What a session costs: its line items at the server's prices, its discount and its tax rates, computed as the
first invoice will be (never from anything the page sends)."""

from decimal import Decimal

from billing.models import Coupon, Price, TaxRate
from billing.pricing import CouponTerms, LineInput, Totals, compute_totals
from checkout.models import CheckoutLineItem, CheckoutSession


def default_tax_rates(session: CheckoutSession) -> list[TaxRate]:
    ids = (session.subscription_data or {}).get("default_tax_rates") or []
    if not ids:
        return []
    rates = {rate.pk: rate for rate in TaxRate.objects.filter(pk__in=ids, account_id=session.account_id)}
    return [rates[pk] for pk in ids if pk in rates]


def coupon_terms(coupon: Coupon | None, currency: str) -> list[CouponTerms]:
    if coupon is None:
        return []
    if coupon.percent_off is not None:
        return [CouponTerms(percent_off=Decimal(coupon.percent_off))]
    if coupon.amount_off and coupon.currency == currency:
        return [CouponTerms(amount_off=coupon.amount_off)]
    return []


def totals_for(
    items: list[tuple[Price, int]], *, coupon: Coupon | None, tax_rates: list[TaxRate], trial: bool, currency: str
) -> Totals:
    """The first payment's totals; a trial's first invoice charges nothing."""
    rate = tax_rates[0] if tax_rates else None
    lines = [
        LineInput(
            amount=0 if trial and price.type == Price.Type.RECURRING else (price.unit_amount or 0) * quantity,
            tax_percentage=Decimal(rate.percentage) if rate else None,
            tax_inclusive=bool(rate and rate.inclusive),
        )
        for price, quantity in items
    ]
    return compute_totals(lines, coupon_terms(coupon, currency))


def session_coupon(session: CheckoutSession) -> Coupon | None:
    if session.promotion_code_id:
        return session.promotion_code.coupon
    return session.coupon


def recompute(session: CheckoutSession, line_items: list[CheckoutLineItem]) -> Totals | None:
    """Set the session's amounts from its line items (setup sessions cost nothing and have none)."""
    if session.mode == CheckoutSession.Mode.SETUP:
        session.amount_subtotal = session.amount_total = None
        session.amount_discount = session.amount_tax = 0
        return None
    totals = totals_for(
        [(item.price, item.quantity) for item in line_items],
        coupon=session_coupon(session),
        tax_rates=default_tax_rates(session),
        trial=bool(session.trial_period_days),
        currency=session.currency,
    )
    session.amount_subtotal = totals.subtotal
    session.amount_discount = totals.total_discount
    session.amount_tax = totals.tax
    session.amount_total = totals.total
    return totals
