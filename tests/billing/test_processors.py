"""Payment processor settings: secrets encrypted at rest and rotatable, validated per mode, never audited; the
gateway each account and mode gets."""

import json
import sys
import types

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from billing import crypto
from billing.audit import Actor
from billing.exceptions import GatewayUnavailable, InvalidRequest, NotFound, ProcessorNotConfigured
from billing.gateways import (
    MOLLIE_GATEWAY,
    STRIPE_GATEWAY,
    forget_built_gateways,
    gateway_for,
    gateway_spec,
    get_gateway,
)
from billing.gateways.test import TestGateway
from billing.models import Account, AuditEntry, ProcessorAccount
from billing.services.processors import processor_account_delete, processor_account_set, processor_account_test
from tests.factories.billing import AccountFactory

ACTOR = Actor.system("test")
SK_TEST = "sk_test_51AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
SK_TEST_NEW = "sk_test_51ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210"
PK_TEST = "pk_test_51AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
WHSEC = "whsec_0123456789abcdefghijklmnopqrstuv"
SK_LIVE = "sk_live_51AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
PK_LIVE = "pk_live_51AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
MOLLIE_LIVE = "live_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM"
MOLLIE_TEST = "test_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM"


@pytest.fixture(autouse=True)
def _fresh_gateways():
    forget_built_gateways()
    yield
    forget_built_gateways()


@pytest.fixture
def stripe_test(account):
    return processor_account_set(
        account=account,
        livemode=False,
        processor="stripe",
        actor=ACTOR,
        stripe_secret_key=SK_TEST,
        stripe_webhook_secret=WHSEC,
        stripe_publishable_key=PK_TEST,
    )


class FakeAdapter:
    """A processor adapter standing in for one that is not ours to call in tests."""

    fail_with: Exception | None = None

    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def check_connection(self):
        if FakeAdapter.fail_with is not None:
            raise FakeAdapter.fail_with


@pytest.fixture
def fake_adapters(monkeypatch):
    """Serve both adapter paths from FakeAdapter (whether or not the real adapters exist yet)."""
    FakeAdapter.fail_with = None
    for path in (STRIPE_GATEWAY, MOLLIE_GATEWAY):
        module_name, class_name = path.rsplit(".", 1)
        monkeypatch.setitem(sys.modules, module_name, types.SimpleNamespace(**{class_name: FakeAdapter}))
    yield FakeAdapter
    FakeAdapter.fail_with = None


def raw_row(pk) -> str:
    """Every column of the row as the database holds it, as one string."""
    table = connection.ops.quote_name(ProcessorAccount._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])  # noqa: S608 (our own table name)
        return " ".join(str(value) for value in cursor.fetchone())


def audit_text(account) -> str:
    entries = AuditEntry.objects.filter(account=account, object_type="processoraccount")
    return json.dumps([entry.changes for entry in entries])


# ---------------------------------------------------------------------------------------------- encryption at rest


def test_the_database_holds_ciphertext_never_the_secrets(stripe_test):
    stored = raw_row(stripe_test.pk)
    assert SK_TEST not in stored and WHSEC not in stored
    assert stripe_test.stripe_secret_key_ciphertext in stored
    assert PK_TEST in stored  # the publishable key is not a secret
    row = ProcessorAccount.objects.get(pk=stripe_test.pk)
    assert row.secret("stripe_secret_key") == SK_TEST and row.secret("stripe_webhook_secret") == WHSEC


def test_without_configured_keys_a_key_is_derived_from_the_secret_key(settings):
    settings.BILLING_ENCRYPTION_KEYS = []
    ciphertext = crypto.encrypt("sk_test_x")
    assert crypto.decrypt(ciphertext) == "sk_test_x"
    settings.SECRET_KEY = "another-secret-key-entirely-0123456789-abcdefghijklmnop"
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(ciphertext)


