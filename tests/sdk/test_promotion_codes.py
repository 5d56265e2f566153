"""Promotion codes through the official SDK: both ways of naming the coupon, restrictions, uniqueness."""

import datetime as dt

import pytest
import stripe
from django.test import Client

from billing import clock
from billing.models import AuditEntry, Event, PromotionCode
from billing.services.coupons import coupon_create, promotion_code_create
from tests.factories.billing import ACTOR, CustomerFactory


def _error(call) -> stripe.StripeError:
    with pytest.raises(stripe.StripeError) as error:
        call()
    return error.value


@pytest.fixture
def coupon(merchant):
    return coupon_create(account=merchant, livemode=False, actor=ACTOR, coupon_id="TEN", percent_off=10)


def test_create_retrieve_update(client, merchant, coupon):
    customer = CustomerFactory(account=merchant)
    expires_at = int((clock.now() + dt.timedelta(days=7)).timestamp())
    created = client.v1.promotion_codes.create(
        {
            "promotion": {"type": "coupon", "coupon": "TEN"},
            "code": "Spring10",
            "customer": customer.id,
            "max_redemptions": 5,
            "expires_at": expires_at,
            "restrictions": {
                "first_time_transaction": True,
                "minimum_amount": 2000,
                "minimum_amount_currency": "EUR",
            },
            "metadata": {"channel": "newsletter"},
        }
    )
    assert created.id.startswith("promo_") and created.object == "promotion_code"
    assert created.code == "Spring10" and created.active is True and created.customer == customer.id
    assert created.promotion.type == "coupon" and created.promotion.coupon == "TEN"
    assert created.coupon.id == "TEN" and created.coupon.percent_off == 10
    assert created.max_redemptions == 5 and created.expires_at == expires_at and created.times_redeemed == 0
    assert created.restrictions.first_time_transaction is True and created.restrictions.minimum_amount == 2000
    assert created.restrictions.minimum_amount_currency == "eur" and created.metadata.channel == "newsletter"

    legacy_style = client.v1.promotion_codes.create({"coupon": "TEN", "code": "AUTUMN"})
    assert legacy_style.promotion.coupon == "TEN" and legacy_style.customer is None
    generated = client.v1.promotion_codes.create({"coupon": "TEN"})
    assert generated.code.isalnum() and len(generated.code) == 8

    assert client.v1.promotion_codes.retrieve(created.id, {"expand": ["customer"]}).customer.id == customer.id
    updated = client.v1.promotion_codes.update(created.id, {"active": False, "metadata": {"channel": ""}})
    assert updated.active is False and updated.metadata.to_dict() == {}
    event = Event.objects.get(type="promotion_code.updated")
    assert event.previous_attributes == {"active": True, "metadata": {"channel": "newsletter"}}
    assert AuditEntry.objects.filter(action="promotion_code.update", actor_type="api_key").exists()
    assert client.v1.promotion_codes.update(created.id, {"active": True}).active is True
    assert Event.objects.filter(type="promotion_code.created").count() == 3
    for field in ("code", "max_redemptions", "coupon"):
        error = _error(lambda f=field: client.v1.promotion_codes.update(created.id, {f: "1"}))
        assert error.code == "parameter_unknown"


def test_legacy_module_style(legacy, coupon):
    promo = legacy.PromotionCode.create(coupon="TEN", code="OLDSCHOOL")
    assert legacy.PromotionCode.retrieve(promo.id).code == "OLDSCHOOL"
    assert legacy.PromotionCode.modify(promo.id, active=False).active is False


def test_codes_are_unique_among_active_codes_ignoring_case(client, coupon):
    first = client.v1.promotion_codes.create({"coupon": "TEN", "code": "WELCOME"})
    error = _error(lambda: client.v1.promotion_codes.create({"coupon": "TEN", "code": "welcome"}))
    assert error.code == "resource_already_exists" and error.param == "code"
    client.v1.promotion_codes.update(first.id, {"active": False})
    second = client.v1.promotion_codes.create({"coupon": "TEN", "code": "welcome"})
    error = _error(lambda: client.v1.promotion_codes.update(first.id, {"active": True}))
    assert error.code == "resource_already_exists" and error.param == "active"
    # An inactive duplicate may be created; the active one is unaffected.
    inactive = client.v1.promotion_codes.create({"coupon": "TEN", "code": "WELCOME", "active": False})
    assert inactive.active is False and client.v1.promotion_codes.retrieve(second.id).active is True


def test_list_filters_and_pagination(client, merchant, coupon):
    other = coupon_create(account=merchant, livemode=False, actor=ACTOR, coupon_id="FIVE", percent_off=5)
    customer = CustomerFactory(account=merchant)
    a = client.v1.promotion_codes.create({"coupon": "TEN", "code": "ALPHA"})
    b = client.v1.promotion_codes.create({"coupon": "FIVE", "code": "BRAVO", "customer": customer.id})
    c = client.v1.promotion_codes.create({"coupon": "TEN", "code": "CHARLIE", "active": False})

    def ids(**params):
        return [p.id for p in client.v1.promotion_codes.list(params).data]

    assert ids() == [c.id, b.id, a.id]
    assert ids(code="bravo") == [b.id]
    assert ids(coupon="TEN") == [c.id, a.id]
    assert ids(coupon=other.coupon_id) == [b.id]
    assert ids(active=False) == [c.id]
    assert ids(customer=customer.id) == [b.id]
    assert ids(coupon="NONE") == []
    seen = [p.id for p in client.v1.promotion_codes.list({"limit": 2}).auto_paging_iter()]
    assert seen == [c.id, b.id, a.id]


