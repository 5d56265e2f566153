"""The webhooks admin: scoped to the staff user's accounts, secrets masked, writes and actions through
the services (add, roll secret, send test event, resend), attempts shown with their delivery."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from billing.models import AuditEntry
from billing.services.accounts import staff_user_add
from tests.factories.billing import AccountFactory, CustomerFactory
from webhooks import ssrf
from webhooks.models import Attempt, Delivery, WebhookEndpoint

from .conftest import make_endpoint


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tenants(db, mock_http, change_customer):
    """Two merchants, each with a staff user, an endpoint and one delivered event."""
    made = []
    for name in ("Alpha", "Beta"):
        account = AccountFactory(name=name)
        staff = staff_user_add(account=account, email=f"staff@{name.lower()}.example")
        endpoint = make_endpoint(account, f"https://hooks.{name.lower()}.example/stripe")
        change_customer(CustomerFactory(account=account))
        made.append((account, staff, endpoint, Delivery.objects.get(endpoint=endpoint)))
    return made


@pytest.fixture
def staff_client(client, tenants):
    client.force_login(tenants[0][1])
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_lists_show_only_the_staff_users_account(staff_client, tenants):
    (_, _, own_endpoint, own_delivery), (_, _, other_endpoint, other_delivery) = tenants
    page = staff_client.get(reverse("admin:webhooks_webhookendpoint_changelist")).content.decode()
    assert own_endpoint.url in page and other_endpoint.url not in page
    page = staff_client.get(reverse("admin:webhooks_delivery_changelist")).content.decode()
    assert own_delivery.event_id in page and other_delivery.event_id not in page

    for url in (
        reverse("admin:webhooks_webhookendpoint_change", args=[other_endpoint.pk]),
        reverse("admin:webhooks_delivery_change", args=[other_delivery.pk]),
    ):
        response = staff_client.get(url, follow=True)
        assert other_endpoint.url not in response.content.decode()
        assert "doesn’t exist" in response.content.decode()


def test_the_secret_is_masked(staff_client, tenants):
    endpoint = tenants[0][2]
    page = staff_client.get(reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk])).content.decode()
    assert endpoint.masked_secret in page
    assert endpoint.secret not in page


def test_adding_an_endpoint_goes_through_the_service_and_shows_the_secret_once(staff_client, tenants):
    account = tenants[0][0]
    response = staff_client.post(
        reverse("admin:webhooks_webhookendpoint_add"),
        {
            "account": account.pk,
            "url": "https://hooks.alpha.example/new",
            "description": "CRM sync",
            "enabled_events": ["customer.updated", "invoice.paid"],
            "metadata": "{}",
        },
        follow=True,
    )
    endpoint = WebhookEndpoint.objects.get(url="https://hooks.alpha.example/new")
    assert endpoint.enabled_events == ["customer.updated", "invoice.paid"]
    assert any(endpoint.secret in m for m in messages_of(response))
    assert AuditEntry.objects.filter(
        action="webhook_endpoint.create", object_id=endpoint.pk, actor_type="staff"
    ).exists()


def test_a_refused_url_is_a_form_error(staff_client, tenants):
    account = tenants[0][0]
    with ssrf.using_resolver(lambda host, port: ["169.254.169.254"]):
        response = staff_client.post(
            reverse("admin:webhooks_webhookendpoint_add"),
            {
                "account": account.pk,
                "url": "https://metadata.alpha.example/",
                "enabled_events": ["*"],
                "metadata": "{}",
            },
        )
    assert response.status_code == 200
    assert "cloud metadata service" in response.content.decode()
    assert not WebhookEndpoint.objects.filter(url="https://metadata.alpha.example/").exists()


def test_disabling_in_the_change_form_uses_the_update_service(staff_client, tenants):
    endpoint = tenants[0][2]
    staff_client.post(
        reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]),
        {
            "url": endpoint.url,
            "description": "",
            "enabled_events": ["*"],
            "status": "disabled",
            "metadata": "{}",
        },
    )
    endpoint.refresh_from_db()
    assert endpoint.status == "disabled" and endpoint.disabled_reason == "manual"
    assert AuditEntry.objects.filter(action="webhook_endpoint.update", object_id=endpoint.pk).exists()


def test_roll_secret_action_shows_the_new_secret(staff_client, tenants):
    endpoint = tenants[0][2]
    old = endpoint.secret
    response = staff_client.post(
        reverse("admin:webhooks_webhookendpoint_changelist"),
        {"action": "roll_secret", "_selected_action": [endpoint.pk]},
        follow=True,
    )
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.previous_secret == old
    assert any(endpoint.secret in m for m in messages_of(response))


def test_send_test_event_action(staff_client, tenants, mock_http, django_capture_on_commit_callbacks):
    endpoint = tenants[0][2]
    before = len(mock_http.requests)
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            reverse("admin:webhooks_webhookendpoint_changelist"),
            {"action": "send_test_event", "_selected_action": [endpoint.pk]},
        )
    assert len(mock_http.requests) == before + 1
    assert Delivery.objects.filter(endpoint=endpoint, event__type="webhook_endpoint.test_event").exists()


def test_actions_cannot_reach_another_accounts_rows(staff_client, tenants):
    other = tenants[1][2]
    staff_client.post(
        reverse("admin:webhooks_webhookendpoint_changelist"),
        {"action": "roll_secret", "_selected_action": [other.pk]},
    )
    secret = other.secret
    other.refresh_from_db()
    assert other.secret == secret


def test_delivery_page_shows_attempts_and_resend_queues_one(
    staff_client, tenants, mock_http, django_capture_on_commit_callbacks
):
    delivery = tenants[0][3]
    page = staff_client.get(reverse("admin:webhooks_delivery_change", args=[delivery.pk])).content.decode()
    assert "attempt" in page.lower() and delivery.event_id in page
    assert "&quot;type&quot;: &quot;customer.updated&quot;" in page
    assert 'id="attempt_log-0"' in page and 'id="attempt_log-1"' not in page

    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            reverse("admin:webhooks_delivery_changelist"),
            {"action": "resend", "_selected_action": [delivery.pk]},
        )
    assert Attempt.objects.filter(delivery=delivery, manual=True, succeeded=True).count() == 1
    page = staff_client.get(reverse("admin:webhooks_delivery_change", args=[delivery.pk])).content.decode()
    assert 'id="attempt_log-1"' in page  # both attempts listed


def test_superuser_sees_every_account(admin_client, tenants):
    page = admin_client.get(reverse("admin:webhooks_webhookendpoint_changelist")).content.decode()
    assert tenants[0][2].url in page and tenants[1][2].url in page
