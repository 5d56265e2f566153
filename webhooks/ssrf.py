"""The SSRF guard: webhook URLs may only reach public addresses (checked after DNS resolution).

``check_url`` runs when an endpoint is saved and again before every attempt; the attempt then connects
to exactly the addresses checked here (see ``webhooks.sending``), so a DNS answer that changes between
the check and the connection (DNS rebinding) cannot redirect the request.

Live-mode endpoints must use HTTPS and resolve to public addresses only. Test-mode endpoints may use
plain HTTP, and may reach private or loopback addresses when ``WEBHOOK_ALLOW_PRIVATE_TARGETS`` is on
(development: a receiver on localhost).
"""

import contextlib
import ipaddress
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import translation
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

Resolver = Callable[[str, int], Iterable[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CLOUD_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
NAT64 = ipaddress.ip_network("64:ff9b::/96")
DEFAULT_PORTS = {"http": 80, "https": 443}


class RefusedTarget(Exception):
    """The URL must not (or cannot) be called; ``message`` says why in words a merchant can act on (English, as
    delivery attempts record it), ``reason`` the same in the active language (a lazy text)."""

    def __init__(self, message, params: dict | None = None):
        self._text, self._params = message, params
        with translation.override("en"):
            english = self._render()
        super().__init__(english)
        self.message = english
        self.reason = lazy(self._render, str)()

    def _render(self) -> str:
        return str(self._text) if self._params is None else str(self._text) % self._params


class UnsafeTarget(RefusedTarget):
    """The URL's scheme or resolved addresses are not allowed."""


class UnresolvableTarget(RefusedTarget):
    """The host name did not resolve (DNS error); may work later."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


_resolver: Resolver = system_resolver


@contextlib.contextmanager
def using_resolver(resolver: Resolver) -> Iterator[None]:
    """Resolve host names with ``resolver`` inside the block (tests: ``lambda host, port: ["10.0.0.1"]``)."""
    global _resolver
    previous, _resolver = _resolver, resolver
    try:
        yield
    finally:
        _resolver = previous


def forbidden_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be called, or None for a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            reason = forbidden_reason(embedded)
            if reason:
                return f"{reason} (embedded in an IPv6 address)"
    if address in CLOUD_METADATA:
        return "cloud metadata service"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-public", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def check_url(url: str, *, livemode: bool) -> Target:
    """The checked target of ``url``, or ``RefusedTarget`` with a message saying what is wrong."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeTarget(_("The URL is not valid."))
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise UnsafeTarget(_("The URL must start with https:// (or http:// for test-mode endpoints)."))
    if livemode and scheme != "https":
        raise UnsafeTarget(_("Live-mode webhook endpoints must use HTTPS."))
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeTarget(_("The URL has no host name."))
    port = port or DEFAULT_PORTS[scheme]
    try:
        addresses = [str(a) for a in _resolver(host, port)]
    except (OSError, UnicodeError) as exc:
        raise UnresolvableTarget(
            _("The host %(host)s could not be resolved (%(error)s)."), {"host": host, "error": exc}
        )
    if not addresses:
        raise UnresolvableTarget(_("The host %(host)s did not resolve to any address."), {"host": host})
    allow_private = not livemode and settings.WEBHOOK_ALLOW_PRIVATE_TARGETS
    for address in addresses:
        try:
            parsed = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            raise UnsafeTarget(f"The host {host} resolved to an invalid address ({address}).")
        reason = None if allow_private else forbidden_reason(parsed)
        if reason:
            text = (
                _(
                    "The URL's host %(host)s resolves to %(address)s, a %(reason)s address; webhooks are only sent "
                    "to public internet addresses."
                )
                if livemode
                else _(
                    "The URL's host %(host)s resolves to %(address)s, a %(reason)s address; webhooks are only sent "
                    "to public internet addresses (WEBHOOK_ALLOW_PRIVATE_TARGETS allows it for test mode in "
                    "development)."
                )
            )
            raise UnsafeTarget(text, {"host": host, "address": address, "reason": reason})
    return Target(scheme=scheme, host=host, port=port, addresses=tuple(addresses))
