"""Expiring sessions: by the API's ``expire``, or by the sweep once ``expires_at`` has passed. The sweep also
completes sessions whose payment succeeded while nobody was on the page (the customer closed the tab after 3-D
Secure and the processor's webhook brought the answer) and reports delayed (SEPA) outcomes."""

import datetime as dt
import logging

from billing import audit, clock
from billing.audit import Actor
from billing.exceptions import StateConflict
from billing.services.common import lock
from billing.services.door import service
from checkout.models import CheckoutSession
from checkout.services.complete import COMPLETE, PROCESSING, checkout_session_async_outcome, checkout_session_settle
from checkout.services.create import record_event

logger = logging.getLogger(__name__)
SWEEP_BATCH = 500
ASYNC_WINDOW = dt.timedelta(days=14)


@service
def checkout_session_expire(*, session: CheckoutSession, actor: Actor) -> CheckoutSession:
    """Stripe's expire: only an ``open`` session can be expired; it then refuses payment."""
    session = lock(CheckoutSession, session.pk)
    if session.status != CheckoutSession.Status.OPEN:
        raise StateConflict(
            f"Only Checkout Sessions with a status in [open] can be expired. This session is {session.status}.",
            code="checkout_session_not_open",
        )
    session.status = CheckoutSession.Status.EXPIRED
    session.save(update_fields=["status"])
    audit.record(actor, "checkout_session.expire", session)
    record_event("checkout.session.expired", session)
    return session


def checkout_sessions_sweep(now: dt.datetime | None = None) -> dict:
    """One pass: open sessions with a payment under way are settled; the rest past ``expires_at`` expire;
    completed sessions awaiting a delayed payment get its outcome."""
    now = now or clock.now()
    counts = {"completed": 0, "expired": 0, "async": 0}
    attempted = CheckoutSession.objects.filter(status=CheckoutSession.Status.OPEN, payment_method__isnull=False)
    for session in attempted.order_by("pk")[:SWEEP_BATCH]:
        if checkout_session_settle(session=session).status in (COMPLETE, PROCESSING):
            counts["completed"] += 1
    due = CheckoutSession.objects.filter(status=CheckoutSession.Status.OPEN, expires_at__lte=now)
    for session in due.order_by("expires_at")[:SWEEP_BATCH]:
        try:
            checkout_session_expire(session=session, actor=Actor.system("checkout expiry"))
            counts["expired"] += 1
        except StateConflict:
            continue  # completed or expired meanwhile
    waiting = CheckoutSession.objects.filter(
        status=CheckoutSession.Status.COMPLETE,
        payment_status=CheckoutSession.PaymentStatus.UNPAID,
        async_payment_failed_at__isnull=True,
        completed_at__gte=now - ASYNC_WINDOW,
    )
    for session in waiting.order_by("pk")[:SWEEP_BATCH]:
        before = session.payment_status
        if checkout_session_async_outcome(session_id=session.pk).payment_status != before:
            counts["async"] += 1
    return counts
