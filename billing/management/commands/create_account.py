"""Create a merchant account and print its id and API keys as one JSON object (keys shown once)."""

import json

from django.core.management.base import BaseCommand, CommandError

from billing.exceptions import BillingError
from billing.models import Account
from billing.services.accounts import account_create


class Command(BaseCommand):
    help = 'Create a merchant account: create_account "Name" [--plan billing|starter] [--staff EMAIL]'

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--plan", choices=Account.Plan.values, default=Account.Plan.STARTER)
        parser.add_argument("--staff", metavar="EMAIL", help="give this staff user access to the account")

    def handle(self, *args, name, plan, staff, **options):
        try:
            account, test_secret, live_secret, _ = account_create(name=name, plan=plan, staff_email=staff)
        except BillingError as error:
            raise CommandError(error.message)
        self.stdout.write(
            json.dumps({"account": account.id, "test_secret_key": test_secret, "live_secret_key": live_secret})
        )
