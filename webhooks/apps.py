"""App configuration for webhooks."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("Webhooks")

    def ready(self):
        # Register the Celery tasks in every process (billing enqueues the fan-out by name; in eager
        # mode it looks the task up in the registry and silently skips a missing one).
        from billing import events
        from webhooks import tasks  # noqa: F401
        from webhooks.services.fan_out import events_heard

        # Events no endpoint listens to are recorded already taken: they need no fan-out.
        events.heard_by(events_heard)
