import pytest
import stripe

from billing.models import AuditEntry, Customer, Event
from billing.services.customers import customer_create
from tests.factories.billing import ACTOR


def test_create_retrieve_update_list(client):
    created = client.v1.customers.create(
        {
            "email": "ada@example.com",
            "name": "Ada",
            "preferred_locales": ["de"],
            "metadata": {"plan": "gold"},
            "address": {"line1": "Hauptstr. 1", "city": "Berlin", "country": "DE"},
        }
    )
    assert created.id.startswith("cus_") and created.object == "customer"
    assert created.address.city == "Berlin" and created.metadata.plan == "gold"
    assert client.v1.customers.retrieve(created.id).email == "ada@example.com"
    updated = client.v1.customers.update(created.id, {"name": "Ada L.", "metadata": {"plan": ""}, "phone": ""})
    assert updated.name == "Ada L." and updated.metadata.to_dict() == {} and updated.phone is None
    listed = client.v1.customers.list({"email": "ada@example.com"})
    assert [c.id for c in listed.data] == [created.id]
    event = Event.objects.get(type="customer.updated")
    assert set(event.previous_attributes) == {"name", "metadata"}
    assert event.request_id.startswith("req_")
    assert AuditEntry.objects.filter(action="customer.update", actor_type="api_key").exists()


def test_legacy_module_style(legacy):
    customer = legacy.Customer.create(email="grace@example.com")
    assert legacy.Customer.retrieve(customer.id).email == "grace@example.com"


def test_auto_pagination_over_250(client, merchant):
    for i in range(250):
        customer_create(account=merchant, livemode=False, actor=ACTOR, email=f"c{i}@example.com")
    seen = [c.id for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()]
    assert len(seen) == 250 == len(set(seen))
    assert seen == sorted(seen, reverse=True)
    first = client.v1.customers.list({"limit": 3})
    back = client.v1.customers.list({"limit": 2, "ending_before": first.data[2].id})
    assert [c.id for c in back.data] == [c.id for c in first.data[:2]]


def test_idempotent_retry_replays(client, live_server, merchant):
    import httpx

    headers = {"Authorization": f"Bearer {merchant.test_secret}", "Idempotency-Key": "abc-123"}
    first = httpx.post(f"{live_server.url}/v1/customers", data={"email": "x@example.com"}, headers=headers)
    again = httpx.post(f"{live_server.url}/v1/customers", data={"email": "x@example.com"}, headers=headers)
    assert first.json() == again.json() and again.headers["Idempotent-Replayed"] == "true"
    assert Customer.objects.count() == 1
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create({"email": "y@example.com"}, {"idempotency_key": "abc-123"})


def test_errors_map_to_sdk_classes(client, live_server):
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.customers.create({"nickname": "x"})
    assert error.value.code == "parameter_unknown" and error.value.param == "nickname"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.customers.create({"email": "not-an-email"})
    assert error.value.param == "email"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.customers.retrieve("cus_doesnotexist")
    assert error.value.code == "resource_missing" and error.value.http_status == 404
    bad = stripe.StripeClient("sk_test_wrong", base_addresses={"api": live_server.url}, max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError):
        bad.v1.customers.list()


def test_rate_limit_answers_429(client, settings):
    settings.API_RATE_LIMIT_TEST = 2
    with pytest.raises(stripe.RateLimitError):
        for _ in range(5):
            client.v1.customers.list()


def test_tenant_isolation(client, other_client):
    mine = client.v1.customers.create({"email": "mine@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as error:
        other_client.v1.customers.retrieve(mine.id)
    assert error.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError):
        other_client.v1.customers.update(mine.id, {"name": "stolen"})
    assert other_client.v1.customers.list().data == []


def test_live_key_does_not_see_test_objects(client, live_server, merchant):
    test_customer = client.v1.customers.create({"email": "t@example.com"})
    live = stripe.StripeClient(merchant.live_secret, base_addresses={"api": live_server.url}, max_network_retries=0)
    with pytest.raises(stripe.InvalidRequestError):
        live.v1.customers.retrieve(test_customer.id)
    assert live.v1.customers.create({"email": "l@example.com"}).livemode is True