def test_rotation_keeps_old_secrets_readable_and_the_command_reencrypts_them(settings, account):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.BILLING_ENCRYPTION_KEYS = [old]
    row = processor_account_set(
        account=account,
        livemode=False,
        processor="stripe",
        actor=ACTOR,
        stripe_secret_key=SK_TEST_NEW,
        stripe_webhook_secret=WHSEC,
        stripe_publishable_key=PK_TEST,
    )
    before = row.stripe_secret_key_ciphertext

    settings.BILLING_ENCRYPTION_KEYS = [new, old]
    row.refresh_from_db()
    assert row.secret("stripe_secret_key") == SK_TEST_NEW  # the old key still decrypts
    call_command("rotate_processor_keys", stdout=(out := _Output()))
    assert "1 of 1" in out.text
    row.refresh_from_db()
    assert row.stripe_secret_key_ciphertext != before and SK_TEST_NEW not in raw_row(row.pk)

    settings.BILLING_ENCRYPTION_KEYS = [new]  # the old key is gone: the rotated secrets still read
    row.refresh_from_db()
    assert row.secret("stripe_secret_key") == SK_TEST_NEW and row.secret("stripe_webhook_secret") == WHSEC
    call_command("rotate_processor_keys", stdout=(again := _Output()))
    assert "0 of 1" in again.text
    assert "re-encrypted" in audit_text(account) and SK_TEST_NEW not in audit_text(account)


def test_a_secret_whose_key_was_removed_is_unreadable_not_garbage(settings, account):
    settings.BILLING_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    row = processor_account_set(
        account=account, livemode=False, processor="mollie", actor=ACTOR, mollie_api_key=MOLLIE_TEST
    )
    settings.BILLING_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.SecretUnreadable, match="rotate_processor_keys"):
        ProcessorAccount.objects.get(pk=row.pk).secret("mollie_api_key")
    # Entering the key again recovers.
    row = processor_account_set(
        account=account, livemode=False, processor="mollie", actor=ACTOR, mollie_api_key=MOLLIE_TEST
    )
    assert row.secret("mollie_api_key") == MOLLIE_TEST


class _Output:
    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass


# ---------------------------------------------------------------------------------------------- setting


def test_a_blank_secret_keeps_the_stored_one(account, stripe_test):
    entries = AuditEntry.objects.filter(account=account).count()
    row = processor_account_set(
        account=account,
        livemode=False,
        processor="stripe",
        actor=ACTOR,
        stripe_secret_key="",
        stripe_webhook_secret="",
        stripe_publishable_key=PK_TEST,
    )
    assert row.secret("stripe_secret_key") == SK_TEST and row.secret("stripe_webhook_secret") == WHSEC
    assert AuditEntry.objects.filter(account=account).count() == entries  # nothing changed, nothing recorded
    assert row.stripe_secret_key_ciphertext == stripe_test.stripe_secret_key_ciphertext


def test_one_row_per_account_and_mode(account, stripe_test):
    processor_account_set(
        account=account, livemode=False, processor="stripe", actor=ACTOR, stripe_secret_key=SK_TEST_NEW
    )
    assert ProcessorAccount.objects.filter(account=account).count() == 1
    assert ProcessorAccount.objects.get(account=account).secret("stripe_secret_key") == SK_TEST_NEW


def test_switching_processor_removes_the_other_processors_secrets(account, stripe_test):
    row = processor_account_set(
        account=account, livemode=False, processor="mollie", actor=ACTOR, mollie_api_key=MOLLIE_TEST
    )
    assert not row.has_secret("stripe_secret_key") and not row.has_secret("stripe_webhook_secret")
    assert row.stripe_publishable_key == "" and row.secret("mollie_api_key") == MOLLIE_TEST
    assert SK_TEST not in raw_row(row.pk)


def test_changed_credentials_are_unverified_until_tested_again(account):
    processor_account_set(account=account, livemode=False, processor="test", actor=ACTOR)
    assert processor_account_test(account=account, livemode=False, actor=ACTOR).verified_at is not None
    row = processor_account_set(
        account=account, livemode=False, processor="mollie", actor=ACTOR, mollie_api_key=MOLLIE_TEST
    )
    assert row.verified_at is None and ProcessorAccount.objects.get(pk=row.pk).verified_at is None


