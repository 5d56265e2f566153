"""Which host the vault is served on, compared as browsers compare origins' hosts (a default port is no port)."""

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest
from django.http.request import split_domain_port

from billing.gateways.vault import vault_base_url

DEFAULT_PORTS = {"http": "80", "https": "443"}


def _host(scheme: str, domain: str, port: str) -> tuple[str, str]:
    return domain.lower().rstrip("."), port or DEFAULT_PORTS.get(scheme, "")


def configured_host(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return _host(parts.scheme, parts.hostname or "", str(parts.port or ""))


def vault_host() -> tuple[str, str]:
    return configured_host(vault_base_url())


def shares_portal_host() -> bool:
    """VAULT_BASE_URL on the portal's own host: both served there (allowed, but the vault should have its own)."""
    return vault_host() == configured_host(settings.PORTAL_BASE_URL)


def request_host(request: HttpRequest) -> tuple[str, str]:
    domain, port = split_domain_port(request.get_host())
    return _host(request.scheme, domain, port)
