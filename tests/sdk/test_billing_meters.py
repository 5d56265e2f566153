"""Usage-based billing through the official SDK: meters, meter events, event summaries, metered prices billed in
arrears at renewal (and their preview before it), and Stripe's errors for bad usage input."""

import datetime as dt

import pytest
import stripe

from billing.models import MeterEvent
from billing.periods import add_months

T0 = dt.datetime(2030, 1, 15, 12, 0, tzinfo=dt.UTC)


def ts(moment: dt.datetime) -> int:
    return int(moment.timestamp())


@pytest.fixture
def test_clock(client):
    return client.v1.test_helpers.test_clocks.create({"frozen_time": ts(T0), "name": "Usage"})


def _customer(client, test_clock):
    customer = client.v1.customers.create({"email": "usage@example.com", "test_clock": test_clock.id})
    pm = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": pm.id}})
    return customer


def _meter(client, name: str, formula: str):
    return client.v1.billing.meters.create(
        {
            "display_name": name.replace("_", " ").title(),
            "event_name": name,
            "default_aggregation": {"formula": formula},
        }
    )


def _metered_price(client, meter, unit_amount: int):
    return client.v1.prices.create(
        {
            "currency": "eur",
            "unit_amount": unit_amount,
            "product_data": {"name": meter.display_name},
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
        }
    )


def test_meter_lifecycle(client):
    meter = _meter(client, "api_requests", "sum")
    assert meter.object == "billing.meter" and meter.id.startswith("mtr_") and meter.status == "active"
    assert meter.default_aggregation.formula == "sum" and meter.event_name == "api_requests"
    assert meter.customer_mapping.event_payload_key == "stripe_customer_id" and meter.customer_mapping.type == "by_id"
    assert meter.value_settings.event_payload_key == "value" and meter.status_transitions.deactivated_at is None

    renamed = client.v1.billing.meters.update(meter.id, {"display_name": "API requests"})
    assert renamed.display_name == "API requests"
    inactive = client.v1.billing.meters.deactivate(meter.id)
    assert inactive.status == "inactive" and inactive.status_transitions.deactivated_at is not None
    assert [m.id for m in client.v1.billing.meters.list({"status": "inactive"}).data] == [meter.id]
    assert client.v1.billing.meters.reactivate(meter.id).status == "active"
    assert client.v1.billing.meters.retrieve(meter.id).display_name == "API requests"


def test_usage_is_billed_in_arrears_and_the_preview_equals_the_renewal(client, merchant, test_clock):
    from tests.factories.billing import PriceFactory

    base = PriceFactory(account=merchant, product__account=merchant, unit_amount=2000, currency="eur")
    requests_meter = _meter(client, "api_requests", "sum")
    seats_meter = _meter(client, "logins", "count")
    requests_price = _metered_price(client, requests_meter, 3)
    logins_price = _metered_price(client, seats_meter, 25)
    assert requests_price.recurring.meter == requests_meter.id and requests_price.recurring.usage_type == "metered"
    customer = _customer(client, test_clock)
    sub = client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": base.id}, {"price": requests_price.id}, {"price": logins_price.id}],
        }
    )
    first = client.v1.invoices.retrieve(sub.latest_invoice)
    assert first.amount_due == 2000  # usage is billed at the end of the period, not up front

    for value in ("1200", "34"):
        event = client.v1.billing.meter_events.create(
            {"event_name": "api_requests", "payload": {"stripe_customer_id": customer.id, "value": value}}
        )
        assert event.object == "billing.meter_event" and event.timestamp == ts(T0)  # the test clock's time
    for n in range(3):
        client.v1.billing.meter_events.create(
            {"event_name": "logins", "payload": {"stripe_customer_id": customer.id}, "identifier": f"login-{n}"}
        )
    # The same identifier again is a retry: answered, not counted twice.
    again = client.v1.billing.meter_events.create(
        {"event_name": "logins", "payload": {"stripe_customer_id": customer.id}, "identifier": "login-0"}
    )
    assert again.identifier == "login-0" and MeterEvent.objects.filter(event_name="logins").count() == 3

    window = {"customer": customer.id, "start_time": ts(T0), "end_time": ts(T0) + 3600}
    summaries = client.v1.billing.meters.event_summaries.list(requests_meter.id, window).data
    assert [s.aggregated_value for s in summaries] == [1234] and summaries[0].object == "billing.meter_event_summary"
    assert client.v1.billing.meters.event_summaries.list(seats_meter.id, window).data[0].aggregated_value == 3

    preview = client.v1.invoices.create_preview({"subscription": sub.id})
    usage = {line.pricing.price_details.price: line for line in preview.lines.data if line.pricing}
    assert usage[requests_price.id].quantity == 1234 and usage[requests_price.id].amount == 1234 * 3
    assert usage[logins_price.id].quantity == 3 and usage[logins_price.id].amount == 75

    client.v1.test_helpers.test_clocks.advance(test_clock.id, {"frozen_time": ts(add_months(T0, 1))})
    renewal = client.v1.invoices.list({"customer": customer.id, "limit": 1}).data[0]
    assert renewal.billing_reason == "subscription_cycle"
    assert renewal.total == preview.total == 2000 + 1234 * 3 + 75
    billed = sorted((line.quantity, line.amount) for line in renewal.lines.data)
    assert billed == sorted((line.quantity, line.amount) for line in preview.lines.data)
    metered = [line for line in renewal.lines.data if line.amount in (3702, 75)]
    assert all(line.period.end == ts(add_months(T0, 1)) and line.period.start == ts(T0) for line in metered)


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({"event_name": "nope", "payload": {"value": "1"}}, "no_meter", "event_name"),
        ({"event_name": "api_requests", "payload": {"value": "1"}}, "meter_event_no_customer_defined", None),
        ({"event_name": "api_requests", "payload": {"value": "ten"}}, "meter_event_invalid_value", None),
        ({"event_name": "api_requests", "payload": {"value": "1.5"}}, "meter_event_invalid_value", None),
        ({"event_name": "api_requests", "payload": {}}, "meter_event_invalid_value", None),
        ({"event_name": "api_requests", "timestamp": 1}, "timestamp_too_far_in_past", "timestamp"),
        ({"event_name": "api_requests", "timestamp": 4102444800}, "timestamp_in_future", "timestamp"),
        ({"payload": {"value": "1"}}, "parameter_missing", "event_name"),
        ({"event_name": "api_requests"}, "parameter_missing", "payload"),
    ],
)
def test_bad_meter_events_answer_stripes_errors(client, params, code, param):
    _meter(client, "api_requests", "sum")
    customer = client.v1.customers.create({"email": "x@example.com"})
    payload = params.get("payload")
    if payload is not None and code not in ("meter_event_no_customer_defined", "no_meter"):
        payload = {**payload, "stripe_customer_id": customer.id}
    elif "payload" not in params and code != "parameter_missing":
        payload = {"stripe_customer_id": customer.id, "value": "1"}
    if payload is not None:
        params = {**params, "payload": payload}
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.billing.meter_events.create(params)
    assert caught.value.http_status == 400 and caught.value.code == code
    if param:
        assert caught.value.param == param
    assert not MeterEvent.objects.exists()


