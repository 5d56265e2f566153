"""App configuration for the test gateway's hosted fields."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VaultConfig(AppConfig):
    name = "vault"
    verbose_name = _("Test gateway hosted fields")

    def ready(self):
        from vault import checks  # noqa: F401  (registers the system checks)
