"""Run the billing cycle once (for cron users; Celery beat runs it every minute)."""

import json

from django.core.management.base import BaseCommand

from billing.services.billing_cycle import billing_cycle_run


class Command(BaseCommand):
    help = "Renew due subscriptions, end scheduled cancellations, resume paused collection, retry payments."

    def handle(self, *args, **options):
        self.stdout.write(json.dumps(billing_cycle_run()))
