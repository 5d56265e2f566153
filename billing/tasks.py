"""Celery tasks of the billing domain: the cycle's planner (beat, every minute) and its batches.

Every ``billing.tasks.*`` task goes to the ``BILLING_QUEUE`` queue (``route_task`` is a Celery router)."""

from celery import shared_task
from django.conf import settings

from billing.services import billing_cycle

TASK_PREFIX = "billing.tasks."


def route_task(name, args=None, kwargs=None, options=None, task=None, **_):
    if name.startswith(TASK_PREFIX):
        return {"queue": settings.BILLING_QUEUE}
    return None


@shared_task(name="billing.tasks.run_billing_cycle", acks_late=True, ignore_result=True)
def run_billing_cycle() -> dict:
    """Plan a pass of the billing cycle and queue its batches (at most one planner runs at a time)."""
    return billing_cycle.billing_cycle_plan()


@shared_task(name="billing.tasks.renew_batch", acks_late=True, ignore_result=True)
def renew_batch(run_id: int, subscription_ids: list[str]) -> dict:
    return billing_cycle.run_batch(billing_cycle.RENEW_TASK, run_id, subscription_ids)


@shared_task(name="billing.tasks.retry_batch", acks_late=True, ignore_result=True)
def retry_batch(run_id: int, invoice_ids: list[str]) -> dict:
    return billing_cycle.run_batch(billing_cycle.RETRY_TASK, run_id, invoice_ids)


@shared_task(name="billing.tasks.resume_batch", acks_late=True, ignore_result=True)
def resume_batch(run_id: int, charge_ids: list[str]) -> dict:
    return billing_cycle.run_batch(billing_cycle.RESUME_TASK, run_id, charge_ids)


@shared_task(name="billing.tasks.refund_resume_batch", acks_late=True, ignore_result=True)
def refund_resume_batch(run_id: int, refund_ids: list[str]) -> dict:
    return billing_cycle.run_batch(billing_cycle.REFUND_RESUME_TASK, run_id, refund_ids)


@shared_task(name="billing.tasks.advance_test_clock", acks_late=True, ignore_result=True)
def advance_test_clock(test_clock_id: str) -> str | None:
    """A test clock's advance (``status=advancing`` until it has run), see ``billing.services.test_clocks``."""
    from billing.services.test_clocks import clock_advance_run

    return clock_advance_run(test_clock_id=test_clock_id)


@shared_task(name="billing.tasks.delete_expired_test_clocks", acks_late=True, ignore_result=True)
def delete_expired_test_clocks() -> list[str]:
    """Stripe's end of a test clock's life (beat, hourly): clocks past ``deletes_after`` are deleted with their
    customers, see ``billing.services.test_clocks.clocks_delete_expired``."""
    from billing.services.test_clocks import clocks_delete_expired

    return clocks_delete_expired()
