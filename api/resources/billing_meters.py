"""/v1/billing/meters and /v1/billing/meter_events: usage meters, the events they count and their summaries."""

from api import errors
from api import params as p
from api.pagination import page
from api.router import operation
from billing import meter_representations as render
from billing.models import Customer, Meter
from billing.services.meters import (
    meter_create,
    meter_deactivate,
    meter_event_create,
    meter_for_event,
    meter_get_event_summary,
    meter_reactivate,
    meter_update,
)

TAGS = ["Billing meters"]
CREATE = {
    "customer_mapping": p.Object(
        {
            "event_payload_key": p.String(max_length=100, required=True),
            "type": p.String(choices=["by_id"], required=True),
        }
    ),
    "default_aggregation": p.Object({"formula": p.String(choices=Meter.Formula.values, required=True)}, required=True),
    "display_name": p.String(max_length=250, required=True),
    "event_name": p.String(max_length=100, required=True),
    "expand": p.EXPAND,
    "value_settings": p.Object({"event_payload_key": p.String(max_length=100, required=True)}),
}
EVENT = {
    "event_name": p.String(max_length=100, required=True),
    "expand": p.EXPAND,
    "identifier": p.String(max_length=100),
    "payload": p.Map(required=True, unsettable=False),
    "timestamp": p.Timestamp(),
}
SUMMARIES = {
    **p.LIST,
    "customer": p.Id(required=True),
    "end_time": p.Timestamp(required=True),
    "start_time": p.Timestamp(required=True),
}


def _meter(ctx, meter_id: str) -> Meter:
    return ctx.get(Meter, meter_id, "billing.meter")


@operation("POST", "/v1/billing/meters", params=CREATE, response="billing.meter", summary="Create a meter", tags=TAGS)
def create(ctx, params):
    meter = meter_create(
        account=ctx.account,
        livemode=ctx.livemode,
        actor=ctx.actor,
        display_name=params["display_name"],
        event_name=params["event_name"],
        formula=params["default_aggregation"]["formula"],
        customer_payload_key=(params.get("customer_mapping") or {}).get("event_payload_key", "stripe_customer_id"),
        value_payload_key=(params.get("value_settings") or {}).get("event_payload_key", "value"),
    )
    return render.meter(meter)


@operation(
    "GET",
    "/v1/billing/meters/{id}",
    params={"expand": p.EXPAND},
    response="billing.meter",
    summary="Retrieve a meter",
    tags=TAGS,
)
def retrieve(ctx, params, id):
    return render.meter(_meter(ctx, id))


@operation(
    "POST",
    "/v1/billing/meters/{id}",
    params={"display_name": p.String(max_length=250), "expand": p.EXPAND},
    response="billing.meter",
    summary="Update a meter",
    tags=TAGS,
)
def update(ctx, params, id):
    meter = _meter(ctx, id)
    if "display_name" in params:
        meter = meter_update(meter=meter, actor=ctx.actor, display_name=params["display_name"])
    return render.meter(meter)


@operation(
    "POST",
    "/v1/billing/meters/{id}/deactivate",
    params={"expand": p.EXPAND},
    response="billing.meter",
    summary="Deactivate a meter",
    tags=TAGS,
)
def deactivate(ctx, params, id):
    return render.meter(meter_deactivate(meter=_meter(ctx, id), actor=ctx.actor))


@operation(
    "POST",
    "/v1/billing/meters/{id}/reactivate",
    params={"expand": p.EXPAND},
    response="billing.meter",
    summary="Reactivate a meter",
    tags=TAGS,
)
def reactivate(ctx, params, id):
    return render.meter(meter_reactivate(meter=_meter(ctx, id), actor=ctx.actor))


@operation(
    "GET",
    "/v1/billing/meters",
    params={**p.LIST, "status": p.String(choices=Meter.Status.values)},
    response="list[billing.meter]",
    summary="List meters",
    tags=TAGS,
)
def list_(ctx, params):
    queryset = ctx.scope(Meter)
    if "status" in params:
        queryset = queryset.filter(status=params["status"])
    return page(queryset, params, url="/v1/billing/meters", render=render.meter, label="billing.meter")


def _customer(ctx, meter: Meter, payload: dict) -> Customer:
    key = meter.customer_payload_key
    customer_id = payload.get(key)
    if not customer_id:
        raise errors.ApiError(
            f"The payload has no customer under '{key}', which the meter {meter.pk} maps events by.",
            code="meter_event_no_customer_defined",
            param=f"payload[{key}]",
        )
    try:
        return ctx.get(Customer, customer_id, "customer", param=f"payload[{key}]")
    except errors.ApiError:
        raise errors.ApiError(
            f"No such customer: '{customer_id}'", code="meter_event_customer_not_found", param=f"payload[{key}]"
        ) from None


@operation(
    "POST",
    "/v1/billing/meter_events",
    params=EVENT,
    response="billing.meter_event",
    summary="Create a meter event",
    tags=TAGS,
)
def event_create(ctx, params):
    meter = meter_for_event(account=ctx.account, livemode=ctx.livemode, event_name=params["event_name"])
    customer = _customer(ctx, meter, params["payload"])  # an event of a test-clock customer is in the clock's time
    event = meter_event_create(
        meter=meter,
        customer=customer,
        actor=ctx.actor,
        payload=params["payload"],
        identifier=params.get("identifier"),
        timestamp=params.get("timestamp"),
    )
    return render.meter_event(event)


@operation(
    "GET",
    "/v1/billing/meters/{id}/event_summaries",
    params=SUMMARIES,
    response="list[billing.meter_event_summary]",
    summary="List a meter's event summaries",
    tags=TAGS,
)
def event_summaries(ctx, params, id):
    meter = _meter(ctx, id)
    customer = ctx.get(Customer, params["customer"], "customer", param="customer")
    start, end = params["start_time"], params["end_time"]
    value = meter_get_event_summary(meter=meter, customer=customer, start=start, end=end)
    summary = render.meter_event_summary(meter=meter, customer_id=customer.pk, start=start, end=end, value=value)
    return {
        "object": "list",
        "data": [summary],
        "has_more": False,
        "url": f"/v1/billing/meters/{meter.pk}/event_summaries",
    }
