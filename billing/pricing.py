"""Pure invoice arithmetic: prorations, discounts, taxes and totals in integer minor units."""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from billing.money import chargeable, round_half_up
from billing.periods import period_end


def proration_fraction(period_start: dt.datetime, period_end: dt.datetime, at: dt.datetime) -> Decimal:
    """The share of the period still ahead at ``at``, to the second (0..1)."""
    whole = int((period_end - period_start).total_seconds())
    if whole <= 0:
        return Decimal(0)
    remaining = int((period_end - at).total_seconds())
    remaining = max(0, min(whole, remaining))
    return Decimal(remaining) / Decimal(whole)


def prorate(amount: int, period_start: dt.datetime, period_end: dt.datetime, at: dt.datetime) -> int:
    """``amount`` for the unused remainder of the period, rounded half-up once."""
    return round_half_up(Decimal(amount) * proration_fraction(period_start, period_end, at))


def span_amount(amount: int, start: dt.datetime, end: dt.datetime, interval: str, interval_count: int) -> int:
    """``amount`` per period billed for ``start``..``end`` by Stripe's backdating rule: whole intervals counted from
    ``start`` in full, the rest prorated to the second over the "imagined" interval that begins where they end
    (docs.stripe.com/billing/subscriptions/backdating: Feb 15 -> Mar 1 is 14/28 of a month, Jan 15 -> Feb 1 17/31)."""
    if end <= start:
        return 0
    whole = 0
    while period_end(start, interval, interval_count, whole + 1) <= end:
        whole += 1
    last = period_end(start, interval, interval_count, whole)
    following = period_end(start, interval, interval_count, whole + 1)
    used = int((end - last).total_seconds())
    length = int((following - last).total_seconds())
    return amount * whole + round_half_up(Decimal(amount) * Decimal(used) / Decimal(length))


@dataclass
class LineInput:
    amount: int  # before discounts; tax-inclusive when the rate is inclusive
    discountable: bool = True
    tax_percentage: Decimal | None = None
    tax_inclusive: bool = False


@dataclass
class LineResult:
    amount: int
    discount_amount: int
    taxable_amount: int
    tax_amount: int


@dataclass
class Totals:
    lines: list[LineResult] = field(default_factory=list)
    subtotal: int = 0
    total_discount: int = 0
    total_excluding_tax: int = 0
    tax: int = 0
    total: int = 0


@dataclass
class CouponTerms:
    percent_off: Decimal | None = None
    amount_off: int | None = None


def _discounts(lines: list[LineInput], coupons: list[CouponTerms]) -> list[int]:
    """Discount per line. Percentages apply to each positive line; fixed amounts are spread over
    positive lines in proportion to their size (the last line takes the rounding rest), never
    exceeding what is left of a line."""
    remaining = [max(line.amount, 0) if line.discountable else 0 for line in lines]
    discounts = [0] * len(lines)
    for coupon in coupons:
        if coupon.percent_off is not None:
            for i, base in enumerate(remaining):
                if base > 0:
                    cut = min(base, round_half_up(Decimal(base) * coupon.percent_off / 100))
                    discounts[i] += cut
                    remaining[i] -= cut
        elif coupon.amount_off:
            pool = sum(remaining)
            budget = min(coupon.amount_off, pool)
            if budget <= 0:
                continue
            # Largest remainder: exact shares floored, the rest one unit each to the biggest fractions.
            shares = [Decimal(budget) * base / pool for base in remaining]
            cuts = [int(share) for share in shares]
            left = budget - sum(cuts)
            for i in sorted(range(len(cuts)), key=lambda i: shares[i] - cuts[i], reverse=True)[:left]:
                cuts[i] += 1
            for i, cut in enumerate(cuts):
                discounts[i] += cut
                remaining[i] -= cut
    return discounts


def compute_totals(lines: list[LineInput], coupons: list[CouponTerms] | None = None) -> Totals:
    """Stripe's order: discount each line, then tax the discounted amount; round once per line."""
    discounts = _discounts(lines, coupons or [])
    totals = Totals()
    for line, discount in zip(lines, discounts, strict=True):
        net = line.amount - discount
        tax = 0
        if line.tax_percentage is not None:
            rate = line.tax_percentage / 100
            if line.tax_inclusive:
                tax = round_half_up(Decimal(net) - Decimal(net) / (1 + rate))
            else:
                tax = round_half_up(Decimal(net) * rate)
        taxable = net - tax if line.tax_inclusive else net
        totals.lines.append(LineResult(line.amount, discount, taxable, tax))
        totals.subtotal += line.amount
        totals.total_discount += discount
        totals.tax += tax
        exclusive_tax = 0 if line.tax_inclusive else tax
        totals.total += net + exclusive_tax
    inclusive_tax = sum(r.tax_amount for r, li in zip(totals.lines, lines, strict=True) if li.tax_inclusive)
    totals.total_excluding_tax = totals.total - totals.tax
    # Inclusive tax sits inside the subtotal; the total already counts it once.
    assert totals.total == totals.subtotal - totals.total_discount + (totals.tax - inclusive_tax)
    return totals


def apply_balance(total: int, balance: int, currency: str = "") -> tuple[int, int]:
    """Apply the customer's balance (negative = credit) to an invoice total.

    Returns ``(amount_due, new_balance)``. A negative total becomes credit on the balance. In a three-decimal
    currency the amount due is rounded half-up to a multiple of 10 minor units (what Stripe's API can charge) and
    the difference goes to the balance: 5.124 KWD due is 5.120 with 0.004 still owed, 5.125 is 5.130 with 0.005 of
    credit, so the customer pays exactly the total over time.
    """
    if total <= 0:
        return 0, balance + total
    if balance < 0:
        used = min(total, -balance)
        due, balance = total - used, balance + used
    else:
        due, balance = total + balance, 0
    rounded = chargeable(due, currency) if currency else due
    return rounded, balance + due - rounded
