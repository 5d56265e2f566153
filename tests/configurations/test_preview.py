"""Preview portal: staff open a configuration's portal as a customer they choose."""

from django.urls import reverse

from billing.models import AuditEntry
from configurations.models import PortalSession
from tests.factories.billing import CustomerFactory
from tests.factories.portal import full_configuration


def _url(configuration) -> str:
    return reverse("portal:configuration_preview", args=[configuration.pk])


def _open(client, location: str):
    opened = client.get(location)
    assert opened.status_code == 303
    return client.get(opened["Location"])


def test_preview_offers_the_accounts_customers_and_opens_the_chosen_one(staff_client, merchant):
    configuration = full_configuration(merchant)
    chosen = CustomerFactory(account=merchant, email="chosen@example.com")
    CustomerFactory(account=merchant, email="other@example.com")
    CustomerFactory(email="stranger@example.com")  # another account

    page = staff_client.get(_url(configuration))
    html = page.content.decode()
    assert page.status_code == 200
    assert "chosen@example.com" in html and "other@example.com" in html and "stranger@example.com" not in html

    response = staff_client.post(_url(configuration), {"customer": chosen.pk})
    assert response.status_code == 302 and response["Location"].startswith("/p/session/test_")
    overview = _open(staff_client, response["Location"])
    assert overview.status_code == 200 and "chosen@example.com" in overview.content.decode()
    session = PortalSession.objects.get()
    assert session.configuration == configuration and session.customer == chosen
    assert session.return_url.endswith(
        reverse("admin:configurations_portalconfiguration_change", args=[configuration.pk])
    )
    assert AuditEntry.objects.filter(action="portal_session.create", actor_type="staff").exists()


def test_preview_by_email_and_unknown_customers_refused(staff_client, merchant):
    configuration = full_configuration(merchant)
    customer = CustomerFactory(account=merchant, email="Someone@Example.com")
    stranger = CustomerFactory(email="stranger@example.com")

    response = staff_client.post(_url(configuration), {"lookup": "someone@example.com"})
    assert response.status_code == 302
    _open(staff_client, response["Location"])
    assert PortalSession.objects.get().customer == customer

    refused = staff_client.post(_url(configuration), {"lookup": stranger.pk})
    assert refused.status_code == 200 and "No such customer in this account and mode." in refused.content.decode()
    assert PortalSession.objects.count() == 1


def test_preview_without_customers_says_so(staff_client, merchant):
    configuration = full_configuration(merchant)
    page = staff_client.get(_url(configuration))
    assert "This mode has no customers yet" in page.content.decode()


def test_other_accounts_configurations_cannot_be_previewed(staff_client, other_merchant):
    configuration = full_configuration(other_merchant)
    CustomerFactory(account=other_merchant)
    assert staff_client.get(_url(configuration)).status_code == 404


def test_preview_needs_a_staff_login(client, merchant):
    configuration = full_configuration(merchant)
    response = client.get(_url(configuration))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
