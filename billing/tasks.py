"""Celery tasks of the billing domain."""

from celery import shared_task

from billing.services.billing_cycle import billing_cycle_run


@shared_task(name="billing.tasks.run_billing_cycle", acks_late=True, ignore_result=True)
def run_billing_cycle() -> dict:
    return billing_cycle_run()
