"""Usage-based items in a real Chromium: the usage so far of a metered item on the overview and the item-by-item
page in English and German, and the cancellation ladder's switch offer on a subscription with two items. With
screenshots and no accessibility violations."""

import datetime as dt

import time_machine
from django.utils import timezone

from billing.audit import Actor
from billing.models import Subscription
from billing.services.meters import meter_create, meter_event_create
from billing.services.subscriptions import ItemSpec, subscription_create
from tests.browser.conftest import axe_violations
from tests.browser.test_portal_cancellation_offers import REASONS, enter_portal
from tests.factories.billing import CustomerFactory, PriceFactory, ProductFactory, card
from tests.factories.portal import full_configuration
from tests.portal.test_subscription_items import configure

ACTOR = Actor.system("test")
USAGE = {
    "en": ("Update plan", "API requests: 1,234 units so far this period, €12.34"),
    "de": ("Tarif ändern", "API requests: 1.234 Einheiten bisher in diesem Zeitraum, 12,34\u00a0€"),
}


def _metered_subscription():
    """Basic (€10 a month) with API calls at €0.01 per request, 1,234 requests so far this period."""
    with time_machine.travel(timezone.now() - dt.timedelta(days=10), tick=False):
        customer = CustomerFactory(preferred_locales=[])
        card(customer)
        account = customer.account
        account.name = "Nordlicht Software"
        account.save()
        meter = meter_create(
            account=account, livemode=False, actor=ACTOR, display_name="API requests", event_name="api", formula="sum"
        )
        basic = PriceFactory(account=account, product=ProductFactory(account=account, name="Basic"), unit_amount=1000)
        calls = PriceFactory(
            account=account,
            product=ProductFactory(account=account, name="API calls"),
            unit_amount=1,
            recurring_usage_type="metered",
            meter=meter,
        )
        subscription = subscription_create(customer=customer, items=[ItemSpec(basic), ItemSpec(calls, 0)], actor=ACTOR)
    for value in ("1000", "234"):
        meter_event_create(meter=meter, customer=customer, actor=ACTOR, payload={"value": value})
    configure(account, [([basic], {}), ([calls], {})])
    return subscription


def test_the_usage_so_far_on_the_overview_and_the_items_page(
    transactional_db, live_server, browser, artifacts, axe_source
):
    subscription = _metered_subscription()
    for locale, (update, usage) in USAGE.items():
        page, problems = enter_portal(browser, live_server, subscription.customer, locale)
        page.wait_for_load_state("networkidle")
        assert page.locator(".item-usage").first.inner_text() == usage
        page.screenshot(path=artifacts / f"portal-usage-overview-{locale}.png", full_page=True)
        page.get_by_role("link", name=update).click()
        page.wait_for_load_state("networkidle")
        row = page.locator(".item-row", has_text="API calls")
        assert row.locator(".item-usage").inner_text() == usage
        assert row.locator("input.quantity-input").count() == 0  # usage has no quantity to set
        assert axe_violations(page, axe_source) == []
        page.screenshot(path=artifacts / f"portal-usage-items-{locale}.png", full_page=True)
        assert problems == []
        page.close()


def test_the_ladder_switches_the_plan_item_of_a_two_item_subscription(
    transactional_db, live_server, browser, artifacts, axe_source
):
    with time_machine.travel(timezone.now() - dt.timedelta(days=3), tick=False):
        customer = CustomerFactory(preferred_locales=[])
        card(customer)
        account = customer.account
        pro = ProductFactory(account=account, name="Pro")
        monthly = PriceFactory(account=account, product=pro, unit_amount=2900)
        storage = PriceFactory(
            account=account, product=ProductFactory(account=account, name="Storage"), unit_amount=300
        )
        subscription = subscription_create(
            customer=customer, items=[ItemSpec(monthly), ItemSpec(storage, 2)], actor=ACTOR
        )
    cheaper = PriceFactory(account=account, product=pro, unit_amount=1900)
    features = {
        "subscription_cancel": {
            "enabled": True,
            "mode": "at_period_end",
            "cancellation_reason": {"enabled": True, "options": REASONS},
            "offers": [{"type": "switch", "price": cheaper.pk}],
        }
    }
    full_configuration(account, prices=[monthly, storage], features=features)
    page, problems = enter_portal(browser, live_server, customer, "en")
    page.goto(f"{live_server.url}/p/subscriptions/{subscription.pk}/cancel")
    page.get_by_label("It's too expensive").check()
    page.get_by_role("button", name="Cancel subscription").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("Switch to Pro for €19.00 per month instead").is_visible()
    assert page.get_by_role("button", name="Cancel subscription").is_visible()  # still one click from canceling
    assert axe_violations(page, axe_source) == []
    page.screenshot(path=artifacts / "portal-ladder-switch-two-items-en.png", full_page=True)
    page.get_by_role("button", name="Accept offer").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("Your plan has been updated.").is_visible()
    subscription = Subscription.objects.get(pk=subscription.pk)
    assert sorted(subscription.items.values_list("price", "quantity")) == sorted([(cheaper.pk, 1), (storage.pk, 2)])
    assert not subscription.cancel_at_period_end
    page.screenshot(path=artifacts / "portal-ladder-switch-two-items-done-en.png", full_page=True)
    assert problems == []
