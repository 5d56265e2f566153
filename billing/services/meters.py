"""Billing meters and their usage events: create, rename, deactivate and reactivate a meter, record an event, and
the aggregated usage a metered price bills (one query for all of a customer's meters over a period)."""

import datetime as dt
import uuid

from django.db import IntegrityError, transaction
from django.db.models import Count, OuterRef, Subquery, Sum

from billing import audit, clock
from billing.audit import Actor
from billing.exceptions import InvalidRequest, NotFound
from billing.models import Account, Customer, Meter, MeterEvent
from billing.services.common import clean_text, lock, no_such, same_tenant
from billing.services.door import service

# Stripe's window for an event's timestamp: up to 35 days back, up to 5 minutes ahead.
MAX_EVENT_AGE = dt.timedelta(days=35)
MAX_EVENT_AHEAD = dt.timedelta(minutes=5)
MAX_VALUE = 10**15


def _event_name_taken(meter: Meter) -> InvalidRequest:
    return InvalidRequest(
        f"An active meter with event_name '{meter.event_name}' already exists; event names of active meters must be "
        "unique.",
        param="event_name",
    )


@service
def meter_create(
    *,
    account: Account,
    livemode: bool,
    actor: Actor,
    display_name: str,
    event_name: str,
    formula: str,
    customer_payload_key: str = "stripe_customer_id",
    value_payload_key: str = "value",
) -> Meter:
    if formula not in Meter.Formula.values:
        raise InvalidRequest(
            f"Invalid default_aggregation[formula]: must be one of {', '.join(Meter.Formula.values)}.",
            param="default_aggregation[formula]",
        )
    meter = Meter(
        account=account,
        livemode=livemode,
        display_name=clean_text(display_name, param="display_name", max_length=250, required=True),
        event_name=clean_text(event_name, param="event_name", max_length=100, required=True),
        formula=formula,
        customer_payload_key=clean_text(
            customer_payload_key, param="customer_mapping[event_payload_key]", max_length=100, required=True
        ),
        value_payload_key=clean_text(
            value_payload_key, param="value_settings[event_payload_key]", max_length=100, required=True
        ),
        updated=clock.now(),
    )
    if Meter.objects.filter(account=account, livemode=livemode, event_name=meter.event_name, status="active").exists():
        raise _event_name_taken(meter)
    meter.save(force_insert=True)
    audit.record(actor, "billing.meter.create", meter)
    return meter


@service
def meter_update(*, meter: Meter, actor: Actor, display_name: str) -> Meter:
    meter = lock(Meter, meter.pk)
    meter.display_name = clean_text(display_name, param="display_name", max_length=250, required=True)
    meter.updated = clock.now()
    meter.save(update_fields=["display_name", "updated"])
    audit.record(actor, "billing.meter.update", meter, {"display_name": meter.display_name})
    return meter


@service
def meter_deactivate(*, meter: Meter, actor: Actor) -> Meter:
    """An inactive meter takes no more events; what it already counted is still billed."""
    meter = lock(Meter, meter.pk)
    if meter.status == Meter.Status.INACTIVE:
        raise InvalidRequest(f"The meter {meter.pk} is already inactive.", param="id")
    meter.status, meter.deactivated_at, meter.updated = Meter.Status.INACTIVE, clock.now(), clock.now()
    meter.save(update_fields=["status", "deactivated_at", "updated"])
    audit.record(actor, "billing.meter.deactivate", meter)
    return meter


@service
def meter_reactivate(*, meter: Meter, actor: Actor) -> Meter:
    meter = lock(Meter, meter.pk)
    if meter.status == Meter.Status.ACTIVE:
        raise InvalidRequest(f"The meter {meter.pk} is already active.", param="id")
    clash = Meter.objects.filter(
        account_id=meter.account_id, livemode=meter.livemode, event_name=meter.event_name, status="active"
    )
    if clash.exists():
        raise _event_name_taken(meter)
    meter.status, meter.deactivated_at, meter.updated = Meter.Status.ACTIVE, None, clock.now()
    meter.save(update_fields=["status", "deactivated_at", "updated"])
    audit.record(actor, "billing.meter.reactivate", meter)
    return meter


def meter_for_event(*, account: Account, livemode: bool, event_name: str) -> Meter:
    """The active meter an event of ``event_name`` counts for. Stripe accepts such an event and reports the problem
    later (``billing.meter.error_report_triggered``); this server refuses it at once with the report's code."""
    meters = Meter.objects.filter(account=account, livemode=livemode, event_name=event_name)
    meter = next((m for m in meters if m.status == Meter.Status.ACTIVE), None)
    if meter is not None:
        return meter
    if meters:
        raise InvalidRequest(
            f"The meter for event_name '{event_name}' is inactive: reactivate it to record usage.",
            param="event_name",
            code="archived_meter",
        )
    raise InvalidRequest(
        f"No active meter was found for event_name '{event_name}'.", param="event_name", code="no_meter"
    )


