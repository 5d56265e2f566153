"""An event no enabled endpoint of its account and mode subscribes to is recorded already taken: no hand-off, no
fan-out transaction, nothing for the sweeper. One that an endpoint subscribes to takes the usual way."""

import datetime as dt

import pytest
from django.db import transaction

from billing import clock
from billing.models import Event
from billing.services.customers import customer_update
from webhooks.models import Delivery
from webhooks.services import sweep
from webhooks.services.endpoints import webhook_endpoint_update

from .conftest import ACTOR, make_endpoint

pytestmark = pytest.mark.usefixtures("public_dns")


def rename(customer, django_capture_on_commit_callbacks, name="Renamed"):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        customer_update(customer=customer, actor=ACTOR, name=name)
    return Event.objects.filter(type="customer.updated").latest("created"), callbacks


def test_an_event_nobody_listens_to_is_recorded_taken(db, account, customer, django_capture_on_commit_callbacks):
    make_endpoint(account, "https://hooks.example.com/a", enabled_events=["invoice.paid"])
    make_endpoint(account, "https://hooks.example.com/b", livemode=True)  # the other mode
    event, callbacks = rename(customer, django_capture_on_commit_callbacks)
    assert event.fanned_out_at is not None
    assert callbacks == []  # nothing to hand over
    assert sweep(now=event.created + dt.timedelta(hours=1))["fanned_out"] == 0
    assert not Delivery.objects.exists()


def test_an_event_an_endpoint_subscribes_to_is_handed_off(db, account, customer, django_capture_on_commit_callbacks):
    endpoint = make_endpoint(account, "https://hooks.example.com/a", enabled_events=["customer.updated"])
    event, callbacks = rename(customer, django_capture_on_commit_callbacks)
    assert event.fanned_out_at is None and len(callbacks) == 1

    webhook_endpoint_update(endpoint=endpoint, actor=ACTOR, disabled=True)
    event, callbacks = rename(customer, django_capture_on_commit_callbacks, name="Again")
    assert event.fanned_out_at is not None and callbacks == []  # a disabled endpoint hears nothing


def test_a_test_clock_event_is_taken_in_real_time(db, account, customer, django_capture_on_commit_callbacks):
    months_ahead = clock.now() + dt.timedelta(days=90)
    with clock.simulated_at(months_ahead), transaction.atomic():
        customer_update(customer=customer, actor=ACTOR, name="Later")
    event = Event.objects.get(type="customer.updated")
    assert event.simulated and event.created == months_ahead
    assert event.fanned_out_at < months_ahead - dt.timedelta(days=80)  # the purge goes by this, in real time