@pytest.mark.parametrize(
    ("livemode", "processor", "fields", "param", "message"),
    [
        (True, "test", {}, "processor", "choose Stripe or Mollie for live mode"),
        (False, "paypal", {}, "processor", "Choose a payment processor"),
        (False, "stripe", {"stripe_publishable_key": PK_TEST}, "stripe_secret_key", "Enter the Stripe secret key."),
        (
            False,
            "stripe",
            {"stripe_secret_key": SK_LIVE},
            "stripe_secret_key",
            "is for live mode; in test mode use one that starts with sk_test_ or rk_test_",
        ),
        (
            True,
            "stripe",
            {"stripe_secret_key": SK_TEST},
            "stripe_secret_key",
            "is for test mode; in live mode use one that starts with sk_live_ or rk_live_",
        ),
        (
            False,
            "stripe",
            {"stripe_secret_key": "pk_test_abc"},
            "stripe_secret_key",
            "Invalid Stripe secret key: it starts with sk_test_ or rk_test_",
        ),
        (
            False,
            "stripe",
            {"stripe_secret_key": SK_TEST, "stripe_publishable_key": PK_LIVE},
            "stripe_publishable_key",
            "in test mode use one that starts with pk_test_",
        ),
        (
            False,
            "stripe",
            {"stripe_secret_key": SK_TEST, "stripe_publishable_key": PK_TEST, "stripe_webhook_secret": "sk_test_x"},
            "stripe_webhook_secret",
            "it starts with whsec_",
        ),
        (
            False,
            "stripe",
            {"stripe_secret_key": "sk_test_ abc", "stripe_publishable_key": PK_TEST},
            "stripe_secret_key",
            "letters, digits and underscores only",
        ),
        (
            True,
            "mollie",
            {"mollie_api_key": MOLLIE_TEST},
            "mollie_api_key",
            "is for test mode; in live mode use one that starts with live_",
        ),
        (
            False,
            "mollie",
            {"mollie_api_key": MOLLIE_LIVE},
            "mollie_api_key",
            "is for live mode; in test mode use one that starts with test_",
        ),
        (
            False,
            "mollie",
            {"mollie_api_key": MOLLIE_TEST, "mollie_profile_id": "prf_123"},
            "mollie_profile_id",
            "it starts with pfl_",
        ),
        (False, "mollie", {}, "mollie_api_key", "Enter the Mollie API key."),
    ],
)
def test_invalid_settings_get_a_clear_message(account, livemode, processor, fields, param, message):
    with pytest.raises(InvalidRequest) as raised:
        processor_account_set(account=account, livemode=livemode, processor=processor, actor=ACTOR, **fields)
    assert raised.value.param == param
    assert message in raised.value.message
    for value in fields.values():
        if len(value) > 12:
            assert value not in raised.value.message  # a refused key is never echoed
    assert not ProcessorAccount.objects.exists()


def test_live_mode_needs_the_billing_plan(db):
    starter = AccountFactory(plan=Account.Plan.STARTER)
    with pytest.raises(InvalidRequest, match="Billing plan"):
        processor_account_set(
            account=starter, livemode=True, processor="mollie", actor=ACTOR, mollie_api_key=MOLLIE_LIVE
        )


def test_audit_entries_name_the_changed_fields_and_never_a_secret(account, stripe_test):
    processor_account_set(
        account=account, livemode=False, processor="stripe", actor=ACTOR, stripe_secret_key=SK_TEST_NEW
    )
    processor_account_set(account=account, livemode=False, processor="mollie", actor=ACTOR, mollie_api_key=MOLLIE_TEST)
    entries = list(AuditEntry.objects.filter(account=account, object_type="processoraccount").order_by("id"))
    assert [entry.action for entry in entries] == [
        "processor_account.create",
        "processor_account.update",
        "processor_account.update",
    ]
    assert entries[0].changes == {
        "processor": "stripe",
        "stripe_secret_key": "set",
        "stripe_webhook_secret": "set",
        "stripe_publishable_key": PK_TEST,
    }
    assert entries[1].changes == {"stripe_secret_key": "set"}
    assert entries[2].changes == {
        "processor": "mollie",
        "stripe_secret_key": "removed",
        "stripe_webhook_secret": "removed",
        "stripe_publishable_key": "",
        "mollie_api_key": "set",
    }
    text = audit_text(account)
    for secret in (SK_TEST, SK_TEST_NEW, WHSEC, MOLLIE_TEST, stripe_test.stripe_secret_key_ciphertext):
        assert secret not in text


# ---------------------------------------------------------------------------------------------- testing the connection


def test_the_test_processor_connects(account):
    processor_account_set(account=account, livemode=False, processor="test", actor=ACTOR)
    row = processor_account_test(account=account, livemode=False, actor=ACTOR)
    assert row.verified_at is not None and row.last_error == ""
    assert AuditEntry.objects.filter(action="processor_account.test", changes__result="verified").exists()


