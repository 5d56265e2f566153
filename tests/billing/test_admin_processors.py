"""Payment processors in the admin: secrets typed in and never shown back, saving and testing through the services,
scoped to the staff user's accounts and the admin's mode."""

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse

from billing.audit import Actor
from billing.models import AuditEntry, ProcessorAccount
from billing.services.accounts import staff_user_add
from billing.services.processors import processor_account_set
from tests.configurations.helpers import messages_of, post_data
from tests.factories.billing import AccountFactory

ACTOR = Actor.system("test")
ADD = reverse("admin:billing_processoraccount_add")
CHANGELIST = reverse("admin:billing_processoraccount_changelist")
SK_TEST = "sk_test_51AlphaSecretKeyThatMustNeverBeShown0123"
WHSEC = "whsec_AlphaSigningSecretThatMustNeverBeShown"
PK_TEST = "pk_test_51AlphaPublishableKey0123"
MOLLIE_TEST = "test_BetaMollieKeyThatMustNeverBeShown01"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alpha(db):
    return AccountFactory(name="Alpha")


@pytest.fixture
def beta(db):
    return AccountFactory(name="Beta")


@pytest.fixture
def staff_client(client, alpha):
    client.force_login(staff_user_add(account=alpha, email="staff@alpha.example"))
    return client


@pytest.fixture
def alpha_stripe(alpha):
    return processor_account_set(
        account=alpha,
        livemode=False,
        processor="stripe",
        actor=ACTOR,
        stripe_secret_key=SK_TEST,
        stripe_webhook_secret=WHSEC,
        stripe_publishable_key=PK_TEST,
    )


@pytest.fixture
def beta_mollie(beta):
    return processor_account_set(
        account=beta, livemode=False, processor="mollie", actor=ACTOR, mollie_api_key=MOLLIE_TEST
    )


def change_url(row) -> str:
    return reverse("admin:billing_processoraccount_change", args=[quote(row.pk)])


def connection_url(row) -> str:
    return reverse("admin:billing_processoraccount_test_connection", args=[quote(row.pk)])


def test_the_form_never_shows_a_stored_secret(staff_client, alpha_stripe):
    response = staff_client.get(change_url(alpha_stripe))
    assert response.status_code == 200
    html = response.content.decode()
    assert SK_TEST not in html and WHSEC not in html
    assert alpha_stripe.stripe_secret_key_ciphertext not in html
    assert 'type="password" name="stripe_secret_key"' in html
    assert html.count("Saved. Leave blank to keep the current key.") == 2  # the secret key and the webhook secret
    assert PK_TEST in html  # not a secret: shown for checking
    assert "Test connection" in html


