"""Load the demo merchant with months of billing history and its portal (development only; idempotent)."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from billing import demo
from portal.demo import seed_portal


class Command(BaseCommand):
    help = (
        f'Create the demo merchant "{demo.ACCOUNT_NAME}" with customers, subscriptions and six months of '
        f"invoices, and the superuser {demo.ADMIN_USERNAME}/{demo.ADMIN_PASSWORD}. Needs DEBUG=1. "
        "Running it again changes nothing."
    )

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                f"seed_demo only runs with DEBUG=1: it creates the superuser "
                f"'{demo.ADMIN_USERNAME}' with the password '{demo.ADMIN_PASSWORD}', which must never exist "
                "outside a development machine. Set DEBUG=1 in the environment to load the demo data."
            )
        started = time.monotonic()
        try:
            result = demo.seed()
        except demo.DemoError as error:
            raise CommandError(f"Demo data not loaded: {error}.")
        account = result.account
        configuration = seed_portal(account)
        if result.created:
            self.stdout.write(self.style.SUCCESS(f"Created the demo merchant {account.name} ({account.id})."))
            self.stdout.write("API keys (shown only this once; only their hashes are stored):")
            self.stdout.write(f"  test secret key: {result.test_secret_key}")
            self.stdout.write(f"  live secret key: {result.live_secret_key}")
            self.stdout.write(f"Built in {time.monotonic() - started:.1f} s by the billing engine.")
        else:
            self.stdout.write(f"The demo merchant {account.name} ({account.id}) already exists; nothing changed.")
            self.stdout.write(
                "Its API keys were shown when it was created and cannot be shown again. For new keys, create "
                'another account: python manage.py create_account "My Shop" --plan billing'
            )
        self.stdout.write(
            f"Admin: {settings.PORTAL_BASE_URL}/admin/  login: {demo.ADMIN_USERNAME} / {demo.ADMIN_PASSWORD}"
        )
        for line in demo.summary(account):
            self.stdout.write(line)
        self.stdout.write(f"  Portal configuration: {configuration.id} (default, test mode, every feature on)")
        self.stdout.write(f"Portal login page: {configuration.login_page_url}  (the link email prints in this console)")
        # `make portal-link` works as printed: it runs in the virtualenv, with DEBUG, for the running server.
        self.stdout.write("Portal link for a demo customer (single use, valid 5 minutes): make portal-link")
