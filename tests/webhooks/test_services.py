"""Endpoint services: validation with Stripe-style params, updates, deletion, secrets, audit entries,
test events, and the list of event types kept in step with what billing emits."""

import re
from pathlib import Path

import pytest
import stripe

from billing.exceptions import InvalidRequest, NotFound, StateConflict
from billing.models import AuditEntry, Event
from tests.factories.billing import AccountFactory
from webhooks import event_types, representations, selectors
from webhooks.models import Delivery, WebhookEndpoint
from webhooks.services import (
    MAX_ENDPOINTS_PER_MODE,
    send_test_event,
    webhook_endpoint_delete,
    webhook_endpoint_roll_secret,
    webhook_endpoint_update,
)

from .conftest import ACTOR, make_endpoint

ROOT = Path(__file__).resolve().parents[2]


def test_create_stores_what_was_asked_and_audits_without_the_secret(account, public_dns):
    endpoint = make_endpoint(
        account,
        "https://hooks.example.com/stripe",
        enabled_events=["customer.updated", "invoice.paid", "customer.updated"],
        description="Production sync",
        metadata={"team": "billing"},
    )
    assert endpoint.id.startswith("we_") and endpoint.secret.startswith("whsec_")
    assert endpoint.enabled_events == ["customer.updated", "invoice.paid"]
    assert endpoint.status == "enabled"
    entry = AuditEntry.objects.get(action="webhook_endpoint.create", object_id=endpoint.id)
    assert entry.changes == {"url": endpoint.url, "enabled_events": endpoint.enabled_events}
    assert endpoint.secret not in str(entry.changes)

    shown = representations.webhook_endpoint(endpoint, with_secret=True)
    assert shown["secret"] == endpoint.secret and shown["object"] == "webhook_endpoint"
    assert "secret" not in representations.webhook_endpoint(endpoint)
    assert stripe.WebhookEndpoint.construct_from(shown, "sk_test_x").url == endpoint.url


def test_the_wildcard_wins(account, public_dns):
    endpoint = make_endpoint(account, "https://hooks.example.com/", enabled_events=["invoice.paid", "*"])
    assert endpoint.enabled_events == ["*"]


@pytest.mark.parametrize(
    ("events", "param"),
    [([], "enabled_events"), (["customer.exploded"], "enabled_events[0]"), (["*", "nope"], "enabled_events[1]")],
)
def test_unknown_or_missing_event_types_are_refused(account, public_dns, events, param):
    with pytest.raises(InvalidRequest) as refused:
        make_endpoint(account, "https://hooks.example.com/", enabled_events=events)
    assert refused.value.param == param


def test_the_test_event_type_cannot_be_subscribed(account, public_dns):
    with pytest.raises(InvalidRequest):
        make_endpoint(account, "https://hooks.example.com/", enabled_events=[event_types.TEST_EVENT])


def test_at_most_sixteen_endpoints_per_mode(account, public_dns):
    for i in range(MAX_ENDPOINTS_PER_MODE):
        make_endpoint(account, f"https://hooks.example.com/{i}")
    with pytest.raises(InvalidRequest, match="maximum of 16 test webhook endpoints"):
        make_endpoint(account, "https://hooks.example.com/17")
    assert make_endpoint(account, "https://hooks.example.com/live", livemode=True)


def test_update_merges_metadata_and_audits_the_changes(account, public_dns):
    endpoint = make_endpoint(account, "https://hooks.example.com/a", metadata={"a": "1", "b": "2"})
    endpoint = webhook_endpoint_update(
        endpoint=endpoint,
        actor=ACTOR,
        url="https://hooks.example.com/b",
        enabled_events=["invoice.paid"],
        description="new",
        metadata={"a": "", "c": "3"},
    )
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.example.com/b"
    assert endpoint.enabled_events == ["invoice.paid"] and endpoint.description == "new"
    assert endpoint.metadata == {"b": "2", "c": "3"}
    entry = AuditEntry.objects.get(action="webhook_endpoint.update")
    assert set(entry.changes) == {"url", "enabled_events", "description", "metadata"}

    webhook_endpoint_update(endpoint=endpoint, actor=ACTOR, description="new")  # no change: no entry
    assert AuditEntry.objects.filter(action="webhook_endpoint.update").count() == 1


def test_disabling_abandons_pending_deliveries_and_enabling_starts_afresh(
    endpoint, customer, receiver, change_customer
):
    receiver.respond = lambda request, nth: 500
    change_customer(customer)
    endpoint = webhook_endpoint_update(endpoint=endpoint, disabled=True, actor=ACTOR)
    assert endpoint.status == "disabled" and endpoint.disabled_reason == "manual"
    assert Delivery.objects.get().status == Delivery.Status.ABANDONED

    endpoint = webhook_endpoint_update(endpoint=endpoint, disabled=False, actor=ACTOR)
    endpoint.refresh_from_db()
    assert endpoint.status == "enabled" and endpoint.disabled_reason == "" and endpoint.failing_since is None
    with pytest.raises(InvalidRequest, match="boolean"):
        webhook_endpoint_update(endpoint=endpoint, disabled="yes", actor=ACTOR)


