"""Custom domains: a merchant's verified hostname serves that merchant's portal and hosted invoices, and nothing else."""

import datetime as dt
import re
from types import SimpleNamespace

import dns.resolver
import pytest
import time_machine
from django.core import mail
from django.test import Client

from billing.models import Invoice
from configurations.models import PortalSession
from configurations.services.custom_domains import custom_domain_set, custom_domain_verify
from tests.billing.helpers import subscribed
from tests.factories.portal import ACTOR, full_configuration, session_url

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
DOMAIN = "billing.shop.example"
ORIGIN = f"https://{DOMAIN}"


class TxtRecords:
    """dnspython's ``resolve(name, rdtype)`` answering from a dict of TXT records, as a DNS server would."""

    def __init__(self, records: dict[str, str]):
        self.records = records

    def resolve(self, name, rdtype):
        if name not in self.records:
            raise dns.resolver.NXDOMAIN()
        return [SimpleNamespace(strings=(self.records[name].encode(),))]


@pytest.fixture(autouse=True)
def hosts(settings):
    settings.ALLOWED_HOSTS = ["portal.example.com"]
    settings.PORTAL_BASE_URL = "https://portal.example.com"


@pytest.fixture(autouse=True)
def traveller():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def verified_domain(account, hostname: str):
    domain = custom_domain_set(account=account, hostname=hostname, actor=ACTOR)
    return custom_domain_verify(
        domain=domain, actor=ACTOR, resolver=TxtRecords({domain.record_name: domain.record_value})
    )


@pytest.fixture
def shop_a(db):
    subscription = subscribed(T0 - dt.timedelta(days=3))
    configuration = full_configuration(subscription.account, login_page={"enabled": True})
    verified_domain(subscription.account, DOMAIN)
    return SimpleNamespace(customer=subscription.customer, account=subscription.account, configuration=configuration)


@pytest.fixture
def shop_b(db):
    subscription = subscribed(T0 - dt.timedelta(days=3))
    configuration = full_configuration(subscription.account, login_page={"enabled": True})
    return SimpleNamespace(customer=subscription.customer, account=subscription.account, configuration=configuration)


def on_domain(host: str = DOMAIN, **kwargs) -> Client:
    """A browser talking to ``host`` over HTTPS."""
    return Client(HTTP_HOST=host, **kwargs)


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_session_urls_use_the_verified_custom_domain(shop_a, shop_b):
    assert session_url(shop_a.customer).startswith(f"https://{DOMAIN}/p/session/test_")
    assert session_url(shop_b.customer).startswith("https://portal.example.com/p/session/test_")


def test_login_page_urls_use_the_verified_custom_domain(shop_a, shop_b):
    shop_a.configuration.refresh_from_db()
    shop_b.configuration.refresh_from_db()
    assert shop_a.configuration.login_page_url.startswith(f"https://{DOMAIN}/p/login/")
    assert shop_b.configuration.login_page_url.startswith("https://portal.example.com/p/login/")
    page = on_domain().get(path_of(shop_a.configuration.login_page_url), secure=True)
    assert page.status_code == 200


def test_the_custom_domain_serves_its_merchants_portal(shop_a):
    client = on_domain()
    response = client.get(path_of(session_url(shop_a.customer)), secure=True)
    assert response.status_code == 303
    assert response["Location"] == "/p/"
    overview = client.get("/p/", secure=True)
    assert overview.status_code == 200
    assert shop_a.customer.email in overview.content.decode()


def test_another_merchants_session_url_is_not_served_and_not_used_up(shop_a, shop_b):
    path = path_of(session_url(shop_b.customer))
    response = on_domain().get(path, secure=True)
    assert response.status_code == 404
    assert "This link has expired" in response.content.decode()
    assert PortalSession.objects.get(customer=shop_b.customer).redeemed_at is None
    # The token still works where it belongs.
    assert Client(HTTP_HOST="portal.example.com").get(path, secure=True).status_code == 303


def test_another_merchants_cookie_opens_nothing_on_the_custom_domain(shop_a, shop_b):
    client = Client(HTTP_HOST="portal.example.com")
    assert client.get(path_of(session_url(shop_b.customer)), secure=True).status_code == 303
    assert client.get("/p/", secure=True).status_code == 200
    assert client.get("/p/", secure=True, HTTP_HOST=DOMAIN).status_code == 404


def test_admin_and_api_are_not_served_on_a_custom_domain(shop_a):
    client = on_domain()
    for path in ("/admin/", "/admin/login/", "/v1/customers", "/healthz"):
        response = client.get(path, secure=True)
        assert response.status_code == 404, path
    assert client.post("/v1/customers", secure=True).status_code == 404


def test_unknown_and_unverified_hosts_answer_404_not_400(shop_a, shop_b):
    custom_domain_set(account=shop_b.account, hostname="billing.pending.example", actor=ACTOR)
    for host in ("evil.example", "billing.pending.example", "portal.example.com.evil.example"):
        for path in ("/p/", "/v1/customers", "/"):
            assert on_domain(host).get(path, secure=True).status_code == 404, (host, path)
    assert Client(HTTP_HOST="portal.example.com").get("/healthz", secure=True).status_code == 200


def test_hosted_invoices_on_the_custom_domain_are_only_its_merchants(shop_a, shop_b):
    invoice_a = Invoice.objects.finalized().get(customer=shop_a.customer)
    invoice_b = Invoice.objects.finalized().get(customer=shop_b.customer)
    client = on_domain()
    assert client.get(f"/i/{invoice_a.hosted_token}/", secure=True).status_code == 200
    assert client.get(f"/i/{invoice_b.hosted_token}/", secure=True).status_code == 404
    assert client.get(f"/i/{invoice_b.hosted_token}/pdf", secure=True).status_code == 404
    main = Client(HTTP_HOST="portal.example.com")
    assert main.get(f"/i/{invoice_b.hosted_token}/", secure=True).status_code == 200


def test_login_pages_on_the_custom_domain_with_csrf(shop_a, shop_b, django_capture_on_commit_callbacks):
    client = on_domain(enforce_csrf_checks=True)
    path = f"/p/login/{shop_a.configuration.login_page_token}"
    page = client.get(path, secure=True)
    assert page.status_code == 200
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)

    forged = client.post(
        path,
        {"email": shop_a.customer.email, "csrfmiddlewaretoken": csrf},
        secure=True,
        HTTP_ORIGIN="https://evil.example",
    )
    assert forged.status_code == 403
    assert mail.outbox == []

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            path, {"email": shop_a.customer.email, "csrfmiddlewaretoken": csrf}, secure=True, HTTP_ORIGIN=ORIGIN
        )
    assert response.status_code == 303
    (message,) = mail.outbox
    link = re.search(r"https://[^\s]+/p/login-link/[\w-]+", message.body).group(0)
    assert link.startswith(f"https://{DOMAIN}/p/login-link/")

    confirm = client.get(path_of(link), secure=True)
    assert confirm.status_code == 200
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', confirm.content.decode()).group(1)
    opened = client.post(path_of(link), {"csrfmiddlewaretoken": csrf}, secure=True, HTTP_ORIGIN=ORIGIN)
    assert opened.status_code == 303
    assert client.get("/p/", secure=True).status_code == 200

    # Another merchant's login page does not exist on this domain.
    assert client.get(f"/p/login/{shop_b.configuration.login_page_token}", secure=True).status_code == 404
