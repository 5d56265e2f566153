"""A two-item subscription (Basic + the Storage add-on) changed item by item in a real Chromium: more Storage and
Pro instead of Basic, with a preview equal to the invoice to the minor unit; an add-on added and removed again.
In English and German, with screenshots and no accessibility violations."""

import datetime as dt
import re

import time_machine
from django.utils import timezone

from billing.audit import Actor
from billing.models import Invoice
from billing.services.subscriptions import ItemSpec, subscription_create
from tests.browser.conftest import axe_violations, summary_after, watch
from tests.factories.billing import CustomerFactory, PriceFactory, ProductFactory, card
from tests.factories.portal import session_url
from tests.portal.test_subscription_items import configure

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
NOTHING_OVERFLOWS = "document.documentElement.scrollWidth <= window.innerWidth"
ACTOR = Actor.system("test")


def _shop():
    """Halfway through a month of Basic (€10) with 2 × Storage (€3 each); Pro (€20) and the Support add-on (€5)."""
    with time_machine.travel(timezone.now() - dt.timedelta(days=15), tick=False):
        customer = CustomerFactory(preferred_locales=[])
        card(customer)
        account = customer.account
        account.name = "Nordlicht Software"
        account.save()
        product = {
            name: ProductFactory(account=account, name=name, description=description)
            for name, description in (
                ("Basic", "For one person getting started."),
                ("Pro", "For teams, with priority support."),
                ("Storage", "100 GB of storage per unit."),
                ("Support", "Answers within four hours."),
            )
        }
        prices = {
            name: PriceFactory(account=account, product=product[name], unit_amount=amount)
            for name, amount in (("Basic", 1000), ("Pro", 2000), ("Storage", 300), ("Support", 500))
        }
        subscription = subscription_create(
            customer=customer, items=[ItemSpec(prices["Basic"]), ItemSpec(prices["Storage"], 2)], actor=ACTOR
        )
    configure(
        account,
        [
            ([prices["Basic"]], {}),
            ([prices["Pro"]], {}),
            ([prices["Storage"]], {"add_on": True, "adjustable_quantity": {"enabled": True, "maximum": 10}}),
            ([prices["Support"]], {"add_on": True}),
        ],
    )
    return subscription, prices


def _open(browser, live_server, customer, *, locale="en", viewport=DESKTOP):
    context = browser.new_context(viewport=viewport, device_scale_factor=2)
    page = context.new_page()
    problems = watch(page)
    url = session_url(customer, locale=locale)
    page.goto(live_server.url + "/" + url.split("://", 1)[1].split("/", 1)[1])
    page.wait_for_load_state("networkidle")
    return page, problems


def _euros(text: str) -> int:
    """'€9.50' -> 950 (the English page's amounts)."""
    return round(float(re.sub(r"[^0-9.\-]", "", text)) * 100)


def test_change_quantity_and_price_of_two_items(transactional_db, live_server, browser, artifacts, axe_source):
    subscription, prices = _shop()
    customer = subscription.customer
    base = subscription.items.get(price=prices["Basic"])
    storage = subscription.items.get(price=prices["Storage"])
    words = {
        "en": {"update": "Update plan", "continue": "Continue", "due": "Due today", "storage": "Quantity of Storage"},
        "de": {"update": "Tarif ändern", "continue": "Weiter", "due": "Heute fällig", "storage": "Menge von Storage"},
    }
    for locale, viewport, variant in (
        ("de", DESKTOP, "desktop-de"),
        ("de", PHONE, "phone-de"),
        ("en", DESKTOP, "desktop-en"),
    ):
        text = words[locale]
        page, problems = _open(browser, live_server, customer, locale=locale, viewport=viewport)
        page.get_by_role("link", name=text["update"]).click()
        page.wait_for_load_state("networkidle")
        assert page.get_by_role("heading", level=1).inner_text() == text["update"]
        assert axe_violations(page, axe_source) == []
        quantity = page.get_by_label(text["storage"])
        summary_after(page, lambda quantity=quantity: (quantity.fill("5"), quantity.press("Tab")))
        choose = page.locator(f"#id_price-{base.pk}")
        summary_after(page, lambda choose=choose: choose.select_option(prices["Pro"].pk))
        summary = page.locator("#plan-summary")
        summary.get_by_text(text["due"]).wait_for()
        assert "€" in summary.inner_text() and page.evaluate(NOTHING_OVERFLOWS)
        page.screenshot(path=artifacts / f"portal-subscription-items-{variant}.png", full_page=True)
        assert axe_violations(page, axe_source) == []
        page.get_by_role("button", name=text["continue"]).click()
        page.wait_for_load_state("networkidle")
        assert page.get_by_text(text["due"]).first.is_visible()
        page.screenshot(path=artifacts / f"portal-subscription-items-preview-{variant}.png", full_page=True)
        assert axe_violations(page, axe_source) == []
        assert problems == []
        if variant != "desktop-en":
            page.context.close()

    due_today = _euros(page.locator(".preview-amount").inner_text())
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("Your plan has been updated.").is_visible()
    invoice = subscription.invoices.get(billing_reason=Invoice.BillingReason.SUBSCRIPTION_UPDATE)
    assert due_today == invoice.amount_due == invoice.amount_paid
    assert sorted(subscription.items.values_list("price", "quantity")) == sorted(
        [(prices["Pro"].pk, 1), (storage.price_id, 5)]
    )
    assert problems == []
    page.context.close()


def test_an_add_on_is_added_and_removed(transactional_db, live_server, browser, artifacts, axe_source):
    subscription, prices = _shop()
    page, problems = _open(browser, live_server, subscription.customer)
    page.get_by_role("link", name="Update plan").click()
    summary_after(page, lambda: page.get_by_label("Add Support").check())
    page.locator("#plan-summary").get_by_text("Due today").wait_for()
    page.get_by_role("button", name="Continue").click()
    assert page.get_by_text("Added").is_visible()
    page.screenshot(path=artifacts / "portal-subscription-items-add-on-desktop-en.png", full_page=True)
    due_today = _euros(page.locator(".preview-amount").inner_text())
    page.get_by_role("button", name="Confirm").click()
    assert page.get_by_text("Your plan has been updated.").is_visible()
    assert subscription.items.filter(price=prices["Support"]).exists()
    invoice = subscription.invoices.filter(billing_reason=Invoice.BillingReason.SUBSCRIPTION_UPDATE).get()
    assert due_today == invoice.amount_due

    page.get_by_role("link", name="Update plan").click()
    summary_after(page, lambda: page.get_by_label("Remove Support").check())
    page.get_by_role("button", name="Continue").click()
    assert page.get_by_text("Removed").is_visible()
    assert axe_violations(page, axe_source) == []
    page.get_by_role("button", name="Confirm").click()
    assert page.get_by_text("Your plan has been updated.").is_visible()
    assert not subscription.items.filter(price=prices["Support"]).exists()
    assert subscription.items.count() == 2
    assert problems == []
    page.context.close()
