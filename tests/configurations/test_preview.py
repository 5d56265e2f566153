"""Preview portal: staff open a configuration's portal as the newest customer of its mode."""

from django.urls import reverse

from billing.models import AuditEntry
from portal.models import PortalSession
from tests.factories.billing import CustomerFactory
from tests.factories.portal import full_configuration


def _preview(client, configuration):
    return client.post(reverse("portal:configuration_preview", args=[configuration.pk]))


def test_preview_opens_the_portal_with_this_configuration(staff_client, merchant, staff):
    configuration = full_configuration(merchant)
    CustomerFactory(account=merchant, email="older@example.com")
    newest = CustomerFactory(account=merchant, email="newest@example.com")

    response = _preview(staff_client, configuration)

    assert response.status_code == 302 and response["Location"].startswith("/p/session/test_")
    opened = staff_client.get(response["Location"])
    assert opened.status_code == 303
    overview = staff_client.get(opened["Location"])
    assert overview.status_code == 200 and "newest@example.com" in overview.content.decode()
    session = PortalSession.objects.get()
    assert session.configuration == configuration and session.customer == newest
    assert session.return_url.endswith(
        reverse("admin:configurations_portalconfiguration_change", args=[configuration.pk])
    )
    assert AuditEntry.objects.filter(action="portal_session.create", actor_type="staff").exists()


def test_preview_without_customers_says_so(staff_client, merchant):
    configuration = full_configuration(merchant)
    response = _preview(staff_client, configuration)
    assert response.status_code == 302 and "/admin/configurations/portalconfiguration/" in response["Location"]
    assert not PortalSession.objects.exists()


def test_other_accounts_configurations_cannot_be_previewed(staff_client, other_merchant):
    configuration = full_configuration(other_merchant)
    CustomerFactory(account=other_merchant)
    assert _preview(staff_client, configuration).status_code == 404


def test_preview_needs_a_staff_login(client, merchant):
    configuration = full_configuration(merchant)
    response = _preview(client, configuration)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
