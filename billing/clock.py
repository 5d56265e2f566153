"""The one source of "now" for billing: tests and the demo loader move it."""

import contextlib
import contextvars
import datetime as dt

from django.utils import timezone

_override: contextvars.ContextVar[dt.datetime | None] = contextvars.ContextVar("billing_clock", default=None)
# True while the override is a test clock's time (``simulated_at``), not the whole process's.
_simulated: contextvars.ContextVar[bool] = contextvars.ContextVar("billing_clock_simulated", default=False)


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


@contextlib.contextmanager
def simulated_at(moment: dt.datetime):
    """Run the block in a test clock's time: what it writes carries ``moment`` (created, periods, invoice dates).
    Work handed to other tasks from inside the block (webhook deliveries) runs in real time (``outside_simulation``)."""
    if timezone.is_naive(moment):
        raise ValueError("simulated_at needs an aware datetime")
    token, flag = _override.set(moment), _simulated.set(True)
    try:
        yield moment
    finally:
        _simulated.reset(flag)
        _override.reset(token)


def simulated() -> bool:
    """True inside ``simulated_at``: the time is a test clock's."""
    return _simulated.get()


@contextlib.contextmanager
def outside_simulation():
    """Leave a test clock's time for the block (a task run in-process must not inherit it); elsewhere nothing."""
    if not _simulated.get():
        yield
        return
    token, flag = _override.set(None), _simulated.set(False)
    try:
        yield
    finally:
        _simulated.reset(flag)
        _override.reset(token)


def to_unix(moment: dt.datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def from_unix(seconds: int | None) -> dt.datetime | None:
    return None if seconds is None else dt.datetime.fromtimestamp(int(seconds), tz=dt.UTC)
