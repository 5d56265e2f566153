"""Webhook secrets and signatures: Stripe's ``Stripe-Signature`` and the Standard Webhooks headers.

A secret is ``whsec_`` + base64 of 32 random bytes. Stripe's scheme uses the whole string as the HMAC
key; Standard Webhooks uses the base64-decoded bytes after the prefix. Both sign the exact bytes sent.
"""

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def stripe_signature(payload: bytes, secret: str, timestamp: int) -> str:
    """``v1``: hex HMAC-SHA256 keyed with the secret string over ``"{t}.{body}"``."""
    message = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def stripe_signature_header(payload: bytes, secrets_: list[str], timestamp: int) -> str:
    """``t=<unix>,v1=<hex>[,v1=<hex>]``: one ``v1`` per valid secret (two while a rolled secret lives)."""
    return ",".join([f"t={timestamp}", *(f"v1={stripe_signature(payload, s, timestamp)}" for s in secrets_)])


def standard_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def standard_signature(payload: bytes, secret: str, *, message_id: str, timestamp: int) -> str:
    """``v1,<base64>``: HMAC-SHA256 keyed with the decoded secret over ``"{id}.{t}.{body}"``."""
    message = f"{message_id}.{timestamp}.".encode() + payload
    digest = hmac.new(standard_key(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_headers(payload: bytes, secrets_: list[str], *, message_id: str, timestamp: int) -> dict[str, str]:
    """The signature headers of one attempt; signatures are space-separated in ``webhook-signature``."""
    return {
        "Stripe-Signature": stripe_signature_header(payload, secrets_, timestamp),
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            standard_signature(payload, s, message_id=message_id, timestamp=timestamp) for s in secrets_
        ),
    }
