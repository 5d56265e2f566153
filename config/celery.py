"""Celery application; settings come from Django settings under the CELERY_ namespace."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("billing_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_postrun.connect
def close_broken_database_connections(task=None, **kwargs) -> None:
    """Workers keep their connections across tasks (``CELERY_DB_REUSE_MAX``), so one that a task left broken
    (the server restarted, the network dropped it) or outside autocommit is closed here, not handed to the next
    task; the next query opens a fresh one. Eager tasks run inside someone else's request or test: left alone."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if connection.connection is None:
            continue
        if connection.get_autocommit() != connection.settings_dict["AUTOCOMMIT"]:
            connection.close()
        elif connection.errors_occurred:
            if connection.is_usable():
                connection.errors_occurred = False
            else:
                connection.close()
