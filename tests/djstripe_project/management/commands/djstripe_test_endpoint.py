"""Create a webhook endpoint on the Stripe server for this project's dj-stripe URL, as dj-stripe's admin form
does (its form refuses local addresses, so the test calls the same steps here): create it through the API with
dj-stripe's uuid in the metadata, then store it, secret included, with ``sync_from_stripe_data``."""

import json
from urllib.parse import urljoin
from uuid import uuid4

from django.core.management.base import BaseCommand
from django.urls import reverse
from djstripe.models import WebhookEndpoint
from djstripe.settings import djstripe_settings


class Command(BaseCommand):
    help = "Create a webhook endpoint pointing at this project's dj-stripe webhook URL."

    def add_arguments(self, parser):
        parser.add_argument("base_url")

    def handle(self, *args, base_url, **options):
        uuid = uuid4()
        url = urljoin(base_url, reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": uuid}))
        data = WebhookEndpoint._api_create(
            url=url,
            api_version=djstripe_settings.STRIPE_API_VERSION,
            enabled_events=["*"],
            metadata={"djstripe_uuid": str(uuid)},
            connect=False,
        )
        endpoint = WebhookEndpoint.sync_from_stripe_data(data)
        self.stdout.write(json.dumps({"id": endpoint.id, "url": endpoint.url, "has_secret": bool(endpoint.secret)}))
