import datetime as dt

import pytest
import stripe
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from api.resources.events import render_event
from billing import clock
from billing.models import Event
from billing.services.customers import customer_create, customer_update
from tests.factories.billing import ACTOR
from webhooks import representations as webhook_representations
from webhooks.models import Delivery, WebhookEndpoint

ENVELOPE = {
    "id",
    "object",
    "api_version",
    "context",
    "created",
    "data",
    "livemode",
    "pending_webhooks",
    "request",
    "type",
}


def test_retrieve_renders_stripes_event_object(client, merchant):
    customer = client.v1.customers.create({"email": "ada@example.com"}, {"idempotency_key": "create-ada"})
    client.v1.customers.update(customer.id, {"name": "Ada"})
    created = Event.objects.get(type="customer.created")
    event = client.v1.events.retrieve(created.id)
    assert event.object == "event" and event.type == "customer.created" and event.livemode is False
    assert set(event.to_dict()) == ENVELOPE
    assert event.data.object.id == customer.id and event.data.object.object == "customer"
    assert "previous_attributes" not in event.data
    # ``event["request"]``: stripe-python before 16 has a ``request`` method on every object that hides the field.
    assert event["request"].id.startswith("req_") and event["request"].idempotency_key == "create-ada"
    assert event.context is None and event.pending_webhooks == 0 and event.api_version == created.api_version
    assert event.created == clock.to_unix(created.created)

    updated = client.v1.events.list({"type": "customer.updated"}).data[0]
    assert updated.data.previous_attributes.to_dict() == {"name": None}
    assert updated.data.object.name == "Ada"


def test_events_from_the_billing_cycle_have_no_request(client, merchant):
    customer_create(account=merchant, livemode=False, actor=ACTOR, email="cycle@example.com")
    event = client.v1.events.list().data[0]
    assert event["request"].id is None and event["request"].idempotency_key is None


def test_render_event_is_the_webhook_envelope(transactional_db, merchant):
    customer_create(account=merchant, livemode=False, actor=ACTOR, email="same@example.com")
    event = Event.objects.get()
    rendered = render_event(event)
    assert {k: v for k, v in rendered.items() if k != "context"} == {
        k: v for k, v in webhook_representations.event(event).items() if k != "context"
    }
    assert set(rendered) == ENVELOPE and rendered["context"] is None


def test_list_filters(client, merchant):
    customer = customer_create(account=merchant, livemode=False, actor=ACTOR, email="f@example.com")
    customer_update(customer=customer, actor=ACTOR, name="F")
    client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    types = lambda params: [e.type for e in client.v1.events.list(params).data]  # noqa: E731
    everything = types({})
    assert everything[-1] == "customer.created" and "payment_method.attached" in everything
    assert types({"type": "customer.created"}) == ["customer.created"]
    assert set(types({"type": "customer.*"})) == {"customer.created", "customer.updated"}
    assert types({"type": "*.attached"}) == ["payment_method.attached"]
    assert types({"type": "payment_method.*"}) == ["payment_method.attached"]
    assert types({"type": "cust*.created"}) == ["customer.created"]
    assert types({"type": "customer.c"}) == []
    assert set(types({"types": ["customer.created", "payment_method.attached"]})) == {
        "customer.created",
        "payment_method.attached",
    }
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.events.list({"type": "customer.created", "types": ["customer.updated"]})
    assert error.value.param == "types"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.events.list({"delivery_success": False})
    assert error.value.code == "parameter_unknown"

    first = Event.objects.order_by("id").first()
    created = clock.to_unix(first.created)
    assert len(client.v1.events.list({"created": {"gte": created}}).data) == len(everything)
    assert client.v1.events.list({"created": {"lt": created}}).data == []
    assert client.v1.events.list({"created": 253402300799}).data == []
    page = client.v1.events.list({"limit": 1})
    assert page.has_more and page.url == "/v1/events"
    assert [e.id for e in page.auto_paging_iter()] == [e.id for e in Event.objects.order_by("-id")]


