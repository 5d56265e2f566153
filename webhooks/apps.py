"""App configuration for webhooks."""

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        # Register the Celery tasks in every process (billing enqueues the fan-out by name; in eager
        # mode it looks the task up in the registry and silently skips a missing one).
        from webhooks import tasks  # noqa: F401
