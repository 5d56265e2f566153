"""Billing periods: the n-th period end after an anchor, with month-end clamping."""

import calendar
import datetime as dt


def _add_months(anchor: dt.datetime, months: int, day_of_month: int | None = None) -> dt.datetime:
    total = anchor.month - 1 + months
    year, month = anchor.year + total // 12, total % 12 + 1
    day = min(day_of_month or anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def period_end(
    anchor: dt.datetime, interval: str, interval_count: int, n: int, *, day_of_month: int | None = None
) -> dt.datetime:
    """The end of the n-th period after ``anchor``, always computed from the anchor itself.

    Counting from the anchor (not from the previous period end) keeps the day of month:
    Jan 31 -> Feb 28 (29) -> Mar 31 -> Apr 30. ``day_of_month`` (Stripe's ``billing_cycle_anchor_config``) is the
    day the anchor stands for when the anchor itself was clamped (day 31 anchored on Feb 28 bills Mar 31).
    """
    steps = interval_count * n
    if interval == "day":
        return anchor + dt.timedelta(days=steps)
    if interval == "week":
        return anchor + dt.timedelta(weeks=steps)
    if interval == "month":
        return _add_months(anchor, steps, day_of_month)
    if interval == "year":
        return _add_months(anchor, 12 * steps, day_of_month)
    raise ValueError(f"unknown interval {interval!r}")


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    return _add_months(moment, months)


def next_anchor(
    after: dt.datetime,
    *,
    day_of_month: int,
    month: int | None = None,
    hour: int | None = None,
    minute: int | None = None,
    second: int | None = None,
) -> dt.datetime:
    """Stripe's ``billing_cycle_anchor_config``: the first moment after ``after`` that falls on ``day_of_month``
    (the month's last day when it is shorter) at ``hour:minute:second`` UTC (each defaulting to ``after``'s), in
    ``month`` when given."""
    after = after.astimezone(dt.UTC)
    time = {
        "hour": after.hour if hour is None else hour,
        "minute": after.minute if minute is None else minute,
        "second": after.second if second is None else second,
        "microsecond": 0,
    }
    for months_ahead in range(0, 25):
        total = after.month - 1 + months_ahead
        year, this_month = after.year + total // 12, total % 12 + 1
        if month is not None and this_month != month:
            continue
        day = min(day_of_month, calendar.monthrange(year, this_month)[1])
        candidate = after.replace(year=year, month=this_month, day=day, **time)
        if candidate > after:
            return candidate
    raise ValueError("no anchor found")  # pragma: no cover - a month always recurs within 24
