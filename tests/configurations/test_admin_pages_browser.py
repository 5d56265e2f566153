"""The admin pages for non-developers in a real Chromium (English and German): amounts beside their currency,
customer-group rows with "Add rule", the price picker per product, the buttons, the DNS records, and the
read-only preview's banner; screenshots go to test-artifacts/."""

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.admin.utils import quote
from django.urls import reverse

from billing.models import Price
from billing.services.accounts import staff_user_add
from configurations.models import PortalConfiguration
from configurations.services.custom_domains import custom_domain_set
from tests.billing.helpers import subscribed
from tests.configurations.test_admin_browser import ACTOR, ARTIFACTS, CHROMIUM
from tests.factories.billing import CustomerFactory, PriceFactory, ProductFactory
from tests.factories.portal import full_configuration

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


def _context(browser, live_server, client, staff, locale):
    client.force_login(staff)
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale=locale)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    problems = []
    page.on("console", lambda message: "Refused to" in message.text and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("response", lambda r: r.status >= 500 and problems.append(f"{r.url} {r.status}"))
    return context, page, problems


@pytest.mark.parametrize("locale", ["en-US", "de-DE"])
def test_admin_pages_for_non_developers(transactional_db, live_server, browser, client, locale, settings):
    settings.PORTAL_BASE_URL = live_server.url
    subscription = subscribed(dt.datetime(2026, 3, 1, tzinfo=dt.UTC), amount=1690)
    account = subscription.customer.account
    staff = staff_user_add(account=account, email="staff@nordlicht.example")
    basic = subscription.items.get().price.product
    basic.name = "Basic"
    basic.save(update_fields=["name"])
    pro = ProductFactory(account=account, name="Pro")
    PriceFactory(account=account, product=pro, unit_amount=2990)
    configuration = full_configuration(
        account, prices=[subscription.items.get().price], customer_group={"metadata": {"segment": "a"}}
    )
    CustomerFactory(account=account, email="ada@nordlicht.example", metadata={"segment": "a"})
    other = full_configuration(account, name="Other")
    domain = custom_domain_set(account=account, hostname="billing.nordlicht.example", actor=ACTOR)
    suffix = locale[:2]
    context, page, problems = _context(browser, live_server, client, staff, locale)
    ARTIFACTS.mkdir(exist_ok=True)

    # A price: the amount beside the currency that follows the currency select.
    page.goto(live_server.url + reverse("admin:billing_price_add"))
    page.select_option("select[name=currency]", "eur")
    page.fill("input[name=unit_amount]", "16,90" if suffix == "de" else "16.90")
    assert page.locator(".money-currency").inner_text() == "EUR"
    page.screenshot(path=str(ARTIFACTS / f"admin-price-add-{suffix}.png"), full_page=True)
    page.goto(live_server.url + reverse("admin:billing_price_changelist"))
    page.screenshot(path=str(ARTIFACTS / f"admin-price-list-{suffix}.png"))

    # A configuration: the group rows with "Add rule", who gets it, the price picker, "Make default".
    page.goto(live_server.url + reverse("admin:configurations_portalconfiguration_change", args=[quote(other.pk)]))
    page.locator(".metadata-rules[data-rules-name=customer_group_metadata] .metadata-rules-add").click()
    assert page.locator("input[name^='customer_group_metadata-key-']").count() == 2
    page.locator("fieldset", has=page.locator(".metadata-rules[data-rules-name=customer_group_metadata]")).screenshot(
        path=str(ARTIFACTS / f"admin-configuration-group-{suffix}.png")
    )
    page.screenshot(path=str(ARTIFACTS / f"admin-configuration-{suffix}.png"), full_page=True)
    page.locator("form.object-button button").click()
    page.wait_for_load_state("networkidle")
    assert PortalConfiguration.objects.get(pk=other.pk).is_default
    page.goto(
        live_server.url + reverse("admin:configurations_portalconfiguration_change", args=[quote(configuration.pk)])
    )
    picker = page.locator("select[name='products-0-prices']")
    visible = picker.locator("option:not([hidden])")
    assert visible.count() == Price.objects.filter(product=basic).count()
    page.screenshot(path=str(ARTIFACTS / f"admin-configuration-group-customers-{suffix}.png"), full_page=True)

    # The custom domain: the two records with copy buttons and "Verify now".
    page.goto(live_server.url + reverse("admin:configurations_customdomain_change", args=[quote(domain.pk)]))
    assert page.locator(".portal-dns-records tbody tr").count() == 2
    assert page.locator("form.object-button button").count() == 1
    page.screenshot(path=str(ARTIFACTS / f"admin-custom-domain-{suffix}.png"), full_page=True)

    # The read-only preview: the banner on every page, a refused write says so.
    page.goto(live_server.url + reverse("portal:configuration_preview", args=[configuration.pk]))
    page.select_option("select[name=customer]", subscription.customer_id)
    page.screenshot(path=str(ARTIFACTS / f"admin-preview-form-{suffix}.png"), full_page=True)
    with context.expect_page() as opened:
        page.locator("input[type=submit].default").click()
    portal = opened.value
    portal.wait_for_load_state("networkidle")
    assert portal.locator(".preview-banner").count() == 1
    portal.screenshot(path=str(ARTIFACTS / f"portal-preview-banner-{suffix}.png"), full_page=True)
    portal.goto(live_server.url + f"/p/subscriptions/{subscription.pk}/cancel")
    portal.screenshot(path=str(ARTIFACTS / f"portal-preview-cancel-{suffix}.png"), full_page=True)
    portal.locator("form.cancel-form button[type=submit]").click()
    portal.wait_for_load_state("networkidle")
    assert portal.locator(".preview-banner").count() == 1
    portal.screenshot(path=str(ARTIFACTS / f"portal-preview-refused-{suffix}.png"), full_page=True)
    subscription.refresh_from_db()
    assert not subscription.cancel_at_period_end and subscription.status == "active"
    assert problems == []
    context.close()