def test_tenant_and_mode_isolation(client, other_client, live_server, merchant, coupon):
    promo = client.v1.promotion_codes.create({"coupon": "TEN", "code": "MINE"})
    for call in (
        lambda: other_client.v1.promotion_codes.retrieve(promo.id),
        lambda: other_client.v1.promotion_codes.update(promo.id, {"active": False}),
    ):
        assert _error(call).http_status == 404
    assert other_client.v1.promotion_codes.list().data == []
    error = _error(lambda: other_client.v1.promotion_codes.create({"promotion": {"type": "coupon", "coupon": "TEN"}}))
    assert error.http_status == 404 and error.param == "promotion[coupon]"
    error = _error(lambda: other_client.v1.promotion_codes.create({"coupon": "TEN"}))
    assert error.http_status == 404 and error.param == "coupon"
    live = stripe.StripeClient(merchant.live_secret, base_addresses={"api": live_server.url}, max_network_retries=0)
    assert _error(lambda: live.v1.promotion_codes.retrieve(promo.id)).http_status == 404
    assert live.v1.promotion_codes.list().data == []
    live.v1.coupons.create({"id": "TEN", "percent_off": 50})
    live_promo = live.v1.promotion_codes.create({"coupon": "TEN", "code": "MINE"})  # codes are per mode too
    assert live_promo.livemode is True and live_promo.coupon.percent_off == 50
    assert _error(lambda: client.v1.promotion_codes.retrieve(live_promo.id)).http_status == 404
    theirs = CustomerFactory()
    error = _error(lambda: client.v1.promotion_codes.create({"coupon": "TEN", "customer": theirs.id}))
    assert error.http_status == 404 and error.param == "customer"


def test_validation_errors(client, merchant):
    coupon_create(
        account=merchant,
        livemode=False,
        actor=ACTOR,
        coupon_id="LIMITED",
        percent_off=10,
        max_redemptions=3,
        redeem_by=clock.now() + dt.timedelta(days=10),
    )
    soon = int((clock.now() + dt.timedelta(days=1)).timestamp())
    late = int((clock.now() + dt.timedelta(days=20)).timestamp())
    cases = [
        ({}, "promotion[coupon]", "parameter_missing"),
        ({"promotion": {"type": "coupon"}}, "promotion[coupon]", "parameter_missing"),
        ({"promotion": {"coupon": "LIMITED"}}, "promotion[type]", "parameter_missing"),
        ({"promotion": {"type": "gift", "coupon": "LIMITED"}}, "promotion[type]", "parameter_invalid_string"),
        ({"coupon": "LIMITED", "promotion": {"type": "coupon", "coupon": "OTHER"}}, "coupon", None),
        ({"coupon": "MISSING"}, "coupon", "resource_missing"),
        ({"coupon": "LIMITED", "code": "NO SPACES"}, "code", None),
        ({"coupon": "LIMITED", "code": "dash-ed"}, "code", None),
        ({"coupon": "LIMITED", "max_redemptions": 4}, "max_redemptions", None),
        ({"coupon": "LIMITED", "max_redemptions": 0}, "max_redemptions", None),
        ({"coupon": "LIMITED", "expires_at": 1_000_000_000}, "expires_at", None),
        ({"coupon": "LIMITED", "expires_at": late}, "expires_at", None),
        ({"coupon": "LIMITED", "restrictions": {"minimum_amount": 100}}, "restrictions[minimum_amount_currency]", None),
        (
            {"coupon": "LIMITED", "restrictions": {"minimum_amount": 100, "minimum_amount_currency": "xyz"}},
            "restrictions[minimum_amount_currency]",
            None,
        ),
        ({"coupon": "LIMITED", "restrictions": {"minimum_amount": -5, "minimum_amount_currency": "eur"}}, None, None),
        (
            {"coupon": "LIMITED", "restrictions": {"currency_options": {"eur": {"minimum_amount": 1}}}},
            "restrictions[currency_options]",
            None,
        ),
        ({"coupon": "LIMITED", "customer": "cus_missing"}, "customer", "resource_missing"),
    ]
    for params, param, code in cases:
        error = _error(lambda params=params: client.v1.promotion_codes.create(params))
        assert isinstance(error, stripe.InvalidRequestError), params
        if param:
            assert error.param == param, (params, error.param, error.user_message)
        if code:
            assert error.code == code, (params, error.code)
    assert PromotionCode.objects.count() == 0
    assert client.v1.promotion_codes.create({"coupon": "LIMITED", "expires_at": soon, "max_redemptions": 3}).active


@pytest.mark.parametrize("rows", [3, 30])
def test_list_query_count_does_not_grow(merchant, coupon, rows, django_assert_max_num_queries):
    customer = CustomerFactory(account=merchant)
    for i in range(rows):
        promotion_code_create(coupon=coupon, actor=ACTOR, code=f"CODE{i}", customer=customer)
    with django_assert_max_num_queries(4):
        response = Client().get(
            "/v1/promotion_codes?limit=100&expand[]=data.customer", HTTP_AUTHORIZATION=f"Bearer {merchant.test_secret}"
        )
    assert response.status_code == 200
    data = response.json()["data"]
    assert len(data) == rows and all(p["coupon"]["id"] == "TEN" and p["customer"]["id"] == customer.id for p in data)
