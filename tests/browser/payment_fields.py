"""Typing into the portal's hosted fields in Chromium (with the ``two_origins`` fixture: the portal at live_server's
``localhost`` origin, the vault, the test gateway's fields, at ``127.0.0.1`` on the same server)."""

import re

from django.utils import timezone

from tests.browser.conftest import watch
from tests.factories.portal import session_url


def enter_portal(browser, live_server, customer, *, width=1280, height=900, locale=None, **kwargs):
    page = browser.new_page(viewport={"width": width, "height": height})
    problems = watch(page)
    kwargs = kwargs | ({"locale": locale} if locale else {})
    page.goto(re.sub(r"^https?://[^/]+", live_server.url, session_url(customer, **kwargs)))
    return page, problems


def expiry() -> str:
    return f"12 / {(timezone.now().year + 3) % 100:02d}"


def vault(page, kind: str = "card"):
    return page.frame_locator(f'iframe[data-vault="{kind}"]')


def fill_card(page, number: str, *, cvc: str = "123", name: str = "Jane Doe") -> None:
    """Type a card into the vault's frame (by field name: the labels are in the customer's language)."""
    choice = page.locator('input[name="type"][value="card"]')
    if choice.get_attribute("type") == "radio":
        choice.check()
    frame = vault(page)
    frame.locator('input[name="number"]').fill(number)
    frame.locator('input[name="expiry"]').fill(expiry())
    frame.locator('input[name="cvc"]').fill(cvc)
    frame.locator('input[name="name"]').fill(name)


def fill_sepa(page, iban: str, *, holder: str = "Jane Doe") -> None:
    page.locator('input[name="type"][value="sepa_debit"]').check()
    frame = vault(page, "sepa_debit")
    frame.locator('input[name="iban"]').fill(iban)
    frame.locator('input[name="account_holder"]').fill(holder)


def submit(page) -> None:
    """Press "Add payment method" and wait for the page it leads to (the frame answers first)."""
    with page.expect_navigation():
        press_add(page)


def press_add(page) -> None:
    page.locator('form.pm-form button[type="submit"]').click()


def fields_shown(page) -> None:
    """The vault's frame on show has loaded and taken its content's height, and the page has painted since."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('iframe[data-vault]')].filter(frame => frame.offsetParent)"
        ".every(frame => frame.dataset.ready === 'true' && frame.style.height)"
    )
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def screenshot(page, path) -> None:
    """A whole-page screenshot of a page with the vault's frame. Chromium's full-page capture leaves a cross-origin
    frame's page, and what follows it, unpainted below the first screen: the window is made as tall as the page."""
    fields_shown(page)
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": page.evaluate("document.documentElement.scrollHeight")})
    fields_shown(page)
    page.screenshot(path=path)
    page.set_viewport_size(size)
