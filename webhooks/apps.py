"""App configuration for webhooks."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("Webhooks")

    def ready(self):
        # Register the Celery tasks in every process (billing enqueues the fan-out by name; in eager
        # mode it looks the task up in the registry and silently skips a missing one).
        from webhooks import tasks  # noqa: F401
