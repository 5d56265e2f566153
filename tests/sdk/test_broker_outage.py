"""A write that committed answers its success even when the broker cannot take the webhook hand-off; the webhooks
sweeper fans its events out later (the broker is the outside world here: its refusal is simulated at the client).
The merchant has an endpoint: events nobody listens to need no hand-off at all."""

import datetime as dt

import pytest
from celery import current_app
from kombu.exceptions import OperationalError as BrokerDown

from billing import broker
from billing.models import Customer, Event
from tests.webhooks.conftest import make_endpoint
from webhooks.services import sweep


@pytest.fixture(autouse=True)
def listening(merchant, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # nothing listens on the discard port: the test reads the outbox
    return make_endpoint(merchant, "http://127.0.0.1:9/billing")


@pytest.fixture
def broker_down(settings, monkeypatch):
    settings.CELERY_TASK_ALWAYS_EAGER = False

    def refuse(*args, **kwargs):
        raise BrokerDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(current_app, "send_task", refuse)
    yield
    broker.reset()


def test_a_committed_write_answers_success_while_the_broker_is_down(client, merchant, broker_down, settings):
    created = client.v1.customers.create({"email": "ada@example.com"})
    assert Customer.objects.filter(pk=created.id, account=merchant).exists()
    event = Event.objects.get(type="customer.created", data_object__id=created.id)
    assert event.fanned_out_at is None  # the hand-off was lost; the outbox keeps it

    settings.CELERY_TASK_ALWAYS_EAGER = True  # the broker is back: the sweeper's fan-out runs
    later = event.created + dt.timedelta(seconds=settings.WEBHOOK_OUTBOX_GRACE_SECONDS + 1)
    assert sweep(now=later)["fanned_out"] >= 1
    event.refresh_from_db()
    assert event.fanned_out_at is not None


def test_after_one_refusal_writes_do_not_wait_for_the_broker(client, merchant, broker_down, monkeypatch):
    customer = client.v1.customers.create({"email": "grace@example.com", "metadata": {"plan": "basic"}})
    calls = []
    monkeypatch.setattr(current_app, "send_task", lambda *args, **kwargs: calls.append(args))
    updated = client.v1.customers.update(customer.id, {"metadata": {"plan": "pro"}})
    assert updated.metadata["plan"] == "pro"
    assert calls == []  # the broker failed a moment ago: the sweeper will fan these events out
    assert Event.objects.filter(fanned_out_at__isnull=True).count() == 2
