"""Products and prices through the official SDK; catalogue isolation across tenants and modes."""

import datetime as dt

import pytest
import stripe
from django.db.models import ProtectedError
from django.test import Client

from billing import clock
from billing.models import AuditEntry, Event, Price, Product
from billing.services.products import price_create, product_create
from tests.factories.billing import ACTOR


def _error(call) -> stripe.StripeError:
    with pytest.raises(stripe.StripeError) as error:
        call()
    return error.value


def _product(merchant, name="Plan", **kwargs) -> Product:
    return product_create(account=merchant, livemode=False, actor=ACTOR, name=name, **kwargs)


def _price(product, unit_amount=1000, **kwargs) -> Price:
    kwargs.setdefault("currency", "eur")
    return price_create(product=product, actor=ACTOR, unit_amount=unit_amount, **kwargs)


@pytest.fixture
def live(live_server, merchant) -> stripe.StripeClient:
    return stripe.StripeClient(merchant.live_secret, base_addresses={"api": live_server.url}, max_network_retries=0)


# ---------------------------------------------------------------------------------------------- products


def test_product_create_retrieve_update(client):
    created = client.v1.products.create(
        {"name": "Team", "description": "For teams", "metadata": {"tier": "2", "legacy": "yes"}}
    )
    assert created.id.startswith("prod_") and created.object == "product"
    assert (
        created.active is True
        and created.livemode is False
        and created.metadata.to_dict()
        == {
            "tier": "2",
            "legacy": "yes",
        }
    )
    assert client.v1.products.retrieve(created.id).name == "Team"

    updated = client.v1.products.update(
        created.id, {"name": "Team+", "description": "", "active": False, "metadata": {"legacy": ""}}
    )
    assert updated.name == "Team+" and updated.description is None and updated.active is False
    assert updated.metadata.to_dict() == {"tier": "2"}
    event = Event.objects.get(type="product.updated")
    assert event.data_object["name"] == "Team+"
    assert {"name", "description", "active", "metadata"} <= set(event.previous_attributes)
    assert event.previous_attributes["name"] == "Team" and event.previous_attributes["metadata"]["legacy"] == "yes"
    assert event.request_id.startswith("req_")
    assert AuditEntry.objects.filter(action="product.update", actor_type="api_key", object_id=created.id).exists()
    assert Event.objects.filter(type="product.created", data_object__id=created.id).exists()


def test_product_update_without_changes_emits_nothing(client):
    created = client.v1.products.create({"name": "Same"})
    client.v1.products.update(created.id, {"name": "Same"})
    assert not Event.objects.filter(type="product.updated").exists()


def test_product_list_filters(client, merchant):
    with clock.frozen_at(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)):
        old = _product(merchant, "Old")
    with clock.frozen_at(dt.datetime(2026, 3, 1, tzinfo=dt.UTC)):
        archived = _product(merchant, "Archived", active=False)
        current = _product(merchant, "Current")
    assert [p.id for p in client.v1.products.list().data] == [current.id, archived.id, old.id]
    assert [p.id for p in client.v1.products.list({"active": False}).data] == [archived.id]
    assert [p.id for p in client.v1.products.list({"active": True}).data] == [current.id, old.id]
    since_february = int(dt.datetime(2026, 2, 1, tzinfo=dt.UTC).timestamp())
    assert [p.id for p in client.v1.products.list({"created": {"gte": since_february}}).data] == [
        current.id,
        archived.id,
    ]
    assert [p.id for p in client.v1.products.list({"created": {"lt": since_february}}).data] == [old.id]
    exact = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp())
    assert [p.id for p in client.v1.products.list({"created": exact}).data] == [old.id]
    assert [p.id for p in client.v1.products.list({"ids": [old.id, current.id, "prod_unknown"]}).data] == [
        current.id,
        old.id,
    ]
    error = _error(lambda: client.v1.products.list({"ids": [old.id], "starting_after": current.id}))
    assert error.param == "ids"


