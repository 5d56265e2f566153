"""Where webhook tasks run: every ``webhooks.tasks.*`` task goes to the ``WEBHOOK_QUEUE`` queue.

``route_task`` is a Celery router (``CELERY_TASK_ROUTES``), so even billing's by-name enqueue of the
fan-out lands there; it reads the setting on every call. ``enqueue`` is how webhooks code puts work on
the queue (in-process when Celery runs eagerly, i.e. without a broker).
"""

from celery import current_app
from django.conf import settings

TASK_PREFIX = "webhooks.tasks."
FAN_OUT = "webhooks.tasks.fan_out_events"
DELIVER_BATCH = "webhooks.tasks.deliver_batch"
DELIVER = "webhooks.tasks.deliver"


def route_task(name, args=None, kwargs=None, options=None, task=None, **_):
    if name.startswith(TASK_PREFIX):
        return {"queue": settings.WEBHOOK_QUEUE}
    return None


def enqueue(name: str, *args) -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        current_app.tasks[name].apply(args=args)
        return
    current_app.send_task(name, args=args, queue=settings.WEBHOOK_QUEUE)
