"""Coupons through the official SDK: merchant-chosen ids, updates, deletion that spares applied discounts."""

import datetime as dt

import pytest
import stripe

from billing import clock
from billing.exceptions import NotFound
from billing.models import AuditEntry, Coupon, Discount, Event, PromotionCode
from billing.services.coupons import coupon_create, coupon_delete, coupon_update, promotion_code_create
from billing.services.subscriptions import ItemSpec, subscription_create
from tests.billing.helpers import run_cycle
from tests.factories.billing import ACTOR, CustomerFactory, PriceFactory, card


def _error(call) -> stripe.StripeError:
    with pytest.raises(stripe.StripeError) as error:
        call()
    return error.value


def test_create_retrieve_update_list(client):
    redeem_by = int((clock.now() + dt.timedelta(days=30)).timestamp())
    created = client.v1.coupons.create(
        {
            "id": "SUMMER25",
            "name": "Summer",
            "percent_off": 25.5,
            "duration": "repeating",
            "duration_in_months": 3,
            "max_redemptions": 100,
            "redeem_by": redeem_by,
            "metadata": {"campaign": "summer"},
        }
    )
    assert created.id == "SUMMER25" and created.object == "coupon" and created.percent_off == 25.5
    assert created.duration == "repeating" and created.duration_in_months == 3 and created.max_redemptions == 100
    assert created.redeem_by == redeem_by and created.valid is True and created.times_redeemed == 0
    assert created.amount_off is None and created.currency is None and created.livemode is False

    fixed = client.v1.coupons.create({"amount_off": 500, "currency": "EUR", "duration": "forever"})
    assert len(fixed.id) == 8 and fixed.amount_off == 500 and fixed.currency == "eur" and fixed.percent_off is None
    assert fixed.duration == "forever" and fixed.duration_in_months is None

    assert client.v1.coupons.retrieve("SUMMER25").name == "Summer"
    updated = client.v1.coupons.update("SUMMER25", {"name": "Summer sale", "metadata": {"campaign": "", "x": "1"}})
    assert updated.name == "Summer sale" and updated.metadata.to_dict() == {"x": "1"}
    event = Event.objects.get(type="coupon.updated")
    assert event.previous_attributes == {"name": "Summer", "metadata": {"campaign": "summer"}}
    assert AuditEntry.objects.filter(action="coupon.update", actor_type="api_key").exists()
    assert client.v1.coupons.update("SUMMER25", {"name": ""}).name is None

    assert [c.id for c in client.v1.coupons.list().data] == [fixed.id, "SUMMER25"]
    for field in ("percent_off", "duration", "amount_off"):
        assert _error(lambda f=field: client.v1.coupons.update("SUMMER25", {f: "1"})).code == "parameter_unknown"


def test_ids_are_scoped_to_account_and_mode(client, other_client, live_server, merchant):
    live = stripe.StripeClient(merchant.live_secret, base_addresses={"api": live_server.url}, max_network_retries=0)
    mine = client.v1.coupons.create({"id": "SHARED", "percent_off": 10})
    theirs = other_client.v1.coupons.create({"id": "SHARED", "percent_off": 20})
    live_one = live.v1.coupons.create({"id": "SHARED", "percent_off": 30})
    assert (mine.percent_off, theirs.percent_off, live_one.percent_off, live_one.livemode) == (10, 20, 30, True)
    assert client.v1.coupons.retrieve("SHARED").percent_off == 10
    assert other_client.v1.coupons.retrieve("SHARED").percent_off == 20
    assert live.v1.coupons.retrieve("SHARED").percent_off == 30
    client.v1.coupons.create({"id": "ONLYMINE", "percent_off": 5})
    for call in (
        lambda: other_client.v1.coupons.retrieve("ONLYMINE"),
        lambda: other_client.v1.coupons.update("ONLYMINE", {"name": "x"}),
        lambda: other_client.v1.coupons.delete("ONLYMINE"),
        lambda: live.v1.coupons.retrieve("ONLYMINE"),
    ):
        error = _error(call)
        assert error.http_status == 404 and error.code == "resource_missing"
    assert [c.id for c in other_client.v1.coupons.list().data] == ["SHARED"]
    assert [c.id for c in live.v1.coupons.list().data] == ["SHARED"]
    error = _error(lambda: client.v1.coupons.create({"id": "SHARED", "percent_off": 1}))
    assert error.code == "resource_already_exists" and error.param == "id"


