"""The cancellation offer ladder in a real Chromium, in English and German: one customer declines the pause and
accepts the coupon (the subscription stays, with the discount), another declines everything and cancels with one
extra click; the admin's report counts both; an offer is never shown twice. Screenshots of every step."""

import datetime as dt
import re

import pytest
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext

from billing.audit import Actor
from billing.models import CancellationOfferOutcome, Discount
from billing.services.accounts import staff_user_add
from billing.services.coupons import coupon_create
from configurations.selectors import cancellation_offer_report
from tests.billing.helpers import subscribed
from tests.browser.conftest import axe_violations, watch
from tests.factories.billing import PriceFactory, ProductFactory
from tests.factories.portal import full_configuration, session_url

REASONS = ["too_expensive", "missing_features", "unused", "other"]
NOTHING_OVERFLOWS = "document.documentElement.scrollWidth <= window.innerWidth"


def words(locale: str, text: str) -> str:
    with translation.override(locale):
        return gettext(text)


@pytest.fixture
def shop(transactional_db):
    """Two customers of one merchant, each with a subscription, and a ladder: pause 30 days, then 20% off."""
    first = subscribed(timezone.now() - dt.timedelta(days=3), amount=2900)
    account = first.account
    second = subscribed(timezone.now() - dt.timedelta(days=3), amount=2900, account=account)
    coupon_create(
        account=account,
        livemode=False,
        actor=Actor.system("test"),
        coupon_id="STAY20",
        name="Loyalty",
        percent_off=20,
        duration="repeating",
        duration_in_months=3,
    )
    lite = PriceFactory(account=account, product=ProductFactory(account=account, name="Lite"), unit_amount=900)
    features = {
        "subscription_cancel": {
            "enabled": True,
            "mode": "at_period_end",
            "cancellation_reason": {"enabled": True, "options": REASONS},
            "offers": [{"type": "pause", "days": 30}, {"type": "coupon", "coupon": "STAY20"}],
        },
        "pause_collection": {"enabled": True, "behavior": "void", "max_duration_days": 60},
    }
    configuration = full_configuration(account, prices=[first.items.get().price, lite], features=features)
    return {"keeps": first, "leaves": second, "configuration": configuration}


def enter_portal(browser, live_server, customer, locale, width=1280):
    page = browser.new_page(viewport={"width": width, "height": 900}, locale=locale)
    problems = watch(page)
    url = re.sub(r"^https?://[^/]+", live_server.url, session_url(customer, locale=locale))
    page.goto(url)
    return page, problems


def check(page, axe_source, artifacts, name: str, locale: str) -> None:
    assert page.locator("html").get_attribute("lang") == locale
    assert page.evaluate(NOTHING_OVERFLOWS)
    assert axe_violations(page, axe_source) == []
    page.screenshot(path=artifacts / f"portal-ladder-{name}-{locale}.png", full_page=True)


@pytest.mark.parametrize("locale", ["en", "de"])
def test_the_ladder_walked_by_two_customers(browser, live_server, shop, axe_source, artifacts, locale, client):
    keeps, leaves = shop["keeps"], shop["leaves"]
    cancel_button = words(locale, "Cancel subscription")

    # One customer: declines the pause, accepts the coupon.
    page, problems = enter_portal(browser, live_server, keeps.customer, locale)
    page.goto(f"{live_server.url}/p/subscriptions/{keeps.pk}/cancel")
    page.get_by_label(words(locale, "It's too expensive")).check()
    page.get_by_role("button", name=cancel_button).click()
    offer = page.locator("[data-offer-type]")
    assert offer.get_attribute("data-offer-type") == "pause"
    assert page.get_by_role("button", name=cancel_button).is_visible()  # one click onward, on every step
    check(page, axe_source, artifacts, "pause", locale)
    page.get_by_role("button", name=words(locale, "No thanks")).click()
    assert offer.get_attribute("data-offer-type") == "coupon"
    assert page.get_by_role("button", name=cancel_button).is_visible()
    assert page.get_by_text("Loyalty").is_visible()
    check(page, axe_source, artifacts, "coupon", locale)
    page.get_by_role("button", name=words(locale, "Accept offer")).click()
    assert page.url.endswith("/p/")
    check(page, axe_source, artifacts, "accepted", locale)
    keeps.refresh_from_db()
    assert not keeps.cancel_at_period_end and keeps.status == "active"
    assert Discount.objects.get(subscription=keeps).coupon.coupon_id == "STAY20"

    # Coming back to cancel: neither offer is shown again, the button cancels at once.
    page.goto(f"{live_server.url}/p/subscriptions/{keeps.pk}/cancel")
    page.get_by_role("button", name=cancel_button).click()
    assert page.locator("[data-offer-type]").count() == 0
    keeps.refresh_from_db()
    assert keeps.cancel_at_period_end
    assert problems == []

    # Another customer: declines everything with one extra click.
    page, problems = enter_portal(browser, live_server, leaves.customer, locale, width=390)
    page.goto(f"{live_server.url}/p/subscriptions/{leaves.pk}/cancel")
    page.get_by_label(words(locale, "I don't use the service enough")).check()
    page.get_by_role("button", name=cancel_button).click()
    assert page.locator("[data-offer-type]").get_attribute("data-offer-type") == "pause"
    check(page, axe_source, artifacts, "pause-phone", locale)
    page.get_by_role("button", name=cancel_button).click()  # the one extra click
    leaves.refresh_from_db()
    assert leaves.cancel_at_period_end and leaves.cancellation_feedback == "unused"
    check(page, axe_source, artifacts, "canceled-phone", locale)
    assert problems == []

    outcomes = set(CancellationOfferOutcome.objects.values_list("subscription_id", "offer_type", "outcome"))
    assert outcomes == {
        (keeps.pk, "pause", "declined"),
        (keeps.pk, "coupon", "accepted"),
        (keeps.pk, "", "canceled"),
        (leaves.pk, "pause", "declined"),
        (leaves.pk, "", "canceled"),
    }
    report = {row.offer.type: row for row in cancellation_offer_report(shop["configuration"])}
    assert (report["pause"].shown, report["pause"].accepted, report["pause"].declined) == (2, 0, 2)
    assert (report["coupon"].shown, report["coupon"].accepted, report["coupon"].canceled_anyway) == (1, 1, 1)

    # The merchant's report in the admin.
    client.force_login(staff_user_add(account=keeps.account, email="staff@shop.example"))
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
    admin = context.new_page()
    admin.goto(f"{live_server.url}/admin/configurations/portalconfiguration/{shop['configuration'].pk}/change/")
    table = admin.locator("table.portal-offer-report")
    assert table.is_visible()
    table.scroll_into_view_if_needed()
    admin.locator("fieldset", has=table).screenshot(path=artifacts / f"admin-ladder-report-{locale}.png")
    rows = table.locator("tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).locator("td").all_inner_texts()[1:] == ["2", "0", "2", "0"]
    assert rows.nth(1).locator("td").all_inner_texts()[1:] == ["1", "1", "0", "1"]
