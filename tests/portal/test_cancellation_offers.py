"""The cancellation offer ladder in the portal: offers in order after the first click on "Cancel subscription", each
at most once per subscription, limited by customer group and reason, accepted through the portal's own services,
and every decision recorded (outcome rows, the subscription's ``retention``, events, audit log)."""

import datetime as dt
import re

import pytest
import time_machine

from billing.audit import Actor
from billing.models import AuditEntry, CancellationOfferOutcome, Discount, Event, Subscription
from billing.services.coupons import coupon_create
from tests.billing.helpers import subscribed
from tests.factories.billing import PriceFactory, ProductFactory
from tests.factories.portal import full_configuration, open_portal

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(days=10)
REASONS = ["too_expensive", "missing_features", "unused", "other"]
STATE = re.compile(r'name="state" value="([0-9a-f]+)"')
OFFER = re.compile(r'name="offer" value="([a-z_0-9A-Z]+)"')


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def subscription(db):
    return subscribed(T0, amount=3100)


@pytest.fixture
def lite(subscription):
    product = ProductFactory(account=subscription.account, name="Lite")
    return PriceFactory(account=subscription.account, product=product, unit_amount=1500)


def make_coupon(account, coupon_id="STAY20"):
    return coupon_create(
        account=account,
        livemode=False,
        actor=Actor.system("test"),
        coupon_id=coupon_id,
        name="Loyalty",
        percent_off=20,
        duration="repeating",
        duration_in_months=3,
    )


def ladder(subscription, lite, offers=None, **cancel):
    """The three offers: pause 30 days, the cheaper Lite price, 20% off for 3 months."""
    make_coupon(subscription.account)
    current = subscription.items.get().price
    offers = offers or [
        {"type": "pause", "days": 30},
        {"type": "switch", "price": lite.pk},
        {"type": "coupon", "coupon": "STAY20"},
    ]
    features = {
        "subscription_cancel": {
            "enabled": True,
            "mode": "at_period_end",
            "cancellation_reason": {"enabled": True, "options": REASONS},
            "offers": offers,
            **cancel,
        }
    }
    return full_configuration(subscription.account, prices=[current, lite], features=features)


def url(subscription) -> str:
    return f"/p/subscriptions/{subscription.pk}/cancel"


def start(client, subscription, **data):
    """The cancel page's form, sent as the customer fills it in."""
    page = client.get(url(subscription))
    assert page.status_code == 200
    return client.post(url(subscription), {"state": STATE.search(page.content.decode()).group(1), **data})


def step(client, subscription, response, action, **data):
    """A button of an offer step."""
    html = response.content.decode()
    posted = {
        "state": STATE.search(html).group(1),
        "offer": OFFER.search(html).group(1),
        "action": action,
        "feedback": data.pop("feedback", ""),
        "comment": data.pop("comment", ""),
    }
    return client.post(url(subscription), {**posted, **data})


def offer_type(response) -> str:
    return re.search(r'data-offer-type="(\w+)"', response.content.decode()).group(1)


def test_the_first_cancel_click_shows_the_first_offer_with_the_cancel_button_beside_it(subscription, lite):
    ladder(subscription, lite)
    client = open_portal(subscription.customer)
    response = start(client, subscription, feedback="too_expensive")
    assert response.status_code == 200
    html = response.content.decode()
    assert offer_type(response) == "pause"
    assert "Pause your payments for 30 days instead" in html
    assert 'value="cancel"' in html and "Cancel subscription" in html
    assert 'value="decline_ladder_offer"' in html and 'value="accept_ladder_offer"' in html
    subscription.refresh_from_db()
    assert not subscription.cancel_at_period_end


