"""Cancel and pause in a real Chromium: cancel with a reason and take it back ("Don't cancel"), the retention offer
of a deep link, pause payments until a day and resume them, screenshots (desktop and phone, English and German) and
no serious accessibility problems."""

import datetime as dt
import re

import pytest
from django.utils import timezone, translation

from billing.audit import Actor
from billing.services.coupons import coupon_create
from billing.templatetags.billing_format import billing_date
from tests.billing.helpers import subscribed
from tests.browser.conftest import axe_violations, watch
from tests.factories.portal import full_configuration, session_url

NOTHING_OVERFLOWS = "document.documentElement.scrollWidth <= window.innerWidth"
REASONS = ["too_expensive", "missing_features", "switched_service", "unused", "other"]


@pytest.fixture
def subscription(transactional_db):
    subscription = subscribed(timezone.now() - dt.timedelta(days=3), amount=2900)
    features = {
        "subscription_cancel": {
            "enabled": True,
            "mode": "at_period_end",
            "cancellation_reason": {"enabled": True, "options": REASONS},
        },
        "pause_collection": {"enabled": True, "behavior": "void", "max_duration_days": 60},
    }
    full_configuration(subscription.account, features=features)
    return subscription


def enter_portal(browser, live_server, customer, *, width=1280, height=900, **kwargs):
    page = browser.new_page(viewport={"width": width, "height": height})
    problems = watch(page)
    url = re.sub(r"^https?://[^/]+", live_server.url, session_url(customer, **kwargs))
    page.goto(url)
    return page, problems


def in_language(locale: str, value) -> str:
    with translation.override(locale):
        return billing_date(value)


def test_cancel_with_a_reason_then_dont_cancel(browser, live_server, subscription, axe_source):
    page, problems = enter_portal(browser, live_server, subscription.customer)
    page.get_by_role("link", name="Cancel plan").click()
    assert page.get_by_role("heading", level=1, name="Cancel your subscription").is_visible()
    end = in_language("en", subscription.current_period_end)
    assert page.get_by_text(f"Your subscription will end on {end}. You can use it until then.").is_visible()
    assert axe_violations(page, axe_source) == []

    page.get_by_label("It's too expensive").check()
    page.get_by_label("Anything else you would like to tell us?").fill("Too much for what I use.")
    page.get_by_role("button", name="Cancel subscription").click()
    assert page.get_by_role("heading", level=1, name=f"Your subscription will end on {end}.").is_visible()
    assert axe_violations(page, axe_source) == []
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end and subscription.cancellation_feedback == "too_expensive"

    page.get_by_role("link", name="Back to overview").click()
    assert page.get_by_text(f"Your subscription will be canceled on {end}.").is_visible()
    page.get_by_role("button", name="Don't cancel").click()
    assert page.get_by_text("Your subscription will continue.").is_visible()
    assert page.get_by_role("link", name="Cancel plan").is_visible()
    subscription.refresh_from_db()
    assert not subscription.cancel_at_period_end
    assert problems == []


def test_the_retention_offer_is_accepted(browser, live_server, subscription, axe_source):
    coupon = coupon_create(
        account=subscription.account,
        livemode=False,
        actor=Actor.system("test"),
        coupon_id="STAY",
        percent_off=25,
        duration="repeating",
        duration_in_months=2,
    )
    flow = {
        "type": "subscription_cancel",
        "subscription_cancel": {
            "subscription": subscription.pk,
            "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": coupon.coupon_id}},
        },
        "after_completion": {"type": "portal_homepage"},
    }
    page, problems = enter_portal(browser, live_server, subscription.customer, flow_data=flow)
    assert page.get_by_role("heading", level=2, name="Before you go").is_visible()
    assert page.get_by_text("25% off for 2 months").is_visible()
    assert axe_violations(page, axe_source) == []
    page.get_by_role("button", name="Accept offer").click()
    assert page.url == f"{live_server.url}/p/"
    assert page.get_by_text("Offer accepted: 25% off for 2 months.").is_visible()
    subscription.refresh_from_db()
    assert not subscription.cancel_at_period_end and subscription.discounts.count() == 1
    assert problems == []


def test_pause_until_a_day_then_resume_now(browser, live_server, subscription, axe_source):
    page, problems = enter_portal(browser, live_server, subscription.customer)
    page.get_by_role("link", name="Pause payments").click()
    assert page.get_by_role("heading", level=1, name="Pause payments").is_visible()
    assert axe_violations(page, axe_source) == []

    day = timezone.now().date() + dt.timedelta(days=20)
    page.get_by_label("Resume payments on").fill(day.isoformat())
    page.get_by_role("button", name="Continue").click()
    until = in_language("en", day)
    assert page.get_by_role("heading", level=1, name=f"Pause payments until {until}?").is_visible()
    assert page.get_by_text(f"You won't be charged until {until}.").is_visible()
    assert axe_violations(page, axe_source) == []
    page.get_by_role("button", name="Pause payments").click()

    assert page.url == f"{live_server.url}/p/"
    assert page.locator(".banner-info", has_text=f"Payments paused until {until}.").is_visible()
    subscription.refresh_from_db()
    assert subscription.pause_collection_behavior == "void"
    assert subscription.pause_collection_resumes_at.date() == day
    assert axe_violations(page, axe_source) == []
    page.get_by_role("button", name="Resume now").click()
    assert page.get_by_text("Payments have resumed.").is_visible()
    assert page.get_by_role("link", name="Pause payments").is_visible()
    subscription.refresh_from_db()
    assert not subscription.collection_paused
    assert problems == []


