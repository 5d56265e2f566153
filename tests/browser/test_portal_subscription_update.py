"""Changing a plan in a real Chromium: overview -> Update plan -> the yearly price (the summary updates in place) ->
the preview of what is due today -> Confirm -> the overview shows the new plan. Also without JavaScript, in
English and German, on a desktop and a phone, with screenshots and no accessibility violations."""

import datetime as dt

from django.utils import timezone

from billing.audit import Actor
from billing.models import Invoice, Price
from billing.services.subscriptions import ItemChange, ItemSpec, subscription_change_items, subscription_create
from tests.billing.helpers import subscribed
from tests.browser.conftest import axe_violations, summary_after, watch
from tests.factories.billing import PriceFactory, ProductFactory
from tests.factories.portal import session_url
from tests.portal.test_subscription_update import configure

NOTHING_OVERFLOWS = "document.documentElement.scrollWidth <= window.innerWidth"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
ACTOR = Actor.system("test")


def _customer(**update):
    """Halfway through a month of Basic (€10.00 a month); Basic and Premium are also sold by the year. ``update``:
    more of the configuration's subscription_update settings."""
    subscription = subscribed(timezone.now() - dt.timedelta(days=15), amount=1000)
    account = subscription.account
    account.name = "Nordlicht Software"
    account.save()
    basic = subscription.items.get().price
    basic.product.name = "Basic"
    basic.product.description = "For one person getting started."
    basic.product.save()
    premium = ProductFactory(account=account, name="Premium", description="For teams, with priority support.")
    prices = [
        basic,
        PriceFactory(account=account, product=basic.product, unit_amount=10000, recurring_interval="year"),
        PriceFactory(account=account, product=premium, unit_amount=2000),
        PriceFactory(account=account, product=premium, unit_amount=20000, recurring_interval="year"),
    ]
    configure(account, prices, **update)
    customer = subscription.customer
    customer.preferred_locales = []
    customer.save()
    return subscription, prices[3]


def _open(browser, live_server, customer, *, locale="en", viewport=DESKTOP, javascript=True):
    context = browser.new_context(viewport=viewport, device_scale_factor=2, java_script_enabled=javascript)
    page = context.new_page()
    problems = watch(page)
    url = session_url(customer, locale=locale)
    page.goto(live_server.url + "/" + url.split("://", 1)[1].split("/", 1)[1])
    page.wait_for_load_state("networkidle")
    return page, problems


def _choose_yearly(page, premium_yearly, *, yearly: str, javascript=True):
    """Switch to yearly prices and pick Premium's, at a person's pace: each choice's summary arrives before the next
    (a faster second choice would cancel the first summary's request)."""
    for choice in (page.get_by_role("radio", name=yearly), page.locator(f"#price-{premium_yearly.id}")):
        if javascript:
            summary_after(page, choice.check)
        else:
            choice.check()


