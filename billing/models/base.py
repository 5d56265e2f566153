"""Abstract base for rows that belong to one merchant account and one mode."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from billing import clock


class TenantModel(models.Model):
    account = models.ForeignKey(
        "billing.Account", on_delete=models.PROTECT, related_name="+", verbose_name=_("account")
    )
    livemode = models.BooleanField(default=False, verbose_name=_("livemode"))
    created = models.DateTimeField(default=clock.now, db_index=True, verbose_name=_("created"))

    class Meta:
        abstract = True