def test_product_delete_only_without_prices(client, merchant):
    empty = client.v1.products.create({"name": "Empty"})
    deleted = client.v1.products.delete(empty.id)
    assert deleted.id == empty.id and deleted.deleted is True and deleted.object == "product"
    assert _error(lambda: client.v1.products.retrieve(empty.id)).http_status == 404
    assert Event.objects.get(type="product.deleted").data_object["id"] == empty.id
    assert AuditEntry.objects.filter(action="product.delete", object_id=empty.id).exists()

    priced = _product(merchant, "Priced")
    _price(priced, active=False)
    error = _error(lambda: client.v1.products.delete(priced.id))
    assert error.http_status == 400 and "prices" in error.user_message
    assert Product.objects.filter(pk=priced.pk).exists()
    assert _error(lambda: client.v1.products.delete("prod_missing")).http_status == 404


def test_product_held_elsewhere_is_not_deleted(merchant, monkeypatch):
    """Another app's PROTECT reference (a portal configuration) answers 400, not 500, and leaves no event."""
    product = _product(merchant, "Held")

    def protected(self, *args, **kwargs):
        raise ProtectedError("held by a portal configuration", {product})

    monkeypatch.setattr(Product, "delete", protected)
    response = Client().delete(f"/v1/products/{product.id}", HTTP_AUTHORIZATION=f"Bearer {merchant.test_secret}")
    assert response.status_code == 400 and "in use" in response.json()["error"]["message"]
    assert not Event.objects.filter(type="product.deleted").exists()
    assert not AuditEntry.objects.filter(action="product.delete").exists()


def test_product_validation_errors(client):
    product = client.v1.products.create({"name": "P"})
    cases = [
        (lambda: client.v1.products.create({}), "name", "parameter_missing"),
        (lambda: client.v1.products.create({"name": "x", "id": "gold"}), "id", "parameter_unknown"),
        (lambda: client.v1.products.create({"name": "x" * 251}), "name", "parameter_invalid_string"),
        (lambda: client.v1.products.update(product.id, {"name": " "}), "name", "parameter_invalid_empty"),
        (lambda: client.v1.products.update(product.id, {"shippable": True}), "shippable", "parameter_unknown"),
        (lambda: client.v1.products.update(product.id, {"metadata": {"a[b]": "c"}}), "metadata[a[b]]", None),
    ]
    for call, param, code in cases:
        error = _error(call)
        assert isinstance(error, stripe.InvalidRequestError) and error.http_status == 400
        assert error.param == param, (param, error.user_message)
        if code:
            assert error.code == code


def test_legacy_module_style(legacy):
    product = legacy.Product.create(name="Legacy")
    price = legacy.Price.create(
        product=product.id, currency="usd", unit_amount=500, recurring={"interval": "year"}, lookup_key="legacy"
    )
    assert legacy.Price.retrieve(price.id).recurring.interval == "year"
    assert legacy.Product.modify(product.id, name="Legacy 2").name == "Legacy 2"
    assert legacy.Price.list(lookup_keys=["legacy"]).data[0].id == price.id
    assert legacy.Price.modify(price.id, active=False).active is False
    coupon = legacy.Coupon.create(id="LEGACY10", percent_off=10)
    assert legacy.Coupon.retrieve("LEGACY10").percent_off == 10 == coupon.percent_off
    empty = legacy.Product.create(name="Gone")
    assert legacy.Product.delete(empty.id).deleted is True


# ---------------------------------------------------------------------------------------------- prices


