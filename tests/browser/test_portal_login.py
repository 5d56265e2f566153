"""The login page in a real Chromium: email form -> link in the email outbox -> confirm button -> the portal; the
used link shows the expired page. Screenshots (desktop and phone, English and German) of every step, none with
serious accessibility problems."""

import re

import pytest
from django.core import mail
from django.utils import timezone

from tests.billing.helpers import subscribed
from tests.browser.conftest import axe_violations, watch
from tests.factories.portal import full_configuration

VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}
NOTHING_OVERFLOWS = "document.documentElement.scrollWidth <= window.innerWidth"
LINK = re.compile(r"https?://[^/\s]+(/p/login-link/[A-Za-z0-9_-]{43})")
TEXT = {
    "en": {
        "email": "Email address",
        "send": "Email me a sign-in link",
        "sent": "Check your email",
        "continue": "Continue to billing portal",
        "expired": "This link has expired",
        "subject": "Your sign-in link for Nordlicht Software GmbH",
    },
    "de": {
        "email": "E-Mail-Adresse",
        "send": "Anmeldelink per E-Mail senden",
        "sent": "Prüfen Sie Ihr E-Mail-Postfach",
        "continue": "Weiter zum Abrechnungsportal",
        "expired": "Dieser Link ist abgelaufen",
        "subject": "Ihr Anmeldelink für Nordlicht Software GmbH",
    },
}


@pytest.fixture
def shop(transactional_db):
    subscription = subscribed(timezone.now(), amount=2900)
    account = subscription.account
    account.name = "Nordlicht Software GmbH"
    account.save(update_fields=["name"])
    configuration = full_configuration(
        account,
        login_page={"enabled": True},
        custom_text={"login": "Questions about your bill? Write to **billing@nordlicht.example**."},
    )
    return configuration, subscription.customer


def check(page, artifacts, axe_source, name: str) -> None:
    page.wait_for_load_state("networkidle")
    assert page.evaluate(NOTHING_OVERFLOWS), f"{name} scrolls sideways"
    page.screenshot(path=artifacts / f"portal-{name}.png", full_page=True)
    assert axe_violations(page, axe_source) == [], name


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_sign_in_through_the_emailed_link(browser, live_server, shop, artifacts, axe_source, locale, viewport):
    configuration, customer = shop
    customer.preferred_locales = [locale]
    customer.save(update_fields=["preferred_locales"])
    text = TEXT[locale]
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
    page = context.new_page()
    problems = watch(page)
    variant = f"{locale}-{viewport}"

    page.goto(f"{live_server.url}/p/login/{configuration.login_page_token}")
    assert page.locator("html").get_attribute("lang") == locale
    assert "Nordlicht Software GmbH" in page.locator(".standalone-brand").inner_text()
    assert "billing@nordlicht.example" in page.locator("main").inner_text()
    check(page, artifacts, axe_source, f"login-{variant}")

    page.get_by_label(text["email"]).fill("not-an-address")
    page.get_by_role("button", name=text["send"]).click()
    assert page.get_by_label(text["email"]).get_attribute("aria-invalid") == "true"
    check(page, artifacts, axe_source, f"login-error-{variant}")

    page.get_by_label(text["email"]).fill(customer.email.upper())
    page.get_by_role("button", name=text["send"]).click()
    page.get_by_role("heading", name=text["sent"]).wait_for()
    assert page.url.endswith("?sent=1")
    check(page, artifacts, axe_source, f"login-sent-{variant}")

    (message,) = mail.outbox
    assert message.subject == text["subject"]
    link = live_server.url + LINK.search(message.body).group(1)
    email_page = context.new_page()
    email_page.set_content(message.alternatives[0][0])
    email_page.screenshot(path=artifacts / f"portal-login-email-{variant}.png", full_page=True)
    email_page.close()
    page.goto(link)
    check(page, artifacts, axe_source, f"login-link-{variant}")
    page.get_by_role("button", name=text["continue"]).click()
    page.wait_for_url(f"{live_server.url}/p/")
    assert customer.email in page.locator("main").inner_text()
    assert page.locator("html").get_attribute("lang") == locale

    page.goto(link)
    assert page.get_by_role("heading", level=1).inner_text() == text["expired"]
    check(page, artifacts, axe_source, f"expired-login-link-{variant}")
    assert problems == []
    context.close()


def test_the_expired_session_page(browser, live_server, transactional_db, artifacts, axe_source):
    for locale in ("en", "de"):
        for viewport, (width, height) in VIEWPORTS.items():
            context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
            page = context.new_page()
            response = page.goto(f"{live_server.url}/p/")
            assert response.status == 401
            assert page.get_by_role("heading", level=1).inner_text() == TEXT[locale]["expired"]
            check(page, artifacts, axe_source, f"expired-{locale}-{viewport}")
            context.close()
