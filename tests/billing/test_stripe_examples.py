"""Stripe's documented billing examples, each expected value written as Stripe's formula from the page cited.

Sources (docs.stripe.com):
- PRORATIONS: /billing/subscriptions/prorations ("prorations by the second"; switching 10 -> 20 halfway costs +5)
- CYCLE: /billing/subscriptions/billing-cycle (Jan 31 anchor bills Feb 28/29, then Mar 31, Apr 30, ...)
- BACKDATING: /billing/subscriptions/backdating (Feb 15 -> Mar 1 is 14/28 of a month, Jan 15 -> Feb 1 is 17/31)
- CURRENCIES: /currencies (zero-decimal jpy/krw; three-decimal kwd/bhd charged in multiples of 10: 5.124 KWD -> 5120;
  the rest of an invoice's amount due stays on the customer's balance, our documented choice in the README)
- TAX: /billing/taxes/tax-rates (inclusive: tax = amount - amount / (1 + rate); exclusive: amount x rate; per line)
- COUPONS: /billing/subscriptions/coupons (once / repeating N months / forever; amount_off never below zero)
- CANCEL: /api/subscriptions/update#update_subscription-cancel_at ("If set to a date before the current period ends,
  this will cause a proration if prorations have been enabled")
- TRIALS: /billing/subscriptions/trials (the trial invoice is zero; the first full invoice follows the trial)
- CREATE: /api/subscriptions/create (cancel_at prorates the first period; backdate_start_date "can be combined with
  trials and the billing cycle anchor")
"""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest

from billing import money
from billing.periods import next_anchor, period_end
from billing.pricing import CouponTerms, LineInput, apply_balance, compute_totals, prorate, span_amount


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def r(value) -> int:
    """Half-up to the minor unit, as Stripe rounds a line."""
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def r10(value) -> int:
    """Half-up to a multiple of 10 minor units: how three-decimal currencies are charged (CURRENCIES)."""
    return r(Decimal(value) / 10) * 10


APRIL = (utc(2023, 4, 1), utc(2023, 5, 1))  # 30 days = 2_592_000 s
SECONDS = 30 * 86400


def net_change(old: int, new: int, at: dt.datetime, period=APRIL) -> int:
    """A price change at ``at``: credit the unused time of the old amount, charge the remaining time of the new."""
    start, end = period
    return prorate(new, start, end, at) - prorate(old, start, end, at)


def totals(lines, coupons=()):
    return compute_totals(lines, list(coupons))


def invoice_series(amount: int, coupon: CouponTerms, duration: str, months: int, renewals: int) -> list[int]:
    """The totals of ``renewals`` monthly invoices while a coupon of ``duration`` is applied as Stripe applies it."""
    out = []
    for n in range(renewals):
        applies = duration == "forever" or (duration == "once" and n == 0) or (duration == "repeating" and n < months)
        out.append(totals([LineInput(amount)], [coupon] if applies else []).total)
    return out


