"""Celery tasks of the portal: the login page's look-up and email leave the request, so answering does the same
work for a known address as for an unknown one; payment-action emails leave the billing engine's transaction."""

from celery import shared_task

from billing.models import Customer
from configurations.models import PortalConfiguration


@shared_task(
    name="portal.tasks.send_login_links",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=10,
    retry_kwargs={"max_retries": 5},
)
def send_login_links(configuration_id: str, email: str, fallback_locale: str | None = None) -> None:
    """Look the address up among the configuration's customers and email their login links (if any)."""
    from portal.services import login_links_send

    configuration = PortalConfiguration.objects.select_related("account").filter(pk=configuration_id).first()
    if configuration is not None:
        login_links_send(configuration=configuration, email=email, fallback_locale=fallback_locale)


@shared_task(
    name="portal.tasks.send_login_link_email",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=10,
    retry_kwargs={"max_retries": 5},
)
def send_login_link_email(customer_id: str, url: str, fallback_locale: str | None = None) -> None:
    """The former one-customer email, kept for tasks queued before an upgrade."""
    from portal.services import send_login_email

    customer = Customer.objects.select_related("account").filter(pk=customer_id, deleted=False).first()
    if customer is not None:
        send_login_email([(customer, url)], fallback_locale=fallback_locale)


@shared_task(
    name="portal.tasks.send_payment_action_email",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=10,
    retry_kwargs={"max_retries": 5},
)
def send_payment_action_email(invoice_id: str) -> None:
    """A renewal's payment needs the customer to confirm it with their bank: the link to the hosted invoice page."""
    from portal.services import send_payment_action_email as send

    send(invoice_id)
