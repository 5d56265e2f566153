"""Changing a plan in the portal: who may, what is offered, the preview (a dry run of the very change) against what is
then charged, the configuration's proration, downgrade and trial rules, the two deep links, and a Confirm sent twice."""

import datetime as dt
import threading
from html import unescape

import pytest
import time_machine
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from billing.audit import Actor
from billing.models import AuditEntry, Event, Invoice, Price, PromotionCode, Subscription
from billing.services.coupons import coupon_create
from billing.services.subscriptions import ItemSpec, subscription_create, subscription_version
from configurations.models import PortalConfiguration
from tests.billing.helpers import run_cycle, subscribed
from tests.factories.billing import CustomerFactory, PriceFactory, ProductFactory, card
from tests.factories.portal import RETURN_URL, full_configuration, open_portal
from tests.portal.leaving import left_for

ACTOR = Actor.system("test")
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
MIDWAY = T0 + dt.timedelta(days=15, hours=12)  # half of March's 31 days
PERIOD_END = dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(MIDWAY, tick=False):
        yield


def configure(account, prices, *, adjustable=None, **update):
    """A portal whose plan changes offer ``prices`` (always_invoice unless ``update`` says otherwise)."""
    by_product: dict[str, list[str]] = {}
    for price in prices:
        by_product.setdefault(price.product_id, []).append(price.id)
    products = []
    for product, ids in by_product.items():
        entry = {"product": product, "prices": ids}
        if adjustable and product in adjustable:
            entry["adjustable_quantity"] = adjustable[product]
        products.append(entry)
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


class Catalog:
    """Basic (€10 a month, the subscription's plan, or €100 a year) and Premium (€20 a month or €200 a year)."""

    def __init__(self, subscription: Subscription):
        self.subscription = subscription
        self.customer = subscription.customer
        account = subscription.account
        self.basic_monthly = subscription.items.get().price
        product = self.basic_monthly.product
        product.name = "Basic"
        product.save()
        self.basic_yearly = PriceFactory(account=account, product=product, unit_amount=10000, recurring_interval="year")
        premium = ProductFactory(account=account, name="Premium")
        self.premium_monthly = PriceFactory(account=account, product=premium, unit_amount=2000)
        self.premium_yearly = PriceFactory(
            account=account, product=premium, unit_amount=20000, recurring_interval="year"
        )
        self.premium_usd = PriceFactory(account=account, product=premium, unit_amount=2200, currency="usd")

    @property
    def prices(self) -> list[Price]:
        return [self.basic_monthly, self.basic_yearly, self.premium_monthly, self.premium_yearly]


@pytest.fixture
def catalog(db) -> Catalog:
    return Catalog(subscribed(T0, amount=1000))


def text(response) -> str:
    """The page as a reader sees it (entities such as &#x27; decoded)."""
    return unescape(response.content.decode())


def url(subscription, step="") -> str:
    return f"/p/subscriptions/{subscription.id}/update" + (f"/{step}" if step else "")


def preview(client, subscription, **choice):
    return client.get(url(subscription, "confirm"), choice)


def confirm(client, subscription, **choice):
    """Open the preview and press Confirm, as a browser would (the form carries the preview's version)."""
    page = preview(client, subscription, **choice)
    assert page.status_code == 200, text(page)
    data = {key: value for key, value in choice.items() if value is not None}
    return client.post(url(subscription, "confirm"), {**data, "version": page.context["version"]}), page


# ---------------------------------------------------------------------------------------------- eligibility


def test_overview_offers_update_plan(catalog):
    configure(catalog.subscription.account, catalog.prices)
    html = text(open_portal(catalog.customer).get("/p/"))
    assert f'href="{url(catalog.subscription)}"' in html and "Update plan" in html


def _several_items(catalog):
    extra = PriceFactory(account=catalog.subscription.account, product__account=catalog.subscription.account)
    with time_machine.travel(T0, tick=False):
        return subscription_create(
            customer=catalog.customer, items=[ItemSpec(catalog.basic_monthly), ItemSpec(extra)], actor=ACTOR
        )


def _metered(catalog):
    account = catalog.subscription.account
    price = PriceFactory(account=account, product__account=account, recurring_usage_type="metered")
    with time_machine.travel(T0, tick=False):
        return subscription_create(customer=catalog.customer, items=[ItemSpec(price, 0)], actor=ACTOR)


def _send_invoice(catalog):
    with time_machine.travel(T0, tick=False):
        return subscription_create(
            customer=catalog.customer,
            items=[ItemSpec(catalog.basic_monthly)],
            actor=ACTOR,
            collection_method="send_invoice",
            days_until_due=30,
        )


