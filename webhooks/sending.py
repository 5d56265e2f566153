"""One HTTP POST of a signed webhook to a checked address: no redirects, a hard time limit, a bounded read.

The URL is checked by ``webhooks.ssrf`` first and the connection goes to the address that check
resolved: the request URL carries that IP, while the ``Host`` header and the TLS server name (SNI, and
so certificate verification) keep the endpoint's host name. No second DNS lookup happens, so DNS
rebinding between check and connect is impossible. Clients are cached per host name so a pooled
connection verified for one name is never reused for another name on the same address.
"""

import ipaddress
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import httpx
from django.conf import settings

from webhooks import ssrf
from webhooks.models import RESPONSE_BODY_LIMIT

USER_AGENT = "BillingPortal-Webhooks/1.0 (Stripe-compatible; +{base_url})"
READ_LIMIT = 64 * 1024  # read this much of a response at most (keeps the connection reusable if small)
MAX_CLIENTS = 64
MAX_CONNECTIONS = 32  # per host name: at least as many as a batch sends to one host at once

_clients: OrderedDict[str, httpx.Client] = OrderedDict()
_clients_lock = threading.Lock()
_transport: httpx.BaseTransport | None = None  # tests inject an httpx.MockTransport


@dataclass(frozen=True)
class Outcome:
    status: int | None
    body: str
    error: str
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def use_transport(transport: httpx.BaseTransport | None) -> None:
    """Send through ``transport`` (tests) or, with None, over the network again."""
    global _transport
    _transport = transport
    close_clients()


def close_clients() -> None:
    with _clients_lock:
        while _clients:
            _clients.popitem()[1].close()


def _client(host: str) -> httpx.Client:
    with _clients_lock:
        client = _clients.get(host)
        if client is not None:
            _clients.move_to_end(host)
            return client
        client = httpx.Client(
            timeout=httpx.Timeout(settings.WEBHOOK_TIMEOUT_SECONDS),
            follow_redirects=False,
            trust_env=False,  # a proxy from the environment would connect to names, not checked addresses
            transport=_transport,
            limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS),
        )
        _clients[host] = client
        while len(_clients) > MAX_CLIENTS:
            _clients.popitem(last=False)[1].close()
        return client


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _pinned_request(target: ssrf.Target, url: httpx.URL, address: str) -> tuple[httpx.URL, dict, dict]:
    """The URL with the checked address as its host, the original ``Host`` header and the TLS server name."""
    pinned = url.copy_with(host=address.split("%", 1)[0])
    server_name = url.raw_host.decode("ascii")
    extensions = {}
    if target.scheme == "https" and not _is_ip_literal(server_name):
        extensions["sni_hostname"] = server_name
    return pinned, {"Host": url.netloc.decode("ascii")}, extensions


def _excerpt(data: bytes) -> str:
    return data[:RESPONSE_BODY_LIMIT].decode("utf-8", errors="replace")


def check(url: str, *, livemode: bool) -> ssrf.Target | Outcome:
    """The checked target of ``url``, or the outcome of an attempt refused without sending."""
    started = time.monotonic()
    try:
        return ssrf.check_url(url, livemode=livemode)
    except ssrf.RefusedTarget as refused:
        return Outcome(None, "", f"Not sent: {refused.message}", int((time.monotonic() - started) * 1000))


def post(
    url: str, body: bytes, headers: dict[str, str], *, livemode: bool, target: ssrf.Target | None = None
) -> Outcome:
    """POST ``body`` to ``url``; never raises for network trouble, the outcome says what happened.

    ``target`` is what :func:`check` answered for ``url`` a moment ago (a batch checks each endpoint
    once); without it the URL is checked now. The checked addresses are tried in order until one
    accepts the connection."""
    started = time.monotonic()
    limit = settings.WEBHOOK_TIMEOUT_SECONDS

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    if target is None:
        checked = check(url, livemode=livemode)
        if isinstance(checked, Outcome):
            return checked
        target = checked
    parsed = httpx.URL(url)
    client = _client(parsed.raw_host.decode("ascii"))
    base_headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT.format(base_url=settings.PORTAL_BASE_URL),
        "Accept": "*/*; q=0.5, application/json",
        "Accept-Encoding": "identity",  # the excerpt is read raw: no decompression of untrusted bodies
        **headers,
    }
    connect_error: Exception | None = None
    for address in target.addresses:
        pinned, host_header, extensions = _pinned_request(target, parsed, address)
        try:
            request = client.build_request(
                "POST", pinned, content=body, headers={**host_header, **base_headers}, extensions=extensions
            )
            response = client.send(request, stream=True)
            try:
                received = bytearray(response.content[:READ_LIMIT] if response.is_stream_consumed else b"")
                for chunk in () if response.is_stream_consumed else response.iter_raw():
                    received += chunk
                    if len(received) >= READ_LIMIT:
                        break
                    if time.monotonic() - started > limit:
                        raise httpx.ReadTimeout("the response took too long")
            finally:
                response.close()
        except httpx.ConnectError as exc:
            connect_error = exc
            if time.monotonic() - started < limit:
                continue
            break
        except httpx.TimeoutException:
            return Outcome(None, "", f"Timed out: no complete response within {limit:g} seconds.", elapsed())
        except httpx.HTTPError as exc:
            return Outcome(None, "", f"The request failed: {type(exc).__name__}: {exc}", elapsed())
        error = ""
        if 300 <= response.status_code < 400:
            location = response.headers.get("location", "")
            error = f"Redirects are not followed ({response.status_code} to {location or 'nowhere'})."
        elif not 200 <= response.status_code < 300:
            error = f"The endpoint answered HTTP {response.status_code}."
        return Outcome(response.status_code, _excerpt(bytes(received)), error, elapsed())
    reason = str(connect_error) or "connection failed"
    return Outcome(None, "", f"Could not connect to {target.host}:{target.port}: {reason}", elapsed())
