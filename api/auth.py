"""API-key authentication (Bearer or Basic); the key selects the account and the mode."""

import base64
import datetime as dt
import functools
from dataclasses import dataclass

from django.db import connection

from api.errors import ApiError
from billing import clock, statements
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
    key = active_key(ApiKey.hash(secret))
    if key is None:
        raise ApiError(f"Invalid API Key provided: {_redact(secret)}", status=401, code="api_key_invalid")
    now = clock.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return Caller(account=key.account, livemode=key.livemode, key=key)


def active_key(key_hash: str) -> ApiKey | None:
    """The unrevoked key with this hash, its account loaded: the statement
    ``ApiKey.objects.select_related("account").filter(key_hash=…, revoked_at__isnull=True).first()`` sends, written
    once per process instead of built by the ORM on every request (every API call begins with it)."""
    statement, key_columns, account_columns = _key_statement(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(statement, [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(key_columns)
    key = statements.instance(ApiKey, key_columns, row[:split])
    ApiKey.account.field.set_cached_value(key, statements.instance(Account, account_columns, row[split:]))
    return key


@functools.cache
def _key_statement(vendor: str) -> tuple[str, list, list]:
    """The statement and the columns it selects of each model."""
    quote = connection.ops.quote_name
    key_columns, account_columns = statements.columns(ApiKey, "k"), statements.columns(Account, "a")
    # Names from the models' metadata; the hash is a parameter.
    statement = (
        f"SELECT {statements.select_list(key_columns, account_columns)} "  # noqa: S608
        f"FROM {quote(ApiKey._meta.db_table)} k "
        f"JOIN {quote(Account._meta.db_table)} a ON a.{quote(Account._meta.pk.column)} = k.{quote('account_id')} "
        f"WHERE k.{quote('key_hash')} = %s AND k.{quote('revoked_at')} IS NULL LIMIT 1"
    )
    return statement, key_columns, account_columns
