"""Putting tasks on the broker after a commit, with a short circuit breaker.

When the broker cannot be reached, the Redis client retries for seconds before it gives up; a request that has
already committed its change must not wait for that. After one failure, this process stops trying for
``BROKER_PAUSE_SECONDS`` and reports at once that the task was not queued; the work is then found by the
sweepers (webhook fan-outs, deliveries) or the next pass of the billing cycle.
"""

import logging
import threading
import time

from celery import current_app
from django.conf import settings

from billing import clock

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_paused_until = 0.0


def send(name: str, args: list, **options) -> bool:
    """Queue task ``name`` (by name; in eager mode it runs here). False when the broker did not take it."""
    global _paused_until
    if settings.CELERY_TASK_ALWAYS_EAGER:
        # Outside a worker Celery has not imported the apps' task modules yet (autodiscovery is lazy).
        if name not in current_app.tasks:
            current_app.loader.import_default_modules()
        with clock.outside_simulation():
            current_app.tasks[name].apply(args=args)
        return True
    if time.monotonic() < _paused_until:
        return False
    try:
        current_app.send_task(name, args=args, retry=False, **options)
        return True
    except Exception as error:
        with _lock:
            _paused_until = time.monotonic() + settings.BROKER_PAUSE_SECONDS
        logger.error(
            "the broker did not take %s (%s); not trying again for %s s", name, error, settings.BROKER_PAUSE_SECONDS
        )
        return False


def available() -> bool:
    """False while this process has stopped trying a broker that failed (see the module docstring)."""
    return settings.CELERY_TASK_ALWAYS_EAGER or time.monotonic() >= _paused_until


def reset() -> None:
    """Try the broker again at once (tests, and after an operator fixed it: a worker restart does the same)."""
    global _paused_until
    _paused_until = 0.0
