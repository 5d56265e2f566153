"""Changing a subscription item by item in the portal: quantities, another price of the item's kind, add-ons added
and removed (never the last item), metered items (usage, keep or remove), each with the preview that is a dry run
of the very change and equals what is then invoiced; and the sentences that say why an action is not offered."""

import datetime as dt
from html import unescape

import pytest
import time_machine

from billing.audit import Actor
from billing.models import Invoice
from billing.services.meters import meter_create, meter_event_create
from billing.services.subscriptions import ItemSpec, subscription_create
from tests.factories.billing import CustomerFactory, PriceFactory, ProductFactory, card
from tests.factories.portal import full_configuration, open_portal

ACTOR = Actor.system("test")
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
MIDWAY = T0 + dt.timedelta(days=15, hours=12)  # half of March's 31 days


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(MIDWAY, tick=False):
        yield


def configure(account, entries, **update):
    """``entries``: (prices, options) per product; options may say ``add_on`` and ``adjustable_quantity``."""
    products = [
        {"product": prices[0].product_id, "prices": [price.id for price in prices], **options}
        for prices, options in entries
    ]
    features = {
        "subscription_update": {
            "enabled": True,
            "default_allowed_updates": ["price", "quantity"],
            "products": products,
            "proration_behavior": "always_invoice",
            **update,
        }
    }
    return full_configuration(account, features=features)


class Shop:
    """Basic (€10 a month, the plan) and Pro (€20 a month); add-ons Storage (€3 a month per unit, on the
    subscription twice) and Support (€5 a month, not yet on it); the subscription started at T0."""

    def __init__(self):
        with time_machine.travel(T0, tick=False):
            self.customer = CustomerFactory()
            card(self.customer)
        account = self.account = self.customer.account
        self.basic = PriceFactory(
            account=account, product=ProductFactory(account=account, name="Basic"), unit_amount=1000
        )
        self.pro = PriceFactory(account=account, product=ProductFactory(account=account, name="Pro"), unit_amount=2000)
        self.storage = PriceFactory(
            account=account, product=ProductFactory(account=account, name="Storage"), unit_amount=300
        )
        self.support = PriceFactory(
            account=account, product=ProductFactory(account=account, name="Support"), unit_amount=500
        )
        with time_machine.travel(T0, tick=False):
            self.subscription = subscription_create(
                customer=self.customer, items=[ItemSpec(self.basic), ItemSpec(self.storage, 2)], actor=ACTOR
            )

    def configure(self, **update):
        return configure(
            self.account,
            [
                ([self.basic], {}),
                ([self.pro], {}),
                ([self.storage], {"add_on": True, "adjustable_quantity": {"enabled": True, "maximum": 10}}),
                ([self.support], {"add_on": True}),
            ],
            **update,
        )

    def item(self, price):
        return self.subscription.items.get(price=price)


@pytest.fixture
def shop(db) -> Shop:
    return Shop()


def text(response) -> str:
    return unescape(response.content.decode())


def url(subscription, step="") -> str:
    return f"/p/subscriptions/{subscription.id}/update" + (f"/{step}" if step else "")


def confirm(client, subscription, choice: dict):
    page = client.get(url(subscription, "confirm"), choice)
    assert page.status_code == 200, text(page)
    hidden = dict(page.context["form"].hidden_values())
    return client.post(url(subscription, "confirm"), {**hidden, "version": page.context["version"]}), page


def test_the_page_offers_each_item_and_the_add_ons(shop):
    shop.configure()
    client = open_portal(shop.customer)
    assert 'href="' + url(shop.subscription) + '"' in text(client.get("/p/"))
    html = text(client.get(url(shop.subscription)))
    base, storage = shop.item(shop.basic), shop.item(shop.storage)
    assert f'name="price-{base.pk}"' in html and f'name="quantity-{storage.pk}"' in html
    assert f'name="remove-{storage.pk}"' in html and f'name="remove-{base.pk}"' not in html
    assert f'name="add-{shop.support.pk}"' in html and f'name="add-{shop.storage.pk}"' not in html
    assert "Basic is part of your plan, so it can't be removed here." in html