def _outside_configuration(catalog):
    account = catalog.subscription.account
    price = PriceFactory(account=account, product__account=account, unit_amount=700)
    with time_machine.travel(T0, tick=False):
        return subscription_create(customer=catalog.customer, items=[ItemSpec(price)], actor=ACTOR)


def _unspecified_tax(catalog):
    catalog.basic_monthly.tax_behavior = "unspecified"
    catalog.basic_monthly.save()
    return catalog.subscription


@pytest.mark.parametrize(
    ("build", "sentence"),
    [
        (_several_items, "This subscription has several products, so it can only be canceled here."),
        (_metered, "This plan is billed by usage, so it can only be canceled here."),
        (_send_invoice, "This subscription is paid by invoice, so it can only be canceled here."),
        (_outside_configuration, "This plan can't be changed here. Contact Merchant"),
        (_unspecified_tax, "This plan can't be changed here. Contact Merchant"),
    ],
)
def test_ineligible_subscriptions_say_why(catalog, build, sentence):
    configure(catalog.subscription.account, catalog.prices)
    subscription = build(catalog)
    client = open_portal(catalog.customer)
    overview = text(client.get("/p/"))
    assert sentence in overview
    page = client.get(url(subscription))
    assert page.status_code == 200
    html = text(page)
    assert sentence in html
    assert 'name="price"' not in html and "Continue" not in html
    assert preview(client, subscription, price=catalog.premium_monthly.id).status_code == 409


def test_a_price_without_an_alternative_of_the_same_tax_behavior_cannot_change(catalog):
    inclusive = PriceFactory(
        account=catalog.subscription.account, product=catalog.premium_monthly.product, tax_behavior="inclusive"
    )
    configure(catalog.subscription.account, [catalog.basic_monthly, inclusive], default_allowed_updates=["price"])
    html = text(open_portal(catalog.customer).get(url(catalog.subscription)))
    assert "This plan can't be changed here." in html


def test_without_cancel_the_sentence_does_not_promise_it(catalog):
    configure(catalog.subscription.account, catalog.prices)
    PortalConfiguration.objects.filter(account=catalog.subscription.account).update(subscription_cancel_enabled=False)
    subscription = _several_items(catalog)
    html = text(open_portal(catalog.customer).get(url(subscription)))
    assert "This subscription has several products, so its plan can't be changed here." in html


def test_someone_elses_subscription_is_not_found(catalog):
    configure(catalog.subscription.account, catalog.prices)
    other = CustomerFactory(account=catalog.subscription.account)
    card(other)
    with time_machine.travel(T0, tick=False):
        theirs = subscription_create(customer=other, items=[ItemSpec(catalog.basic_monthly)], actor=ACTOR)
    client = open_portal(catalog.customer)
    assert client.get(url(theirs)).status_code == 404
    assert preview(client, theirs, price=catalog.premium_monthly.id).status_code == 404
    response = client.post(url(theirs, "confirm"), {"price": catalog.premium_monthly.id, "version": "x"})
    assert response.status_code == 404
    assert client.get(url(catalog.subscription).replace(catalog.subscription.id, "sub_nope")).status_code == 404


def test_pages_need_the_feature(catalog):
    full_configuration(catalog.subscription.account)  # no subscription_update
    client = open_portal(catalog.customer)
    assert client.get(url(catalog.subscription)).status_code == 404
    assert preview(client, catalog.subscription, price=catalog.premium_monthly.id).status_code == 404
    assert "Update plan" not in text(client.get("/p/"))


# ---------------------------------------------------------------------------------------------- the picker


def test_picker_offers_the_configured_prices_in_the_subscription_currency(catalog):
    configure(catalog.subscription.account, [*catalog.prices, catalog.premium_usd])
    response = open_portal(catalog.customer).get(url(catalog.subscription))
    html = text(response)
    for price in catalog.prices:
        assert f'value="{price.id}"' in html
    assert catalog.premium_usd.id not in html
    assert f'value="{catalog.basic_monthly.id}" id="price-{catalog.basic_monthly.id}" checked' in html
    # The interval switch: a radio group, monthly chosen (the current plan's interval).
    assert 'name="interval" value="month"' in html and 'name="interval" value="year"' in html
    assert "Monthly" in html and "Yearly" in html
    assert "€200.00 per year" in html and "Current plan" in html
    assert html.count('name="quantity"') == 1


def test_without_a_yearly_price_there_is_no_interval_switch(catalog):
    configure(catalog.subscription.account, [catalog.basic_monthly, catalog.premium_monthly])
    html = text(open_portal(catalog.customer).get(url(catalog.subscription)))
    assert 'name="interval"' not in html


