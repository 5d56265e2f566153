"""Celery tasks of Checkout: the periodic sweep (expiry, late payments, delayed payment outcomes)."""

from celery import shared_task

from checkout.services.expire import checkout_sessions_sweep


@shared_task(name="checkout.tasks.sweep_sessions", acks_late=True, ignore_result=True)
def sweep_sessions() -> dict:
    return checkout_sessions_sweep()