def _value(meter: Meter, payload: dict) -> int:
    key = meter.value_payload_key
    param = f"payload[{key}]"
    raw = payload.get(key)
    if raw is None:
        if meter.formula == Meter.Formula.COUNT:
            return 1
        raise InvalidRequest(
            f"The payload has no value under '{key}', which the meter {meter.pk} needs.",
            param=param,
            code="meter_event_invalid_value",
        )
    text = str(raw).strip()
    if not text.isdigit() or int(text) > MAX_VALUE:
        raise InvalidRequest(
            f"Invalid {param}: '{text[:40]}' is not a whole number of at least 0 (fractions are not supported here).",
            param=param,
            code="meter_event_invalid_value",
        )
    return int(text)


def _timestamp(timestamp: dt.datetime | None) -> dt.datetime:
    now = clock.now()
    if timestamp is None:
        return now.replace(microsecond=0)
    if timestamp > now + MAX_EVENT_AHEAD:
        raise InvalidRequest(
            "Invalid timestamp: an event may be at most 5 minutes in the future.",
            param="timestamp",
            code="timestamp_in_future",
        )
    if timestamp < now - MAX_EVENT_AGE:
        raise InvalidRequest(
            "Invalid timestamp: an event must be within the past 35 days.",
            param="timestamp",
            code="timestamp_too_far_in_past",
        )
    return timestamp


@service
def meter_event_create(
    *,
    meter: Meter,
    customer: Customer,
    actor: Actor,
    payload: dict,
    identifier: str | None = None,
    timestamp: dt.datetime | None = None,
) -> MeterEvent:
    """Record one usage event. An identifier already used in the account and mode answers the event recorded under
    it and counts nothing again (Stripe deduplicates retries the same way)."""
    same_tenant(meter, customer)
    value = _value(meter, payload)
    when = _timestamp(timestamp)
    identifier = identifier or f"mtre_{uuid.uuid4().hex}"
    scope = {"account_id": meter.account_id, "livemode": meter.livemode}
    existing = MeterEvent.objects.filter(**scope, identifier=identifier).first()
    if existing is not None:
        return existing
    event = MeterEvent(
        **scope,
        meter=meter,
        customer=customer,
        event_name=meter.event_name,
        identifier=identifier,
        value=value,
        payload={str(k): str(v) for k, v in payload.items()},
        timestamp=when,
    )
    try:
        with transaction.atomic():
            event.save(force_insert=True)
    except IntegrityError:  # the same identifier, recorded concurrently: that one stands
        return MeterEvent.objects.get(**scope, identifier=identifier)
    audit.record(actor, "billing.meter_event.create", meter, {"identifier": identifier, "value": value})
    return event


def meter_usage(*, customer_id: str, meter_ids, start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    """The aggregated usage of the customer on each meter in [start, end), by meter id, with one query; a meter
    without events in the period is missing (its usage is 0)."""
    meter_ids = list(meter_ids)
    if not meter_ids or end <= start:
        return {}
    events = MeterEvent.objects.filter(
        customer_id=customer_id, meter_id__in=meter_ids, timestamp__gte=start, timestamp__lt=end
    )
    latest = events.filter(meter_id=OuterRef("meter_id")).order_by("-timestamp", "-id").values("value")[:1]
    rows = (
        events.order_by()
        .values("meter_id", "meter__formula")
        .annotate(total=Sum("value"), count=Count("id"), last=Subquery(latest))
    )
    by_formula = {"sum": "total", "count": "count", "last": "last"}
    return {row["meter_id"]: int(row[by_formula[row["meter__formula"]]] or 0) for row in rows}


def meter_get_event_summary(*, meter: Meter, customer: Customer, start: dt.datetime, end: dt.datetime) -> int:
    same_tenant(meter, customer)
    if end <= start:
        raise InvalidRequest("Invalid end_time: must be after start_time.", param="end_time")
    for name, moment in (("start_time", start), ("end_time", end)):
        if moment.second or moment.microsecond:
            raise InvalidRequest(f"Invalid {name}: must be aligned with minute boundaries.", param=name)
    return meter_usage(customer_id=customer.pk, meter_ids=[meter.pk], start=start, end=end).get(meter.pk, 0)


def meter_not_found(meter_id: str) -> NotFound:
    return no_such("billing.meter", meter_id, param="meter")
