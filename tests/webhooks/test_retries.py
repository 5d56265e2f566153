"""Retries with back-off (time moved with time_machine, the sweeper run as the beat would), giving up,
410 Gone, endpoints failing for three days (disabled, staff emailed) and manual resends."""

import datetime as dt

import httpx
import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from billing.exceptions import StateConflict
from billing.models import AuditEntry
from billing.services.accounts import staff_user_add
from tests.factories.billing import CustomerFactory
from webhooks.models import Attempt, Delivery, WebhookEndpoint
from webhooks.services import delivery_resend, webhook_endpoint_update

from .conftest import ACTOR, make_endpoint

LIVE_DELAYS = [60, 300, 1800, 7200, 18000, 36000, 36000, 43200, 43200, 43200]


def advance_to_next_attempt(delivery, run_sweep, *, seconds_late=1):
    delivery.refresh_from_db()
    moment = delivery.next_attempt_at + dt.timedelta(seconds=seconds_late)
    with time_machine.travel(moment, tick=False):
        run_sweep()
    delivery.refresh_from_db()
    return moment


def test_test_mode_tries_three_times_over_a_few_hours_then_fails(
    endpoint, customer, receiver, change_customer, run_sweep
):
    receiver.respond = lambda request, nth: 500
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        change_customer(customer)
    delivery = Delivery.objects.get()
    assert delivery.attempts == 1 and delivery.next_attempt_at == start + dt.timedelta(minutes=30)

    with time_machine.travel(start + dt.timedelta(minutes=29), tick=False):
        run_sweep()  # not due yet
    assert len(receiver.requests) == 1

    second = advance_to_next_attempt(delivery, run_sweep)
    assert delivery.attempts == 2 and delivery.next_attempt_at == second + dt.timedelta(hours=2)
    advance_to_next_attempt(delivery, run_sweep)
    assert delivery.attempts == 3
    assert delivery.status == Delivery.Status.FAILED and delivery.next_attempt_at is None

    with time_machine.travel(start + dt.timedelta(days=2), tick=False):
        run_sweep()
    assert len(receiver.requests) == 3
    assert Attempt.objects.filter(delivery=delivery).count() == 3
    # Every retry went out with its own timestamp (re-signed).
    assert len({r.headers["webhook-timestamp"] for r in receiver.requests}) == 3


def test_a_retry_that_succeeds_ends_the_delivery(endpoint, customer, receiver, change_customer, run_sweep):
    receiver.respond = lambda request, nth: 500 if nth == 1 else 200
    change_customer(customer)
    delivery = Delivery.objects.get()
    advance_to_next_attempt(delivery, run_sweep)
    assert delivery.status == Delivery.Status.SUCCEEDED and delivery.attempts == 2
    assert delivery.next_attempt_at is None
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None  # cleared by the success


def test_live_mode_backs_off_exponentially_for_three_days(account, change_customer, run_sweep, mock_http):
    mock_http.status = 500
    make_endpoint(account, "https://hooks.example.com/stripe", livemode=True)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        change_customer(CustomerFactory(account=account, livemode=True))
    delivery = Delivery.objects.get()

    attempt_times = [start]
    while delivery.status == Delivery.Status.PENDING:
        attempt_times.append(advance_to_next_attempt(delivery, run_sweep, seconds_late=0))
        assert len(attempt_times) < 30

    gaps = [int((b - a).total_seconds()) for a, b in zip(attempt_times, attempt_times[1:], strict=False)]
    assert gaps[: len(LIVE_DELAYS)] == LIVE_DELAYS
    assert attempt_times[-1] == start + dt.timedelta(days=3)  # a last try at the three-day mark
    assert delivery.status == Delivery.Status.FAILED and delivery.attempts == len(attempt_times)
    assert len(mock_http.requests) == len(attempt_times)


def test_410_gone_disables_the_endpoint_at_once(account, customer, receiver, change_customer, run_sweep):
    staff_user_add(account=account, email="ops@merchant.example")
    gone = make_endpoint(account, receiver.url + "?gone")
    make_endpoint(account, receiver.url + "?fine")
    receiver.respond = lambda request, nth: 410 if "gone" in request.path else 200

    change_customer(customer)
    gone.refresh_from_db()
    assert gone.status == WebhookEndpoint.Status.DISABLED
    assert gone.disabled_reason == WebhookEndpoint.DisabledReason.GONE
    assert Delivery.objects.get(endpoint=gone).status == Delivery.Status.ABANDONED
    assert AuditEntry.objects.filter(action="webhook_endpoint.disable", object_id=gone.id).exists()
    [email] = mail.outbox
    assert email.to == ["ops@merchant.example"] and gone.url in email.subject

    # Later events go to the working endpoint only.
    change_customer(customer)
    assert [r.path for r in receiver.requests].count("/webhooks?gone") == 1
    with time_machine.travel(timezone.now() + dt.timedelta(hours=3)):
        run_sweep()
    assert [r.path for r in receiver.requests].count("/webhooks?gone") == 1