def test_continue_with_nothing_changed_asks_for_a_change(catalog):
    configure(catalog.subscription.account, catalog.prices)
    response = preview(open_portal(catalog.customer), catalog.subscription, price=catalog.basic_monthly.id, quantity=1)
    assert response.status_code == 400
    assert "Choose a different plan or quantity." in text(response)


def test_a_price_from_the_other_interval_than_the_one_chosen_is_refused(catalog):
    configure(catalog.subscription.account, catalog.prices)
    response = preview(
        open_portal(catalog.customer), catalog.subscription, price=catalog.premium_yearly.id, interval="month"
    )
    assert response.status_code == 400
    assert "Choose a plan with the billing interval you selected." in text(response)


def test_quantity_limits_of_the_product(catalog):
    premium = catalog.premium_monthly.product_id
    configure(
        catalog.subscription.account,
        catalog.prices,
        default_allowed_updates=["price"],
        adjustable={premium: {"enabled": True, "minimum": 2, "maximum": 5}},
    )
    client = open_portal(catalog.customer)
    too_many = preview(client, catalog.subscription, price=catalog.premium_monthly.id, quantity=6)
    assert too_many.status_code == 400
    html = text(too_many)
    assert "Premium allows a quantity of at most 5." in html
    assert 'aria-invalid="true"' in html and 'aria-describedby="id_quantity_helptext id_quantity_error"' in html
    too_few = preview(client, catalog.subscription, price=catalog.premium_monthly.id, quantity=1)
    assert "Premium needs a quantity of at least 2." in text(too_few)
    # Basic's quantity is not adjustable here.
    basic = preview(client, catalog.subscription, price=catalog.basic_yearly.id, quantity=3)
    assert "The quantity of Basic can't be changed here." in text(basic)
    response, page = confirm(client, catalog.subscription, price=catalog.premium_monthly.id, quantity=4)
    assert response.status_code == 303
    item = catalog.subscription.items.get()
    assert (item.price_id, item.quantity) == (catalog.premium_monthly.id, 4)


def test_quantity_limits_in_german(catalog):
    premium = catalog.premium_monthly.product_id
    configure(catalog.subscription.account, catalog.prices, adjustable={premium: {"enabled": True, "maximum": 5}})
    response = preview(
        open_portal(catalog.customer, locale="de"), catalog.subscription, price=catalog.premium_monthly.id, quantity=9
    )
    assert "Premium erlaubt höchstens die Menge 5." in text(response)


# ---------------------------------------------------------------------------------------------- preview == charge


def test_upgrade_preview_equals_the_invoice_and_the_next_renewal(catalog):
    configure(catalog.subscription.account, catalog.prices)
    client = open_portal(catalog.customer)
    response, page = confirm(client, catalog.subscription, price=catalog.premium_monthly.id, quantity=2)
    shown = page.context["preview"]
    assert response.status_code == 303 and response["Location"] == "/p/"
    invoice = catalog.subscription.invoices.get(billing_reason="subscription_update")
    assert invoice.status == Invoice.Status.PAID
    assert shown.due_now == invoice.amount_paid == 2000 - 500  # half a month of 2 × €20.00 less half of €10.00
    assert [line.amount for line in shown.due_now_lines] == [line.amount for line in invoice.lines.order_by("id")]
    html = text(page)
    assert "Unused time on Basic" in html and "Remaining time on Premium" in html
    assert "€15.00" in html and "Due today" in html
    assert "We'll charge Visa •••• 4242 when you confirm." in html
    follow = text(client.get("/p/"))
    assert "Your plan has been updated." in follow
    assert "€40.00 on April 1, 2026" in follow
    run_cycle(PERIOD_END)
    renewal = catalog.subscription.invoices.get(billing_reason="subscription_cycle")
    assert shown.next_invoice_at == PERIOD_END and shown.next_invoice_total == renewal.total == 4000


def _odd_plan(at, amount, **price):
    """A subscription created at ``at`` on a price of ``amount`` and a configuration that offers ``price`` too."""
    subscription = subscribed(at, amount=amount)
    account = subscription.account
    current = subscription.items.get().price
    other = PriceFactory(account=account, product__account=account, product__name="Other", **price)
    return subscription, current, other


