"""Fan-out and delivery through the real billing services to a local receiver (Celery eager)."""

import datetime as dt
import json
import time

import pytest
import time_machine
from django.db import transaction

from billing import context, representations
from billing.models import Event
from billing.services.customers import customer_create, customer_update
from tests.factories.billing import AccountFactory, CustomerFactory
from webhooks import sending, services
from webhooks.models import Attempt, Delivery, WebhookEndpoint
from webhooks.services import events_fan_out, webhook_endpoint_update
from webhooks.tasks import deliver

from .conftest import ACTOR, make_endpoint


def body(request) -> dict:
    return json.loads(request.body)


def test_the_body_is_stripes_event_envelope(endpoint, customer, receiver, change_customer):
    old_name = customer.name
    change_customer(customer, name="Grace Hopper")

    [request] = receiver.requests
    payload = body(request)
    event = Event.objects.get(type="customer.updated")
    assert list(payload) == [
        "id",
        "object",
        "api_version",
        "created",
        "data",
        "livemode",
        "pending_webhooks",
        "request",
        "type",
    ]
    assert payload["id"] == event.id and payload["id"].startswith("evt_")
    assert payload["object"] == "event"
    assert payload["api_version"] == "2026-06-24.dahlia"
    assert payload["created"] == int(event.created.timestamp())
    assert payload["data"]["object"] == json.loads(json.dumps(representations.customer(customer)))
    assert payload["data"]["previous_attributes"] == {"name": old_name}
    assert payload["livemode"] is False
    assert payload["pending_webhooks"] == 1  # this delivery, not yet acknowledged
    assert payload["request"] == {"id": None, "idempotency_key": None}
    assert payload["type"] == "customer.updated"


