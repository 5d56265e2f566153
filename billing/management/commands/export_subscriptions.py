"""Export subscriptions as CSV (the admin's export) for scheduled jobs."""

from django.core.management.base import BaseCommand, CommandError

from billing import exports
from billing.models import Account, Subscription


class Command(BaseCommand):
    help = (
        "Write subscriptions as CSV (UTF-8 with BOM, the admin export's columns), newest first. "
        "Without --account, every account's."
    )

    def add_arguments(self, parser):
        parser.add_argument("--account", help="Only this account's subscriptions (acct_…).")
        parser.add_argument(
            "--mode", choices=("test", "live"), default="live", help="Test or live data (default: live)."
        )
        parser.add_argument(
            "--collection-paused", action="store_true", help="Only subscriptions whose payment collection is paused."
        )
        parser.add_argument(
            "--delimiter", choices=sorted(exports.DELIMITERS), default="comma", help="Cell separator (default: comma)."
        )
        parser.add_argument("--output", default="-", help="File to write (default: standard output).")

    def handle(self, *args, **options):
        subscriptions = Subscription.objects.filter(livemode=options["mode"] == "live")
        if options["account"]:
            if not Account.objects.filter(pk=options["account"]).exists():
                raise CommandError(f"No such account: {options['account']}")
            subscriptions = subscriptions.filter(account_id=options["account"])
        if options["collection_paused"]:
            subscriptions = subscriptions.collection_paused()
        rows = exports.subscription_rows(subscriptions.order_by("-pk"))
        delimiter = exports.delimiter_named(options["delimiter"])
        if options["output"] == "-":
            exports.write_csv(rows, _Unterminated(self.stdout), delimiter=delimiter)
            return
        with open(options["output"], "w", encoding="utf-8", newline="") as out:
            count = exports.write_csv(rows, out, delimiter=delimiter)
        if options["verbosity"]:
            self.stdout.write(f"Wrote {count} subscriptions to {options['output']}.")


class _Unterminated:
    """Django's OutputWrapper ends every write with a newline; CSV chunks carry their own."""

    def __init__(self, wrapper):
        self.wrapper = wrapper

    def write(self, text: str) -> None:
        self.wrapper.write(text, ending="")
