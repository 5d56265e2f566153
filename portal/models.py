"""Emailed login links (portal sessions themselves are ``configurations.models.PortalSession``)."""

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing import clock


class LoginLink(models.Model):
    """A single-use link emailed from a configuration's login page; it creates a portal session when confirmed."""

    configuration = models.ForeignKey(
        "configurations.PortalConfiguration",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("configuration"),
    )
    customer = models.ForeignKey(
        "billing.Customer", on_delete=models.CASCADE, related_name="+", verbose_name=_("customer")
    )
    token_digest = models.CharField(max_length=64, unique=True, verbose_name=_("token digest"))
    created = models.DateTimeField(default=clock.now, verbose_name=_("created"))
    expires_at = models.DateTimeField(verbose_name=_("expires at"))
    used_at = models.DateTimeField(null=True, blank=True, verbose_name=_("used at"))

    class Meta:
        verbose_name = _("login link")
        verbose_name_plural = _("login links")

    def __str__(self) -> str:
        return gettext("login link for %(customer)s") % {"customer": self.customer_id}
