"""Deliveries in batches: a fan-out writes its deliveries in its own transaction and sends them concurrently (bounded
per endpoint), batches are claimed and recorded with a constant number of statements, a fan-out takes other waiting
events along, claims that would outlive their lease are handed back, and a late outcome never undoes a newer one."""

import collections
import datetime as dt
import threading
import time

import pytest
import time_machine
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing import events as billing_events
from billing.models import Event
from billing.services.customers import customer_update
from tests.factories.billing import CustomerFactory
from webhooks import queue, sending, services
from webhooks.models import Attempt, Delivery, WebhookEndpoint
from webhooks.services import attempts
from webhooks.services.attempts import RECORD_INTERVAL_SECONDS
from webhooks.tasks import fan_out_event

from .conftest import ACTOR, make_endpoint

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the bulk statements are PostgreSQL's; other databases go row by row"
)


def change_in_one_transaction(customers, django_capture_on_commit_callbacks) -> None:
    """Rename every customer in one transaction: billing hands the events over in one message."""
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for customer in customers:
            customer_update(customer=customer, actor=ACTOR, name=f"{customer.name} renamed")


def statements(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


@pytest.fixture
def lost_hand_offs(monkeypatch):
    """Events are recorded but never handed over (the test fans them out itself)."""
    monkeypatch.setattr(billing_events, "enqueue_fan_out", lambda event_ids: None)


class InFlight:
    """A receiver's answer that takes 100 ms and notes how many requests were in flight at once, per path."""

    def __init__(self):
        self.lock = threading.Lock()
        self.current = collections.Counter()
        self.most = collections.Counter()
        self.most_overall = 0

    def __call__(self, request, nth):
        with self.lock:
            self.current[request.path] += 1
            self.most[request.path] = max(self.most[request.path], self.current[request.path])
            self.most_overall = max(self.most_overall, sum(self.current.values()))
        time.sleep(0.1)
        with self.lock:
            self.current[request.path] -= 1
        return 200


def test_a_transactions_events_are_sent_concurrently_up_to_the_limit_per_endpoint(
    account, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_CONCURRENCY_PER_ENDPOINT = 3
    make_endpoint(account, receiver.url + "?a")
    make_endpoint(account, receiver.url + "?b")
    receiver.respond = in_flight = InFlight()
    change_in_one_transaction([CustomerFactory(account=account) for _ in range(9)], django_capture_on_commit_callbacks)

    assert len(receiver.requests) == 18
    assert in_flight.most == {"/webhooks?a": 3, "/webhooks?b": 3}
    assert in_flight.most_overall > 3  # the endpoints are served side by side
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED, attempts=1).count() == 18
    assert Attempt.objects.filter(succeeded=True).count() == 18


@needs_postgresql
def test_a_fan_out_costs_the_same_statements_for_one_event_or_many(account, receiver, lost_hand_offs, monkeypatch):
    # Outcomes are recorded in one statement unless sending takes longer than the recording interval, as it may on a
    # loaded machine: this test counts statements, not time, so the interval is out of its way.
    monkeypatch.setattr(attempts, "RECORD_INTERVAL_SECONDS", 60)
    make_endpoint(account, receiver.url)
    customer = CustomerFactory(account=account)
    customer_update(customer=customer, actor=ACTOR, name="One")
    waiting = list(Event.objects.values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as one:
        services.events_fan_out(event_ids=waiting)
    for customer in [CustomerFactory(account=account) for _ in range(10)]:
        customer_update(customer=customer, actor=ACTOR, name="Many")
    waiting = list(Event.objects.filter(fanned_out_at=None).values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as many:
        services.events_fan_out(event_ids=waiting)

    assert len(receiver.requests) == 11
    # Take the events, read their endpoints, write the deliveries; send; record the outcomes.
    assert len(statements(one)) == len(statements(many)) == 4, statements(many)


@needs_postgresql
def test_a_batch_of_due_retries_is_claimed_and_recorded_in_a_few_statements(
    account, receiver, django_capture_on_commit_callbacks
):
    make_endpoint(account, receiver.url)
    receiver.respond = lambda request, nth: 500 if nth == 1 else 200
    change_in_one_transaction([CustomerFactory(account=account) for _ in range(10)], django_capture_on_commit_callbacks)
    retries = list(Delivery.objects.values_list("pk", flat=True))
    assert Delivery.objects.filter(status=Delivery.Status.PENDING, attempts=1).count() == 10

    with (
        time_machine.travel(timezone.now() + dt.timedelta(hours=1), tick=False),
        CaptureQueriesContext(connection) as captured,
    ):
        assert services.deliveries_attempt(delivery_ids=retries) == 10
    # One UPDATE … RETURNING claims them with their events and endpoints, one statement records the outcomes and
    # one ends the endpoint's run of failures.
    assert len(statements(captured)) == 3, statements(captured)
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED, attempts=2).count() == 10
    assert Attempt.objects.count() == 20
    body = receiver.requests[-1].body
    assert b'"pending_webhooks":1' in body  # counted in the claim: this delivery was still pending


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_fan_out_takes_waiting_events_along_and_their_own_messages_then_cost_nothing(receiver, lost_hand_offs):
    from tests.factories.billing import AccountFactory

    account = AccountFactory()
    make_endpoint(account, receiver.url)
    for customer in [CustomerFactory(account=account) for _ in range(3)]:
        customer_update(customer=customer, actor=ACTOR, name="Renamed")
    first, *others = Event.objects.filter(type="customer.updated").order_by("created").values_list("pk", flat=True)

    services.events_fan_out(event_ids=[first])
    assert sorted(r.event_id for r in receiver.requests) == sorted([first, *others])
    with CaptureQueriesContext(connection) as captured:
        for event_id in others:  # their hand-offs arrive after all
            assert services.events_fan_out(event_ids=[event_id]) == []
    assert captured.captured_queries == []
    assert len(receiver.requests) == 3


@pytest.mark.django_db(transaction=True)
def test_outcomes_are_recorded_while_slower_requests_of_the_batch_are_still_out(receiver):
    from tests.factories.billing import AccountFactory

    account = AccountFactory()
    fast = make_endpoint(account, receiver.url + "?fast")
    make_endpoint(account, receiver.url + "?slow")
    seen_while_slow = []

    def respond(request, nth):
        if request.path.endswith("?slow"):
            time.sleep(3 * RECORD_INTERVAL_SECONDS)
            seen_while_slow.append(Delivery.objects.get(endpoint=fast).status)
            connection.close()  # this receiver thread's own connection
        return 200

    receiver.respond = respond
    customer_update(customer=CustomerFactory(account=account), actor=ACTOR, name="Renamed")
    assert seen_while_slow == [Delivery.Status.SUCCEEDED]
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 2


def test_claims_that_would_outlive_their_lease_are_handed_back_and_queued_again(
    account, receiver, settings, django_capture_on_commit_callbacks, monkeypatch
):
    # An answer may take 10 s, the lease is 5 s: after the first request a second could not be recorded in time.
    settings.WEBHOOK_TIMEOUT_SECONDS, settings.WEBHOOK_LEASE_SECONDS = 10, 5
    settings.WEBHOOK_MAX_CONCURRENCY_PER_ENDPOINT = 1
    queued = []
    monkeypatch.setattr(queue, "enqueue", lambda name, *args: queued.append((name, *args)))
    make_endpoint(account, receiver.url)
    change_in_one_transaction([CustomerFactory(account=account) for _ in range(3)], django_capture_on_commit_callbacks)

    assert len(receiver.requests) == 1
    sent = Delivery.objects.get(status=Delivery.Status.SUCCEEDED)
    handed_back = Delivery.objects.exclude(pk=sent.pk)
    assert [(d.status, d.attempts, d.enqueued_at is not None) for d in handed_back] == [("pending", 0, True)] * 2
    assert all(d.next_attempt_at <= timezone.now() for d in handed_back)
    assert [(name, sorted(ids)) for name, ids in queued] == [(queue.DELIVER_BATCH, sorted(d.pk for d in handed_back))]


def test_a_failure_recorded_after_its_lease_ran_out_does_not_undo_a_newer_success(
    account, customer, receiver, change_customer, monkeypatch
):
    """The lease of a slow attempt runs out; another worker claims the delivery again and succeeds; then the
    slow attempt's failure arrives. The success stays, and nothing is scheduled again."""
    post = sending.post
    receiver.respond = lambda request, nth: 200 if nth == 1 else 500

    def slow_post(url, body, headers, **kwargs):
        monkeypatch.setattr(sending, "post", post)
        delivery = Delivery.objects.get()
        after_the_lease = timezone.now() + dt.timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS + 1)
        with time_machine.travel(after_the_lease, tick=False):
            assert services.deliveries_attempt(delivery_ids=[delivery.pk]) == 1  # the other worker
        return post(url, body, headers, **kwargs)

    monkeypatch.setattr(sending, "post", slow_post)
    make_endpoint(account, receiver.url)
    change_customer(customer)

    delivery = Delivery.objects.get()
    assert len(receiver.requests) == 2
    assert delivery.status == Delivery.Status.SUCCEEDED and delivery.next_attempt_at is None
    assert delivery.attempts == 2 and delivery.delivered_at is not None
    assert sorted(Attempt.objects.values_list("succeeded", flat=True)) == [False, True]


def test_one_batch_records_success_retry_and_gone_together(account, customer, receiver, change_customer):
    ok = make_endpoint(account, receiver.url + "?ok")
    failing = make_endpoint(account, receiver.url + "?failing")
    gone = make_endpoint(account, receiver.url + "?gone")
    answers = {"/webhooks?ok": 200, "/webhooks?failing": 503, "/webhooks?gone": 410}
    receiver.respond = lambda request, nth: answers[request.path]
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        change_customer(customer)

    states = {d.endpoint_id: d for d in Delivery.objects.all()}
    assert states[ok.pk].status == Delivery.Status.SUCCEEDED and states[ok.pk].next_attempt_at is None
    assert states[failing.pk].status == Delivery.Status.PENDING
    assert states[failing.pk].next_attempt_at == start + dt.timedelta(seconds=settings.WEBHOOK_RETRY_DELAYS_TEST[0])
    assert states[gone.pk].status == Delivery.Status.ABANDONED and states[gone.pk].next_attempt_at is None
    assert [d.last_response_status for d in (states[ok.pk], states[failing.pk], states[gone.pk])] == [200, 503, 410]
    endpoints = {e.pk: e for e in WebhookEndpoint.objects.all()}
    assert endpoints[ok.pk].failing_since is None
    assert endpoints[failing.pk].failing_since == start
    assert endpoints[gone.pk].status == WebhookEndpoint.Status.DISABLED


def test_a_single_event_message_queued_before_per_transaction_hand_offs_is_still_served(
    account, customer, receiver, change_customer, lost_hand_offs
):
    make_endpoint(account, receiver.url)
    change_customer(customer)
    event = Event.objects.get(type="customer.updated")
    fan_out_event.apply(args=[event.pk])
    assert [r.event_id for r in receiver.requests] == [event.pk]
    assert Delivery.objects.get().status == Delivery.Status.SUCCEEDED