def test_price_create_variants(client):
    product = client.v1.products.create({"name": "Seats"})
    monthly = client.v1.prices.create(
        {
            "product": product.id,
            "currency": "EUR",
            "unit_amount": 1200,
            "recurring": {"interval": "month", "interval_count": 3, "usage_type": "licensed"},
            "tax_behavior": "exclusive",
            "nickname": "Quarterly",
            "lookup_key": "seats_quarterly",
            "metadata": {"k": "v"},
        }
    )
    assert monthly.id.startswith("price_") and monthly.object == "price"
    assert monthly.currency == "eur" and monthly.unit_amount == 1200 and str(monthly.unit_amount_decimal) == "1200"
    assert monthly.type == "recurring" and monthly.recurring.interval_count == 3
    assert monthly.recurring.usage_type == "licensed" and monthly.tax_behavior == "exclusive"
    assert monthly.nickname == "Quarterly" and monthly.lookup_key == "seats_quarterly"
    assert monthly.product == product.id and monthly.metadata.k == "v"

    one_time = client.v1.prices.create(
        {"product": product.id, "currency": "jpy", "unit_amount_decimal": "500", "active": False}
    )
    assert one_time.type == "one_time" and one_time.recurring is None and one_time.unit_amount == 500
    assert one_time.active is False and one_time.tax_behavior == "unspecified"

    meter = client.v1.billing.meters.create(
        {"display_name": "API calls", "event_name": "api_calls", "default_aggregation": {"formula": "sum"}}
    )
    metered = client.v1.prices.create(
        {
            "product_data": {"name": "API calls", "metadata": {"unit": "call"}},
            "currency": "usd",
            "unit_amount": 0,
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
            "expand": ["product"],
        }
    )
    assert metered.product.object == "product" and metered.product.name == "API calls"
    assert metered.product.metadata.unit == "call" and metered.recurring.usage_type == "metered"
    assert Event.objects.filter(type="product.created", data_object__id=metered.product.id).exists()
    assert Event.objects.filter(type="price.created").count() == 3


def test_price_update_rules(client, merchant):
    product = _product(merchant)
    price = client.v1.prices.create({"product": product.id, "currency": "eur", "unit_amount": 900})
    updated = client.v1.prices.update(
        price.id,
        {
            "active": False,
            "nickname": "Old",
            "metadata": {"a": "1"},
            "lookup_key": "basic",
            "tax_behavior": "inclusive",
        },
    )
    assert updated.active is False and updated.nickname == "Old" and updated.metadata.a == "1"
    assert updated.lookup_key == "basic" and updated.tax_behavior == "inclusive"
    event = Event.objects.get(type="price.updated")
    assert event.previous_attributes == {
        "active": True,
        "nickname": None,
        "metadata": {},
        "lookup_key": None,
        "tax_behavior": "unspecified",
    }

    error = _error(lambda: client.v1.prices.update(price.id, {"tax_behavior": "exclusive"}))
    assert error.param == "tax_behavior" and error.http_status == 400
    assert client.v1.prices.update(price.id, {"tax_behavior": "inclusive"}).tax_behavior == "inclusive"
    for param in ("unit_amount", "currency", "recurring"):
        assert _error(lambda p=param: client.v1.prices.update(price.id, {p: "1"})).code == "parameter_unknown"
    cleared = client.v1.prices.update(price.id, {"nickname": "", "metadata": ""})
    assert cleared.nickname is None and cleared.metadata.to_dict() == {}


def test_lookup_keys_are_unique_and_transferable(client, merchant):
    product = _product(merchant)
    first = client.v1.prices.create({"product": product.id, "currency": "eur", "unit_amount": 1, "lookup_key": "pro"})
    error = _error(
        lambda: client.v1.prices.create(
            {"product": product.id, "currency": "eur", "unit_amount": 2, "lookup_key": "pro"}
        )
    )
    assert error.param == "lookup_key" and first.id in error.user_message
    second = client.v1.prices.create(
        {"product": product.id, "currency": "eur", "unit_amount": 2, "lookup_key": "pro", "transfer_lookup_key": True}
    )
    assert second.lookup_key == "pro" and client.v1.prices.retrieve(first.id).lookup_key is None
    moved = Event.objects.get(type="price.updated", data_object__id=first.id)
    assert moved.previous_attributes == {"lookup_key": "pro"}
    assert [p.id for p in client.v1.prices.list({"lookup_keys": ["pro"]}).data] == [second.id]
    assert _error(lambda: client.v1.prices.update(first.id, {"lookup_key": "pro"})).param == "lookup_key"
    client.v1.prices.update(first.id, {"lookup_key": "pro", "transfer_lookup_key": True})
    assert client.v1.prices.retrieve(second.id).lookup_key is None


