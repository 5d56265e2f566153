"""Billing periods: the n-th period end after an anchor, with month-end clamping."""

import calendar
import datetime as dt


def _add_months(anchor: dt.datetime, months: int) -> dt.datetime:
    total = anchor.month - 1 + months
    year, month = anchor.year + total // 12, total % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def period_end(anchor: dt.datetime, interval: str, interval_count: int, n: int) -> dt.datetime:
    """The end of the n-th period after ``anchor``, always computed from the anchor itself.

    Counting from the anchor (not from the previous period end) keeps the day of month:
    Jan 31 -> Feb 28 (29) -> Mar 31 -> Apr 30.
    """
    steps = interval_count * n
    if interval == "day":
        return anchor + dt.timedelta(days=steps)
    if interval == "week":
        return anchor + dt.timedelta(weeks=steps)
    if interval == "month":
        return _add_months(anchor, steps)
    if interval == "year":
        return _add_months(anchor, 12 * steps)
    raise ValueError(f"unknown interval {interval!r}")


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    return _add_months(moment, months)
