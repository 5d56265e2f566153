"""The portal in every configured language, in a real Chromium: the overview and the plan-change confirmation on a
desktop and a phone, screenshotted, with the language's own words, nothing overflowing (long French or Dutch words
in buttons), and no serious or critical accessibility violations."""

import pytest
from django.conf import settings
from django.utils import translation

from tests.browser.conftest import axe_violations, watch
from tests.browser.test_portal_login import shop  # noqa: F401 (a fixture)
from tests.browser.test_portal_subscription_update import DESKTOP, PHONE, _choose_yearly, _customer
from tests.browser.test_portal_subscription_update import _open as open_portal

LANGUAGES = [code for code, _name in settings.LANGUAGES]
# Words a reader of the language expects; the catalogue must agree (for the rest, see OWN_WORDS below).
EXPECTED = {
    "en": {"overview": ("Current plan", "Payment methods", "Invoice history"), "update": "Update plan"},
    "de": {"overview": ("Aktueller Tarif", "Zahlungsmethoden", "Rechnungsverlauf"), "update": "Tarif ändern"},
    "fr": {
        "overview": ("Formule actuelle", "Moyens de paiement", "Historique des factures"),
        "update": "Changer de formule",
    },
    "es": {"overview": ("Plan actual", "Métodos de pago", "Historial de facturas"), "update": "Cambiar plan"},
}
# The strings every language's pages must show in that language (not English), looked up in its catalogue.
OWN_WORDS = {
    "overview": ("Current plan", "Payment methods", "Invoice history", "Billing information", "Update plan"),
    "confirm": ("Confirm your new plan", "Due today", "Confirm", "Choose another plan"),
}
# What sticks out to the right on a phone, if anything does (NOTHING_OVERFLOWS, named).
WIDER_THAN_THE_SCREEN = """() => document.documentElement.scrollWidth <= window.innerWidth ? [] :
    [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .map(e => `${e.tagName.toLowerCase()}.${e.className}: ${e.textContent.trim().slice(0, 40)}`).slice(-5)"""
# Text that sits on one line in a control: a button or a link styled as one must hold its label.
CLIPPED_CONTROLS = """() => [...document.querySelectorAll('button, .button, input[type=submit]')]
    .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
    .map(e => e.textContent.trim())"""


def _words(language: str, names: tuple[str, ...]) -> list[str]:
    with translation.override(language):
        found = [translation.gettext(name) for name in names]
    if language != settings.LANGUAGE_CODE:
        untranslated = [name for name, text in zip(names, found, strict=True) if name == text]
        assert not untranslated, f"{language} catalogue lacks {untranslated}"
    return found


def _looks_right(page, axe_source, artifacts, name: str) -> None:
    page.screenshot(path=artifacts / f"{name}.png", full_page=True)
    assert page.evaluate(WIDER_THAN_THE_SCREEN) == [], f"{name}: the page scrolls sideways"
    assert page.evaluate(CLIPPED_CONTROLS) == [], f"{name}: labels do not fit their buttons"
    assert axe_violations(page, axe_source) == [], name


@pytest.mark.parametrize("language", LANGUAGES)
def test_overview_and_plan_change_confirmation(transactional_db, live_server, browser, artifacts, axe_source, language):
    subscription, premium_yearly = _customer()
    overview_words = _words(language, OWN_WORDS["overview"])
    confirm_words = _words(language, OWN_WORDS["confirm"])
    yearly = _words(language, ("Yearly",))[0]
    continue_label = _words(language, ("Continue",))[0]
    if language in EXPECTED:
        assert set(EXPECTED[language]["overview"]) <= set(overview_words)
        assert EXPECTED[language]["update"] in overview_words

    for viewport, variant in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page, problems = open_portal(browser, live_server, subscription.customer, locale=language, viewport=viewport)
        assert page.locator("html").get_attribute("lang") == language
        main = " ".join(page.locator("main").text_content().split())
        for word in overview_words:
            assert word in main, f"{word!r} missing from the {language} overview"
        switch = page.get_by_role("navigation", name=_words(language, ("Language",))[0])
        assert switch.get_by_role("link").all_inner_texts() == [name for _code, name in settings.LANGUAGES]
        assert switch.get_by_role("link", name=dict(settings.LANGUAGES)[language]).get_attribute("aria-current")
        _looks_right(page, axe_source, artifacts, f"portal-languages-overview-{variant}-{language}")

        page.get_by_role("link", name=overview_words[-1]).click()
        page.wait_for_load_state("networkidle")
        _choose_yearly(page, premium_yearly, yearly=yearly)
        page.get_by_role("button", name=continue_label).click()
        page.wait_for_load_state("networkidle")
        assert page.get_by_role("heading", level=1).inner_text() == confirm_words[0]
        main = " ".join(page.locator("main").text_content().split())
        for word in confirm_words:
            assert word in main, f"{word!r} missing from the {language} confirmation"
        assert "€" in page.locator(".preview-amount").inner_text()
        _looks_right(page, axe_source, artifacts, f"portal-languages-confirm-{variant}-{language}")
        assert problems == []
        page.context.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_login_page_and_hosted_invoice_on_a_phone(live_server, browser, shop, artifacts, axe_source, language):  # noqa: F811
    configuration, customer = shop
    heading, button = _words(language, ("Sign in to the billing portal", "Email me a sign-in link"))
    download = _words(language, ("Download PDF",))[0]
    invoice = customer.invoices.exclude(hosted_token="").first()
    context = browser.new_context(viewport=PHONE, device_scale_factor=2)
    page = context.new_page()
    problems = watch(page)

    page.goto(f"{live_server.url}/p/login/{configuration.login_page_token}?locale={language}")
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == language
    assert page.get_by_role("heading", level=1).text_content().strip() == heading
    assert page.get_by_role("button", name=button).is_visible()
    _looks_right(page, axe_source, artifacts, f"portal-languages-login-phone-{language}")

    page.goto(f"{live_server.url}/i/{invoice.hosted_token}/?locale={language}")
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == language
    assert page.get_by_role("link", name=download).is_visible()
    _looks_right(page, axe_source, artifacts, f"portal-languages-invoice-phone-{language}")
    assert problems == []
    context.close()