def test_price_list_filters(client, merchant):
    seats, storage = _product(merchant, "Seats"), _product(merchant, "Storage")
    with clock.frozen_at(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)):
        monthly = _price(seats, interval="month", lookup_key="seats_m")
    yearly = _price(seats, currency="usd", interval="year", lookup_key="seats_y")
    setup = _price(storage, interval=None)
    metered = _price(storage, interval="month", usage_type="metered", active=False)

    def ids(**params):
        return [p.id for p in client.v1.prices.list(params).data]

    assert ids() == [metered.id, setup.id, yearly.id, monthly.id]
    assert ids(product=seats.id) == [yearly.id, monthly.id]
    assert ids(active=False) == [metered.id]
    assert ids(active=True, product=storage.id) == [setup.id]
    assert ids(type="one_time") == [setup.id]
    assert ids(type="recurring") == [metered.id, yearly.id, monthly.id]
    assert ids(currency="usd") == [yearly.id]
    assert ids(currency="USD") == [yearly.id]
    assert ids(recurring={"interval": "month"}) == [metered.id, monthly.id]
    assert ids(recurring={"usage_type": "metered"}) == [metered.id]
    assert ids(lookup_keys=["seats_m", "seats_y", "nope"]) == [yearly.id, monthly.id]
    assert ids(created={"lte": int(dt.datetime(2026, 1, 2, tzinfo=dt.UTC).timestamp())}) == [monthly.id]
    assert ids(product="prod_unknown") == []
    assert _error(lambda: client.v1.prices.list({"type": "tiered"})).param == "type"
    assert _error(lambda: client.v1.prices.list({"recurring": {"interval": "hour"}})).param == "recurring[interval]"


def test_price_list_expands_products(client, merchant):
    products = [_product(merchant, f"P{i}") for i in range(3)]
    for product in products:
        _price(product)
    listed = client.v1.prices.list({"expand": ["data.product"]})
    assert [price.product.name for price in listed.data] == ["P2", "P1", "P0"]
    assert all(price.product.object == "product" for price in listed.data)
    retrieved = client.v1.prices.retrieve(listed.data[0].id, {"expand": ["product"]})
    assert retrieved.product.id == products[2].id


def test_price_auto_pagination(client, merchant):
    product = _product(merchant)
    made = [_price(product, unit_amount=i).id for i in range(23)]
    seen = [price.id for price in client.v1.prices.list({"limit": 10}).auto_paging_iter()]
    assert seen == list(reversed(made))
    page = client.v1.prices.list({"limit": 5, "starting_after": made[10]})
    assert [p.id for p in page.data] == list(reversed(made[5:10])) and page.has_more is True
    back = client.v1.prices.list({"limit": 3, "ending_before": made[10]})
    assert [p.id for p in back.data] == list(reversed(made[11:14]))
    assert _error(lambda: client.v1.prices.list({"starting_after": "price_missing"})).param == "starting_after"


def test_price_validation_errors(client, merchant):
    product = _product(merchant)
    base = {"product": product.id, "currency": "eur", "unit_amount": 100}
    cases = [
        ({**base, "unit_amount": -1}, "unit_amount", "parameter_invalid_integer"),
        ({**base, "unit_amount": 100_000_000}, "unit_amount", "parameter_invalid_integer"),
        ({**base, "currency": "xyz"}, "currency", None),
        ({**base, "currency": "euro"}, "currency", "parameter_invalid_string"),
        ({**base, "recurring": {"interval": "month", "interval_count": 37}}, "recurring[interval_count]", None),
        ({**base, "recurring": {"interval": "year", "interval_count": 4}}, "recurring[interval_count]", None),
        ({**base, "recurring": {"interval": "week", "interval_count": 0}}, "recurring[interval_count]", None),
        ({**base, "recurring": {"interval": "fortnight"}}, "recurring[interval]", "parameter_invalid_string"),
        ({**base, "recurring": {"interval_count": 2}}, "recurring[interval]", "parameter_missing"),
        ({**base, "recurring": {"interval": "month", "usage_type": "x"}}, "recurring[usage_type]", None),
        ({**base, "tax_behavior": "sometimes"}, "tax_behavior", "parameter_invalid_string"),
        ({**base, "tiers_mode": "graduated"}, "tiers_mode", "parameter_unknown"),
        ({**base, "nickname": "n" * 251}, "nickname", "parameter_invalid_string"),
        ({"currency": "eur", "unit_amount": 1}, "product", "parameter_missing"),
        ({**base, "product_data": {"name": "x"}}, "product_data", None),
        ({"product_data": {"name": ""}, "currency": "eur", "unit_amount": 1}, "product_data[name]", None),
        ({"product_data": {"name": "x", "metadata": {"a[": "b"}}, "currency": "eur", "unit_amount": 1}, None, None),
        ({"product": product.id, "currency": "eur"}, "unit_amount", "parameter_missing"),
        ({**base, "unit_amount_decimal": "100"}, "unit_amount_decimal", None),
        ({"product": product.id, "currency": "eur", "unit_amount_decimal": "10.5"}, "unit_amount_decimal", None),
        ({**base, "product": "prod_missing"}, "product", "resource_missing"),
    ]
    for params, param, code in cases:
        error = _error(lambda params=params: client.v1.prices.create(params))
        assert isinstance(error, stripe.InvalidRequestError), params
        if param:
            assert error.param == param, (params, error.param, error.user_message)
        if code:
            assert error.code == code, (params, error.code)
    assert Price.objects.count() == 0
    assert Product.objects.count() == 1  # product_data failures left no product behind