def test_roll_secret_bounds(account, public_dns):
    endpoint = make_endpoint(account, "https://hooks.example.com/")
    for hours in (-1, 25, "soon"):
        with pytest.raises(InvalidRequest) as refused:
            webhook_endpoint_roll_secret(endpoint=endpoint, expires_in_hours=hours, actor=ACTOR)
        assert refused.value.param == "expires_in_hours"
    old = endpoint.secret
    endpoint = webhook_endpoint_roll_secret(endpoint=endpoint, expires_in_hours=2, actor=ACTOR)
    assert endpoint.previous_secret == old and endpoint.previous_secret_expires_at is not None
    assert AuditEntry.objects.filter(action="webhook_endpoint.roll_secret").exists()


def test_delete_removes_the_endpoint(account, public_dns):
    endpoint = make_endpoint(account, "https://hooks.example.com/")
    assert webhook_endpoint_delete(endpoint=endpoint, actor=ACTOR) == endpoint.id
    assert not WebhookEndpoint.objects.exists()
    assert AuditEntry.objects.filter(action="webhook_endpoint.delete", object_id=endpoint.id).exists()
    with pytest.raises(NotFound):
        webhook_endpoint_delete(endpoint=endpoint, actor=ACTOR)


def test_send_test_event_reaches_that_endpoint_only(account, receiver, django_capture_on_commit_callbacks):
    target = make_endpoint(account, receiver.url + "?target", enabled_events=["invoice.paid"])
    make_endpoint(account, receiver.url + "?bystander")
    with django_capture_on_commit_callbacks(execute=True):
        delivery = send_test_event(endpoint=target, actor=ACTOR)

    [request] = receiver.requests
    assert request.path == "/webhooks?target"
    event = stripe.Webhook.construct_event(request.body, request.headers["Stripe-Signature"], target.secret)
    assert event.type == event_types.TEST_EVENT and event.data.object.id == target.id
    assert "secret" not in event.data.object
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED
    # Not an event of the account's event list, and never fanned out to others.
    assert not selectors.event_list(account=account, livemode=False).exists()
    assert Event.objects.get(pk=event.id).fanned_out_at is not None

    webhook_endpoint_update(endpoint=target, disabled=True, actor=ACTOR)
    with pytest.raises(StateConflict):
        send_test_event(endpoint=target, actor=ACTOR)


def test_selectors_never_cross_tenants(account, public_dns):
    endpoint = make_endpoint(account, "https://hooks.example.com/")
    other = AccountFactory()
    assert selectors.webhook_endpoint_get(account=account, livemode=False, endpoint_id=endpoint.id) == endpoint
    for tenant, livemode in ((other, False), (account, True)):
        with pytest.raises(NotFound, match="No such webhook endpoint"):
            selectors.webhook_endpoint_get(account=tenant, livemode=livemode, endpoint_id=endpoint.id)


def test_event_list_filters_by_type_patterns(account, customer, change_customer, public_dns):
    change_customer(customer)
    events = selectors.event_list(account=account, livemode=False, types=["customer.*"])
    assert [e.type for e in events] == ["customer.updated"]
    assert not selectors.event_list(account=account, livemode=False, types=["invoice.paid"]).exists()


def test_every_type_billing_emits_is_known():
    source = "\n".join(
        p.read_text() for app in ("billing", "configurations", "portal", "checkout") for p in (ROOT / app).rglob("*.py")
    )
    emitted = set(re.findall(r'emit\(\s*"([a-z_.]+)"', source))
    emitted |= set(re.findall(r'event="([a-z_.]+)"', source))
    emitted |= set(re.findall(r'type="([a-z_]+\.[a-z_.]+)"', source))
    emitted |= set(re.findall(r'_created\([^)]*"([a-z_]+\.created)"\)', source))
    emitted |= set(re.findall(r'record_event\(\s*"([a-z_.]+)"', source))
    for first, second in re.findall(r'emit\(\s*"([a-z_.]+)" if .+? else "([a-z_.]+)"', source):
        emitted |= {first, second}
    assert emitted, "the grep found nothing: has emit() been renamed?"
    assert emitted <= event_types.EMITTED, sorted(emitted - event_types.EMITTED)


def test_api_version_is_stored_when_it_looks_like_one(account, public_dns):
    endpoint = make_endpoint(account, "https://hooks.example.com/", api_version="2024-06-20")
    assert representations.webhook_endpoint(endpoint)["api_version"] == "2024-06-20"
    with pytest.raises(InvalidRequest) as refused:
        make_endpoint(account, "https://hooks.example.com/", api_version="latest")
    assert refused.value.param == "api_version"
