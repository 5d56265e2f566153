"""System checks of the billing settings (``manage.py check``; ``--deploy`` for production)."""

import binascii

from cryptography.fernet import Fernet
from django.conf import settings
from django.core import checks

ENCRYPTION_KEYS_HINT = (
    'Generate one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


@checks.register(checks.Tags.security)
def encryption_keys_valid(app_configs, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    for position, key in enumerate(settings.BILLING_ENCRYPTION_KEYS, start=1):
        try:
            Fernet(key.strip().encode())
        except (ValueError, binascii.Error):
            errors.append(
                checks.Error(
                    f"BILLING_ENCRYPTION_KEYS: key {position} is not a Fernet key (32 url-safe base64-encoded bytes).",
                    hint=ENCRYPTION_KEYS_HINT,
                    id="billing.E001",
                )
            )
    return errors


@checks.register(checks.Tags.security, deploy=True)
def encryption_keys_set(app_configs, **kwargs) -> list[checks.CheckMessage]:
    if settings.BILLING_ENCRYPTION_KEYS:
        return []
    return [
        checks.Warning(
            "BILLING_ENCRYPTION_KEYS is not set: payment processor secrets are encrypted with a key derived from "
            "SECRET_KEY, so changing SECRET_KEY makes them unreadable.",
            hint=ENCRYPTION_KEYS_HINT,
            id="billing.W001",
        )
    ]
