"""The configuration admin in a real Chromium: no CSP violations, the copy button and the autocomplete work."""

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.admin.utils import quote
from django.urls import reverse

from billing.audit import Actor
from billing.services.accounts import staff_user_add
from configurations.services.portal_configurations import configuration_create
from tests.conftest import CHROMIUM
from tests.factories.billing import AccountFactory, PriceFactory, ProductFactory

ACTOR = Actor.system("test")
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


def test_configuration_admin_in_chromium(transactional_db, live_server, browser, client):
    account = AccountFactory(name="Nordlicht Software GmbH")
    staff = staff_user_add(account=account, email="staff@nordlicht.example")
    basic = ProductFactory(account=account, name="Basic")
    PriceFactory(account=account, product=basic, unit_amount=1000)
    configuration = configuration_create(
        account=account,
        livemode=False,
        actor=ACTOR,
        data={"name": "Members", "features": {"invoice_history": {"enabled": True}}, "login_page": {"enabled": True}},
    )
    client.force_login(staff)
    session_cookie = client.cookies[settings.SESSION_COOKIE_NAME].value

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session_cookie, "url": live_server.url}])
    page = context.new_page()
    problems = []
    page.on("console", lambda message: "Refused to" in message.text and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "response",
        lambda response: (
            response.status >= 400
            and not response.url.endswith("/favicon.ico")
            and problems.append(f"{response.url} {response.status}")
        ),
    )

    url = live_server.url + reverse("admin:configurations_portalconfiguration_change", args=[quote(configuration.pk)])
    page.goto(url)
    page.wait_for_load_state("networkidle")
    # German, laid out like the portal, the products inline inside the plan-changes section.
    assert page.get_by_role("heading", name="Tarifwechsel", exact=True).count() == 1

    page.get_by_role("button", name="Kopieren").click()
    page.get_by_role("status").filter(has_text="Kopiert").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == configuration.login_page_url

    # The product autocomplete (select2, a static script) offers the account's product.
    page.locator("#products-group .select2-selection").first.click()
    page.locator(".select2-container--open .select2-search__field").fill("Bas")
    page.locator(".select2-results__option", has_text="Basic").wait_for()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-portal-configuration-de.png"), full_page=True)
    assert page.locator("a.portal-preview").count() == 1
    assert problems == []
    context.close()