def test_pagination_uses_public_ids(client, merchant):
    made = [
        coupon_create(account=merchant, livemode=False, actor=ACTOR, coupon_id=f"C{i:02}", percent_off=i + 1).coupon_id
        for i in range(12)
    ]
    seen = [c.id for c in client.v1.coupons.list({"limit": 5}).auto_paging_iter()]
    assert seen == list(reversed(made))
    back = client.v1.coupons.list({"limit": 3, "ending_before": "C05"})
    assert [c.id for c in back.data] == ["C08", "C07", "C06"]
    # A cursor deleted between two pages still marks its place.
    first = client.v1.coupons.list({"limit": 4})
    client.v1.coupons.delete(first.data[-1].id)
    after = client.v1.coupons.list({"limit": 4, "starting_after": first.data[-1].id})
    assert [c.id for c in after.data] == ["C07", "C06", "C05", "C04"]
    assert "C08" not in [c.id for c in client.v1.coupons.list({"limit": 100}).data]
    assert _error(lambda: client.v1.coupons.list({"starting_after": "NOPE"})).param == "starting_after"
    assert _error(lambda: client.v1.coupons.retrieve("C01\x00")).http_status == 404  # PostgreSQL refuses NUL


def test_created_filter(client, merchant):
    with clock.frozen_at(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)):
        coupon_create(account=merchant, livemode=False, actor=ACTOR, coupon_id="OLD", percent_off=5)
    coupon_create(account=merchant, livemode=False, actor=ACTOR, coupon_id="NEW", percent_off=5)
    cutoff = int(dt.datetime(2026, 2, 1, tzinfo=dt.UTC).timestamp())
    assert [c.id for c in client.v1.coupons.list({"created": {"lt": cutoff}}).data] == ["OLD"]
    assert [c.id for c in client.v1.coupons.list({"created": {"gt": cutoff}}).data] == ["NEW"]


def test_delete_keeps_applied_discounts_working(client, merchant):
    client.v1.coupons.create({"id": "HALF", "percent_off": 50, "duration": "forever"})
    coupon = Coupon.objects.get(coupon_id="HALF")
    promo = promotion_code_create(coupon=coupon, actor=ACTOR, code="HALFOFF")
    customer = CustomerFactory(account=merchant)
    price = PriceFactory(account=merchant, product__account=merchant, unit_amount=2000)
    card(customer)
    subscription = subscription_create(customer=customer, items=[ItemSpec(price)], actor=ACTOR, coupon=coupon)
    assert subscription.latest_invoice.total == 1000

    deleted = client.v1.coupons.delete("HALF")
    assert deleted.id == "HALF" and deleted.deleted is True and deleted.object == "coupon"
    assert _error(lambda: client.v1.coupons.retrieve("HALF")).http_status == 404
    assert _error(lambda: client.v1.coupons.update("HALF", {"name": "x"})).http_status == 404
    assert _error(lambda: client.v1.coupons.delete("HALF")).http_status == 404
    assert client.v1.coupons.list().data == []
    event = Event.objects.get(type="coupon.deleted")
    assert event.data_object["id"] == "HALF" and event.data_object["valid"] is False
    assert AuditEntry.objects.filter(action="coupon.delete").exists()
    # Its promotion codes stop working; the id stays taken.
    promo.refresh_from_db()
    assert promo.active is False
    assert Event.objects.get(type="promotion_code.updated").previous_attributes["active"] is True
    error = _error(lambda: client.v1.coupons.create({"id": "HALF", "percent_off": 10}))
    assert error.code == "resource_already_exists" and "deleted" in error.user_message

    # The subscription's discount still applies at renewal; no new subscription can redeem the coupon.
    discount = Discount.objects.get(subscription=subscription)
    assert discount.coupon_id == coupon.pk
    run_cycle(subscription.current_period_end + dt.timedelta(hours=1))
    renewal = subscription.invoices.get(billing_reason="subscription_cycle")
    assert renewal.total_discount == 1000 and renewal.total == 1000
    coupon.refresh_from_db()
    with pytest.raises(Exception, match="HALF"):
        subscription_create(customer=customer, items=[ItemSpec(price)], actor=ACTOR, coupon=coupon)
    assert not PromotionCode.objects.filter(active=True).exists()


