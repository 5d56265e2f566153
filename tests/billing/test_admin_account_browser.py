"""The account's admin page in a real Chromium: country and default currency (Stripe's account fields) are set
there and show in ``GET /v1/account``."""

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.admin.utils import quote
from django.urls import reverse

from billing.models import Account
from tests.conftest import CHROMIUM
from tests.factories.billing import AccountFactory

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.mark.parametrize(
    ("locale", "viewport", "name"),
    [
        ("en-US", {"width": 1280, "height": 900}, "desktop-en"),
        ("de-DE", {"width": 1280, "height": 900}, "desktop-de"),
        ("en-US", {"width": 390, "height": 844}, "mobile-en"),
        ("de-DE", {"width": 390, "height": 844}, "mobile-de"),
    ],
)
def test_country_and_default_currency_are_set_in_the_admin(
    transactional_db, live_server, browser, client, admin_user, locale, viewport, name
):
    """The operator (a superuser) edits accounts."""
    account = AccountFactory(name="Nordlicht Software GmbH")
    client.force_login(admin_user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context = browser.new_context(viewport=viewport, locale=locale)
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
    page = context.new_page()
    problems = []
    page.on("console", lambda message: "Refused to" in message.text and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(live_server.url + reverse("admin:billing_account_change", args=[quote(account.pk)]))
    page.locator("#id_country").select_option("DE")
    page.locator("#id_default_currency").select_option("eur")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"admin-account-{name}.png"), full_page=True)
    page.locator("input[name=_continue]").click()
    page.wait_for_load_state("networkidle")
    account = Account.objects.get(pk=account.pk)
    assert (account.country, account.default_currency) == ("DE", "eur")
    assert problems == []
    context.close()


def test_a_bad_country_is_a_message_on_the_form(db, client, admin_user):
    account = AccountFactory()
    client.force_login(admin_user)
    url = reverse("admin:billing_account_change", args=[quote(account.pk)])
    form = client.get(url).context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in form.fields}
    response = client.post(url, {**data, "country": "Germany", "default_currency": "eur"})
    assert response.status_code == 200
    assert Account.objects.get(pk=account.pk).country == ""
