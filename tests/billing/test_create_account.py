import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
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


def _create(*args, monkeypatch=None, tty=False):
    out, err = StringIO(), StringIO()
    if monkeypatch is not None:
        monkeypatch.setattr("sys.stdin.isatty", lambda: tty)
    call_command("create_account", *args, stdout=out, stderr=err)
    return json.loads(out.getvalue()), err.getvalue()


def test_create_account_staff_password_from_the_option(db, client, monkeypatch):
    data, err = _create(
        "Acme", "--staff", "ops@acme.example", "--password", "correct horse 42", monkeypatch=monkeypatch
    )
    assert err == ""
    assert client.login(username="ops@acme.example", password="correct horse 42")
    assert client.get("/admin/").status_code == 200


def test_create_account_refuses_a_weak_password_and_writes_nothing(db):
    with pytest.raises(CommandError, match="too common|too short"):
        call_command("create_account", "Acme", "--staff", "ops@acme.example", "--password", "password")
    assert not Account.objects.exists() and not get_user_model().objects.exists()


def test_create_account_asks_for_the_password_when_interactive(db, client, monkeypatch):
    answers = iter(["correct horse 42", "mistyped", "correct horse 42", "correct horse 42"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    data, err = _create("Acme", "--staff", "ops@acme.example", monkeypatch=monkeypatch, tty=True)
    assert "do not match" in err and "make staff-password" not in err
    assert client.login(username="ops@acme.example", password="correct horse 42")


def test_create_account_without_a_password_prints_how_to_set_one(db, monkeypatch):
    def no_prompt(prompt=""):
        raise AssertionError("no prompt without a terminal")

    monkeypatch.setattr("getpass.getpass", no_prompt)
    data, err = _create("Acme", "--staff", "ops@acme.example", monkeypatch=monkeypatch, tty=False)
    assert data["account"].startswith("acct_")  # stdout is still exactly the JSON object
    assert "make staff-password STAFF=ops@acme.example" in err
    assert "python manage.py changepassword ops@acme.example" in err
    assert not get_user_model().objects.get(email="ops@acme.example").has_usable_password()


def test_create_account_noinput_and_an_existing_password_ask_nothing(db, monkeypatch):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": pytest.fail("asked"))
    _, err = _create("A", "--staff", "ops@acme.example", "--noinput", monkeypatch=monkeypatch, tty=True)
    assert "make staff-password" in err
    user = get_user_model().objects.get(email="ops@acme.example")
    user.set_password("correct horse 42")
    user.save()
    _, err = _create("B", "--staff", "ops@acme.example", monkeypatch=monkeypatch, tty=True)
    assert err == ""
    assert Membership.objects.filter(user=user).count() == 2