@pytest.mark.parametrize(
    ("case", "start", "amount", "price", "choice", "at"),
    [
        ("upgrade", T0, 1234, {"unit_amount": 4321}, {}, T0 + dt.timedelta(days=9, hours=5, seconds=7)),
        ("downgrade", T0, 4321, {"unit_amount": 1234}, {}, T0 + dt.timedelta(days=9, hours=5, seconds=7)),
        (
            "interval",
            T0,
            1234,
            {"unit_amount": 12345, "recurring_interval": "year"},
            {},
            T0 + dt.timedelta(days=20, seconds=3),
        ),
        ("quantity", T0, 1234, None, {"quantity": 3}, T0 + dt.timedelta(days=3, minutes=7)),
        (
            "month_end",
            dt.datetime(2026, 1, 31, 10, 0, tzinfo=dt.UTC),
            999,
            {"unit_amount": 2999},
            {},
            dt.datetime(2026, 2, 13, 17, 45, 11, tzinfo=dt.UTC),
        ),
    ],
)
def test_the_preview_is_what_is_charged_to_the_minor_unit(db, case, start, amount, price, choice, at):
    with time_machine.travel(start, tick=False):
        subscription, current, other = _odd_plan(start, amount, **(price or {"unit_amount": 1}))
        configure(subscription.account, [current, other])
    chosen = current if price is None else other
    with time_machine.travel(at, tick=False):
        response, page = confirm(open_portal(subscription.customer), subscription, price=chosen.id, **choice)
    assert response.status_code == 303
    shown = page.context["preview"]
    invoice = subscription.invoices.get(billing_reason="subscription_update")
    assert shown.due_now_total == invoice.total and shown.due_now == invoice.amount_due == invoice.amount_paid
    assert [(line.amount, line.kind) for line in shown.due_now_lines] == [
        (line.amount, "unused" if line.amount < 0 else "remaining" if line.proration else "item")
        for line in invoice.lines.order_by("id")
    ]
    if case == "downgrade":
        subscription.customer.refresh_from_db()
        assert shown.due_now == 0 and shown.due_now_credit == -invoice.total == -subscription.customer.balance > 0
    subscription.refresh_from_db()
    assert shown.next_invoice_at == subscription.current_period_end
    run_cycle(subscription.current_period_end)
    renewal = subscription.invoices.get(billing_reason="subscription_cycle")
    assert shown.next_invoice_total == renewal.total


def test_billing_cycle_anchor_now_restarts_the_period(catalog):
    configure(catalog.subscription.account, catalog.prices, billing_cycle_anchor="now")
    response, page = confirm(open_portal(catalog.customer), catalog.subscription, price=catalog.premium_monthly.id)
    catalog.subscription.refresh_from_db()
    assert catalog.subscription.current_period_start == MIDWAY
    invoice = catalog.subscription.invoices.get(billing_reason="subscription_update")
    assert page.context["preview"].due_now == invoice.amount_paid == 2000 - 500


def test_interval_switch_to_yearly_charges_the_year_less_the_unused_month(catalog):
    configure(catalog.subscription.account, catalog.prices)
    response, page = confirm(open_portal(catalog.customer), catalog.subscription, price=catalog.basic_yearly.id)
    shown = page.context["preview"]
    invoice = catalog.subscription.invoices.get(billing_reason="subscription_update")
    assert shown.due_now == invoice.amount_paid == 10000 - 500
    catalog.subscription.refresh_from_db()
    assert catalog.subscription.current_period_end == MIDWAY.replace(year=2027)
    assert shown.next_invoice_at == catalog.subscription.current_period_end
    assert shown.next_invoice_total == 10000


def test_create_prorations_puts_the_adjustment_on_the_next_invoice(catalog):
    configure(catalog.subscription.account, catalog.prices, proration_behavior="create_prorations")
    response, page = confirm(open_portal(catalog.customer), catalog.subscription, price=catalog.premium_monthly.id)
    shown = page.context["preview"]
    assert shown.due_now == 0 and not shown.invoiced_now
    assert sorted(line.amount for line in shown.proration_lines) == [-500, 1000]
    assert "added to your next invoice" in text(page)
    assert not catalog.subscription.invoices.filter(billing_reason="subscription_update").exists()
    run_cycle(PERIOD_END)
    renewal = catalog.subscription.invoices.get(billing_reason="subscription_cycle")
    assert shown.next_invoice_total == renewal.total == 2000 + 500


def test_proration_none_shows_no_adjustments_and_charges_nothing_now(catalog):
    configure(catalog.subscription.account, catalog.prices, proration_behavior="none")
    response, page = confirm(open_portal(catalog.customer), catalog.subscription, price=catalog.premium_monthly.id)
    shown = page.context["preview"]
    assert shown.due_now == 0 and shown.proration_lines == [] and shown.due_now_lines == []
    html = text(page)
    assert "Unused time" not in html and "The new price applies from your next invoice." in html
    assert catalog.subscription.invoices.count() == 1
    run_cycle(PERIOD_END)
    assert catalog.subscription.invoices.get(billing_reason="subscription_cycle").total == 2000