@pytest.mark.parametrize("rows", [3, 60])
def test_price_list_query_count_does_not_grow(merchant, rows, django_assert_max_num_queries):
    product = _product(merchant)
    for i in range(rows):
        _price(product if i % 2 else _product(merchant, f"P{i}"), unit_amount=i)
    with django_assert_max_num_queries(4):
        response = Client().get(
            "/v1/prices?limit=100&expand[]=data.product", HTTP_AUTHORIZATION=f"Bearer {merchant.test_secret}"
        )
    assert response.status_code == 200
    data = response.json()["data"]
    assert len(data) == rows and all(price["product"]["object"] == "product" for price in data)


# ---------------------------------------------------------------------------------------------- isolation


def test_other_account_sees_nothing(client, other_client, merchant):
    product = client.v1.products.create({"name": "Mine"})
    price = client.v1.prices.create({"product": product.id, "currency": "eur", "unit_amount": 100})
    calls = [
        lambda: other_client.v1.products.retrieve(product.id),
        lambda: other_client.v1.products.update(product.id, {"name": "Stolen"}),
        lambda: other_client.v1.products.delete(product.id),
        lambda: other_client.v1.prices.retrieve(price.id),
        lambda: other_client.v1.prices.update(price.id, {"active": False}),
    ]
    for call in calls:
        error = _error(call)
        assert error.http_status == 404 and error.code == "resource_missing"
    error = _error(lambda: other_client.v1.prices.create({"product": product.id, "currency": "eur", "unit_amount": 1}))
    assert error.http_status == 404 and error.code == "resource_missing" and error.param == "product"
    assert other_client.v1.products.list().data == []
    assert other_client.v1.prices.list().data == []
    assert other_client.v1.prices.list({"product": product.id}).data == []
    assert other_client.v1.products.list({"ids": [product.id]}).data == []
    assert _error(lambda: other_client.v1.prices.list({"starting_after": price.id})).http_status == 404
    # Expansion is scoped too: another account's product id stays an id.
    theirs = other_client.v1.products.create({"name": "Theirs"})
    assert client.v1.products.list({"ids": [theirs.id]}).data == []
    assert client.v1.products.retrieve(product.id).name == "Mine"


def test_test_key_never_sees_live_catalogue(client, live, merchant):
    product = live.v1.products.create({"name": "Live product"})
    price = live.v1.prices.create({"product": product.id, "currency": "eur", "unit_amount": 100})
    assert product.livemode is True and price.livemode is True
    for call in (lambda: client.v1.products.retrieve(product.id), lambda: client.v1.prices.retrieve(price.id)):
        assert _error(call).http_status == 404
    assert client.v1.products.list().data == [] and client.v1.prices.list().data == []
    error = _error(lambda: client.v1.prices.create({"product": product.id, "currency": "eur", "unit_amount": 1}))
    assert error.http_status == 404 and error.param == "product"
    test_product = client.v1.products.create({"name": "Test product"})
    assert [p.id for p in live.v1.products.list().data] == [product.id]
    assert _error(lambda: live.v1.products.retrieve(test_product.id)).http_status == 404
