"""The demo loader: the states it promises, built by the real billing engine, exactly once."""

from io import StringIO

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
