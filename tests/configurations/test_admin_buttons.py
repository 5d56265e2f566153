""" "Make default" and "Verify now" are buttons on the change pages (POST, CSRF-checked, audited like the actions);
the custom-domain page names the exact DNS records to create, with copy buttons."""

from django.contrib.admin.utils import quote
from django.test import Client
from django.urls import reverse

from billing.models import AuditEntry
from configurations.services import custom_domains
from configurations.services.custom_domains import custom_domain_set
from tests.configurations.helpers import messages_of
from tests.configurations.test_admin import ACTOR, change_url, create
from tests.configurations.test_domains import FakeResolver


def _button(model_name: str, name: str, obj) -> str:
    return reverse(f"admin:configurations_{model_name}_{name}", args=[quote(obj.pk)])


def test_make_default_is_a_button_on_the_change_page(staff_client, merchant):
    first, second = create(merchant, name="First"), create(merchant, name="Second")
    url = _button("portalconfiguration", "make_default", second)
    page = staff_client.get(change_url(second)).content.decode()
    assert f'action="{url}"' in page and "Make default" in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert (
        f'action="{_button("portalconfiguration", "make_default", first)}"'
        not in staff_client.get(change_url(first)).content.decode()
    )  # already the default: no button

    assert staff_client.get(url).status_code == 405
    response = staff_client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == change_url(second)
    assert any("Second is now the default test configuration." in m for m in messages_of(response))
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.is_default and not first.is_default
    entry = AuditEntry.objects.filter(action="portal_configuration.make_default", object_id=second.pk).get()
    assert entry.actor_type == "staff"


def test_the_buttons_need_the_csrf_token_and_the_staff_members_account(staff, merchant, other_merchant):
    mine, theirs = create(merchant, name="Mine"), create(other_merchant, name="Theirs")
    create(merchant, name="Other")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff)
    assert strict.post(_button("portalconfiguration", "make_default", mine)).status_code == 403
    client = Client()
    client.force_login(staff)
    assert client.post(_button("portalconfiguration", "make_default", theirs)).status_code in (302, 404)
    theirs.refresh_from_db()
    assert not AuditEntry.objects.filter(object_id=theirs.pk, action="portal_configuration.make_default").exists()


def test_verify_now_is_a_button_and_the_page_lists_the_dns_records(staff_client, merchant, settings, monkeypatch):
    settings.PORTAL_BASE_URL = "https://portal.billing-host.example"
    domain = custom_domain_set(account=merchant, hostname="billing.alpha.example", actor=ACTOR)
    page = staff_client.get(change_url(domain)).content.decode()
    url = _button("customdomain", "verify", domain)
    assert f'action="{url}"' in page and "Verify now" in page
    # The two records, each name and value in a copy field.
    assert 'value="billing.alpha.example"' in page and 'value="portal.billing-host.example"' in page
    assert f'value="{domain.record_name}"' in page and f'value="{domain.record_value}"' in page
    assert page.count("data-copy-target=") >= 4 and "js/copy-link.js" in page
    assert "CNAME" in page and "TXT" in page

    monkeypatch.setattr(custom_domains, "_default_resolver", lambda: FakeResolver({}))
    response = staff_client.post(url, follow=True)
    assert any("No TXT record" in m for m in messages_of(response))
    monkeypatch.setattr(
        custom_domains, "_default_resolver", lambda: FakeResolver({domain.record_name: [domain.record_value]})
    )
    response = staff_client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == change_url(domain)
    assert any("1 domain is verified." in m for m in messages_of(response))
    domain.refresh_from_db()
    assert domain.is_verified
    assert AuditEntry.objects.filter(action="custom_domain.verify", actor_type="staff").count() == 2
