"""App configuration for portal configurations."""

from django.apps import AppConfig


class ConfigurationsConfig(AppConfig):
    name = "configurations"
    verbose_name = "Portal configurations"
