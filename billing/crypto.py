"""Secrets at rest: strings encrypted with Fernet under ``BILLING_ENCRYPTION_KEYS`` (the first key encrypts, every
key decrypts, so keys rotate without downtime)."""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Changing this would make every secret encrypted with a derived key unreadable.
DERIVED_KEY_INFO = b"billing-portal processor secrets v1"


class SecretUnreadable(ImproperlyConfigured):
    """A stored secret none of the configured keys decrypts: a key was removed before its secrets were rotated."""


def derived_key(secret_key: str) -> bytes:
    """A Fernet key derived from ``SECRET_KEY`` for installations without ``BILLING_ENCRYPTION_KEYS``."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=DERIVED_KEY_INFO)
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


def configured_keys() -> tuple[bytes, ...]:
    keys = tuple(key.strip().encode() for key in settings.BILLING_ENCRYPTION_KEYS if key.strip())
    return keys or (derived_key(settings.SECRET_KEY),)


@lru_cache(maxsize=4)
def _fernets(keys: tuple[bytes, ...]) -> tuple[MultiFernet, Fernet]:
    fernets = [Fernet(key) for key in keys]
    return MultiFernet(fernets), fernets[0]


def _current() -> tuple[MultiFernet, Fernet]:
    # Keyed by the keys themselves, so a changed setting (tests, a reload) never meets a stale cipher.
    return _fernets(configured_keys())


def encrypt(plaintext: str) -> str:
    """The ciphertext of ``plaintext`` under the first key; ``""`` stays ``""`` (nothing stored)."""
    if not plaintext:
        return ""
    return _current()[0].encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    if not ciphertext:
        return ""
    try:
        return _current()[0].decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with BILLING_ENCRYPTION_KEYS. Put back the key it was encrypted "
            "with (after the new one) and run `manage.py rotate_processor_keys`."
        ) from None


def is_current(ciphertext: str) -> bool:
    """Whether ``ciphertext`` is empty or already encrypted with the first key (nothing to rotate)."""
    if not ciphertext:
        return True
    try:
        _current()[1].decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True


def rotate(ciphertext: str) -> str:
    """``ciphertext`` encrypted again with the first key (it may have been encrypted with any configured key)."""
    if not ciphertext:
        return ""
    try:
        return _current()[0].rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with BILLING_ENCRYPTION_KEYS: add the key it was encrypted with."
        ) from None


def generate_key() -> str:
    return Fernet.generate_key().decode()