def test_decline_the_pause_accept_the_coupon_keeps_the_subscription_with_the_discount(subscription, lite):
    configuration = ladder(subscription, lite)
    offers = list(configuration.cancellation_offers.order_by("position"))
    client = open_portal(subscription.customer)
    first = start(client, subscription, feedback="too_expensive")
    second = step(client, subscription, first, "decline_ladder_offer", feedback="too_expensive")
    assert offer_type(second) == "switch"
    assert "Switch to Lite for €15.00 per month instead" in second.content.decode()
    third = step(client, subscription, second, "decline_ladder_offer", feedback="too_expensive")
    assert offer_type(third) == "coupon"
    assert "20% off for 3 months" in third.content.decode()
    done = step(client, subscription, third, "accept_ladder_offer", feedback="too_expensive")
    assert done.status_code == 303 and done["Location"] == "/p/"

    subscription.refresh_from_db()
    assert not subscription.cancel_at_period_end and subscription.status == "active"
    assert Discount.objects.get(subscription=subscription).coupon.coupon_id == "STAY20"
    outcomes = list(CancellationOfferOutcome.objects.filter(subscription=subscription).order_by("id"))
    assert [(o.offer, o.outcome, o.reason) for o in outcomes] == [
        (offers[0].id, "declined", "too_expensive"),
        (offers[1].id, "declined", "too_expensive"),
        (offers[2].id, "accepted", "too_expensive"),
    ]
    assert [entry["outcome"] for entry in subscription.retention["offers"]] == ["declined", "declined", "accepted"]
    assert subscription.retention["offers"][2]["terms"] == {"coupon": "STAY20"}
    actions = set(AuditEntry.objects.filter(object_id=subscription.pk).values_list("action", flat=True))
    assert {"subscription.retention_offer_decline", "subscription.retention_offer_accept"} <= actions
    assert "subscription.apply_coupon" in actions
    last = Event.objects.filter(type="customer.subscription.updated", data_object__id=subscription.pk).latest("id")
    assert last.data_object["retention"]["offers"][-1]["outcome"] == "accepted"
    assert last.data_object["discounts"]


def test_declining_all_cancels_with_one_extra_click(subscription, lite):
    configuration = ladder(subscription, lite)
    first_offer = configuration.cancellation_offers.order_by("position").first()
    client = open_portal(subscription.customer)
    offer_page = start(client, subscription, feedback="unused", comment="Not now")
    done = step(client, subscription, offer_page, "cancel", feedback="unused", comment="Not now")
    assert done.status_code == 303

    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end
    assert (subscription.cancellation_feedback, subscription.cancellation_comment) == ("unused", "Not now")
    outcomes = CancellationOfferOutcome.objects.filter(subscription=subscription).order_by("id")
    assert [(o.offer, o.outcome, o.reason) for o in outcomes] == [
        (first_offer.id, "declined", "unused"),
        ("", "canceled", "unused"),
    ]
    event = Event.objects.filter(type="customer.subscription.updated", data_object__id=subscription.pk).latest("id")
    assert event.data_object["cancellation_details"] == {
        "comment": "Not now",
        "feedback": "unused",
        "reason": "cancellation_requested",
    }
    assert event.data_object["retention"]["reason"] == "unused"
    assert event.data_object["retention"]["offers"][0]["outcome"] == "declined"


def test_an_offer_is_never_shown_twice_for_a_subscription(subscription, lite):
    ladder(subscription, lite)
    client = open_portal(subscription.customer)
    first = start(client, subscription, feedback="too_expensive")
    assert offer_type(first) == "pause"
    step(client, subscription, first, "decline_ladder_offer", feedback="too_expensive")
    # The customer leaves, comes back later and starts to cancel again: the pause is not offered again.
    again = start(client, subscription, feedback="too_expensive")
    assert offer_type(again) == "switch"
    assert "Pause your payments" not in again.content.decode()


def test_declining_the_last_offer_leads_back_to_the_cancel_form_which_then_cancels(subscription, lite):
    ladder(subscription, lite, offers=[{"type": "coupon", "coupon": "STAY20"}])
    client = open_portal(subscription.customer)
    offer_page = start(client, subscription, feedback="other")
    form = step(client, subscription, offer_page, "decline_ladder_offer", feedback="other")
    assert form.status_code == 200
    assert 'value="other" checked' in form.content.decode() or "checked" in form.content.decode()
    done = client.post(url(subscription), {"state": STATE.search(form.content.decode()).group(1), "feedback": "other"})
    assert done.status_code == 303
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end
    assert list(subscription.offer_outcomes.values_list("outcome", flat=True)) == ["declined", "canceled"]


def test_offers_limited_to_reasons_and_customer_groups(subscription, lite):
    ladder(
        subscription,
        lite,
        offers=[
            {"type": "pause", "days": 14, "reasons": ["unused"]},
            {"type": "coupon", "coupon": "STAY20", "customer_group": {"metadata": {"tier": "gold"}}},
            {"type": "switch", "price": lite.pk, "reasons": ["too_expensive"]},
        ],
    )
    client = open_portal(subscription.customer)
    response = start(client, subscription, feedback="too_expensive")
    assert offer_type(response) == "switch"  # pause is for "unused", the coupon for gold customers only
    subscription.customer.metadata = {"tier": "gold"}
    subscription.customer.save()
    response = start(client, subscription, feedback="missing_features")
    assert offer_type(response) == "coupon"


