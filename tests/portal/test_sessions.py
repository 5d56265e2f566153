"""Portal sessions in the browser: a single-use URL becomes a cookie, which lives for an hour of activity."""

import datetime as dt
import re

import pytest
import time_machine
from django.test import Client

from configurations.models import PortalSession
from tests.factories.billing import CustomerFactory, card
from tests.factories.portal import RETURN_URL, full_configuration, session_url

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def traveller():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def customer(db):
    customer = CustomerFactory(email="ada@example.com")
    card(customer)
    full_configuration(customer.account)
    return customer


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def assert_expired(response, status: int, *, return_url: str | None = RETURN_URL):
    assert response.status_code == status
    html = response.content.decode()
    assert "This link has expired" in html
    if return_url:
        assert f'href="{return_url}"' in html
    assert response["Cache-Control"] == "private, no-store"


def test_visiting_the_url_sets_a_cookie_and_drops_the_token_from_the_address(customer):
    client = Client()
    response = client.get(path_of(session_url(customer)))
    assert response.status_code == 303
    assert response["Location"] == "/p/"
    cookie = response.cookies["portal_session"]
    assert cookie["httponly"] is True
    assert cookie["path"] == "/p/"
    assert cookie["samesite"] == "Lax"
    assert response["Cache-Control"] == "private, no-store"
    overview = client.get("/p/")
    assert overview.status_code == 200
    assert "ada@example.com" in overview.content.decode()


def test_a_url_works_once(customer):
    path = path_of(session_url(customer))
    assert Client().get(path).status_code == 303
    assert_expired(Client().get(path), 410)


def test_an_unused_url_expires_after_five_minutes(customer, traveller):
    fresh, stale = path_of(session_url(customer)), path_of(session_url(customer))
    traveller.shift(dt.timedelta(minutes=4, seconds=59))
    assert Client().get(fresh).status_code == 303
    traveller.shift(dt.timedelta(seconds=2))
    assert_expired(Client().get(stale), 410)
    assert PortalSession.objects.filter(redeemed_at__isnull=True).count() == 1


def test_a_session_ends_after_an_hour_without_activity(customer, traveller):
    client = Client()
    client.get(path_of(session_url(customer)))
    traveller.shift(dt.timedelta(minutes=60, seconds=1))
    response = client.get("/p/")
    assert_expired(response, 401)
    # The browser forgets the cookie.
    assert response.cookies["portal_session"].value == ""


def test_activity_keeps_a_session_alive(customer, traveller):
    client = Client()
    client.get(path_of(session_url(customer)))
    for _ in range(3):
        traveller.shift(dt.timedelta(minutes=55))
        assert client.get("/p/").status_code == 200


def test_the_language_switch_is_kept_for_the_session(customer):
    client = Client()
    client.get(path_of(session_url(customer, locale="en")))
    assert client.get("/p/?locale=de")["Content-Language"] == "de"
    assert client.get("/p/")["Content-Language"] == "de"
    assert PortalSession.objects.get().locale == "de"
    # A language the portal does not speak changes nothing.
    assert client.get("/p/?locale=xx")["Content-Language"] == "de"


def test_an_unknown_token_shows_the_expired_page(db):
    response = Client().get("/p/session/test_" + "A" * 43)
    assert_expired(response, 404, return_url=None)
    assert "Go back to the website where you opened the portal" in response.content.decode()


def test_the_portal_without_a_cookie_shows_the_expired_page(db):
    response = Client().get("/p/")
    assert_expired(response, 401, return_url=None)


def test_a_forged_cookie_opens_nothing(customer):
    client = Client()
    client.cookies["portal_session"] = "A" * 43
    assert_expired(client.get("/p/"), 401, return_url=None)


def test_the_expired_page_is_german_for_german_browsers(customer):
    path = path_of(session_url(customer))
    Client().get(path)
    response = Client().get(path, headers={"accept-language": "de-DE,de;q=0.8"})
    assert response.status_code == 410
    assert "Dieser Link ist abgelaufen" in response.content.decode()


def test_portal_pages_cannot_be_framed_and_have_a_strict_csp(customer):
    client = Client()
    client.get(path_of(session_url(customer)))
    response = client.get("/p/")
    assert response["X-Frame-Options"] == "DENY"
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    nonce = re.search(r"script-src[^;]*'nonce-([A-Za-z0-9+/=_-]+)'", csp)
    assert nonce, csp
    html = response.content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all(f'nonce="{nonce.group(1)}"' in tag for tag in scripts)
    assert "style=" not in html
    assert response["Cache-Control"] == "private, no-store"
    assert response["Referrer-Policy"] == "same-origin"


def test_the_expired_page_cannot_be_framed_either(db):
    response = Client().get("/p/")
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_the_session_url_is_only_answered_to_get(customer):
    path = path_of(session_url(customer))
    assert Client().post(path).status_code == 405
    assert Client().get(path).status_code == 303


def test_a_head_request_does_not_use_up_the_url(customer):
    """Link previewers (chat apps, mail scanners) send HEAD before anyone clicks."""
    path = path_of(session_url(customer))
    for _ in range(2):
        head = Client().head(path)
        assert head.status_code == 200
        assert head["Cache-Control"] == "private, no-store"
        assert "portal_session" not in head.cookies
    assert PortalSession.objects.get().redeemed_at is None
    assert Client().get(path).status_code == 303
