"""The one source of "now" for billing: tests and the demo loader move it."""

import contextlib
import contextvars
import datetime as dt

from django.utils import timezone

_override: contextvars.ContextVar[dt.datetime | None] = contextvars.ContextVar("billing_clock", default=None)


def now() -> dt.datetime:
    fixed = _override.get()
    return fixed if fixed is not None else timezone.now()


@contextlib.contextmanager
def frozen_at(moment: dt.datetime):
    """Run the block as if it were ``moment`` (used by the demo loader to build history)."""
    if timezone.is_naive(moment):
        raise ValueError("frozen_at needs an aware datetime")
    token = _override.set(moment)
    try:
        yield moment
    finally:
        _override.reset(token)


def whole_seconds(moment: dt.datetime | None) -> dt.datetime | None:
    """``moment`` without its fraction of a second: Stripe shows times in whole seconds, so the bounds we keep are
    the bounds we show (a ``proration_date`` equal to the ``current_period_start`` we report is inside the period)."""
    return None if moment is None else moment.replace(microsecond=0)


def to_unix(moment: dt.datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def from_unix(seconds: int | None) -> dt.datetime | None:
    return None if seconds is None else dt.datetime.fromtimestamp(int(seconds), tz=dt.UTC)