def test_a_promotion_code_discounts_the_change(catalog):
    account = catalog.subscription.account
    coupon = coupon_create(account=account, livemode=False, actor=ACTOR, percent_off=50, duration="forever")
    PromotionCode.objects.create(account=account, livemode=False, coupon=coupon, code="HALF")
    configure(account, catalog.prices, default_allowed_updates=["price", "quantity", "promotion_code"])
    client = open_portal(catalog.customer)
    assert 'name="promotion_code"' in text(client.get(url(catalog.subscription)))
    wrong = preview(client, catalog.subscription, price=catalog.premium_monthly.id, promotion_code="NOPE")
    assert "This promotion code isn't valid." in text(wrong)
    response, page = confirm(
        client, catalog.subscription, price=catalog.premium_monthly.id, quantity=2, promotion_code="half"
    )
    shown = page.context["preview"]
    invoice = catalog.subscription.invoices.get(billing_reason="subscription_update")
    assert shown.due_now == invoice.amount_paid == 500  # −€5.00 credit, +€20.00 at half price
    assert shown.due_now_discount == 1000
    assert shown.next_invoice_total == 2000
    assert catalog.subscription.discounts.get().coupon == coupon


def test_a_declined_card_changes_nothing(catalog):
    configure(catalog.subscription.account, catalog.prices)
    declining = card(catalog.customer, "4000000000000341")  # attaches, fails when charged
    catalog.customer.refresh_from_db()
    assert declining.pk == catalog.customer.default_payment_method_id
    client = open_portal(catalog.customer)
    response, _page = confirm(client, catalog.subscription, price=catalog.premium_monthly.id)
    assert response.status_code == 400
    assert "Your card was declined." in text(response)
    assert "Your plan has not been changed." in text(response)
    assert catalog.subscription.items.get().price_id == catalog.basic_monthly.id
    assert not catalog.subscription.invoices.filter(billing_reason="subscription_update").exists()


# ---------------------------------------------------------------------------------------------- downgrades at period end


def test_a_downgrade_waits_for_the_period_end(catalog):
    account = catalog.subscription.account
    configure(account, catalog.prices, schedule_at_period_end={"conditions": [{"type": "decreasing_item_amount"}]})
    client = open_portal(catalog.customer)
    confirm(client, catalog.subscription, price=catalog.premium_monthly.id)  # an upgrade applies now
    response, page = confirm(client, catalog.subscription, price=catalog.basic_monthly.id)
    shown = page.context["preview"]
    assert shown.scheduled_at == PERIOD_END and shown.due_now == 0 and shown.proration_lines == []
    assert shown.next_invoice_total == 1000
    assert "Your plan changes to Basic on April 1, 2026." in text(page)
    follow = client.get("/p/")
    html = text(follow)
    assert "Your plan will change on April 1, 2026." in html
    assert "Your plan changes to Basic on April 1, 2026." in html and "€10.00 on April 1, 2026" in html
    catalog.subscription.refresh_from_db()
    assert catalog.subscription.items.get().price_id == catalog.premium_monthly.id
    assert catalog.subscription.scheduled_change
    run_cycle(PERIOD_END)
    catalog.subscription.refresh_from_db()
    assert catalog.subscription.items.get().price_id == catalog.basic_monthly.id
    assert catalog.subscription.scheduled_change is None
    assert catalog.subscription.invoices.get(billing_reason="subscription_cycle").total == 1000
    renewal = Event.objects.get(type="customer.subscription.updated", created=PERIOD_END)
    assert renewal.previous_attributes["items"]["data"][0]["price"]["id"] == catalog.premium_monthly.id
    assert renewal.data_object["items"]["data"][0]["price"]["id"] == catalog.basic_monthly.id


def test_a_shorter_interval_waits_for_the_period_end(catalog):
    configure(
        catalog.subscription.account,
        catalog.prices,
        schedule_at_period_end={"conditions": [{"type": "shortening_interval"}]},
    )
    client = open_portal(catalog.customer)
    confirm(client, catalog.subscription, price=catalog.premium_yearly.id)
    catalog.subscription.refresh_from_db()
    year_end = catalog.subscription.current_period_end
    response, page = confirm(client, catalog.subscription, price=catalog.premium_monthly.id)
    assert page.context["preview"].scheduled_at == year_end
    run_cycle(year_end)
    catalog.subscription.refresh_from_db()
    assert catalog.subscription.items.get().price_id == catalog.premium_monthly.id
    assert catalog.subscription.current_period_start == year_end
    assert catalog.subscription.current_period_end == year_end.replace(month=year_end.month + 1)
    assert catalog.subscription.invoices.get(billing_reason="subscription_cycle").total == 2000


