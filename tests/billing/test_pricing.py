import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from billing import money
from billing.pricing import CouponTerms, LineInput, apply_balance, compute_totals, prorate

UTC = dt.UTC
START = dt.datetime(2026, 1, 1, tzinfo=UTC)


def test_round_half_up():
    assert money.round_half_up(Decimal("0.5")) == 1
    assert money.round_half_up(Decimal("1.4999")) == 1
    assert money.round_half_up(Decimal("-0.5")) == -1
    assert money.round_half_up(Decimal("2.5")) == 3


def test_currency_exponents_and_display():
    assert money.exponent("jpy") == 0 and money.exponent("KWD") == 3 and money.exponent("eur") == 2
    assert money.format_amount(123450, "eur", "de") == "1.234,50\xa0€"
    assert money.format_amount(123450, "eur", "en") == "€1,234.50"
    assert money.format_amount(1235, "jpy", "en") == "¥1,235"
    assert money.format_amount(5000, "kwd", "en") == "KWD5.000"


def test_prorate_half_period():
    end = START + dt.timedelta(days=30)
    assert prorate(1000, START, end, START + dt.timedelta(days=15)) == 500
    assert prorate(1000, START, end, START) == 1000
    assert prorate(1000, START, end, end) == 0


def test_exclusive_and_inclusive_tax_with_percent_coupon():
    totals = compute_totals(
        [
            LineInput(1000, tax_percentage=Decimal(19)),
            LineInput(1070, tax_percentage=Decimal(7), tax_inclusive=True),
        ],
        [CouponTerms(percent_off=Decimal(20))],
    )
    assert [(r.discount_amount, r.tax_amount) for r in totals.lines] == [(200, 152), (214, 56)]
    assert (totals.subtotal, totals.total_discount, totals.tax, totals.total) == (2070, 414, 208, 1808)
    assert totals.total_excluding_tax == 1600


def test_amount_off_coupon_is_spread_and_capped():
    totals = compute_totals([LineInput(300), LineInput(100)], [CouponTerms(amount_off=1000)])
    assert [r.discount_amount for r in totals.lines] == [300, 100]
    assert totals.total == 0


def test_balance():
    assert apply_balance(1000, -300) == (700, 0)
    assert apply_balance(1000, -3000) == (0, -2000)
    assert apply_balance(-500, 0) == (0, -500)
    assert apply_balance(1000, 200) == (1200, 0)


seconds = st.integers(min_value=1, max_value=400 * 86400)
amounts = st.integers(min_value=0, max_value=10**10)


@given(amounts, amounts, seconds, st.floats(min_value=0, max_value=1))
def test_change_never_costs_more_than_the_full_period_difference(old, new, length, share):
    end = START + dt.timedelta(seconds=length)
    at = START + dt.timedelta(seconds=int(length * share))
    credit = prorate(old, START, end, at)
    charge = prorate(new, START, end, at)
    assert 0 <= credit <= old and 0 <= charge <= new
    assert abs(charge - credit) <= abs(new - old) + 1  # one rounding per line


line_inputs = st.lists(
    st.builds(
        LineInput,
        amount=st.integers(min_value=-(10**7), max_value=10**7),
        tax_percentage=st.one_of(st.none(), st.decimals(min_value=0, max_value=30, places=2)),
        tax_inclusive=st.booleans(),
    ),
    min_size=1,
    max_size=8,
)
coupons = st.lists(
    st.one_of(
        st.builds(CouponTerms, percent_off=st.decimals(min_value=Decimal("0.01"), max_value=100, places=2)),
        st.builds(CouponTerms, amount_off=st.integers(min_value=1, max_value=10**7)),
    ),
    max_size=2,
)


@given(line_inputs, coupons)
def test_totals_go_below_zero_only_through_credits(lines, terms):
    totals = compute_totals(lines, terms)
    credits = sum(line.amount for line in lines if line.amount < 0)
    for line, result in zip(lines, totals.lines, strict=True):
        assert 0 <= result.discount_amount <= max(line.amount, 0)
    assert totals.total >= credits - sum(abs(r.tax_amount) for r in totals.lines)
    if credits == 0:
        assert totals.total >= 0
    assert totals.total == totals.subtotal - totals.total_discount + sum(
        r.tax_amount for r, line in zip(totals.lines, lines, strict=True) if not line.tax_inclusive
    )
