"""Allowed plan transitions on the plan change page: only allowed targets are shown, with the sentence that says why
others are not; a form sent for a refused price (a forged POST) gets the same sentence and changes nothing; a
customer's own list (metadata portal_allowed_prices) replaces the configuration's mode."""

import pytest
import time_machine

from billing.models import Price
from tests.billing.helpers import subscribed
from tests.factories.billing import PriceFactory, ProductFactory
from tests.factories.portal import open_portal
from tests.portal.test_subscription_update import MIDWAY, T0, Catalog, configure, confirm, text, url

UPGRADES = "Only plans that cost more than your current plan are offered here."
NO_LATERAL = "Plans that cost the same as your current plan are not offered here."
GRAPH = "From your current plan, only the plans shown are offered."
CUSTOMER = "Only the plans shown are available to you."


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(MIDWAY, tick=False):
        yield


@pytest.fixture
def catalog(db) -> Catalog:
    return Catalog(subscribed(T0, amount=1000))


def offered(html: str, prices: list[Price]) -> list[bool]:
    return [f'value="{price.pk}"' in html for price in prices]


@pytest.fixture
def team(catalog):
    """Team, €120 a year: as much per year as Basic's €10 a month (a lateral switch)."""
    account = catalog.subscription.account
    return PriceFactory(
        account=account,
        product=ProductFactory(account=account, name="Team"),
        unit_amount=12000,
        recurring_interval="year",
    )


@pytest.mark.parametrize(
    ("transitions", "shown", "sentence"),
    [
        # basic yearly (€100/yr), premium monthly (€240/yr), premium yearly (€200/yr), team (€120/yr)
        ({"mode": "any"}, [True, True, True, True], None),
        ({"mode": "upgrades_only"}, [False, True, True, False], UPGRADES),
        ({"mode": "no_lateral"}, [True, True, True, False], NO_LATERAL),
        ({"mode": "graph", "graph": {"BASIC": ["PREMIUM_YEARLY"]}}, [False, False, True, False], GRAPH),
    ],
)
def test_the_page_shows_only_allowed_targets_and_a_forged_post_gets_the_same_sentence(
    catalog, team, transitions, shown, sentence
):
    targets = [catalog.basic_yearly, catalog.premium_monthly, catalog.premium_yearly, team]
    if "graph" in transitions:
        transitions["graph"] = {catalog.basic_monthly.pk: [catalog.premium_yearly.pk]}
    configure(catalog.subscription.account, [*catalog.prices, team], transitions=transitions)
    client = open_portal(catalog.customer)
    html = text(client.get(url(catalog.subscription)))
    assert offered(html, targets) == shown
    if sentence is None:
        assert UPGRADES not in html and NO_LATERAL not in html and GRAPH not in html
        return
    assert sentence in html
    refused = next(price for price, ok in zip(targets, shown, strict=True) if not ok)
    forged = client.post(url(catalog.subscription, "confirm"), {"price": refused.pk, "version": "x"})
    assert forged.status_code == 400 and sentence in text(forged)
    assert client.get(url(catalog.subscription, "confirm"), {"price": refused.pk}).status_code == 400
    assert catalog.subscription.items.get().price_id == catalog.basic_monthly.pk
    assert not catalog.subscription.invoices.filter(billing_reason="subscription_update").exists()
    allowed = next(price for price, ok in zip(targets, shown, strict=True) if ok)
    done, _page = confirm(client, catalog.subscription, price=allowed.pk)
    assert done.status_code == 303


def test_a_customers_own_list_replaces_the_mode(catalog, team):
    configure(catalog.subscription.account, [*catalog.prices, team], transitions={"mode": "upgrades_only"})
    catalog.customer.metadata = {"portal_allowed_prices": f"{catalog.basic_yearly.pk}, {team.pk}"}
    catalog.customer.save()
    client = open_portal(catalog.customer)
    html = text(client.get(url(catalog.subscription)))
    targets = [catalog.basic_yearly, catalog.premium_monthly, catalog.premium_yearly, team]
    assert offered(html, targets) == [True, False, False, True]
    assert CUSTOMER in html
    forged = client.post(url(catalog.subscription, "confirm"), {"price": catalog.premium_monthly.pk, "version": "x"})
    assert forged.status_code == 400 and CUSTOMER in text(forged)
    done, _page = confirm(client, catalog.subscription, price=catalog.basic_yearly.pk)  # a downgrade: the list wins
    assert done.status_code == 303
    assert catalog.subscription.items.get().price_id == catalog.basic_yearly.pk


def test_nothing_left_to_switch_to_says_why(catalog):
    configure(
        catalog.subscription.account,
        [catalog.basic_monthly, catalog.basic_yearly],
        default_allowed_updates=["price"],
        transitions={"mode": "upgrades_only"},
    )
    html = text(open_portal(catalog.customer).get(url(catalog.subscription)))
    assert UPGRADES in html and 'name="price"' not in html


def test_transitions_apply_to_an_items_price_in_a_multi_item_subscription(catalog):
    from billing.services.subscriptions import ItemChange, subscription_change_items
    from tests.portal.test_subscription_update import ACTOR

    account = catalog.subscription.account
    extra = PriceFactory(account=account, product=ProductFactory(account=account, name="Extra"), unit_amount=100)
    subscription_change_items(
        subscription=catalog.subscription, changes=[ItemChange(price=extra)], actor=ACTOR, proration_behavior="none"
    )
    configure(account, [*catalog.prices, extra], transitions={"mode": "upgrades_only"})
    client = open_portal(catalog.customer)
    html = text(client.get(url(catalog.subscription)))
    base = catalog.subscription.items.get(price=catalog.basic_monthly)
    assert f'name="price-{base.pk}"' in html and f'value="{catalog.premium_monthly.pk}"' in html
    # Yearly prices are not offered beside a monthly item, and Premium's are upgrades: all of them are refused.
    forged = client.post(
        url(catalog.subscription, "confirm"), {f"price-{base.pk}": catalog.basic_yearly.pk, "version": "x"}
    )
    assert forged.status_code == 400


def test_an_item_without_allowed_targets_says_why_and_a_forged_price_gets_that_sentence(catalog):
    from billing.services.subscriptions import ItemChange, subscription_change_items
    from tests.portal.test_subscription_update import ACTOR

    account = catalog.subscription.account
    extra = PriceFactory(account=account, product=ProductFactory(account=account, name="Extra"), unit_amount=100)
    subscription_change_items(
        subscription=catalog.subscription, changes=[ItemChange(price=extra)], actor=ACTOR, proration_behavior="none"
    )
    graph = {catalog.premium_monthly.pk: [catalog.basic_monthly.pk]}  # nothing from Basic
    configure(account, [*catalog.prices, extra], transitions={"mode": "graph", "graph": graph})
    client = open_portal(catalog.customer)
    html = text(client.get(url(catalog.subscription)))
    base = catalog.subscription.items.get(price=catalog.basic_monthly)
    assert f'name="price-{base.pk}"' not in html and GRAPH in html
    forged = client.post(
        url(catalog.subscription, "confirm"), {f"price-{base.pk}": catalog.premium_monthly.pk, "version": "x"}
    )
    assert forged.status_code == 400 and GRAPH in text(forged)
    assert base.__class__.objects.get(pk=base.pk).price_id == catalog.basic_monthly.pk
