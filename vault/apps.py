"""App configuration for the test gateway's hosted fields."""

from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "vault"
    verbose_name = "Test gateway hosted fields"

    def ready(self):
        from vault import checks  # noqa: F401  (registers the system checks)