def test_a_coupon_deleted_by_another_request_is_not_found(merchant):
    # The caller read the coupon before another request deleted it (or the admin shows a deleted coupon).
    coupon = coupon_create(account=merchant, livemode=False, actor=ACTOR, coupon_id="GONE", percent_off=10)
    coupon_delete(coupon=coupon, actor=ACTOR)
    with pytest.raises(NotFound, match="No such coupon: 'GONE'"):
        coupon_update(coupon=coupon, actor=ACTOR, name="Renamed")
    with pytest.raises(NotFound, match="No such coupon: 'GONE'"):
        coupon_delete(coupon=coupon, actor=ACTOR)
    assert Event.objects.filter(type__startswith="coupon.").count() == 2  # created, deleted


def test_validation_errors(client):
    cases = [
        ({"percent_off": 101}, "percent_off", None),
        ({"percent_off": 0}, "percent_off", None),
        ({"percent_off": 10.125}, "percent_off", None),
        ({"percent_off": "ten"}, "percent_off", "parameter_invalid_number"),
        ({}, "percent_off", None),
        ({"percent_off": 10, "amount_off": 100, "currency": "eur"}, "percent_off", None),
        ({"amount_off": 100}, "currency", "parameter_missing"),
        ({"amount_off": 100, "currency": "xyz"}, "currency", None),
        ({"amount_off": 0, "currency": "eur"}, "amount_off", None),
        ({"percent_off": 10, "duration": "repeating"}, "duration_in_months", "parameter_missing"),
        ({"percent_off": 10, "duration": "repeating", "duration_in_months": 0}, "duration_in_months", None),
        ({"percent_off": 10, "duration": "once", "duration_in_months": 3}, "duration_in_months", None),
        ({"percent_off": 10, "duration": "sometimes"}, "duration", "parameter_invalid_string"),
        ({"percent_off": 10, "max_redemptions": 0}, "max_redemptions", None),
        ({"percent_off": 10, "max_redemptions": 2**31}, "max_redemptions", None),
        ({"percent_off": 10, "duration": "repeating", "duration_in_months": 2**40}, "duration_in_months", None),
        ({"percent_off": 10, "redeem_by": 1_000_000_000}, "redeem_by", None),
        ({"percent_off": 10, "name": "n" * 41}, "name", "parameter_invalid_string"),
        ({"percent_off": 10, "id": "has space"}, "id", None),
        ({"percent_off": 10, "id": "a/b"}, "id", None),
        ({"percent_off": 10, "id": "x" * 65}, "id", "parameter_invalid_string"),
        ({"percent_off": 10, "applies_to": {"products": ["prod_1"]}}, "applies_to", "parameter_unknown"),
    ]
    for params, param, code in cases:
        error = _error(lambda params=params: client.v1.coupons.create(params))
        assert isinstance(error, stripe.InvalidRequestError) and error.http_status == 400, params
        assert error.param == param, (params, error.param, error.user_message)
        if code:
            assert error.code == code, (params, error.code)
    assert Coupon.objects.count() == 0
