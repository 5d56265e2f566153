"""Print a fresh portal session URL for a customer, as POST /v1/billing_portal/sessions would return it."""

from django.core.management.base import BaseCommand, CommandError

from billing.audit import Actor
from billing.exceptions import BillingError
from billing.models import Customer, Subscription
from configurations.sessions import portal_session_create


class Command(BaseCommand):
    help = (
        "Print a single-use portal URL (valid 5 minutes) for a customer: --customer cus_… or --email …; "
        "without either, a test-mode customer with an active euro subscription."
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
            # The customer that shows the most of the portal: an active euro subscription that collects payments.
            showcase = (
                Subscription.objects.filter(
                    livemode=False, status="active", currency="eur", cancel_at_period_end=False, customer__deleted=False
                )
                .collecting()
                .order_by("created", "id")
                .values("customer")[:1]
            )
            customers = customers.filter(pk__in=showcase) or customers
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
