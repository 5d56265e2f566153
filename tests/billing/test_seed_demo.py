"""The demo loader: the states it promises, built by the real billing engine, exactly once."""

import logging
import os
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models.functions import TruncMonth

from billing import demo
from billing.models import Account, ApiKey, Customer, Invoice, Membership, Price, Product, Subscription


def _row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def _summary(output: str) -> list[str]:
    lines = output.splitlines()
    return lines[next(i for i, line in enumerate(lines) if line.startswith("Admin: ")) :]


def test_seed_demo_builds_every_state_once(db, settings):
    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", stdout=out)
    first = out.getvalue()

    account = Account.objects.get(name=demo.ACCOUNT_NAME)
    assert account.plan == Account.Plan.BILLING
    # The keys printed once are the account's working keys.
    test_key = next(word for word in first.split() if word.startswith("sk_test_"))
    live_key = next(word for word in first.split() if word.startswith("sk_live_"))
    assert ApiKey.objects.get(key_hash=ApiKey.hash(test_key)).account == account
    assert ApiKey.objects.get(key_hash=ApiKey.hash(live_key)).livemode
    assert "Admin: http://testserver/admin/  login: admin / admin" in first
    # The hint works as printed (see test_make_portal_link_runs_the_command_in_the_virtualenv_with_debug).
    assert first.splitlines()[-1].endswith(": make portal-link")
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.check_password("admin")
    assert Membership.objects.filter(user=admin, account=account).exists()

    assert Product.objects.filter(account=account).count() == 3
    prices = Price.objects.filter(account=account)
    assert prices.count() == 12
    assert set(prices.values_list("currency", "recurring_interval")) == {
        ("eur", "month"),
        ("eur", "year"),
        ("usd", "month"),
        ("usd", "year"),
    }
    assert Customer.objects.filter(account=account).count() >= 20
    assert Customer.objects.filter(account=account, preferred_locales=["de"]).exists()

    subscriptions = Subscription.objects.filter(account=account)
    statuses = set(subscriptions.values_list("status", flat=True))
    assert {"active", "trialing", "past_due", "canceled"} <= statuses
    assert subscriptions.filter(status="active", cancel_at_period_end=True).exists()
    assert subscriptions.filter(status="active", items__quantity=3).exists()
    assert subscriptions.filter(discounts__promotion_code__code="WELCOME20").exists()
    for behavior in ("keep_as_draft", "mark_uncollectible", "void"):
        assert subscriptions.collection_paused(behavior).exists(), behavior
    paused = subscriptions.collection_paused()
    assert paused.filter(pause_collection_resumes_at__isnull=False).exists()
    assert paused.filter(pause_collection_resumes_at__isnull=True).exists()

    # The history is the engine's: renewals, a failed renewal in dunning, what each pause does.
    invoices = Invoice.objects.filter(account=account)
    assert invoices.annotate(month=TruncMonth("created")).values("month").distinct().count() >= 4
    assert invoices.filter(billing_reason="subscription_cycle", status="paid").count() >= 20
    past_due = subscriptions.get(status="past_due")
    assert past_due.latest_invoice.status == "open" and past_due.latest_invoice.next_payment_attempt
    assert invoices.filter(subscription__in=subscriptions.collection_paused("keep_as_draft"), status="draft").exists()
    assert invoices.filter(subscription__in=subscriptions.collection_paused("void"), status="void").exists()
    assert invoices.filter(
        subscription__in=subscriptions.collection_paused("mark_uncollectible"), status="uncollectible"
    ).exists()
    assert invoices.filter(total_discount__gt=0).exists() and invoices.filter(tax__gt=0).exists()

    counts = _row_counts()
    out = StringIO()
    call_command("seed_demo", stdout=out)
    second = out.getvalue()
    assert _row_counts() == counts
    assert "sk_test_" not in second and "sk_live_" not in second
    assert "create_account" in second
    assert _summary(second) == _summary(first)


def test_seed_demo_refuses_without_debug(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=1"):
        call_command("seed_demo", stdout=StringIO())
    assert not Account.objects.exists()
    assert not get_user_model().objects.filter(username="admin").exists()


# ---------------------------------------------------------------------------------------------- newcomer commands

ROOT = Path(__file__).resolve().parents[2]
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _make_dry_run(*args: str, directory: Path = ROOT, env: dict | None = None) -> str:
    """The commands ``make`` would run (``-n``), with the environment of a fresh shell."""
    clean = {key: value for key, value in os.environ.items() if key not in {"PORT", "HOST", "PORTAL_BASE_URL"}}
    result = subprocess.run(
        ["make", "-n", "-C", str(directory), *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout


def _portal_link_command(output: str) -> str:
    return next(line for line in output.splitlines() if "manage.py portal_link" in line)


@needs_make
def test_make_portal_link_runs_the_command_in_the_virtualenv_with_debug():
    command = _portal_link_command(_make_dry_run("portal-link"))
    assert command.startswith("DEBUG=${DEBUG:-1} ")
    assert ".venv/bin/python manage.py portal_link" in command


@needs_make
def test_make_portal_link_uses_the_port_given_to_it():
    assert "http://127.0.0.1:9123" in _portal_link_command(_make_dry_run("portal-link", "PORT=9123"))
    assert "http://127.0.0.1:9124" in _portal_link_command(_make_dry_run("portal-link", env={"PORT": "9124"}))


@needs_make
def test_make_portal_link_uses_the_port_make_run_serves_on(tmp_path):
    """`make run PORT=9123` in one terminal, `make portal-link` in another: the link points at port 9123."""
    for name in ("Makefile", "requirements.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    run = _make_dry_run("run", "PORT=9123", directory=tmp_path)
    assert 'echo "${PORTAL_BASE_URL:-http://127.0.0.1:9123}" > .run-url' in run
    assert "runserver 127.0.0.1:9123" in run
    (tmp_path / ".run-url").write_text("http://127.0.0.1:9123\n")
    assert "http://127.0.0.1:9123" in _portal_link_command(_make_dry_run("portal-link", directory=tmp_path))
    # An explicit port still wins.
    assert "http://127.0.0.1:8001" in _portal_link_command(
        _make_dry_run("portal-link", "PORT=8001", directory=tmp_path)
    )


def _task_log_level(**env: str) -> int:
    """The level of Celery's per-task log line under a fresh settings import with ``env``."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "CELERY_BROKER_URL", "CELERY_TASK_LOG_LEVEL", "DJANGO_SETTINGS_MODULE"}
    }
    code = "import django, logging; django.setup(); print(logging.getLogger('celery.app.trace').getEffectiveLevel())"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1", **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return int(result.stdout.strip().splitlines()[-1])


def test_task_log_lines_are_quiet_without_a_broker_as_under_make_run():
    """The first `make run` runs seed_demo's tasks eagerly: no line per task before the credentials."""
    assert _task_log_level() == logging.WARNING
    assert _task_log_level(CELERY_TASK_LOG_LEVEL="INFO") == logging.INFO
    # Workers (a broker configured) log each task as before.
    assert _task_log_level(CELERY_BROKER_URL="redis://127.0.0.1:6379/15") == logging.INFO
