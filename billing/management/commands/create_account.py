"""Create a merchant account and print its id and API keys as one JSON object (keys shown once)."""

import getpass
import json
import sys

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from billing.exceptions import BillingError
from billing.models import Account
from billing.services.accounts import account_create, staff_user_has_password

PASSWORD_PROMPTS = 3


class Command(BaseCommand):
    help = (
        'Create a merchant account: create_account "Name" [--plan billing|starter] [--staff EMAIL [--password PW]]. '
        "Without --password the staff user's password is asked for when run interactively."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--plan", choices=Account.Plan.values, default=Account.Plan.STARTER)
        parser.add_argument("--staff", metavar="EMAIL", help="give this staff user access to the account")
        parser.add_argument("--password", help="the staff user's admin password (else asked for, or a hint printed)")
        parser.add_argument(
            "--noinput", "--no-input", action="store_false", dest="interactive", help="never ask for a password"
        )

    def handle(self, *args, name, plan, staff, password, interactive, **options):
        if password is None and staff and interactive and sys.stdin.isatty() and not staff_user_has_password(staff):
            password = self.ask_password(staff)
        try:
            account, test_secret, live_secret, user = account_create(
                name=name, plan=plan, staff_email=staff, staff_password=password
            )
        except BillingError as error:
            raise CommandError(error.message)
        # stdout carries only the JSON object scripts parse; the password hint goes to stderr.
        self.stdout.write(
            json.dumps({"account": account.id, "test_secret_key": test_secret, "live_secret_key": live_secret})
        )
        if user is not None and not user.has_usable_password():
            username = user.get_username()
            self.stderr.write(
                f"{username} has no admin password yet. Set one with:\n"
                f"  make staff-password STAFF={username}\n"
                f"(or: python manage.py changepassword {username})"
            )

    def ask_password(self, email: str) -> str | None:
        """Ask twice, as createsuperuser does; an empty answer skips (the hint is printed instead)."""
        for _ in range(PASSWORD_PROMPTS):
            password = getpass.getpass(f"Admin password for {email} (empty to set it later): ")
            if not password:
                return None
            if getpass.getpass("Password (again): ") != password:
                self.stderr.write("The passwords do not match.")
                continue
            try:
                password_validation.validate_password(password)
            except ValidationError as error:
                self.stderr.write(" ".join(error.messages))
                continue
            return password
        raise CommandError("No valid password given; nothing was created.")
