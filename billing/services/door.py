"""The service door: one action, one transaction. A function decorated with :func:`service` runs in its own
transaction (retried once when PostgreSQL picks it as a deadlock victim or cannot serialise it), its events are
written with one INSERT before the commit, and the work it leaves for after the commit (processor calls, which
must never run inside a transaction or under a lock) runs once the transaction has committed.

A door called from inside another door is one step of the outer action: it runs in a savepoint of the outer
transaction, and its events and after-commit work join the outer door's.

Lock order, for every service: customer, then subscription, then invoice, then charge (then catalogue rows:
coupon, promotion code). Rows are locked ``FOR NO KEY UPDATE``: inserts of rows that refer to them (an invoice
of the customer, an item of the subscription) take key-share locks, which that mode does not block.
"""

import contextvars
import functools
import logging
from collections.abc import Callable

from django.db import OperationalError, connection, transaction

from billing import events

logger = logging.getLogger(__name__)

# PostgreSQL's deadlock_detected and serialization_failure: the transaction did nothing and may run again.
RETRYABLE_SQLSTATES = {"40P01", "40001"}


class Door:
    """What one running door collects: the work to do after its transaction commits."""

    def __init__(self):
        self.after: list[Callable[[], None]] = []


_current: contextvars.ContextVar[Door | None] = contextvars.ContextVar("billing_service_door", default=None)


def after_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the outermost door's transaction has committed (at once outside any door)."""
    door = _current.get()
    if door is None:
        callback()
    else:
        door.after.append(callback)


def retryable(error: BaseException) -> bool:
    cause = error.__cause__
    return getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES


def service(func):
    """Make ``func`` a service door (see the module docstring)."""

    @functools.wraps(func)
    def door(*args, **kwargs):
        outer = _current.get()
        if outer is not None:
            return _nested(outer, func, args, kwargs)
        # Only a transaction this door starts itself can be run again; inside a caller's transaction (a test's,
        # a management command's) a failed attempt has already spoiled it.
        attempts = 1 if connection.in_atomic_block else 2
        for attempt in range(1, attempts + 1):
            this = Door()
            token = _current.set(this)
            collecting = events.collecting()
            try:
                with transaction.atomic():
                    result = func(*args, **kwargs)
                    events.write_collected(collecting)
                    collecting = None
            except OperationalError as error:
                if attempt < attempts and retryable(error):
                    logger.warning("%s: %s; running it again", func.__qualname__, error.__cause__.__class__.__name__)
                    continue
                raise
            finally:
                if collecting is not None:
                    events.drop_collected(collecting)
                _current.reset(token)
            for callback in this.after:
                callback()
            return result

    return door


def _nested(outer: Door, func, args, kwargs):
    inner = Door()
    token = _current.set(inner)
    mark = events.collected_count()
    try:
        with transaction.atomic():
            result = func(*args, **kwargs)
    except BaseException:
        events.forget_collected_after(mark)  # the savepoint rolled back: its events never happened
        raise
    finally:
        _current.reset(token)
    outer.after.extend(inner.after)
    return result
