"""Merchant accounts (tenants), staff memberships and hashed API keys."""

import hashlib
import secrets
import string

from django.conf import settings
from django.db import models

from billing import clock, ids

KEY_ALPHABET = string.ascii_letters + string.digits
KEY_RANDOM_CHARS = 43  # 62**43 > 2**256


def _invoice_prefix() -> str:
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(8))


class Account(models.Model):
    class Plan(models.TextChoices):
        STARTER = "starter", "Starter"
        BILLING = "billing", "Billing"

    id = models.CharField(primary_key=True, max_length=40, default=ids.factory("account"), editable=False)
    name = models.CharField(max_length=200)
    plan = models.CharField(max_length=16, choices=Plan.choices, default=Plan.STARTER)
    invoice_prefix = models.CharField(max_length=12, default=_invoice_prefix, unique=True)
    # Stripe's account ``country`` (ISO 3166-1 alpha-2) and ``default_currency``; empty until the merchant sets them.
    country = models.CharField(max_length=2, blank=True)
    default_currency = models.CharField(max_length=3, blank=True)
    created = models.DateTimeField(default=clock.now)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="billing_accounts")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    def allows_livemode(self) -> bool:
        return self.plan == self.Plan.BILLING


class InvoiceCounter(models.Model):
    """The next invoice number of one account and mode. A row of its own, taken with one ``UPDATE … RETURNING`` late
    in the transaction that finalizes an invoice: numbers stay gapless without locking the account row."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    livemode = models.BooleanField()
    next_number = models.PositiveBigIntegerField(default=1)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "livemode"], name="invoicecounter_unique_mode")]

    def __str__(self) -> str:
        return f"{self.account_id} {'live' if self.livemode else 'test'}: {self.next_number}"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="billing_memberships")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    created = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "account"], name="membership_unique_user_account")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.account.name}"


class ApiKey(models.Model):
    """A secret key is shown once; only its SHA-256 is stored."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="api_keys")
    livemode = models.BooleanField(default=False)
    name = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    redacted = models.CharField(max_length=32, editable=False)
    created = models.DateTimeField(default=clock.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.redacted

    @staticmethod
    def hash(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    @classmethod
    def generate_secret(cls, *, livemode: bool) -> str:
        mode = "live" if livemode else "test"
        return f"sk_{mode}_" + "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_RANDOM_CHARS))
