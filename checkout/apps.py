"""Hosted Checkout: Stripe's Checkout Sessions and the page where customers start subscriptions and pay."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CheckoutConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "checkout"
    verbose_name = _("Checkout")
