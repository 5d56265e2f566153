"""Our extension features[subscription_cancel][offers] (the cancellation offer ladder) through the official SDK:
create, update and retrieve; a bad ladder is a clear error naming the offer, never a 500."""

import pytest
import stripe

from billing.audit import Actor
from billing.models import Coupon
from billing.services.coupons import coupon_create, coupon_delete
from tests.factories.billing import PriceFactory, ProductFactory

ACTOR = Actor.system("test")


def _catalog(merchant):
    pro, lite = ProductFactory(account=merchant, name="Pro"), ProductFactory(account=merchant, name="Lite")
    coupon_create(
        account=merchant,
        livemode=False,
        actor=ACTOR,
        coupon_id="STAY20",
        percent_off=20,
        duration="repeating",
        duration_in_months=3,
    )
    return {
        "pro": PriceFactory(account=merchant, product=pro, unit_amount=3000),
        "lite": PriceFactory(account=merchant, product=lite, unit_amount=1500),
        "lite_usd": PriceFactory(account=merchant, product=lite, unit_amount=1500, currency="usd"),
        "lite_yearly": PriceFactory(account=merchant, product=lite, unit_amount=1500, recurring_interval="year"),
        "premium": PriceFactory(account=merchant, product=ProductFactory(account=merchant), unit_amount=9000),
    }


def _features(prices, offers, *, pause=True) -> dict:
    return {
        "subscription_cancel": {"enabled": True, "offers": offers},
        "subscription_update": {
            "enabled": True,
            "default_allowed_updates": ["price"],
            "products": [{"product": prices["pro"].product_id, "prices": [prices["pro"].pk]}],
        },
        "pause_collection": {"enabled": pause, "behavior": "void"},
    }


def test_create_update_and_retrieve_the_ladder(client, merchant):
    prices = _catalog(merchant)
    offers = [
        {"type": "pause", "days": 30},
        {"type": "switch", "price": prices["lite"].pk, "reasons": ["too_expensive"]},
        {"type": "coupon", "coupon": "STAY20", "customer_group": {"metadata": {"tier": "gold"}}},
    ]
    created = client.v1.billing_portal.configurations.create({"features": _features(prices, offers)})
    ladder = created.features.subscription_cancel.offers
    assert [offer.type for offer in ladder] == ["pause", "switch", "coupon"]
    assert (ladder[0].days, ladder[0].price, ladder[0].coupon) == (30, None, None)
    assert ladder[1].price == prices["lite"].pk and ladder[1].reasons == ["too_expensive"]
    assert ladder[2].coupon == "STAY20" and ladder[2].customer_group.metadata.to_dict() == {"tier": "gold"}
    assert all(offer.id.startswith("bco_") for offer in ladder)

    # The list replaces the previous one; an offer listed again keeps its id (its statistics stay its own).
    updated = client.v1.billing_portal.configurations.update(
        created.id,
        {"features": {"subscription_cancel": {"offers": [{"type": "coupon", "coupon": "STAY20"}, offers[0]]}}},
    )
    again = updated.features.subscription_cancel.offers
    assert [offer.type for offer in again] == ["coupon", "pause"]
    assert again[0].id == ladder[2].id and again[1].id == ladder[0].id
    assert again[0].customer_group.metadata.to_dict() == {}

    fetched = client.v1.billing_portal.configurations.retrieve(created.id)
    assert [offer.id for offer in fetched.features.subscription_cancel.offers] == [again[0].id, again[1].id]
    listed = client.v1.billing_portal.configurations.list()
    assert [offer.type for offer in listed.data[0].features.subscription_cancel.offers] == ["coupon", "pause"]

    cleared = client.v1.billing_portal.configurations.update(
        created.id, {"features": {"subscription_cancel": {"offers": ""}}}
    )
    assert cleared.features.subscription_cancel.offers == []


@pytest.mark.parametrize(
    ("offers", "pause", "param", "words"),
    [
        ([{"type": "switch", "price": "LITE_USD"}], True, "[0][price]", "is in USD"),
        ([{"type": "switch", "price": "PREMIUM"}], True, "[0][price]", "not cheaper"),
        ([{"type": "switch", "price": "LITE_YEARLY"}], True, "[0][price]", "billed every year"),
        ([{"type": "switch", "price": "price_unknown"}], True, "[0][price]", "No such price"),
        ([{"type": "coupon", "coupon": "GONE"}], True, "[0][coupon]", "No such coupon"),
        ([{"type": "coupon", "coupon": "NOPE"}], True, "[0][coupon]", "No such coupon"),
        ([{"type": "pause", "days": 30}], False, "[0]", "may not pause payments"),
        ([{"type": "pause"}], True, "[0][days]", "Missing required param"),
        ([{"type": "pause", "days": 30, "coupon": "STAY20"}], True, "[0][coupon]", "only for offers of type coupon"),
        (
            [
                {"type": "coupon", "coupon": "STAY20"},
                {"type": "pause", "days": 7},
                {"type": "coupon", "coupon": "STAY20"},
            ],
            True,
            "[2]",
            "same offer as",
        ),
    ],
)
def test_a_bad_ladder_answers_a_clear_error(client, merchant, offers, pause, param, words):
    prices = _catalog(merchant)
    coupon_create(account=merchant, livemode=False, actor=ACTOR, coupon_id="GONE", percent_off=10, duration="once")
    coupon_delete(coupon=merchant_coupon(merchant, "GONE"), actor=ACTOR)
    names = {"LITE_USD": "lite_usd", "PREMIUM": "premium", "LITE_YEARLY": "lite_yearly"}
    for offer in offers:
        if offer.get("price") in names:
            offer["price"] = prices[names[offer["price"]]].pk
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.billing_portal.configurations.create({"features": _features(prices, offers, pause=pause)})
    error = raised.value
    assert error.http_status == 400
    assert error.param == "features[subscription_cancel][offers]" + param
    assert words in error.user_message


def test_switching_pause_off_under_a_pause_offer_is_refused(client, merchant):
    prices = _catalog(merchant)
    created = client.v1.billing_portal.configurations.create(
        {"features": _features(prices, [{"type": "pause", "days": 14}])}
    )
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.billing_portal.configurations.update(
            created.id, {"features": {"pause_collection": {"enabled": False}}}
        )
    assert raised.value.param == "features[subscription_cancel][offers][0]"


def merchant_coupon(merchant, coupon_id):
    return Coupon.objects.get(account=merchant, coupon_id=coupon_id)