EXAMPLES = [
    # --- PRORATIONS: by the second over a 30-day period -------------------------------------------------------------
    ("upgrade 10->20 halfway", lambda: net_change(1000, 2000, utc(2023, 4, 16)), r(2000 * 15 / 30) - r(1000 * 15 / 30)),
    ("downgrade 20->10 halfway", lambda: net_change(2000, 1000, utc(2023, 4, 16)), r(1000 * 15 / 30) - r(2000 * 15 / 30)),
    ("quantity 1->3 a third in", lambda: net_change(1000, 3000, utc(2023, 4, 11)), r(3000 * 20 / 30) - r(1000 * 20 / 30)),
    ("quantity 3->1 at 20 days", lambda: net_change(3000, 1000, utc(2023, 4, 21)), r(1000 * 10 / 30) - r(3000 * 10 / 30)),
    ("one second in", lambda: prorate(1000, *APRIL, utc(2023, 4, 1, 0, 0, 1)), r(1000 * (SECONDS - 1) / SECONDS)),
    ("one second before the end", lambda: prorate(1000, *APRIL, utc(2023, 4, 30, 23, 59, 59)), r(1000 * 1 / SECONDS)),
    ("proration_date = period start credits all", lambda: prorate(1000, *APRIL, APRIL[0]), 1000),
    ("proration_date = period end credits nothing", lambda: prorate(1000, *APRIL, APRIL[1]), 0),
    ("proration_behavior=none", lambda: 0, 0),  # PRORATIONS: "none" creates no proration items at all
    ("interval switch month->year halfway: credit", lambda: -prorate(1000, *APRIL, utc(2023, 4, 16)), -r(1000 * 15 / 30)),
    ("odd amount 999 at 7 of 30 days", lambda: prorate(999, *APRIL, utc(2023, 4, 8)), r(Decimal(999) * 23 / 30)),
    # --- CYCLE: month-end anchor Jan 31 2024 (leap year) over 13 months ---------------------------------------------
    *[
        (f"Jan 31 anchor, period {n}", lambda n=n: period_end(utc(2024, 1, 31), "month", 1, n), expected)
        for n, expected in enumerate(
            [
                utc(2024, 2, 29), utc(2024, 3, 31), utc(2024, 4, 30), utc(2024, 5, 31), utc(2024, 6, 30),
                utc(2024, 7, 31), utc(2024, 8, 31), utc(2024, 9, 30), utc(2024, 10, 31), utc(2024, 11, 30),
                utc(2024, 12, 31), utc(2025, 1, 31), utc(2025, 2, 28),
            ],
            start=1,
        )
    ],  # fmt: skip
    ("Jan 31 anchor in a common year", lambda: period_end(utc(2023, 1, 31), "month", 1, 1), utc(2023, 2, 28)),
    ("interval_count 3 from Jan 31", lambda: period_end(utc(2024, 1, 31), "month", 3, 1), utc(2024, 4, 30)),
    ("interval_count 3, 4th quarter", lambda: period_end(utc(2024, 1, 31), "month", 3, 4), utc(2025, 1, 31)),
    ("interval_count 6 from Aug 31", lambda: period_end(utc(2024, 8, 31), "month", 6, 1), utc(2025, 2, 28)),
    ("interval_count 6, second", lambda: period_end(utc(2024, 8, 31), "month", 6, 2), utc(2025, 8, 31)),
    ("yearly from Feb 29", lambda: period_end(utc(2024, 2, 29), "year", 1, 1), utc(2025, 2, 28)),
    (
        "anchor config day 31 from Feb 10 2024",
        lambda: next_anchor(utc(2024, 2, 10, 12), day_of_month=31, hour=0, minute=0, second=0),
        utc(2024, 2, 29),
    ),
    (
        "anchor config day 31 keeps Mar 31 after Feb 29",
        lambda: period_end(utc(2024, 2, 29), "month", 1, 1, day_of_month=31),
        utc(2024, 3, 31),
    ),
    # --- BACKDATING: the "imagined" interval that starts on the backdated date --------------------------------------
    ("backdate Feb 15 -> Mar 1", lambda: span_amount(1000, utc(2023, 2, 15), utc(2023, 3, 1), "month", 1), r(1000 * 14 / 28)),
    ("backdate Jan 15 -> Feb 1", lambda: span_amount(1000, utc(2023, 1, 15), utc(2023, 2, 1), "month", 1), r(1000 * 17 / 31)),
    ("backdate Sep 1 -> anchor Nov 1", lambda: span_amount(1000, utc(2023, 9, 1), utc(2023, 11, 1), "month", 1), 2 * 1000),
    # --- CURRENCIES -------------------------------------------------------------------------------------------------
    ("JPY upgrade 1000->2000 halfway", lambda: net_change(1000, 2000, utc(2023, 4, 16)), r(2000 / 2) - r(1000 / 2)),
    ("JPY 1000 two thirds left", lambda: prorate(1000, *APRIL, utc(2023, 4, 11)), r(1000 * 20 / 30)),
    ("KRW 9900 + 10% exclusive", lambda: totals([LineInput(9900, tax_percentage=Decimal(10))]).total, 9900 + r(9900 * 0.10)),
    ("JPY exponent", lambda: money.exponent("jpy"), 0),
    ("KWD exponent", lambda: money.exponent("kwd"), 3),
    ("KWD 5.124 charged as 5.120", lambda: money.chargeable(5124, "kwd"), 5120),
    ("BHD 1.005 charged as 1.010", lambda: money.chargeable(1005, "bhd"), 1010),
    ("KWD 12.999 charged as 13.000", lambda: money.chargeable(12999, "kwd"), 13000),
    ("EUR untouched", lambda: money.chargeable(1005, "eur"), 1005),
    # CURRENCIES (three-decimal): the amount due is charged to the nearest ten; what rounding leaves goes to the balance
    ("KWD invoice 5.124 due 5.120, 0.004 kept owed", lambda: apply_balance(5124, 0, "kwd"), (r10(5124), 5124 - r10(5124))),
    ("BHD invoice 1.005 due 1.010, 0.005 credited", lambda: apply_balance(1005, 0, "bhd"), (r10(1005), 1005 - r10(1005))),
    (
        "KWD invoice 5.124 less 1.000 credit",
        lambda: apply_balance(5124, -1000, "kwd"),
        (r10(5124 - 1000), (5124 - 1000) - r10(5124 - 1000)),
    ),
    ("BHD invoice 7.777 with 0.003 owed", lambda: apply_balance(7777, 3, "bhd"), (r10(7777 + 3), 7780 - r10(7780))),
    (
        "KWD 5.124 + 1% exclusive tax, due",
        lambda: apply_balance(totals([LineInput(5124, tax_percentage=Decimal(1))]).total, 0, "kwd")[0],
        r10(5124 + r(5124 * Decimal("0.01"))),
    ),
    (
        "BHD upgrade 1.005 -> 2.005 halfway: proration exact, due rounded",
        lambda: apply_balance(net_change(1005, 2005, utc(2023, 4, 16)), 0, "bhd")[0],
        r10(r(Decimal(2005) * 15 / 30) - r(Decimal(1005) * 15 / 30)),
    ),
    ("KWD negative total: the whole credit to the balance", lambda: apply_balance(-5124, 0, "kwd"), (0, -5124)),
    # --- TAX: per line, rounded once per line -----------------------------------------------------------------------
    ("exclusive 19%", lambda: totals([LineInput(1000, tax_percentage=Decimal(19))]).tax, r(1000 * 0.19)),
    ("inclusive 19%", lambda: totals([LineInput(1190, tax_percentage=Decimal(19), tax_inclusive=True)]).tax, r(1190 - 1190 / 1.19)),
    ("inclusive 7%", lambda: totals([LineInput(1000, tax_percentage=Decimal(7), tax_inclusive=True)]).tax, r(1000 - 1000 / 1.07)),
    (
        "two exclusive rates, per-line rounding",
        lambda: totals(
            [LineInput(333, tax_percentage=Decimal(19)), LineInput(333, tax_percentage=Decimal(7))]
        ).tax,
        r(333 * 0.19) + r(333 * 0.07),
    ),
    (
        "inclusive and exclusive on one invoice: total",
        lambda: totals(
            [LineInput(1190, tax_percentage=Decimal(19), tax_inclusive=True), LineInput(1000, tax_percentage=Decimal(7))]
        ).total,
        1190 + 1000 + r(1000 * 0.07),
    ),
    (
        "discount before tax",
        lambda: totals([LineInput(1000, tax_percentage=Decimal(19))], [CouponTerms(amount_off=500)]).total,
        (1000 - 500) + r((1000 - 500) * 0.19),
    ),
    # --- COUPONS over several renewals ------------------------------------------------------------------------------
    ("25% once over 3 invoices", lambda: invoice_series(1000, CouponTerms(percent_off=Decimal(25)), "once", 0, 3), [750, 1000, 1000]),
    (
        "20% repeating 3 months over 4 invoices",
        lambda: invoice_series(1000, CouponTerms(percent_off=Decimal(20)), "repeating", 3, 4),
        [r(1000 * 0.8)] * 3 + [1000],
    ),
    ("10% forever over 3 invoices", lambda: invoice_series(1000, CouponTerms(percent_off=Decimal(10)), "forever", 0, 3), [900] * 3),
    ("amount_off larger than the invoice", lambda: totals([LineInput(1000)], [CouponTerms(amount_off=1500)]).total, 0),
    (
        "amount_off spread over two lines",
        lambda: [line.discount_amount for line in totals([LineInput(3000), LineInput(1000)], [CouponTerms(amount_off=1000)]).lines],
        [r(1000 * 3000 / 4000), r(1000 * 1000 / 4000)],
    ),
    # --- CANCEL and TRIALS ------------------------------------------------------------------------------------------
    ("cancel_at halfway credits the unused half", lambda: -prorate(1000, *APRIL, utc(2023, 4, 16)), -r(1000 * 15 / 30)),
    ("cancel_at_period_end credits nothing", lambda: -prorate(1000, *APRIL, APRIL[1]), 0),
    ("trial invoice is zero", lambda: totals([LineInput(0)]).total, 0),
    (
        "cancel_at on create Apr 16: the first invoice",
        lambda: 1000 - prorate(1000, *APRIL, utc(2023, 4, 16)),
        1000 - r(1000 * 15 / 30),
    ),
    (
        "cancel_at in the next period (May 11): that renewal",
        lambda: 1000 - prorate(1000, utc(2023, 5, 1), utc(2023, 6, 1), utc(2023, 5, 11)),
        1000 - r(1000 * 21 / 31),
    ),
    (
        "backdated Jan 15 with a trial from Feb 1: the first invoice",
        lambda: span_amount(1000, utc(2023, 1, 15), utc(2023, 2, 1), "month", 1) + totals([LineInput(0)]).total,
        r(1000 * 17 / 31),
    ),
    (
        "trial ending Feb 8 before a Mar 1 anchor",
        lambda: span_amount(1000, utc(2023, 2, 8), utc(2023, 3, 1), "month", 1),
        r(1000 * 21 / 28),
    ),
]  # fmt: skip


def test_at_least_forty_documented_examples():
    assert len(EXAMPLES) >= 40


@pytest.mark.parametrize(("name", "actual", "expected"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_stripe_example(name, actual, expected):
    assert actual() == expected