def test_request_ids_are_carried_and_created_events_have_no_previous_attributes(
    endpoint, account, receiver, django_capture_on_commit_callbacks
):
    with (
        context.bound(request_id="req_abc", idempotency_key="idem-1"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        customer_create(account=account, livemode=False, actor=ACTOR, email="new@example.com")
    [request] = receiver.requests
    payload = body(request)
    assert payload["type"] == "customer.created"
    assert payload["request"] == {"id": "req_abc", "idempotency_key": "idem-1"}
    assert "previous_attributes" not in payload["data"]


def test_only_enabled_subscribed_endpoints_of_the_same_account_and_mode_receive(
    account, customer, receiver, change_customer
):
    wanted = make_endpoint(account, receiver.url + "?wanted", enabled_events=["customer.updated"])
    make_endpoint(account, receiver.url + "?other-type", enabled_events=["invoice.paid"])
    disabled = make_endpoint(account, receiver.url + "?disabled")
    webhook_endpoint_update(endpoint=disabled, disabled=True, actor=ACTOR)
    make_endpoint(AccountFactory(), receiver.url + "?other-account")
    account.plan = "billing"

    change_customer(customer)

    assert [r.path for r in receiver.requests] == ["/webhooks?wanted"]
    assert Delivery.objects.get().endpoint == wanted


def test_pending_webhooks_counts_the_deliveries_not_yet_acknowledged(
    account, customer, receiver, change_customer, run_sweep
):
    make_endpoint(account, receiver.url + "?a")
    make_endpoint(account, receiver.url + "?b")
    failed = []

    def fail_b_once(request, nth):
        if request.path.endswith("?b") and not failed:
            failed.append(request)
            return 500
        return 200

    receiver.respond = fail_b_once
    change_customer(customer)
    # Both first attempts leave together: neither was acknowledged when they were sent.
    assert sorted(body(r)["pending_webhooks"] for r in receiver.requests) == [2, 2]

    retry = Delivery.objects.get(endpoint__url__endswith="?b")
    with time_machine.travel(retry.next_attempt_at + dt.timedelta(seconds=1), tick=False):
        run_sweep()
    assert receiver.requests[-1].path == "/webhooks?b"
    assert body(receiver.requests[-1])["pending_webhooks"] == 1  # only itself is left


def test_a_rolled_back_change_sends_nothing(endpoint, customer, receiver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        customer_update(customer=customer, actor=ACTOR, name="Never")
        assert Event.objects.filter(type="customer.updated").exists()
        raise RuntimeError("the change fails after its event was recorded")
    services.sweep()  # the outbox has nothing either
    assert receiver.requests == []
    assert not Event.objects.filter(type="customer.updated").exists()
    assert not Delivery.objects.exists()


def test_fan_out_and_delivery_are_idempotent(endpoint, customer, receiver, change_customer):
    change_customer(customer)
    event = Event.objects.get(type="customer.updated")
    delivery = Delivery.objects.get()
    assert event.fanned_out_at is not None

    assert events_fan_out(event_ids=[event.id]) == []  # a duplicated fan-out message
    deliver.apply(args=[delivery.id])  # a duplicated delivery message
    services.sweep()

    assert Delivery.objects.count() == 1
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED and delivery.attempts == 1
    assert delivery.last_response_status == 200 and delivery.delivered_at is not None
    assert Attempt.objects.filter(delivery=delivery, succeeded=True).count() == 1


def test_a_second_worker_cannot_send_an_attempt_in_flight(endpoint, customer, receiver, change_customer, monkeypatch):
    """While one attempt is being sent, a duplicate task for the same delivery finds it claimed."""
    post = sending.post
    inner_results = []

    def post_with_duplicate(url, payload, headers, **kwargs):
        delivery_id = Delivery.objects.get().pk
        inner_results.append(services.delivery_attempt(delivery_id=delivery_id))
        return post(url, payload, headers, **kwargs)

    monkeypatch.setattr(sending, "post", post_with_duplicate)
    change_customer(customer)

    assert inner_results == [False]
    assert len(receiver.requests) == 1
    assert Delivery.objects.get().attempts == 1


def test_redirects_are_not_followed(endpoint, customer, receiver, change_customer):
    receiver.respond = lambda request, nth: 302 if request.path == "/webhooks" else 200
    change_customer(customer)

    assert len(receiver.requests) == 1
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.PENDING and delivery.attempts == 1
    assert delivery.last_response_status == 302
    assert "Redirects are not followed" in delivery.last_error


def test_a_slow_receiver_times_out(endpoint, customer, receiver, change_customer, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    sending.close_clients()  # clients carry the timeout

    def slow(request, nth):
        time.sleep(1.0)
        return 200

    receiver.respond = slow
    change_customer(customer)
    delivery = Delivery.objects.get()
    assert delivery.last_response_status is None
    assert delivery.last_error.startswith("Timed out")
    assert delivery.next_attempt_at is not None and delivery.status == Delivery.Status.PENDING


def test_the_response_body_is_kept_to_one_kilobyte(endpoint, customer, receiver, change_customer):
    receiver.respond = lambda request, nth: (500, b"x" * 5000)
    change_customer(customer)
    delivery = Delivery.objects.get()
    assert delivery.last_response_status == 500
    assert delivery.last_response_body == "x" * 1024
    assert delivery.last_error == "The endpoint answered HTTP 500."
    attempt = Attempt.objects.get()
    assert attempt.response_body == "x" * 1024 and not attempt.succeeded and not attempt.manual


def test_deleting_an_endpoint_drops_its_pending_deliveries(endpoint, customer, receiver, change_customer):
    receiver.respond = lambda request, nth: 503
    change_customer(customer)
    services.webhook_endpoint_delete(endpoint=endpoint, actor=ACTOR)
    assert not Delivery.objects.exists() and not Attempt.objects.exists()
    assert not WebhookEndpoint.objects.exists()


def test_live_and_test_events_go_to_endpoints_of_their_own_mode(account, receiver, change_customer, mock_http):
    live_endpoint = make_endpoint(account, "https://hooks.example.com/live", livemode=True)
    test_endpoint = make_endpoint(account, "https://hooks.example.com/test", livemode=False)
    change_customer(CustomerFactory(account=account, livemode=True))
    change_customer(CustomerFactory(account=account, livemode=False))
    assert [str(r.url).rsplit("/", 1)[-1] for r in mock_http.requests] == ["live", "test"]
    assert {d.endpoint_id: d.event.livemode for d in Delivery.objects.select_related("event")} == {
        live_endpoint.id: True,
        test_endpoint.id: False,
    }