def test_adding_a_processor_goes_through_the_service(staff_client, alpha):
    data = post_data(
        staff_client.get(ADD),
        processor="stripe",
        stripe_secret_key=SK_TEST,
        stripe_webhook_secret=WHSEC,
        stripe_publishable_key=PK_TEST,
    )
    response = staff_client.post(ADD, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    row = ProcessorAccount.objects.get(account=alpha)
    assert row.livemode is False and row.secret("stripe_secret_key") == SK_TEST
    entry = AuditEntry.objects.get(action="processor_account.create")
    assert entry.actor_label == "staff@alpha.example" and SK_TEST not in str(entry.changes)


def test_saving_with_blank_secrets_keeps_them(staff_client, alpha_stripe):
    url = change_url(alpha_stripe)
    response = staff_client.post(url, post_data(staff_client.get(url), stripe_publishable_key="pk_test_51Another"))
    assert response.status_code == 302
    row = ProcessorAccount.objects.get(pk=alpha_stripe.pk)
    assert row.stripe_publishable_key == "pk_test_51Another"
    assert row.secret("stripe_secret_key") == SK_TEST and row.secret("stripe_webhook_secret") == WHSEC


def test_a_refused_key_is_a_form_error_and_is_not_shown_back(staff_client, alpha_stripe):
    url = change_url(alpha_stripe)
    live_key = "sk_live_51ThisIsALiveKeyInTestMode0123456789"
    response = staff_client.post(url, post_data(staff_client.get(url), stripe_secret_key=live_key))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "in test mode use one that starts with sk_test_" in str(errors["stripe_secret_key"])
    assert live_key not in response.content.decode()
    assert ProcessorAccount.objects.get(pk=alpha_stripe.pk).secret("stripe_secret_key") == SK_TEST


def test_live_mode_offers_no_test_gateway(staff_client):
    staff_client.post(reverse("admin:billing_admin_mode"), {"mode": "live"})
    form = staff_client.get(ADD).context["adminform"].form
    assert [value for value, _label in form.fields["processor"].choices if value] == ["stripe", "mollie"]
    assert form.initial["livemode"] is True


def test_a_second_processor_for_the_same_mode_is_refused(staff_client, alpha_stripe):
    data = post_data(staff_client.get(ADD), processor="mollie", mollie_api_key="test_another0123456789")
    response = staff_client.post(ADD, data)
    assert response.status_code == 200
    assert "already has a payment processor in this mode" in response.content.decode()
    assert ProcessorAccount.objects.get(account=alpha_stripe.account).processor == "stripe"


def test_test_connection_button_shows_the_result(staff_client, alpha):
    row = processor_account_set(account=alpha, livemode=False, processor="test", actor=ACTOR)
    response = staff_client.post(connection_url(row))
    assert response.status_code == 302 and response["Location"] == change_url(row)
    assert messages_of(response) == ["Test gateway (test mode only) (test mode): the connection works."]
    assert ProcessorAccount.objects.get(pk=row.pk).verified_at is not None
    assert staff_client.get(connection_url(row)).status_code == 405


def test_test_connection_shows_the_processors_error(staff_client, alpha_stripe, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "billing.gateways.stripe", None)  # the adapter cannot be imported
    response = staff_client.post(connection_url(alpha_stripe))
    assert messages_of(response) == [
        "Stripe (test mode): the connection failed: The Stripe adapter is not available in this installation."
    ]


def test_test_connection_action(staff_client, alpha):
    row = processor_account_set(account=alpha, livemode=False, processor="test", actor=ACTOR)
    response = staff_client.post(CHANGELIST, {"action": "test_connection", "_selected_action": [row.pk]})
    assert response.status_code == 302
    assert messages_of(response) == ["Test gateway (test mode only) (test mode): the connection works."]


def test_deleting_goes_through_the_service(staff_client, alpha_stripe):
    delete = reverse("admin:billing_processoraccount_delete", args=[quote(alpha_stripe.pk)])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 302
    assert not ProcessorAccount.objects.exists()
    assert AuditEntry.objects.filter(action="processor_account.delete").exists()


# ---------------------------------------------------------------------------------------------- scoping


def test_another_accounts_processor_is_neither_listed_nor_reachable(staff_client, alpha_stripe, beta_mollie):
    listed = staff_client.get(CHANGELIST)
    assert list(listed.context["cl"].result_list) == [alpha_stripe]
    assert change_url(beta_mollie) not in listed.content.decode()
    response = staff_client.get(change_url(beta_mollie))
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
    assert staff_client.post(connection_url(beta_mollie)).status_code == 404
    page = staff_client.post(change_url(beta_mollie), {"processor": "test"}, follow=True).content.decode()
    assert MOLLIE_TEST not in page
    assert ProcessorAccount.objects.get(pk=beta_mollie.pk).processor == "mollie"
    action = {"action": "test_connection", "_selected_action": [beta_mollie.pk]}
    staff_client.post(CHANGELIST, action)
    assert ProcessorAccount.objects.get(pk=beta_mollie.pk).verified_at is None


def test_the_list_shows_the_admins_mode_only(staff_client, alpha, alpha_stripe):
    live = processor_account_set(
        account=alpha,
        livemode=True,
        processor="mollie",
        actor=ACTOR,
        mollie_api_key="live_AlphaLiveKey0123456789",
    )
    assert list(staff_client.get(CHANGELIST).context["cl"].result_list) == [alpha_stripe]
    staff_client.post(reverse("admin:billing_admin_mode"), {"mode": "live"})
    assert list(staff_client.get(CHANGELIST).context["cl"].result_list) == [live]
    assert staff_client.post(connection_url(alpha_stripe)).status_code == 404  # a test row while viewing live data


def test_the_admin_speaks_german(staff_client, alpha_stripe):
    html = staff_client.get(change_url(alpha_stripe), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Verbindung testen" in html
    assert "Gespeichert. Leer lassen, um den aktuellen Schlüssel zu behalten." in html
