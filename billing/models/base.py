"""Abstract base for rows that belong to one merchant account and one mode."""

from django.db import models

from billing import clock


class TenantModel(models.Model):
    account = models.ForeignKey("billing.Account", on_delete=models.PROTECT, related_name="+")
    livemode = models.BooleanField(default=False)
    created = models.DateTimeField(default=clock.now, db_index=True)

    class Meta:
        abstract = True