def test_events_older_than_30_days_are_gone(client, merchant):
    with clock.frozen_at(clock.now() - dt.timedelta(days=31)):
        customer_create(account=merchant, livemode=False, actor=ACTOR, email="old@example.com")
    with clock.frozen_at(clock.now() - dt.timedelta(days=29)):
        customer_create(account=merchant, livemode=False, actor=ACTOR, email="recent@example.com")
    old, recent = Event.objects.order_by("created")
    assert [e.id for e in client.v1.events.list().data] == [recent.id]
    assert client.v1.events.retrieve(recent.id).data.object.email == "recent@example.com"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.events.retrieve(old.id)
    assert error.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.events.list({"starting_after": old.id})
    assert error.value.http_status == 404


def test_pending_webhooks_counts_undelivered_deliveries(client, merchant):
    customer_create(account=merchant, livemode=False, actor=ACTOR, email="pending@example.com")
    event = Event.objects.get()
    for status in (Delivery.Status.PENDING, Delivery.Status.PENDING, Delivery.Status.SUCCEEDED):
        endpoint = WebhookEndpoint.objects.create(account=merchant, url="https://example.com/hook")
        Delivery.objects.create(account=merchant, event=event, endpoint=endpoint, status=status)
    assert client.v1.events.list().data[0].pending_webhooks == 2
    assert client.v1.events.retrieve(event.id).pending_webhooks == 2


def test_expand_inside_the_event(client, merchant):
    customer = customer_create(account=merchant, livemode=False, actor=ACTOR, email="exp@example.com")
    pm = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    event = Event.objects.get(type="payment_method.attached")
    expanded = client.v1.events.retrieve(event.id, {"expand": ["data.object.customer"]})
    assert expanded.data.object.id == pm.id and expanded.data.object.customer.email == "exp@example.com"


def test_tenant_and_mode_isolation(client, other_client, live_server, merchant):
    client.v1.customers.create({"email": "mine@example.com"})
    event = Event.objects.get()
    with pytest.raises(stripe.InvalidRequestError) as error:
        other_client.v1.events.retrieve(event.id)
    assert error.value.http_status == 404
    assert other_client.v1.events.list().data == []
    live = stripe.StripeClient(merchant.live_secret, base_addresses={"api": live_server.url}, max_network_retries=0)
    with pytest.raises(stripe.InvalidRequestError):
        live.v1.events.retrieve(event.id)
    assert live.v1.events.list().data == []
    live.v1.customers.create({"email": "live@example.com"})
    assert [e.livemode for e in live.v1.events.list().data] == [True]
    assert [e.id for e in client.v1.events.list().data] == [event.id]


def _api_get(merchant, data: dict):
    response = Client().get("/v1/events", data, HTTP_AUTHORIZATION=f"Bearer {merchant.test_secret}")
    assert response.status_code == 200, response.content
    return response.json()


# transactional_db: a plain ``db`` test before the live-server tests of this directory trips Django's
# in-memory SQLite connection sharing when the live server shuts down.
def test_list_queries_do_not_grow_with_rows(transactional_db, merchant, django_assert_max_num_queries):
    requests = [{"limit": 100}, {"limit": 100, "type": "customer.*"}, {"limit": 100, "types[]": "customer.created"}]
    for i in range(3):
        customer_create(account=merchant, livemode=False, actor=ACTOR, email=f"c{i}@example.com")
    counts = []
    for data in requests:
        with CaptureQueriesContext(connection) as queries:
            assert len(_api_get(merchant, data)["data"]) == 3
        counts.append(len(queries))
    for i in range(57):
        customer_create(account=merchant, livemode=False, actor=ACTOR, email=f"d{i}@example.com")
    for data, count in zip(requests, counts, strict=True):
        with django_assert_max_num_queries(count):
            assert len(_api_get(merchant, data)["data"]) == 60
