"""App configuration for the billing domain."""

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self):
        from billing import checks  # noqa: F401  (registers the system checks)
