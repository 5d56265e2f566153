"""Print every row of dj-stripe's Stripe models as JSON ({model: {id: {field: value}}}), for the test to compare
with what the server holds; foreign keys as the related object's Stripe id, many-to-many as lists of them."""

import json

from django.apps import apps
from django.core.management.base import BaseCommand
from django.core.serializers.json import DjangoJSONEncoder
from djstripe.models import WebhookEventTrigger
from djstripe.models.base import StripeModel


def _row(obj) -> dict:
    row = {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}
    for field in obj._meta.many_to_many:
        row[field.name] = sorted(related.pk for related in getattr(obj, field.name).all())
    return row


class Command(BaseCommand):
    help = "Dump dj-stripe's synced rows as JSON."

    def handle(self, *args, **options):
        dump = {}
        for model in apps.get_app_config("djstripe").get_models():
            # (UpcomingInvoice, dj-stripe's virtual invoice preview, has no id and no rows.)
            if issubclass(model, StripeModel) and any(f.name == "id" for f in model._meta.concrete_fields):
                dump[model.__name__] = {obj.id: _row(obj) for obj in model.objects.order_by("id")}
        dump["WebhookEventTrigger"] = [
            {
                "event": trigger.event_id,
                "type": trigger.json_body.get("type"),
                "valid": trigger.valid,
                "processed": trigger.processed,
                "exception": trigger.exception,
            }
            for trigger in WebhookEventTrigger.objects.order_by("pk")
        ]
        self.stdout.write(json.dumps(dump, cls=DjangoJSONEncoder))
