"""Celery tasks of the portal: login-link emails leave the request, so answering takes as long for a known
address as for an unknown one; payment-action emails leave the billing engine's transaction."""

from celery import shared_task

from billing.models import Customer


@shared_task(
    name="portal.tasks.send_login_link_email",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=10,
    retry_kwargs={"max_retries": 5},
)
def send_login_link_email(customer_id: str, url: str, fallback_locale: str | None = None) -> None:
    from portal.services import send_login_email

    customer = Customer.objects.select_related("account").filter(pk=customer_id, deleted=False).first()
    if customer is not None:
        send_login_email(customer, url, fallback_locale=fallback_locale)


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