def test_a_failed_connection_is_recorded_without_the_secret(account, stripe_test, fake_adapters):
    fake_adapters.fail_with = GatewayUnavailable(f"Invalid API Key provided: {SK_TEST}")
    row = processor_account_test(account=account, livemode=False, actor=ACTOR)
    assert row.verified_at is None
    assert row.last_error == "Invalid API Key provided: [redacted]"
    assert SK_TEST not in audit_text(account)

    fake_adapters.fail_with = None
    row = processor_account_test(account=account, livemode=False, actor=ACTOR)
    assert row.verified_at is not None and row.last_error == ""


def test_a_missing_adapter_is_a_recorded_error(account, stripe_test, monkeypatch):
    monkeypatch.setitem(sys.modules, STRIPE_GATEWAY.rsplit(".", 1)[0], None)  # importing it fails
    row = processor_account_test(account=account, livemode=False, actor=ACTOR)
    assert row.last_error == "The Stripe adapter is not available in this installation."


def test_testing_without_a_processor_is_not_found(account):
    with pytest.raises(NotFound, match="No payment processor is set up for live mode"):
        processor_account_test(account=account, livemode=True, actor=ACTOR)


# ---------------------------------------------------------------------------------------------- gateway_for


def test_without_a_processor_test_mode_uses_the_default_gateway(account):
    assert gateway_for(account.pk, False) is get_gateway()
    assert isinstance(gateway_for(account.pk, False), TestGateway)


def test_without_a_processor_live_mode_says_what_to_set_up(account):
    with pytest.raises(ProcessorNotConfigured) as raised:
        gateway_for(account.pk, True)
    error = raised.value
    assert error.code == "processor_not_configured" and error.http_status == 400
    assert error.message == (
        "No payment processor is set up for live mode on this account. Add one in the admin under Payment processors."
    )


def test_the_test_processor_row_gives_the_test_gateway(account):
    processor_account_set(account=account, livemode=False, processor="test", actor=ACTOR)
    assert isinstance(gateway_for(account.pk, False), TestGateway)


def test_a_stripe_row_builds_the_stripe_adapter_with_its_decrypted_credentials(stripe_test):
    spec = gateway_spec(ProcessorAccount.objects.get(pk=stripe_test.pk))
    assert spec.path == "billing.gateways.stripe.StripeGateway"
    assert spec.kwargs == {"secret_key": SK_TEST, "webhook_secret": WHSEC, "publishable_key": PK_TEST}
    assert SK_TEST not in repr(spec)


def test_a_mollie_row_builds_the_mollie_adapter_with_its_webhook_url(settings, account):
    settings.PORTAL_BASE_URL = "https://billing.example.com"
    row = processor_account_set(
        account=account,
        livemode=True,
        processor="mollie",
        actor=ACTOR,
        mollie_api_key=MOLLIE_LIVE,
        mollie_profile_id="pfl_QkEhN94Ba",
    )
    spec = gateway_spec(row)
    assert spec.path == "billing.gateways.mollie.MollieGateway"
    assert spec.kwargs == {
        "api_key": MOLLIE_LIVE,
        "profile_id": "pfl_QkEhN94Ba",
        "webhook_url": f"https://billing.example.com/processors/mollie/{account.pk}/webhook",
    }


def test_gateways_are_built_once_per_version_of_the_row(account, stripe_test, fake_adapters, django_assert_num_queries):
    with django_assert_num_queries(1):
        first = gateway_for(account.pk, False)
    with django_assert_num_queries(1):
        assert gateway_for(account.pk, False) is first
    assert isinstance(first, FakeAdapter) and first.kwargs["secret_key"] == SK_TEST
    processor_account_set(
        account=account, livemode=False, processor="stripe", actor=ACTOR, stripe_secret_key=SK_TEST_NEW
    )
    changed = gateway_for(account.pk, False)
    assert changed is not first and changed.kwargs["secret_key"] == SK_TEST_NEW


def test_removing_the_processor_falls_back_in_test_mode_and_stops_live_mode(account, fake_adapters):
    live = processor_account_set(
        account=account,
        livemode=True,
        processor="stripe",
        actor=ACTOR,
        stripe_secret_key=SK_LIVE,
        stripe_publishable_key=PK_LIVE,
    )
    assert isinstance(gateway_for(account.pk, True), FakeAdapter)
    processor_account_delete(processor_account=live, actor=ACTOR)
    with pytest.raises(ProcessorNotConfigured):
        gateway_for(account.pk, True)
    assert AuditEntry.objects.filter(action="processor_account.delete", object_id=str(live.pk)).exists()
