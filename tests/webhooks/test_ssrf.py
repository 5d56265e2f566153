"""The SSRF guard: private, loopback, link-local, metadata and friends are refused when an endpoint is
saved and again before each attempt; requests go to the checked address with Host and SNI preserved."""

import ipaddress

import pytest

from billing.exceptions import InvalidRequest
from tests.factories.billing import CustomerFactory
from webhooks import ssrf
from webhooks.models import Attempt, Delivery
from webhooks.services import webhook_endpoint_update

from .conftest import ACTOR, PUBLIC_IP, make_endpoint

FORBIDDEN = [
    ("10.0.0.1", "private"),
    ("127.0.0.1", "loopback"),
    ("169.254.169.254", "cloud metadata service"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback (embedded in an IPv6 address)"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "non-public"),
    ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", {"private", "reserved"}),  # Python versions disagree on the label, not the verdict
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("fe80::1", "link-local"),
    ("ff02::1", "multicast"),
    ("::", "unspecified"),
    ("2002:7f00:1::", "loopback (embedded in an IPv6 address)"),
    ("64:ff9b::a00:1", "private (embedded in an IPv6 address)"),
    ("fd00:ec2::254", "cloud metadata service"),
]


@pytest.mark.parametrize(("address", "reason"), FORBIDDEN)
def test_forbidden_addresses_have_a_reason(address, reason):
    expected = reason if isinstance(reason, set) else {reason}
    assert ssrf.forbidden_reason(ipaddress.ip_address(address)) in expected


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"])
def test_public_addresses_pass(address):
    assert ssrf.forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("address", ["10.0.0.1", "127.0.0.1", "169.254.169.254", "::1", "::ffff:127.0.0.1"])
@pytest.mark.parametrize("livemode", [False, True])
def test_saving_an_endpoint_that_resolves_to_a_forbidden_address_is_refused(account, address, livemode):
    with ssrf.using_resolver(lambda host, port: [address]), pytest.raises(InvalidRequest) as refused:
        make_endpoint(account, "https://hooks.example.com/stripe", livemode=livemode)
    assert refused.value.param == "url"
    assert f"resolves to {address}" in refused.value.message
    assert "public internet addresses" in refused.value.message


def test_one_forbidden_address_among_public_ones_is_enough_to_refuse(account):
    resolver = ssrf.using_resolver(lambda host, port: [PUBLIC_IP, "10.1.2.3"])
    with resolver, pytest.raises(InvalidRequest, match="10.1.2.3"):
        make_endpoint(account, "https://hooks.example.com/stripe")


def test_live_mode_needs_https(account, public_dns):
    with pytest.raises(InvalidRequest, match="must use HTTPS") as refused:
        make_endpoint(account, "http://hooks.example.com/stripe", livemode=True)
    assert refused.value.param == "url"
    assert make_endpoint(account, "http://hooks.example.com/stripe", livemode=False).url.startswith("http://")


@pytest.mark.parametrize("url", ["ftp://hooks.example.com/", "hooks.example.com/x", "https:///nohost", ""])
def test_malformed_urls_are_refused(account, public_dns, url):
    with pytest.raises(InvalidRequest) as refused:
        make_endpoint(account, url)
    assert refused.value.param == "url"


def test_unresolvable_hosts_are_refused_at_save(account):
    def fail(host, port):
        raise OSError("Name or service not known")

    with ssrf.using_resolver(fail), pytest.raises(InvalidRequest, match="could not be resolved"):
        make_endpoint(account, "https://nowhere.invalid/")


def test_the_development_setting_opens_private_targets_for_test_mode_only(account, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    with ssrf.using_resolver(lambda host, port: ["127.0.0.1"]):
        assert make_endpoint(account, "http://localhost:4000/hooks", livemode=False)
        with pytest.raises(InvalidRequest, match="loopback"):
            make_endpoint(account, "https://localhost:4000/hooks", livemode=True)


def test_changing_the_url_is_checked_too(account, public_dns):
    endpoint = make_endpoint(account, "https://hooks.example.com/a")
    resolver = ssrf.using_resolver(lambda host, port: ["169.254.169.254"])
    with resolver, pytest.raises(InvalidRequest, match="cloud metadata") as refused:
        webhook_endpoint_update(endpoint=endpoint, url="https://metadata.example.com/", actor=ACTOR)
    assert refused.value.param == "url"


@pytest.mark.parametrize("address", ["10.0.0.1", "127.0.0.1", "169.254.169.254", "::1", "::ffff:127.0.0.1"])
def test_delivery_is_refused_when_the_name_now_resolves_to_a_forbidden_address(
    account, change_customer, mock_http, address
):
    """DNS rebinding: the name was public when saved and points inside when the attempt is made."""
    endpoint = make_endpoint(account, "https://hooks.example.com/stripe", livemode=True)
    with ssrf.using_resolver(lambda host, port: [address]):
        change_customer(CustomerFactory(account=account, livemode=True))
    assert mock_http.requests == []  # nothing was sent
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert delivery.status == Delivery.Status.PENDING and delivery.attempts == 1
    assert delivery.last_error.startswith("Not sent: The URL's host hooks.example.com resolves to")
    assert address in delivery.last_error
    assert Attempt.objects.get(delivery=delivery).error == delivery.last_error


def test_requests_go_to_the_checked_address_with_host_and_sni_preserved(account, change_customer, mock_http):
    make_endpoint(account, "https://hooks.example.com:8443/stripe?x=1", livemode=True)
    change_customer(CustomerFactory(account=account, livemode=True))
    [request] = mock_http.requests
    assert str(request.url) == f"https://{PUBLIC_IP}:8443/stripe?x=1"
    assert request.headers["Host"] == "hooks.example.com:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.com"


def test_ipv6_addresses_are_bracketed(account, change_customer, mock_http):
    with ssrf.using_resolver(lambda host, port: ["2606:2800:220:1:248:1893:25c8:1946"]):
        make_endpoint(account, "https://hooks.example.com/stripe", livemode=True)
        change_customer(CustomerFactory(account=account, livemode=True))
    [request] = mock_http.requests
    assert str(request.url) == "https://[2606:2800:220:1:248:1893:25c8:1946]/stripe"
    assert request.headers["Host"] == "hooks.example.com"


def test_the_next_checked_address_is_tried_when_one_refuses_the_connection(account, change_customer, mock_http):
    import httpx

    def first_address_down(request):
        if request.url.host == "93.184.216.34":
            raise httpx.ConnectError("connection refused")
        return httpx.Response(200)

    mock_http.respond = first_address_down
    with ssrf.using_resolver(lambda host, port: ["93.184.216.34", "93.184.216.35"]):
        make_endpoint(account, "https://hooks.example.com/stripe", livemode=True)
        change_customer(CustomerFactory(account=account, livemode=True))
    assert [r.url.host for r in mock_http.requests] == ["93.184.216.34", "93.184.216.35"]
    assert Delivery.objects.get().status == Delivery.Status.SUCCEEDED
