"""Where webhook tasks run: every ``webhooks.tasks.*`` task goes to the ``WEBHOOK_QUEUE`` queue.

``route_task`` is a Celery router (``CELERY_TASK_ROUTES``), so even billing's by-name enqueue of the
fan-out lands there; it reads the setting on every call. ``enqueue`` is how webhooks code puts work on
the queue (in-process when Celery runs eagerly, i.e. without a broker), through ``billing.broker``.
"""

from django.conf import settings

from billing import broker

TASK_PREFIX = "webhooks.tasks."
FAN_OUT = "webhooks.tasks.fan_out_events"
DELIVER_BATCH = "webhooks.tasks.deliver_batch"
DELIVER = "webhooks.tasks.deliver"


def route_task(name, args=None, kwargs=None, options=None, task=None, **_):
    if name.startswith(TASK_PREFIX):
        return {"queue": settings.WEBHOOK_QUEUE}
    return None


def enqueue(name: str, *args) -> bool:
    """Queue a webhook task (eagerly: run it here). False when the broker did not take it: the work stays due and
    the next sweep queues it again, so callers never fail (or wait) on the broker."""
    return broker.send(name, list(args), queue=settings.WEBHOOK_QUEUE)
