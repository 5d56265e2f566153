import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.models import Account, ApiKey, Membership


def test_create_account_prints_the_exact_json(db):
    out = StringIO()
    call_command("create_account", "Acme GmbH", "--plan", "billing", "--staff", "ops@acme.example", stdout=out)
    data = json.loads(out.getvalue())
    assert set(data) == {"account", "test_secret_key", "live_secret_key"}
    assert data["account"].startswith("acct_")
    assert data["test_secret_key"].startswith("sk_test_") and data["live_secret_key"].startswith("sk_live_")
    account = Account.objects.get(pk=data["account"])
    assert account.plan == "billing" and account.name == "Acme GmbH"
    test_key = ApiKey.objects.get(key_hash=ApiKey.hash(data["test_secret_key"]))
    assert test_key.account == account and not test_key.livemode
    assert ApiKey.objects.get(key_hash=ApiKey.hash(data["live_secret_key"])).livemode
    assert not ApiKey.objects.filter(redacted__contains=data["test_secret_key"]).exists()
    membership = Membership.objects.get(account=account)
    assert membership.user.email == "ops@acme.example" and membership.user.is_staff


def test_create_account_defaults_to_starter_and_rejects_bad_plans(db):
    out = StringIO()
    call_command("create_account", "Tiny", stdout=out)
    assert Account.objects.get(pk=json.loads(out.getvalue())["account"]).plan == "starter"
    with pytest.raises(CommandError):
        call_command("create_account", "X", "--plan", "gold")
