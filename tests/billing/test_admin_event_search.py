"""The events list finds an object's events by the object's id (sub_…, in_…, cus_…, pi_…) through an index."""

import importlib

import pytest
from django.apps import apps as global_apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import Event
from tests.factories.admin import populated_account

fill_migration = importlib.import_module("billing.migrations.0024_event_object_id")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tenants(db):
    return populated_account("Alpha", staff_email="staff@alpha.example"), populated_account(
        "Beta", staff_email="staff@beta.example"
    )


def _listed(client, term):
    response = client.get(reverse("admin:billing_event_changelist"), {"q": term})
    assert response.status_code == 200
    return {event.pk for event in response.context["cl"].result_list}


def test_every_recorded_event_carries_its_object_id(tenants):
    events = Event.objects.all()
    assert events.count() > 10
    assert all(event.object_id == event.data_object["id"] for event in events)


def test_events_are_found_by_the_id_of_the_object_they_carry(client, tenants):
    alpha, beta = tenants
    client.force_login(alpha.staff)
    mine = Event.objects.filter(account=alpha.account)
    prefixes = {"sub_", "in_", "cus_", "pi_"}
    found = set()
    for object_id in set(mine.values_list("object_id", flat=True)):
        expected = {event.pk for event in mine if event.data_object["id"] == object_id}
        assert _listed(client, object_id) == expected, object_id
        assert _listed(client, f"  {object_id} ") == expected
        found.update(prefix for prefix in prefixes if object_id.startswith(prefix))
    assert found == prefixes  # the walk covered subscriptions, invoices, customers and payment intents
    # Another account's subscription: nothing (the list stays scoped to the staff user's accounts).
    assert _listed(client, beta.paid_subscription.id) == set()
    # An event's own id, a type and a request id still work.
    event = mine.first()
    assert _listed(client, event.id) == {event.pk}
    assert _listed(client, "customer.subscription.created") == set(
        mine.filter(type="customer.subscription.created").values_list("pk", flat=True)
    )


def test_an_id_search_is_an_exact_indexed_lookup_not_a_scan(client, tenants):
    client.force_login(tenants[0].staff)
    with CaptureQueriesContext(connection) as queries:
        _listed(client, tenants[0].paid_subscription.id)
    event_queries = [q["sql"] for q in queries.captured_queries if '"billing_event"' in q["sql"]]
    assert event_queries and not any("LIKE" in sql.upper() for sql in event_queries)
    assert any('"object_id" =' in sql for sql in event_queries)


def test_the_migration_fills_the_object_id_of_existing_events(tenants):
    Event.objects.update(object_id="")
    fill_migration.fill_object_ids(global_apps, None)
    assert all(event.object_id == event.data_object["id"] for event in Event.objects.all())
