import calendar
import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from billing.periods import period_end
from tests.billing.helpers import run_cycle, subscribed

UTC = dt.UTC


def test_month_end_anchor_clamps_and_recovers():
    anchor = dt.datetime(2026, 1, 31, 10, tzinfo=UTC)
    ends = [period_end(anchor, "month", 1, n) for n in range(1, 4)]
    assert [e.date() for e in ends] == [dt.date(2026, 2, 28), dt.date(2026, 3, 31), dt.date(2026, 4, 30)]


def test_leap_year_february():
    anchor = dt.datetime(2028, 1, 31, tzinfo=UTC)
    assert period_end(anchor, "month", 1, 1).date() == dt.date(2028, 2, 29)
    assert period_end(dt.datetime(2028, 2, 29, tzinfo=UTC), "year", 1, 1).date() == dt.date(2029, 2, 28)
    assert period_end(dt.datetime(2028, 2, 29, tzinfo=UTC), "year", 1, 4).date() == dt.date(2032, 2, 29)


def test_other_intervals():
    anchor = dt.datetime(2026, 3, 1, tzinfo=UTC)
    assert period_end(anchor, "day", 1, 3) == anchor + dt.timedelta(days=3)
    assert period_end(anchor, "week", 2, 1) == anchor + dt.timedelta(weeks=2)
    assert period_end(anchor, "month", 3, 2).date() == dt.date(2026, 9, 1)


@given(
    st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2090, 1, 1)),
    st.integers(min_value=1, max_value=12),
    st.integers(min_value=1, max_value=40),
)
def test_month_periods_keep_the_anchor_day(anchor, count, n):
    anchor = anchor.replace(tzinfo=UTC)
    end = period_end(anchor, "month", count, n)
    assert end.day == min(anchor.day, calendar.monthrange(end.year, end.month)[1])
    assert end.time() == anchor.time()
    assert end > period_end(anchor, "month", count, n - 1) if n > 1 else end > anchor


def test_subscription_renews_on_month_end_anchor(db, t0):
    subscription = subscribed(t0)
    ends = []
    for _ in range(3):
        run_cycle(subscription.current_period_end)
        subscription.refresh_from_db()
        ends.append(subscription.current_period_end.date())
    assert ends == [dt.date(2026, 3, 31), dt.date(2026, 4, 30), dt.date(2026, 5, 31)]
    invoices = subscription.invoices.order_by("period_start")
    assert [i.period_start.date() for i in invoices] == [
        dt.date(2026, 1, 31),
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 31),
        dt.date(2026, 4, 30),
    ]
    assert all(i.status == "paid" and i.amount_paid == 1000 for i in invoices)
