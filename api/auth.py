"""API-key authentication (Bearer or Basic); the key selects the account and the mode."""

import base64
import datetime as dt
from dataclasses import dataclass

from api.errors import ApiError
from billing import clock
from billing.audit import Actor
from billing.models import Account, ApiKey

LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


@dataclass
class Caller:
    account: Account
    livemode: bool
    key: ApiKey

    @property
    def actor(self) -> Actor:
        return Actor.api_key(self.key)


def _redact(secret: str) -> str:
    return f"{secret[:8]}{'*' * 12}{secret[-4:]}" if len(secret) > 12 else "****"


def _secret_from(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[0]
    return None


def authenticate(request) -> Caller:
    secret = _secret_from(request)
    if not secret:
        raise ApiError(
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            status=401,
        )
    key = ApiKey.objects.select_related("account").filter(key_hash=ApiKey.hash(secret), revoked_at__isnull=True).first()
    if key is None:
        raise ApiError(f"Invalid API Key provided: {_redact(secret)}", status=401, code="api_key_invalid")
    now = clock.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return Caller(account=key.account, livemode=key.livemode, key=key)