def test_a_day_beyond_the_longest_pause_is_explained_next_to_the_field(browser, live_server, subscription, axe_source):
    page, problems = enter_portal(browser, live_server, subscription.customer)
    page.goto(f"{live_server.url}/p/subscriptions/{subscription.pk}/pause")
    page.get_by_label("Resume payments on").fill((timezone.now().date() + dt.timedelta(days=90)).isoformat())
    page.get_by_role("button", name="Continue").click()
    assert page.get_by_text("Payments can be paused for at most 60 days.").is_visible()
    assert page.get_by_label("Resume payments on").get_attribute("aria-invalid") == "true"
    assert axe_violations(page, axe_source) == []
    assert problems == []


@pytest.mark.parametrize("locale", ["en", "de"])
def test_screenshots_and_accessibility(browser, live_server, subscription, axe_source, artifacts, locale):
    coupon = coupon_create(
        account=subscription.account, livemode=False, actor=Actor.system("test"), coupon_id="HALF", percent_off=50
    )
    flow = {
        "type": "subscription_cancel",
        "subscription_cancel": {
            "subscription": subscription.pk,
            "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": coupon.coupon_id}},
        },
    }
    day = timezone.now().date() + dt.timedelta(days=20)

    def check(page, name: str, variant: str) -> None:
        assert page.locator("html").get_attribute("lang") == locale
        assert page.evaluate(NOTHING_OVERFLOWS)
        assert axe_violations(page, axe_source) == []
        page.screenshot(path=artifacts / f"portal-{name}-{variant}-{locale}.png", full_page=True)

    for variant, width in (("desktop", 1280), ("phone", 390)):
        page, problems = enter_portal(browser, live_server, subscription.customer, width=width, locale=locale)
        page.goto(f"{live_server.url}/p/subscriptions/{subscription.pk}/pause")
        check(page, "pause", variant)
        page.locator("input[name=resumes_on]").fill(day.isoformat())
        page.locator("form.pause-form button[type=submit]").click()
        page.wait_for_selector("input[name=confirmed]", state="attached")
        check(page, "pause-confirm", variant)
        page.locator("form.pause-form button[type=submit]").click()
        page.wait_for_selector(".subscription .banner-info")
        assert page.url == f"{live_server.url}/p/"
        check(page, "overview-paused", variant)
        page.locator(f"form[action='/p/subscriptions/{subscription.pk}/resume'] button").click()
        page.wait_for_selector(f"a[href='/p/subscriptions/{subscription.pk}/pause']")

        page.goto(f"{live_server.url}/p/subscriptions/{subscription.pk}/cancel")
        check(page, "cancel", variant)
        page.locator("input[name=feedback][value=unused]").check()
        page.locator("form.cancel-form button[type=submit]").click()
        page.wait_for_selector(".cancel-confirmation")
        check(page, "cancel-done", variant)
        page.locator(f"form[action='/p/subscriptions/{subscription.pk}/reactivate'] button").click()
        page.wait_for_selector(f"a[href='/p/subscriptions/{subscription.pk}/cancel']")
        assert page.url == f"{live_server.url}/p/"
        assert problems == []
        page.close()

        page, problems = enter_portal(
            browser, live_server, subscription.customer, width=width, locale=locale, flow_data=flow
        )
        check(page, "cancel-offer", variant)
        assert problems == []
        page.close()


def test_a_paused_subscription_says_which_invoice_is_not_charged(browser, live_server, subscription, axe_source):
    from django.conf import settings

    from billing.services.subscriptions import subscription_pause_collection

    resumes_at = subscription.current_period_end + dt.timedelta(days=40)
    subscription_pause_collection(
        subscription=subscription, actor=Actor.system("test"), behavior="keep_as_draft", resumes_at=resumes_at
    )
    subscription.refresh_from_db()
    artifacts = settings.BASE_DIR / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    words = {"en": ("kept as a draft, not charged", "Next payment"), "de": ("als Entwurf behalten", "Nächste Zahlung")}
    for locale, (draft, next_payment) in words.items():
        for viewport, (width, height) in (("desktop", (1280, 900)), ("phone", (390, 844))):
            page, problems = enter_portal(
                browser, live_server, subscription.customer, width=width, height=height, locale=locale
            )
            facts = page.locator(".subscription .facts").inner_text()
            assert f"{in_language(locale, subscription.current_period_end)}: {draft}" in facts
            assert next_payment in facts
            page.screenshot(path=artifacts / f"portal-overview-paused-{locale}-{viewport}.png", full_page=True)
            assert page.evaluate(NOTHING_OVERFLOWS)
            assert axe_violations(page, axe_source) == [], f"{locale} {viewport}"
            assert problems == []
            page.close()
