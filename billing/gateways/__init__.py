"""Payment gateways: the interface in ``base``; the configured one from ``get_gateway()``."""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from billing.gateways.base import CardInput, ChargeResult, Gateway, MethodDetails, SepaInput

__all__ = ["CardInput", "ChargeResult", "Gateway", "MethodDetails", "SepaInput", "get_gateway"]


@cache
def _load(path: str) -> Gateway:
    return import_string(path)()


def get_gateway() -> Gateway:
    return _load(settings.BILLING_GATEWAY)
