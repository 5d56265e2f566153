"""Print a fresh portal session URL for a customer, as POST /v1/billing_portal/sessions would return it."""

from django.core.management.base import BaseCommand, CommandError

from billing.audit import Actor
from billing.exceptions import BillingError
from billing.models import Customer
from portal.services import portal_session_create


class Command(BaseCommand):
    help = (
        "Print a single-use portal URL (valid 5 minutes) for a customer: --customer cus_… or --email …; "
        "without either, the oldest test-mode customer."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customer", help="customer id (cus_…)")
        parser.add_argument("--email", help="customer email")
        parser.add_argument("--locale", help="portal locale, e.g. de or en")

    def handle(self, *args, customer=None, email=None, locale=None, **options):
        customers = Customer.objects.select_related("account")
        if customer:
            customers = customers.filter(pk=customer)
        elif email:
            customers = customers.filter(email__iexact=email)
        else:
            customers = customers.filter(livemode=False)
        found = customers.order_by("created", "id").first()
        if found is None:
            raise CommandError("No such customer.")
        try:
            _session, url = portal_session_create(
                customer=found, actor=Actor.system("portal_link command"), locale=locale
            )
        except BillingError as error:
            raise CommandError(error.message)
        self.stdout.write(url)