def test_change_plan_in_chromium(transactional_db, live_server, browser, artifacts, axe_source):
    subscription, premium_yearly = _customer()
    customer = subscription.customer
    words = {
        "en": {"update": "Update plan", "yearly": "Yearly", "continue": "Continue", "due": "Due today"},
        "de": {"update": "Tarif ändern", "yearly": "Jährlich", "continue": "Weiter", "due": "Heute fällig"},
    }

    for locale, viewport, variant in (
        ("en", PHONE, "phone-en"),
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
        _choose_yearly(page, premium_yearly, yearly=text["yearly"])
        summary = page.locator("#plan-summary")
        summary.get_by_text(text["due"]).wait_for()  # htmx brought the summary in place
        assert "€" in summary.inner_text()
        assert page.evaluate(NOTHING_OVERFLOWS)
        page.screenshot(path=artifacts / f"portal-subscription-update-{variant}.png", full_page=True)
        assert axe_violations(page, axe_source) == []

        page.get_by_role("button", name=text["continue"]).click()
        page.wait_for_load_state("networkidle")
        assert page.get_by_text(text["due"]).is_visible()
        assert page.evaluate(NOTHING_OVERFLOWS)
        page.screenshot(path=artifacts / f"portal-subscription-update-preview-{variant}.png", full_page=True)
        assert axe_violations(page, axe_source) == []
        assert problems == []
        if variant != "desktop-en":
            page.context.close()

    # English on a desktop goes on: Confirm, and the overview shows the new plan.
    due_today = page.locator(".preview-amount").inner_text()
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("Your plan has been updated.").is_visible()
    assert page.get_by_text("€200.00 per year").is_visible()
    assert page.get_by_role("heading", name="Premium").is_visible()
    invoice = subscription.invoices.get(billing_reason=Invoice.BillingReason.SUBSCRIPTION_UPDATE)
    assert due_today == f"€{invoice.amount_paid / 100:,.2f}"
    page.screenshot(path=artifacts / "portal-subscription-update-done-desktop-en.png", full_page=True)
    assert problems == []
    page.context.close()


def test_change_plan_without_javascript(transactional_db, live_server, browser, artifacts):
    subscription, premium_yearly = _customer()
    page, problems = _open(browser, live_server, subscription.customer, javascript=False)
    page.get_by_role("link", name="Update plan").click()
    monthly_premium = page.get_by_text("€20.00 per month")
    _choose_yearly(page, premium_yearly, yearly="Yearly", javascript=False)
    assert not monthly_premium.is_visible()  # the interval switch filters the plans with CSS alone
    page.get_by_role("button", name="Continue").click()
    assert page.get_by_role("heading", name="Confirm your new plan").is_visible()
    assert page.get_by_text("Due today").is_visible()
    page.get_by_role("button", name="Confirm").click()
    assert page.get_by_text("Your plan has been updated.").is_visible()
    assert subscription.items.get().price_id == premium_yearly.id
    assert problems == []
    page.context.close()


def test_downgrade_at_period_end_and_a_cancel_only_subscription(
    transactional_db, live_server, browser, artifacts, axe_source
):
    """Premium -> Basic waits for the period end; a subscription with two products can only be canceled."""
    conditions = [{"type": "decreasing_item_amount"}, {"type": "shortening_interval"}]
    subscription, premium_yearly = _customer(schedule_at_period_end={"conditions": conditions})
    account = subscription.account
    two = [PriceFactory(account=account, product__account=account, product__name=name) for name in ("Seats", "Storage")]
    subscription_create(customer=subscription.customer, items=[ItemSpec(price) for price in two], actor=ACTOR)
    subscription_change_items(
        subscription=subscription,
        changes=[ItemChange(item=subscription.items.get(), price=premium_yearly)],
        actor=ACTOR,
        proration_behavior="none",
    )
    basic = Price.objects.get(product__name="Basic", recurring_interval="month")

    for locale, viewport, variant in (("en", DESKTOP, "desktop-en"), ("de", PHONE, "phone-de")):
        page, problems = _open(browser, live_server, subscription.customer, locale=locale, viewport=viewport)
        page.goto(f"{live_server.url}/p/subscriptions/{subscription.id}/update/confirm?price={basic.id}")
        page.wait_for_load_state("networkidle")
        assert page.locator(".plan-summary .banner-info").is_visible()
        page.screenshot(path=artifacts / f"portal-subscription-update-downgrade-{variant}.png", full_page=True)
        assert axe_violations(page, axe_source) == []
        if variant == "desktop-en":
            page.get_by_role("button", name="Confirm").click()
            page.wait_for_load_state("networkidle")
            assert page.get_by_text("Your plan changes to Basic on").is_visible()
            assert page.get_by_text(
                "This subscription has several products, so it can only be canceled here."
            ).is_visible()
            page.screenshot(
                path=artifacts / "portal-subscription-update-scheduled-overview-desktop-en.png", full_page=True
            )
            assert axe_violations(page, axe_source) == []
            page.get_by_role("link", name="Keep current plan").click()
            page.wait_for_load_state("networkidle")
            page.screenshot(path=artifacts / "portal-subscription-update-scheduled-desktop-en.png", full_page=True)
            assert axe_violations(page, axe_source) == []
            page.get_by_role("button", name="Keep my current plan").click()
            page.wait_for_load_state("networkidle")
            assert page.get_by_text("You keep your current plan.").is_visible()
        assert page.evaluate(NOTHING_OVERFLOWS)
        assert problems == []
        page.context.close()
    subscription.refresh_from_db()
    assert subscription.scheduled_change is None