def test_keep_the_current_plan_instead_of_the_scheduled_one(catalog):
    configure(
        catalog.subscription.account,
        catalog.prices,
        schedule_at_period_end={"conditions": [{"type": "decreasing_item_amount"}]},
    )
    client = open_portal(catalog.customer)
    confirm(client, catalog.subscription, price=catalog.premium_monthly.id)
    confirm(client, catalog.subscription, price=catalog.basic_monthly.id)
    page = text(client.get(url(catalog.subscription)))
    assert "Keep my current plan" in page and 'name="price"' not in page
    response = client.post(url(catalog.subscription))
    assert response.status_code == 303
    catalog.subscription.refresh_from_db()
    assert catalog.subscription.scheduled_change is None
    assert "You keep your current plan." in text(client.get("/p/"))
    run_cycle(PERIOD_END)
    assert catalog.subscription.invoices.get(billing_reason="subscription_cycle").total == 2000


# ---------------------------------------------------------------------------------------------- trials


@pytest.fixture
def trial(db) -> Catalog:
    return Catalog(subscribed(T0, amount=1000, trial_period_days=30))


def test_a_change_ends_the_trial_and_invoices_the_new_plan(trial):
    configure(trial.subscription.account, trial.prices)
    response, page = confirm(open_portal(trial.customer), trial.subscription, price=trial.premium_monthly.id)
    shown = page.context["preview"]
    assert shown.trial_ended and "ends your free trial today" in text(page)
    trial.subscription.refresh_from_db()
    assert trial.subscription.status == Subscription.Status.ACTIVE and trial.subscription.trial_end == MIDWAY
    invoice = trial.subscription.invoices.get(billing_reason="subscription_update")
    assert shown.due_now == invoice.amount_paid == 2000


def test_continue_trial_keeps_the_trial_with_the_new_plan(trial):
    configure(trial.subscription.account, trial.prices, trial_update_behavior="continue_trial")
    response, page = confirm(open_portal(trial.customer), trial.subscription, price=trial.premium_monthly.id)
    assert page.context["preview"].due_now == 0
    trial.subscription.refresh_from_db()
    assert trial.subscription.status == Subscription.Status.TRIALING
    assert trial.subscription.items.get().price_id == trial.premium_monthly.id
    assert not trial.subscription.invoices.filter(billing_reason="subscription_update").exists()


# ---------------------------------------------------------------------------------------------- events and audit


def test_the_change_is_an_event_with_previous_attributes_and_an_audit_entry(catalog):
    configure(catalog.subscription.account, catalog.prices)
    before = Event.objects.filter(type="customer.subscription.updated").count()
    confirm(open_portal(catalog.customer), catalog.subscription, price=catalog.premium_monthly.id)
    events = Event.objects.filter(type="customer.subscription.updated").order_by("created", "id")
    assert events.count() == before + 1
    event = events.last()
    assert event.previous_attributes["items"]["data"][0]["price"]["id"] == catalog.basic_monthly.id
    assert event.data_object["items"]["data"][0]["price"]["id"] == catalog.premium_monthly.id
    entry = AuditEntry.objects.get(action="subscription.change_items")
    assert (entry.actor_type, entry.actor_id) == ("customer", catalog.customer.id)


# ---------------------------------------------------------------------------------------------- htmx and German


def test_htmx_gets_the_summary_alone(catalog):
    configure(catalog.subscription.account, catalog.prices)
    client = open_portal(catalog.customer)
    response = client.get(
        url(catalog.subscription, "confirm"), {"price": catalog.premium_monthly.id}, HTTP_HX_REQUEST="true"
    )
    html = text(response)
    assert response.status_code == 200 and "<html" not in html
    assert "Due today" in html and "€5.00" in html
    assert "HX-Request" in response["Vary"]
    unchanged = client.get(
        url(catalog.subscription, "confirm"), {"price": catalog.basic_monthly.id}, HTTP_HX_REQUEST="true"
    )
    assert "Choose a different plan or quantity." in text(unchanged)


