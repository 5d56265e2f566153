"""A form whose action ends on another origin (a deep link's ``after_completion=redirect``, a payment's
``return_url``) finishes on our continue page, which goes on by GET: the CSP keeps ``form-action 'self'``."""

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.test import RequestFactory

from billing.clock import now
from portal.leave import redirect_after_post
from tests.billing.helpers import subscribed
from tests.factories.portal import full_configuration, open_portal
from tests.portal.leaving import REFRESH, left_for

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
TARGET = "https://merchant.example/goodbye?from=portal&n=1"


@pytest.fixture
def subscription(db):
    with time_machine.travel(T0, tick=False):
        subscription = subscribed(T0, amount=3100)
        features = {"subscription_cancel": {"enabled": True, "mode": "immediately"}}
        full_configuration(subscription.account, features=features)
    return subscription


def cancel_in_flow(subscription, **session):
    flow = {
        "type": "subscription_cancel",
        "subscription_cancel": {"subscription": subscription.pk},
        "after_completion": {"type": "redirect", "redirect": {"return_url": TARGET}},
    }
    client = open_portal(subscription.customer, flow_data=flow, **session)
    path = f"/p/subscriptions/{subscription.pk}/cancel"
    page = client.get(path)
    state = page.content.decode().split('name="state" value="', 1)[1].split('"', 1)[0]
    return client, client.post(path, {"state": state})


def test_a_redirect_to_another_origin_goes_by_the_continue_page(subscription):
    client, response = cancel_in_flow(subscription)
    assert left_for(client, response) == TARGET
    subscription.refresh_from_db()
    assert subscription.status == "canceled"


def test_the_continue_page_speaks_the_sessions_language_and_shows_the_brand(subscription):
    client, response = cancel_in_flow(subscription, locale="de")
    page = client.get(response["Location"])
    text = page.content.decode()
    assert page["Content-Language"] == "de"
    assert "Weiter zu merchant.example" in text
    assert subscription.account.name in text
    # Only the page's meta refresh and its link continue: no form, no script.
    assert "<form" not in text and "<script" not in text.split("</head>", 1)[1]
    assert REFRESH.search(text)


def test_a_same_origin_target_is_a_plain_redirect(rf):
    for url in ("/p/done", "http://testserver/p/"):
        response = redirect_after_post(rf.post("/p/x"), url)
        assert (response.status_code, response["Location"]) == (303, url)
    assert redirect_after_post(rf.post("/p/x"), "//evil.example/")["Location"].startswith("/p/continue?to=")


def test_a_forged_or_stale_continue_address_opens_nothing(client, subscription):
    assert client.get("/p/continue?to=https://evil.example/").status_code == 404
    assert client.get("/p/continue").status_code == 404
    location = redirect_after_post(RequestFactory().post("/p/x"), "https://merchant.example/")["Location"]
    signed = parse_qs(urlsplit(location).query)["to"][0]
    assert client.get(f"/p/continue?to={signed[:-2]}xx").status_code == 404
    assert client.get(location).status_code == 200
    with time_machine.travel(now() + dt.timedelta(hours=1, minutes=1)):
        assert client.get(location).status_code == 404
