"""Portal sessions (created by the API, redeemed once by a browser) and emailed login links."""

import hashlib
import secrets

from django.db import models
from django.utils.translation import gettext_lazy as _

from billing import clock, ids
from billing.models.base import TenantModel


def new_secret() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """Only digests are stored: a leaked table opens no portal."""
    return hashlib.sha256(secret.encode()).hexdigest()


class PortalSession(TenantModel):
    """One ``billing_portal.session``: a single-use URL token, then a browser key for up to an hour of activity."""

    class Origin(models.TextChoices):
        API = "api", _("API")
        LOGIN_LINK = "login_link", _("login link")

    id = models.CharField(primary_key=True, max_length=40, default=ids.factory("portal_session"), editable=False)
    customer = models.ForeignKey("billing.Customer", on_delete=models.CASCADE, related_name="+")
    configuration = models.ForeignKey(
        "configurations.PortalConfiguration", on_delete=models.PROTECT, related_name="sessions"
    )
    return_url = models.URLField(max_length=5000, blank=True)
    locale = models.CharField(max_length=8, blank=True)  # as requested; "" or "auto" mean: choose per request
    flow = models.JSONField(null=True, blank=True)
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.API)
    token_digest = models.CharField(max_length=64, unique=True)
    token_expires_at = models.DateTimeField()
    redeemed_at = models.DateTimeField(null=True, blank=True)
    browser_key_digest = models.CharField(max_length=64, unique=True, null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    flow_completed_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("portal session")
        verbose_name_plural = _("portal sessions")

    def __str__(self) -> str:
        return self.id


class LoginLink(models.Model):
    """A single-use link emailed from a configuration's login page; it creates a portal session when confirmed."""

    configuration = models.ForeignKey("configurations.PortalConfiguration", on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey("billing.Customer", on_delete=models.CASCADE, related_name="+")
    token_digest = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("login link")
        verbose_name_plural = _("login links")

    def __str__(self) -> str:
        return f"login link for {self.customer_id}"