def test_preview_in_german(catalog):
    configure(catalog.subscription.account, catalog.prices)
    client = open_portal(catalog.customer, locale="de")
    html = text(preview(client, catalog.subscription, price=catalog.premium_monthly.id))
    assert "Neuen Tarif bestätigen" in html
    assert "Heute fällig" in html and "5,00\xa0€" in html
    assert "Nicht genutzte Zeit für Basic" in html and "Verbleibende Zeit für Premium" in html
    assert "Nächste Rechnung" in html and "20,00\xa0€ am 1. April 2026" in html
    picker = text(client.get(url(catalog.subscription)))
    assert "Tarif ändern" in picker and "Monatlich" in picker and "Jährlich" in picker


# ---------------------------------------------------------------------------------------------- deep links


def _flow(catalog, kind, after, **body):
    data = {"type": kind, "after_completion": after, kind: {"subscription": catalog.subscription.id, **body}}
    return open_portal(catalog.customer, flow_data=data)


@pytest.mark.parametrize(
    ("after", "exit_url"),
    [
        ({"type": "hosted_confirmation"}, "/p/done"),
        (
            {"type": "redirect", "redirect": {"return_url": "https://merchant.example/thanks"}},
            "https://merchant.example/thanks",
        ),
        ({"type": "portal_homepage"}, "/p/"),
    ],
)
def test_subscription_update_link_ends_where_after_completion_says(catalog, after, exit_url):
    configure(catalog.subscription.account, catalog.prices)
    client = _flow(catalog, "subscription_update", after)
    entry = client.get("/p/")
    assert entry.status_code == 302 and entry["Location"] == url(catalog.subscription)
    page = text(client.get(url(catalog.subscription)))
    assert "Back to overview" not in page and f'href="{RETURN_URL}"' in page
    response, _page = confirm(client, catalog.subscription, price=catalog.premium_monthly.id)
    if exit_url.startswith("https://"):
        assert left_for(client, response) == exit_url  # by the continue page (CSP form-action 'self')
    else:
        assert response.status_code == 303 and response["Location"] == exit_url
    assert catalog.subscription.items.get().price_id == catalog.premium_monthly.id
    if exit_url == "/p/done":
        assert "All done" in text(client.get(exit_url))
        assert client.get(url(catalog.subscription))["Location"] == "/p/done"


def test_subscription_update_confirm_link_opens_the_chosen_change(catalog):
    configure(catalog.subscription.account, catalog.prices)
    item = catalog.subscription.items.get()
    client = _flow(
        catalog,
        "subscription_update_confirm",
        {"type": "hosted_confirmation"},
        items=[{"id": item.id, "price": catalog.premium_yearly.id}],
    )
    assert client.get("/p/")["Location"] == url(catalog.subscription, "confirm")
    assert client.get(url(catalog.subscription))["Location"] == url(catalog.subscription, "confirm")
    page = client.get(url(catalog.subscription, "confirm"))
    html = text(page)
    assert page.status_code == 200 and "Premium" in html and "Choose another plan" not in html
    shown = page.context["preview"]
    # The link's choice wins over anything posted.
    response = client.post(
        url(catalog.subscription, "confirm"), {"price": catalog.basic_yearly.id, "version": page.context["version"]}
    )
    assert response.status_code == 303 and response["Location"] == "/p/done"
    assert catalog.subscription.items.get().price_id == catalog.premium_yearly.id
    invoice = catalog.subscription.invoices.get(billing_reason="subscription_update")
    assert shown.due_now == invoice.amount_paid == 20000 - 500


def test_subscription_update_confirm_link_with_a_coupon(catalog):
    account = catalog.subscription.account
    coupon_create(account=account, livemode=False, actor=ACTOR, coupon_id="WELCOME", percent_off=10, duration="once")
    configure(account, catalog.prices)
    item = catalog.subscription.items.get()
    client = _flow(
        catalog,
        "subscription_update_confirm",
        {"type": "portal_homepage"},
        items=[{"id": item.id, "price": catalog.premium_monthly.id, "quantity": 2}],
        discounts=[{"coupon": "WELCOME"}],
    )
    response, page = confirm(client, catalog.subscription)
    assert response["Location"] == "/p/"
    invoice = catalog.subscription.invoices.get(billing_reason="subscription_update")
    assert page.context["preview"].due_now == invoice.amount_paid == 1300  # −€5.00, +€20.00 less 10 %


def test_a_confirm_link_that_changes_nothing_says_so(catalog):
    configure(catalog.subscription.account, catalog.prices)
    item = catalog.subscription.items.get()
    client = _flow(
        catalog,
        "subscription_update_confirm",
        {"type": "hosted_confirmation"},
        items=[{"id": item.id, "price": catalog.basic_monthly.id}],
    )
    response = client.get(url(catalog.subscription, "confirm"))
    assert response.status_code == 400
    page = text(response)
    assert "Choose a different plan or quantity." in page and "Confirm</button>" not in page
    assert f'href="{RETURN_URL}"' in page


