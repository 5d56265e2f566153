"""Merchant accounts (tenants), staff memberships and hashed API keys."""

import hashlib
import secrets
import string

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing import clock, ids

KEY_ALPHABET = string.ascii_letters + string.digits
KEY_RANDOM_CHARS = 43  # 62**43 > 2**256


def _invoice_prefix() -> str:
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(8))


class Account(models.Model):
    class Plan(models.TextChoices):
        STARTER = "starter", _("Starter")
        BILLING = "billing", _("Billing")

    id = models.CharField(
        primary_key=True, max_length=40, default=ids.factory("account"), editable=False, verbose_name=_("id")
    )
    name = models.CharField(max_length=200, verbose_name=_("name"))
    plan = models.CharField(max_length=16, choices=Plan.choices, default=Plan.STARTER, verbose_name=_("plan"))
    invoice_prefix = models.CharField(
        max_length=12, default=_invoice_prefix, unique=True, verbose_name=_("invoice prefix")
    )
    # Stripe's account ``country`` (ISO 3166-1 alpha-2) and ``default_currency``; empty until the merchant sets them.
    country = models.CharField(max_length=2, blank=True, verbose_name=_("country"))
    default_currency = models.CharField(max_length=3, blank=True, verbose_name=_("default currency"))
    created = models.DateTimeField(default=clock.now, verbose_name=_("created"))
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="billing_accounts", verbose_name=_("members")
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("account")
        verbose_name_plural = _("accounts")

    def __str__(self) -> str:
        return self.name or self.id

    def allows_livemode(self) -> bool:
        return self.plan == self.Plan.BILLING


class InvoiceCounter(models.Model):
    """The next invoice number of one account and mode. A row of its own, taken with one ``UPDATE … RETURNING`` late
    in the transaction that finalizes an invoice: numbers stay gapless without locking the account row."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", verbose_name=_("account"))
    livemode = models.BooleanField(verbose_name=_("livemode"))
    next_number = models.PositiveBigIntegerField(default=1, verbose_name=_("next number"))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "livemode"], name="invoicecounter_unique_mode")]
        verbose_name = _("invoice counter")
        verbose_name_plural = _("invoice counters")

    def __str__(self) -> str:
        mode = gettext("live mode") if self.livemode else gettext("test mode")
        return f"{self.account_id} ({mode}): {self.next_number}"


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="billing_memberships", verbose_name=_("user")
    )
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("account")
    )
    created = models.DateTimeField(default=clock.now, verbose_name=_("created"))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "account"], name="membership_unique_user_account")]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return f"{self.user} @ {self.account.name}"


class ApiKey(models.Model):
    """A secret key is shown once; only its SHA-256 is stored."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="api_keys", verbose_name=_("account"))
    livemode = models.BooleanField(default=False, verbose_name=_("livemode"))
    name = models.CharField(max_length=100, blank=True, verbose_name=_("name"))
    key_hash = models.CharField(max_length=64, unique=True, editable=False, verbose_name=_("key hash"))
    redacted = models.CharField(max_length=32, editable=False, verbose_name=_("redacted"))
    created = models.DateTimeField(default=clock.now, verbose_name=_("created"))
    last_used_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last used at"))
    revoked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("revoked at"))

    class Meta:
        verbose_name = _("api key")
        verbose_name_plural = _("api keys")

    def __str__(self) -> str:
        return self.redacted

    @staticmethod
    def hash(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    @classmethod
    def generate_secret(cls, *, livemode: bool) -> str:
        mode = "live" if livemode else "test"
        return f"sk_{mode}_" + "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_RANDOM_CHARS))