def test_accepting_the_pause_pauses_payments_like_the_pause_page(subscription, lite):
    ladder(subscription, lite)
    client = open_portal(subscription.customer)
    first = start(client, subscription, feedback="unused")
    done = step(client, subscription, first, "accept_ladder_offer", feedback="unused")
    assert done.status_code == 303
    subscription.refresh_from_db()
    assert subscription.pause_collection == {
        "behavior": "void",
        "resumes_at": int(dt.datetime(2026, 4, 10, tzinfo=dt.UTC).timestamp()),
    }
    assert not subscription.cancel_at_period_end
    event = Event.objects.filter(type="customer.subscription.updated", data_object__id=subscription.pk).latest("id")
    assert event.previous_attributes["pause_collection"] is None
    assert event.data_object["retention"]["offers"][0] == {
        "offer": subscription.retention["offers"][0]["offer"],
        "type": "pause",
        "terms": {"days": 30},
        "outcome": "accepted",
        "decided_at": int(NOW.timestamp()),
    }


def test_accepting_the_switch_changes_the_plan_through_the_plan_change_service(subscription, lite):
    ladder(subscription, lite, offers=[{"type": "switch", "price": lite.pk}])
    client = open_portal(subscription.customer)
    offer_page = start(client, subscription)
    done = step(client, subscription, offer_page, "accept_ladder_offer")
    assert done.status_code == 303
    subscription = Subscription.objects.get(pk=subscription.pk)
    assert subscription.items.get().price_id == lite.pk
    assert AuditEntry.objects.filter(object_id=subscription.pk, action="subscription.retention_offer_accept").exists()


def test_a_forged_offer_id_is_refused(subscription, lite):
    ladder(subscription, lite)
    client = open_portal(subscription.customer)
    page = client.get(url(subscription))
    state = STATE.search(page.content.decode()).group(1)
    response = client.post(url(subscription), {"state": state, "offer": "bco_nope", "action": "accept_ladder_offer"})
    assert response.status_code == 400
    assert "This offer is no longer available." in response.content.decode()
    assert not CancellationOfferOutcome.objects.exists()


def test_without_offers_the_cancel_button_cancels_at_once(subscription, lite):
    full_configuration(subscription.account)
    client = open_portal(subscription.customer)
    done = start(client, subscription)
    assert done.status_code == 303
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end and subscription.retention == {}
    assert not CancellationOfferOutcome.objects.exists()


def _two_items(subscription):
    """The subscription with an add-on beside its plan, and a cheaper price of the plan's own product."""
    from billing.services.subscriptions import subscription_change_items
    from billing.services.subscriptions.lines import ItemChange

    account = subscription.account
    plan = subscription.items.get()
    storage = PriceFactory(account=account, product=ProductFactory(account=account, name="Storage"), unit_amount=500)
    subscription_change_items(
        subscription=subscription,
        changes=[ItemChange(price=storage, quantity=2)],
        actor=Actor.system("test"),
        proration_behavior="none",
    )
    cheaper = PriceFactory(account=account, product=plan.price.product, unit_amount=2000)
    return plan, storage, cheaper


def test_a_two_item_subscription_is_offered_the_switch_of_its_plans_item_and_keeps_the_other(subscription, lite):
    plan, storage, cheaper = _two_items(subscription)
    make_coupon(subscription.account)
    features = {
        "subscription_cancel": {
            "enabled": True,
            "mode": "at_period_end",
            "cancellation_reason": {"enabled": True, "options": REASONS},
            "offers": [{"type": "switch", "price": cheaper.pk}],
        }
    }
    full_configuration(subscription.account, prices=[plan.price, storage], features=features)
    client = open_portal(subscription.customer)
    offer_page = start(client, subscription)
    assert offer_type(offer_page) == "switch"
    done = step(client, subscription, offer_page, "accept_ladder_offer")
    assert done.status_code == 303
    kept = {item.price_id: item.quantity for item in Subscription.objects.get(pk=subscription.pk).items.all()}
    assert kept == {cheaper.pk: 1, storage.pk: 2}
    assert AuditEntry.objects.filter(object_id=subscription.pk, action="subscription.retention_offer_accept").exists()


def test_a_two_item_subscription_is_not_offered_a_switch_to_another_product(subscription, lite):
    plan, storage, _cheaper = _two_items(subscription)
    features = {
        "subscription_cancel": {
            "enabled": True,
            "mode": "at_period_end",
            "cancellation_reason": {"enabled": True, "options": REASONS},
            "offers": [{"type": "switch", "price": lite.pk}],
        }
    }
    full_configuration(subscription.account, prices=[plan.price, lite, storage], features=features)
    client = open_portal(subscription.customer)
    canceled = start(client, subscription)  # no offer applies: the first click cancels
    assert canceled.status_code == 303
    assert Subscription.objects.get(pk=subscription.pk).cancel_at_period_end
