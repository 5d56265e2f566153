"""Billing meters, meter events and event summaries -> Stripe JSON."""

from billing.clock import to_unix as ts
from billing.models import Meter, MeterEvent


def meter(obj: Meter) -> dict:
    return {
        "id": obj.id,
        "object": "billing.meter",
        "created": ts(obj.created),
        "customer_mapping": {"event_payload_key": obj.customer_payload_key, "type": "by_id"},
        "default_aggregation": {"formula": obj.formula},
        "display_name": obj.display_name,
        "event_name": obj.event_name,
        "event_time_window": None,
        "livemode": obj.livemode,
        "status": obj.status,
        "status_transitions": {"deactivated_at": ts(obj.deactivated_at)},
        "updated": ts(obj.updated),
        "value_settings": {"event_payload_key": obj.value_payload_key},
    }


def meter_event(obj: MeterEvent) -> dict:
    return {
        "object": "billing.meter_event",
        "created": ts(obj.created),
        "event_name": obj.event_name,
        "identifier": obj.identifier,
        "livemode": obj.livemode,
        "payload": obj.payload,
        "timestamp": ts(obj.timestamp),
    }


def meter_event_summary(*, meter: Meter, customer_id: str, start, end, value: int) -> dict:
    return {
        "id": f"mtrusg_{meter.id.removeprefix('mtr_')}_{customer_id}_{ts(start)}_{ts(end)}",
        "object": "billing.meter_event_summary",
        "aggregated_value": value,
        "end_time": ts(end),
        "livemode": meter.livemode,
        "meter": meter.id,
        "start_time": ts(start),
    }