def test_quantity_and_price_change_preview_equals_the_invoice(shop):
    shop.configure()
    client = open_portal(shop.customer)
    base, storage = shop.item(shop.basic), shop.item(shop.storage)
    choice = {f"price-{base.pk}": shop.pro.pk, f"quantity-{storage.pk}": "5"}
    done, page = confirm(client, shop.subscription, choice)
    assert done.status_code == 303, text(done)
    preview = page.context["preview"]
    invoice = shop.subscription.invoices.get(billing_reason=Invoice.BillingReason.SUBSCRIPTION_UPDATE)
    assert preview.due_now == invoice.amount_due and preview.due_now_total == invoice.total
    # Half a month: +€5.00 for Pro over Basic, +€4.50 for three more units of Storage.
    assert invoice.total == 500 + 450
    assert sorted(shop.subscription.items.values_list("price", "quantity")) == sorted(
        [(shop.pro.pk, 1), (shop.storage.pk, 5)]
    )


def test_an_add_on_is_added_and_removed(shop):
    shop.configure()
    client = open_portal(shop.customer)
    done, _page = confirm(client, shop.subscription, {f"add-{shop.support.pk}": "on"})
    assert done.status_code == 303
    support = shop.item(shop.support)
    done, page = confirm(client, shop.subscription, {f"remove-{support.pk}": "on"})
    assert done.status_code == 303
    assert not shop.subscription.items.filter(price=shop.support).exists()
    assert shop.subscription.items.count() == 2


def test_the_last_items_cannot_all_be_removed(shop):
    shop.configure()
    client = open_portal(shop.customer)
    base = shop.item(shop.basic)
    response = client.get(url(shop.subscription, "confirm"), {f"remove-{base.pk}": "on"})
    assert response.status_code == 400  # not offered: nothing changes
    assert "Change at least one product or quantity." in text(response)


def test_a_metered_item_shows_its_usage_and_may_be_removed_but_has_no_quantity(shop):
    account = shop.account
    with time_machine.travel(T0, tick=False):
        meter = meter_create(
            account=account, livemode=False, actor=ACTOR, display_name="API requests", event_name="calls", formula="sum"
        )
        metered = PriceFactory(
            account=account,
            product=ProductFactory(account=account, name="API calls"),
            recurring_usage_type="metered",
            unit_amount=1,
            meter=meter,
        )
        subscription = subscription_create(
            customer=shop.customer, items=[ItemSpec(shop.basic), ItemSpec(metered, 0)], actor=ACTOR
        )
        meter_event_create(meter=meter, customer=shop.customer, actor=ACTOR, payload={"value": "1234"})
    configure(account, [([shop.basic], {}), ([shop.pro], {}), ([metered], {})])
    client = open_portal(shop.customer)
    html = text(client.get(url(subscription)))
    item = subscription.items.get(price=metered)
    assert "API requests: 1,234 units so far this period, €12.34" in html and "€0.01 per unit" in html
    overview = text(client.get("/p/"))
    assert "API requests: 1,234 units so far this period, €12.34" in overview
    assert "API calls is billed by usage, so it has no quantity to set." in html
    assert f'name="quantity-{item.pk}"' not in html and f'name="remove-{item.pk}"' in html
    done, _page = confirm(client, subscription, {f"remove-{item.pk}": "on"})
    assert done.status_code == 303
    assert list(subscription.items.values_list("price", flat=True)) == [shop.basic.pk]


def test_a_pending_schedule_says_why_nothing_is_offered(shop):
    shop.configure(schedule_at_period_end={"conditions": [{"type": "decreasing_item_amount"}]})
    client = open_portal(shop.customer)
    storage = shop.item(shop.storage)
    done, _page = confirm(client, shop.subscription, {f"quantity-{storage.pk}": "1"})
    assert done.status_code == 303
    html = text(client.get(url(shop.subscription)))
    assert "Keep my current plan" in html and f'name="quantity-{storage.pk}"' not in html


def test_without_quantity_changes_the_page_says_so(shop):
    configure(
        shop.account,
        [([shop.basic], {}), ([shop.pro], {}), ([shop.storage], {"add_on": True}), ([shop.support], {"add_on": True})],
        default_allowed_updates=["price"],
    )
    html = text(open_portal(shop.customer).get(url(shop.subscription)))
    assert "The quantity of Storage can't be changed here." in html