def test_an_endpoint_failing_for_three_days_is_disabled_and_staff_are_emailed(
    account, customer, endpoint, receiver, change_customer, run_sweep
):
    staff_user_add(account=account, email="ops@merchant.example")
    staff_user_add(account=account, email="cto@merchant.example")
    receiver.respond = lambda request, nth: 503
    start = timezone.now()
    for hours in range(0, 72, 12):  # a failing event every 12 hours: still enabled
        with time_machine.travel(start + dt.timedelta(hours=hours), tick=False):
            change_customer(customer)
            run_sweep()
    endpoint.refresh_from_db()
    assert endpoint.status == WebhookEndpoint.Status.ENABLED
    assert endpoint.failing_since == start
    assert mail.outbox == []

    with time_machine.travel(start + dt.timedelta(hours=72, minutes=1), tick=False):
        change_customer(customer)
    endpoint.refresh_from_db()
    assert endpoint.status == WebhookEndpoint.Status.DISABLED
    assert endpoint.disabled_reason == WebhookEndpoint.DisabledReason.FAILING
    assert not Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.PENDING).exists()
    [email] = mail.outbox
    assert sorted(email.to) == ["cto@merchant.example", "ops@merchant.example"]
    assert endpoint.url in email.body and "HTTP 503" in email.body
    assert account.name in email.body

    sent = len(receiver.requests)
    with time_machine.travel(start + dt.timedelta(hours=80), tick=False):
        change_customer(customer)
        run_sweep()
    assert len(receiver.requests) == sent


def test_a_success_resets_the_failure_clock(account, customer, endpoint, receiver, change_customer, run_sweep):
    failing = {"on": True}
    receiver.respond = lambda request, nth: 503 if failing["on"] else 200
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        change_customer(customer)
    with time_machine.travel(start + dt.timedelta(hours=48), tick=False):
        failing["on"] = False
        change_customer(customer)
        failing["on"] = True
    with time_machine.travel(start + dt.timedelta(hours=80), tick=False):
        change_customer(customer)
    endpoint.refresh_from_db()
    assert endpoint.status == WebhookEndpoint.Status.ENABLED
    assert endpoint.failing_since == start + dt.timedelta(hours=80)


def test_manual_resend_sends_again_whatever_the_status(
    endpoint, customer, receiver, change_customer, run_sweep, django_capture_on_commit_callbacks
):
    receiver.respond = lambda request, nth: 500
    change_customer(customer)
    delivery = Delivery.objects.get()
    for _ in range(2):
        advance_to_next_attempt(delivery, run_sweep)
    assert delivery.status == Delivery.Status.FAILED

    receiver.respond = lambda request, nth: 200
    with django_capture_on_commit_callbacks(execute=True):
        attempt = delivery_resend(delivery=delivery, actor=ACTOR)
    delivery.refresh_from_db()
    attempt.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED and delivery.attempts == 3  # automatic tries only
    assert attempt.manual and attempt.succeeded and attempt.response_status == 200
    assert AuditEntry.objects.filter(action="webhook_delivery.resend", object_id=str(delivery.pk)).exists()

    with django_capture_on_commit_callbacks(execute=True):
        delivery_resend(delivery=delivery, actor=ACTOR)  # succeeded: still sent on request
    assert len(receiver.requests) == 5
    assert Attempt.objects.filter(delivery=delivery, manual=True).count() == 2


def test_a_manual_resend_task_runs_once(
    endpoint, customer, receiver, change_customer, django_capture_on_commit_callbacks
):
    from webhooks.tasks import deliver

    change_customer(customer)
    delivery = Delivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        attempt = delivery_resend(delivery=delivery, actor=ACTOR)
    deliver.apply(args=[delivery.pk, attempt.pk])  # the same message delivered twice
    assert len(receiver.requests) == 2


def test_resending_to_a_disabled_endpoint_is_refused(endpoint, customer, receiver, change_customer):
    change_customer(customer)
    webhook_endpoint_update(endpoint=endpoint, disabled=True, actor=ACTOR)
    with pytest.raises(StateConflict, match="disabled"):
        delivery_resend(delivery=Delivery.objects.get(), actor=ACTOR)


def test_failures_on_the_network_are_retried(account, change_customer, run_sweep, mock_http):
    def refuse(request):
        raise httpx.ConnectError("connection refused")

    mock_http.respond = refuse
    make_endpoint(account, "https://hooks.example.com/x", livemode=True)
    change_customer(CustomerFactory(account=account, livemode=True))
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.PENDING and delivery.last_response_status is None
    assert delivery.last_error.startswith("Could not connect to hooks.example.com:443")
    mock_http.respond = None
    advance_to_next_attempt(delivery, run_sweep)
    assert delivery.status == Delivery.Status.SUCCEEDED
