"""The signed token that opens the test gateway's hosted fields (``vault/``) for one customer: minted by the portal
for the page that frames them, read by the vault. The vault runs in a cross-site iframe, where the portal's cookies
are not sent: the token is what authenticates its requests, and it carries the one origin allowed to frame it."""

import secrets
from dataclasses import asdict, dataclass
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core import signing

SALT = "vault"
MAX_AGE_SECONDS = 30 * 60


@dataclass(frozen=True)
class VaultGrant:
    """What a token allows: adding a payment method of one of ``types`` for ``customer_id`` of ``account_id`` in
    the mode, from a page of ``parent_origin``; ``locale``, ``business_name`` (the SEPA mandate names it) and the
    brand's ``accent`` colour and ``font`` shape the fields. ``staff_id`` and ``staff_label``: the staff member acting
    as the customer in the portal, named in the audit log for what the fields add."""

    account_id: str
    livemode: bool
    customer_id: str
    parent_origin: str
    locale: str
    types: tuple[str, ...]
    business_name: str = ""
    accent: str = ""
    font: str = ""
    nonce: str = ""
    staff_id: str = ""
    staff_label: str = ""


def vault_token(grant: VaultGrant) -> str:
    """A signed (not encrypted: it holds nothing secret) token for ``grant``, with a fresh 256-bit nonce."""
    data = asdict(grant) | {"types": list(grant.types), "nonce": grant.nonce or secrets.token_urlsafe(32)}
    return signing.dumps(data, salt=SALT, compress=True)


def vault_grant(token: str) -> VaultGrant:
    """The grant of a token signed here within the last 30 minutes. Raises ``signing.SignatureExpired`` for an old
    one and ``signing.BadSignature`` for anything else (tampered, truncated, from another salt)."""
    data = signing.loads(token or "", salt=SALT, max_age=MAX_AGE_SECONDS)
    try:
        return VaultGrant(**(data | {"types": tuple(data["types"])}))
    except (TypeError, KeyError) as error:  # signed by us, but not a grant
        raise signing.BadSignature("Not a vault token") from error


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def vault_base_url() -> str:
    """VAULT_BASE_URL, or where it is unset the portal's own PORTAL_BASE_URL."""
    return settings.VAULT_BASE_URL or settings.PORTAL_BASE_URL


def vault_origin() -> str:
    return origin(vault_base_url())


def vault_fields_url(token: str, kind: str) -> str:
    """The page of hosted fields for one payment method type (``card`` or ``sepa_debit``)."""
    return f"{vault_origin()}/vault/fields?{urlencode({'t': token, 'type': kind})}"