def test_bad_meter_and_price_input_answers_stripes_errors(client, other_client):
    meter = _meter(client, "api_requests", "sum")
    stranger = other_client.v1.customers.create({"email": "stranger@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.billing.meter_events.create(
            {"event_name": "api_requests", "payload": {"stripe_customer_id": stranger.id, "value": "1"}}
        )
    assert caught.value.code == "meter_event_customer_not_found"
    assert caught.value.param == "payload[stripe_customer_id]"

    client.v1.billing.meters.deactivate(meter.id)
    customer = client.v1.customers.create({"email": "x@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.billing.meter_events.create(
            {"event_name": "api_requests", "payload": {"stripe_customer_id": customer.id, "value": "1"}}
        )
    assert caught.value.code == "archived_meter"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.billing.meters.deactivate(meter.id)
    assert caught.value.http_status == 400
    _meter(client, "api_requests", "sum")  # the name is free again once the first meter is inactive
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.billing.meters.reactivate(meter.id)
    assert caught.value.param == "event_name"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        _meter(client, "api_requests", "sum")
    assert caught.value.param == "event_name"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        _meter(client, "other", "median")
    assert caught.value.param == "default_aggregation[formula]"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.billing.meters.retrieve("mtr_missing")
    assert caught.value.http_status == 404 and caught.value.code == "resource_missing"

    product = client.v1.products.create({"name": "API"})
    metered = {"currency": "eur", "unit_amount": 1, "product": product.id}
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.prices.create({**metered, "recurring": {"interval": "month", "usage_type": "metered"}})
    assert caught.value.code == "parameter_missing" and caught.value.param == "recurring[meter]"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.prices.create({**metered, "recurring": {"interval": "month", "meter": meter.id}})
    assert caught.value.param == "recurring[meter]"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.prices.create(
            {**metered, "recurring": {"interval": "month", "usage_type": "metered", "meter": "mtr_missing"}}
        )
    assert caught.value.http_status == 404 and caught.value.param == "recurring[meter]"

    window = {"customer": customer.id, "start_time": ts(T0) + 30, "end_time": ts(T0) + 3600}
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.billing.meters.event_summaries.list(meter.id, window)
    assert caught.value.param == "start_time"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.billing.meters.event_summaries.list(meter.id, {**window, "start_time": ts(T0) + 7200})
    assert caught.value.param == "end_time"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.billing.meters.event_summaries.list(meter.id, {"customer": customer.id})
    assert caught.value.code == "parameter_missing"
