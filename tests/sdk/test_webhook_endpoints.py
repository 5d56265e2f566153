"""/v1/webhook_endpoints through the official stripe SDK, and events delivered to an endpoint made with it."""

import json

import pytest
import stripe
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from billing import clock
from billing.models import AuditEntry, Event
from tests.factories.billing import ACTOR
from tests.webhooks.receiver import Receiver
from webhooks import sending, ssrf
from webhooks.models import WebhookEndpoint
from webhooks.services import MAX_ENDPOINTS_PER_MODE, send_test_event, webhook_endpoint_create

PUBLIC_IP = "93.184.216.34"
URL = "https://hooks.example.com/stripe"
FIELDS = {
    "id",
    "object",
    "api_version",
    "application",
    "created",
    "description",
    "enabled_events",
    "livemode",
    "metadata",
    "status",
    "url",
}


@pytest.fixture(autouse=True)
def _deliver_in_process(settings):
    """Celery eager even when REDIS_URL is set (CI): fan-out and delivery run inside the API request."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False


@pytest.fixture
def public_dns():
    """Every host name resolves to one public address (no DNS lookups from the tests)."""
    with ssrf.using_resolver(lambda host, port: [PUBLIC_IP]):
        yield PUBLIC_IP


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    with Receiver() as running:
        yield running
    sending.close_clients()


@pytest.fixture
def live_client(live_server, merchant) -> stripe.StripeClient:
    return stripe.StripeClient(merchant.live_secret, base_addresses={"api": live_server.url}, max_network_retries=0)


def _create(client, **params) -> stripe.WebhookEndpoint:
    return client.v1.webhook_endpoints.create({"url": URL, "enabled_events": ["*"], **params})


def _refused(call, *args) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as error:
        call(*args)
    return error.value


def _roll(client, endpoint_id: str, **params) -> stripe.WebhookEndpoint:
    response = client.raw_request("post", f"/v1/webhook_endpoints/{endpoint_id}/roll_secret", **params)
    return client.deserialize(response, api_mode="V1")


# ---------------------------------------------------------------------------------------------- the object


def test_create_answers_the_secret_once(client, merchant, public_dns):
    created = client.v1.webhook_endpoints.create(
        {
            "url": URL,
            "enabled_events": ["customer.created", "invoice.paid"],
            "description": "Fulfilment",
            "metadata": {"team": "billing"},
            "api_version": "2026-06-24.dahlia",
        }
    )
    assert set(created.to_dict()) == FIELDS | {"secret"}
    assert created.id.startswith("we_") and created.object == "webhook_endpoint"
    assert created.secret.startswith("whsec_")
    assert created.secret == WebhookEndpoint.objects.get(pk=created.id).secret
    assert created.url == URL and created.enabled_events == ["customer.created", "invoice.paid"]
    assert created.description == "Fulfilment" and created.metadata.to_dict() == {"team": "billing"}
    assert created.api_version == "2026-06-24.dahlia" and created.application is None
    assert created.status == "enabled" and created.livemode is False
    assert abs(created.created - clock.to_unix(clock.now())) < 60

    retrieved = client.v1.webhook_endpoints.retrieve(created.id)
    assert set(retrieved.to_dict()) == FIELDS
    assert retrieved.to_dict() == {k: v for k, v in created.to_dict().items() if k != "secret"}
    [listed] = client.v1.webhook_endpoints.list().data
    assert listed.to_dict() == retrieved.to_dict()
    audit = AuditEntry.objects.get(action="webhook_endpoint.create", object_id=created.id)
    assert audit.actor_type == AuditEntry.ActorType.API_KEY


def test_defaults_are_stripes_nulls(legacy, public_dns):
    created = legacy.WebhookEndpoint.create(url=URL, enabled_events=["*"])
    assert created.secret.startswith("whsec_")
    assert created.description is None and created.api_version is None and created.metadata.to_dict() == {}
    retrieved = legacy.WebhookEndpoint.retrieve(created.id)
    assert "secret" not in retrieved.to_dict() and retrieved.enabled_events == ["*"]


def test_update_changes_the_given_fields_only(client, public_dns):
    created = _create(client, description="Old", metadata={"a": "1", "b": "2"}, enabled_events=["invoice.paid"])
    updated = client.v1.webhook_endpoints.update(
        created.id,
        {
            "url": "https://hooks.example.com/v2",
            "enabled_events": ["customer.created", "customer.updated"],
            "metadata": {"a": "", "c": "3"},
        },
    )
    assert "secret" not in updated.to_dict()
    assert updated.url == "https://hooks.example.com/v2"
    assert updated.enabled_events == ["customer.created", "customer.updated"]
    assert updated.metadata.to_dict() == {"b": "2", "c": "3"} and updated.description == "Old"
    cleared = client.v1.webhook_endpoints.update(created.id, {"description": "", "metadata": ""})
    assert cleared.description is None and cleared.metadata.to_dict() == {}
    assert client.v1.webhook_endpoints.retrieve(created.id).to_dict() == cleared.to_dict()
    assert WebhookEndpoint.objects.get(pk=created.id).secret == created.secret


def test_disable_and_enable(client, public_dns):
    created = _create(client)
    disabled = client.v1.webhook_endpoints.update(created.id, {"disabled": True})
    assert disabled.status == "disabled"
    assert client.v1.webhook_endpoints.retrieve(created.id).status == "disabled"
    assert client.v1.webhook_endpoints.update(created.id, {"disabled": False}).status == "enabled"
    error = _refused(client.v1.webhook_endpoints.create, {"url": URL, "enabled_events": ["*"], "disabled": True})
    assert error.code == "parameter_unknown" and error.param == "disabled"


def test_delete(client, public_dns):
    created = _create(client)
    deleted = client.v1.webhook_endpoints.delete(created.id)
    assert deleted.to_dict() == {"id": created.id, "object": "webhook_endpoint", "deleted": True}
    assert deleted.deleted is True
    for call in (client.v1.webhook_endpoints.retrieve, client.v1.webhook_endpoints.delete):
        error = _refused(call, created.id)
        assert error.http_status == 404 and error.code == "resource_missing"
        assert error.user_message == f"No such webhook endpoint: '{created.id}'"
    assert client.v1.webhook_endpoints.list().data == []


# ---------------------------------------------------------------------------------------------- validation


def test_bad_parameters_name_the_param(client, public_dns):
    create = client.v1.webhook_endpoints.create
    error = _refused(create, {"url": URL, "enabled_events": ["customer.created", "customer.exploded"]})
    assert error.http_status == 400 and error.param == "enabled_events[1]"
    assert "customer.exploded" in error.user_message
    error = _refused(create, {"enabled_events": ["*"]})
    assert error.code == "parameter_missing" and error.param == "url"
    error = _refused(create, {"url": URL})
    assert error.code == "parameter_missing" and error.param == "enabled_events"
    error = _refused(create, {"url": "not a url", "enabled_events": ["*"]})
    assert error.param == "url" and error.code == "url_invalid"
    error = _refused(create, {"url": URL, "enabled_events": ["*"], "api_version": "yesterday"})
    assert error.param == "api_version"
    error = _refused(create, {"url": URL, "enabled_events": ["*"], "connect": True})
    assert error.param == "connect" and "Connect webhook endpoints are not supported" in error.user_message
    error = _refused(create, {"url": URL, "enabled_events": ["*"], "secret": "whsec_mine"})
    assert error.code == "parameter_unknown" and error.param == "secret"
    assert _create(client, connect=False).status == "enabled"

    endpoint = _create(client)
    error = _refused(client.v1.webhook_endpoints.update, endpoint.id, {"enabled_events": ["*", "nope"]})
    assert error.param == "enabled_events[1]"
    error = _refused(lambda: _roll(client, endpoint.id, expires_in_hours=25))
    assert error.param == "expires_in_hours"
    assert WebhookEndpoint.objects.count() == 2


def test_the_number_of_endpoints_per_mode_is_limited(client, merchant, public_dns):
    for _ in range(MAX_ENDPOINTS_PER_MODE):
        webhook_endpoint_create(account=merchant, livemode=False, url=URL, enabled_events=["*"], actor=ACTOR)
    error = _refused(_create, client)
    assert error.http_status == 400 and error.param == "url" and "maximum" in error.user_message


# ---------------------------------------------------------------------------------------------- SSRF


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "cloud metadata service"),
        ("https://[::1]/hook", "loopback"),
    ],
)
def test_live_mode_refuses_private_targets(live_client, url, reason, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # development setting: never for live mode
    error = _refused(live_client.v1.webhook_endpoints.create, {"url": url, "enabled_events": ["*"]})
    assert error.http_status == 400 and error.error.type == "invalid_request_error"
    assert error.param == "url" and error.code == "url_invalid"
    assert reason in error.user_message and "public internet addresses" in error.user_message
    assert not WebhookEndpoint.objects.exists()


def test_live_mode_checks_the_resolved_address_and_needs_https(live_client):
    with ssrf.using_resolver(lambda host, port: ["192.168.0.10"]):
        error = _refused(_create, live_client)
    assert error.param == "url" and "resolves to 192.168.0.10, a private address" in error.user_message
    with ssrf.using_resolver(lambda host, port: [PUBLIC_IP]):
        error = _refused(live_client.v1.webhook_endpoints.create, {"url": "http://x.example/", "enabled_events": ["*"]})
        assert error.param == "url" and "must use HTTPS" in error.user_message
        endpoint = _create(live_client)
        assert endpoint.livemode is True and endpoint.secret.startswith("whsec_")
    with ssrf.using_resolver(lambda host, port: ["10.0.0.7"]):
        error = _refused(live_client.v1.webhook_endpoints.update, endpoint.id, {"url": "https://moved.example/"})
    assert error.param == "url"
    assert WebhookEndpoint.objects.get(pk=endpoint.id).url == URL


def test_test_mode_reaches_local_addresses_only_when_the_setting_allows(client, settings):
    local = {"url": "http://127.0.0.1:8000/hook", "enabled_events": ["*"]}
    error = _refused(client.v1.webhook_endpoints.create, local)
    assert error.param == "url" and "loopback" in error.user_message
    assert "WEBHOOK_ALLOW_PRIVATE_TARGETS" in error.user_message
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    created = client.v1.webhook_endpoints.create(local)
    assert created.url == local["url"] and created.status == "enabled"


# ---------------------------------------------------------------------------------------------- tenancy, lists


def test_other_accounts_and_modes_cannot_see_the_endpoint(client, other_client, live_client, public_dns):
    endpoint = _create(client)
    service = other_client.v1.webhook_endpoints
    for call, args in (
        (service.retrieve, (endpoint.id,)),
        (service.update, (endpoint.id, {"disabled": True})),
        (service.delete, (endpoint.id,)),
        (_roll, (other_client, endpoint.id)),
        (live_client.v1.webhook_endpoints.retrieve, (endpoint.id,)),
    ):
        error = _refused(call, *args)
        assert error.http_status == 404 and error.code == "resource_missing" and error.param == "id"
    assert other_client.v1.webhook_endpoints.list().data == []
    assert live_client.v1.webhook_endpoints.list().data == []
    stored = WebhookEndpoint.objects.get(pk=endpoint.id)
    assert stored.status == "enabled" and stored.secret == endpoint.secret


def test_list_pages_newest_first(client, public_dns):
    ids = [_create(client, description=f"#{i}").id for i in range(5)]
    first = client.v1.webhook_endpoints.list({"limit": 2})
    assert [e.id for e in first.data] == ids[::-1][:2] and first.has_more and first.url == "/v1/webhook_endpoints"
    assert all("secret" not in e.to_dict() for e in first.data)
    assert [e.id for e in client.v1.webhook_endpoints.list({"limit": 2}).auto_paging_iter()] == ids[::-1]
    before = client.v1.webhook_endpoints.list({"ending_before": ids[1]})
    assert [e.id for e in before.data] == ids[:1:-1] and not before.has_more
    error = _refused(client.v1.webhook_endpoints.list, {"starting_after": "we_missing"})
    assert error.http_status == 404 and error.param == "starting_after"


def _api_get(merchant, path: str, data: dict) -> dict:
    response = Client().get(path, data, HTTP_AUTHORIZATION=f"Bearer {merchant.test_secret}")
    assert response.status_code == 200, response.content
    return response.json()


# transactional_db: a plain ``db`` test before the live-server tests of this directory trips Django's
# in-memory SQLite connection sharing when the live server shuts down.
def test_list_queries_do_not_grow_with_rows(transactional_db, merchant, public_dns, django_assert_max_num_queries):
    def add(count: int) -> None:
        for _ in range(count):
            webhook_endpoint_create(account=merchant, livemode=False, url=URL, enabled_events=["*"], actor=ACTOR)

    add(2)
    with CaptureQueriesContext(connection) as queries:
        assert len(_api_get(merchant, "/v1/webhook_endpoints", {"limit": 100})["data"]) == 2
    add(MAX_ENDPOINTS_PER_MODE - 2)
    with django_assert_max_num_queries(len(queries)):
        assert len(_api_get(merchant, "/v1/webhook_endpoints", {"limit": 100})["data"]) == MAX_ENDPOINTS_PER_MODE


# ---------------------------------------------------------------------------------------------- delivery


def _received_event(request, secret: str) -> stripe.Event:
    return stripe.Webhook.construct_event(request.body, request.headers["Stripe-Signature"], secret)


def test_events_reach_an_endpoint_made_through_the_api(client, receiver):
    created = client.v1.webhook_endpoints.create({"url": receiver.url, "enabled_events": ["customer.created"]})
    customer = client.v1.customers.create({"email": "ada@example.com"})
    client.v1.customers.update(customer.id, {"name": "Ada"})  # customer.updated: not subscribed

    [request] = receiver.requests
    event = _received_event(request, created.secret)
    assert event.type == "customer.created" and event.data.object.id == customer.id
    assert event.data.object.email == "ada@example.com"
    assert event.id == client.v1.events.list({"type": "customer.created"}).data[0].id
    assert json.loads(request.body)["request"]["id"].startswith("req_")
    with pytest.raises(stripe.SignatureVerificationError):
        _received_event(request, "whsec_" + "A" * 44)

    client.v1.webhook_endpoints.update(created.id, {"disabled": True})
    client.v1.customers.create({"email": "grace@example.com"})
    assert len(receiver.requests) == 1


def test_a_rolled_secret_signs_beside_the_new_one_until_it_expires(client, receiver):
    created = client.v1.webhook_endpoints.create({"url": receiver.url, "enabled_events": ["customer.created"]})
    rolled = _roll(client, created.id, expires_in_hours=2)
    assert isinstance(rolled, stripe.WebhookEndpoint) and rolled.id == created.id
    assert set(rolled.to_dict()) == FIELDS | {"secret"}
    assert rolled.secret.startswith("whsec_") and rolled.secret != created.secret
    assert "secret" not in client.v1.webhook_endpoints.retrieve(created.id).to_dict()

    client.v1.customers.create({"email": "both@example.com"})
    [request] = receiver.requests
    assert request.headers["Stripe-Signature"].count("v1=") == 2
    assert _received_event(request, rolled.secret).id == _received_event(request, created.secret).id

    newest = _roll(client, created.id, expires_in_hours=0)
    client.v1.customers.create({"email": "new-only@example.com"})
    request = receiver.requests[-1]
    assert request.headers["Stripe-Signature"].count("v1=") == 1
    assert _received_event(request, newest.secret).data.object.email == "new-only@example.com"
    for old in (created.secret, rolled.secret):
        with pytest.raises(stripe.SignatureVerificationError):
            _received_event(request, old)
    assert AuditEntry.objects.filter(action="webhook_endpoint.roll_secret", object_id=created.id).count() == 2


def test_the_default_roll_keeps_the_old_secret_for_a_day(client, public_dns):
    created = _create(client)
    rolled = _roll(client, created.id)
    stored = WebhookEndpoint.objects.get(pk=created.id)
    assert stored.secret == rolled.secret and stored.previous_secret == created.secret
    hours = (stored.previous_secret_expires_at - clock.now()).total_seconds() / 3600
    assert 23.9 < hours <= 24


# ---------------------------------------------------------------------------------------------- events list


def test_events_list_filters_by_type_types_and_created(client, merchant, receiver):
    customer = client.v1.customers.create({"email": "filter@example.com"})
    client.v1.customers.update(customer.id, {"name": "Filter"})
    client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    endpoint = webhook_endpoint_create(
        account=merchant, livemode=False, url=receiver.url, enabled_events=["invoice.paid"], actor=ACTOR
    )
    send_test_event(endpoint=endpoint, actor=ACTOR)
    assert [json.loads(r.body)["type"] for r in receiver.requests] == ["webhook_endpoint.test_event"]

    def types(params: dict) -> list[str]:
        return [event.type for event in client.v1.events.list(params).data]

    assert types({}) == ["payment_method.attached", "customer.updated", "customer.created"]  # no test event
    assert types({"type": "customer.updated"}) == ["customer.updated"]
    assert types({"type": "customer.*"}) == ["customer.updated", "customer.created"]
    assert types({"types": ["customer.created", "payment_method.attached"]}) == [
        "payment_method.attached",
        "customer.created",
    ]
    # Bounds are whole seconds while events are stored with microseconds: the comparisons are per second.
    created = [(e.type, e.created) for e in client.v1.events.list().data]
    first = created[-1][1]

    def matching(keep) -> list[str]:
        return [name for name, at in created if keep(at)]

    assert types({"created": {"gte": first}}) == matching(lambda at: at >= first) and len(created) == 3
    assert types({"created": {"lte": first}}) == matching(lambda at: at <= first)
    assert types({"created": {"gt": first}}) == matching(lambda at: at > first)
    assert types({"created": {"lt": first}}) == []
    assert types({"created": {"gte": first, "lte": first}}) == types({"created": first}) != []
    assert types({"created": {"gt": first - 1, "lt": first + 3600}}) == [name for name, _ in created]
    error = _refused(client.v1.events.list, {"created": {"after": first}})
    assert error.code == "parameter_unknown" and error.param == "created[after]"
    assert Event.objects.filter(type="webhook_endpoint.test_event").count() == 1