def test_a_flow_for_one_subscription_keeps_to_it(catalog):
    configure(catalog.subscription.account, catalog.prices)
    other = _send_invoice(catalog)
    client = _flow(catalog, "subscription_update", {"type": "portal_homepage"})
    assert client.get(url(other))["Location"] == url(catalog.subscription)


# ---------------------------------------------------------------------------------------------- query counts


def _products(account, count):
    return [
        PriceFactory(account=account, product__account=account, product__name=f"Plan {i}", unit_amount=1000 + i)
        for i in range(count)
    ]


def test_queries_do_not_grow_with_the_configured_products(catalog, django_assert_max_num_queries):
    configure(catalog.subscription.account, catalog.prices)
    client = open_portal(catalog.customer)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url(catalog.subscription)).status_code == 200
    picker = len(captured)  # counted now: the log empties when the next request starts
    with CaptureQueriesContext(connection) as captured:
        assert preview(client, catalog.subscription, price=catalog.premium_monthly.id).status_code == 200
    dry_run = len(captured)
    many = Catalog(subscribed(T0, amount=1000))
    configure(many.subscription.account, [*many.prices, *_products(many.subscription.account, 8)])
    client = open_portal(many.customer)
    with django_assert_max_num_queries(picker):
        assert client.get(url(many.subscription)).status_code == 200
    with django_assert_max_num_queries(dry_run):
        assert preview(client, many.subscription, price=many.premium_monthly.id).status_code == 200


def test_the_overview_asks_no_more_with_more_invoices(catalog, django_assert_max_num_queries):
    configure(catalog.subscription.account, catalog.prices)
    client = open_portal(catalog.customer)
    with CaptureQueriesContext(connection) as captured:
        assert "Update plan" in text(client.get("/p/"))
    first = len(captured)
    for month in (4, 5, 6):
        run_cycle(dt.datetime(2026, month, 1, 9, 0, tzinfo=dt.UTC))
    with time_machine.travel(dt.datetime(2026, 6, 2, tzinfo=dt.UTC), tick=False):
        client = open_portal(catalog.customer)
        with django_assert_max_num_queries(first):
            assert "Update plan" in text(client.get("/p/"))


# ---------------------------------------------------------------------------------------------- sent twice


def test_confirm_sent_twice_changes_the_plan_once(catalog):
    configure(catalog.subscription.account, catalog.prices)
    client = open_portal(catalog.customer)
    page = preview(client, catalog.subscription, price=catalog.premium_monthly.id)
    form = {"price": catalog.premium_monthly.id, "version": page.context["version"]}
    first = client.post(url(catalog.subscription, "confirm"), form)
    second = client.post(url(catalog.subscription, "confirm"), form)
    assert first.status_code == second.status_code == 303
    assert catalog.subscription.invoices.filter(billing_reason="subscription_update").count() == 1
    assert AuditEntry.objects.filter(action="subscription.change_items").count() == 1


def test_confirm_after_another_change_asks_to_look_again(catalog):
    configure(catalog.subscription.account, catalog.prices)
    client = open_portal(catalog.customer)
    page = preview(client, catalog.subscription, price=catalog.premium_yearly.id)
    confirm(client, catalog.subscription, price=catalog.premium_monthly.id)
    response = client.post(
        url(catalog.subscription, "confirm"), {"price": catalog.premium_yearly.id, "version": page.context["version"]}
    )
    assert response.status_code == 400
    assert "Your subscription changed in the meantime." in text(response)
    assert catalog.subscription.items.get().price_id == catalog.premium_monthly.id


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_confirms_change_the_plan_once():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises every write, so there is no race to test")
    with time_machine.travel(MIDWAY, tick=True):
        catalog = Catalog(subscribed(T0, amount=1000))
        configure(catalog.subscription.account, catalog.prices)
        client = open_portal(catalog.customer)
        page = preview(client, catalog.subscription, price=catalog.premium_monthly.id)
        form = {"price": catalog.premium_monthly.id, "version": page.context["version"]}
        cookies = client.cookies
        barrier = threading.Barrier(2)
        statuses: list[int] = []

        def press_confirm():
            browser = Client()
            browser.cookies = cookies
            try:
                barrier.wait(timeout=10)
                statuses.append(browser.post(url(catalog.subscription, "confirm"), form).status_code)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=press_confirm) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert statuses == [303, 303]
    assert catalog.subscription.invoices.filter(billing_reason="subscription_update").count() == 1
    catalog.subscription.refresh_from_db()
    assert subscription_version(catalog.subscription) != page.context["version"]
