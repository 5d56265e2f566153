"""The billing cycle: one idempotent pass that brings every subscription and open invoice up to now."""

import contextlib
import datetime as dt
import logging

from django.conf import settings
from django.db.models import Q

from billing import clock
from billing.models import Invoice, Subscription
from billing.services.invoices import invoice_retry
from billing.services.subscriptions import subscription_advance

logger = logging.getLogger(__name__)


def due_subscriptions(now: dt.datetime):
    expiry = now - dt.timedelta(hours=settings.BILLING_INCOMPLETE_EXPIRY_HOURS)
    return (
        Subscription.objects.not_ended()
        .filter(
            Q(current_period_end__lte=now, status__in=[s for s in Subscription.Status.values if s != "incomplete"])
            | Q(pause_collection_resumes_at__lte=now)
            | Q(cancel_at__lte=now)
            | Q(status=Subscription.Status.INCOMPLETE, created__lte=expiry)
        )
        .order_by("current_period_end")
    )


def billing_cycle_run(*, now: dt.datetime | None = None) -> dict:
    """Renew, end, resume and expire due subscriptions, then retry due payments.

    Each subscription and each invoice is handled in its own transaction, so one failure does not
    hold back the rest; running twice for the same moment changes nothing the second time.
    """
    context = clock.frozen_at(now) if now is not None else contextlib.nullcontext()
    summary = {"subscriptions": 0, "steps": 0, "retries": 0, "errors": 0}
    with context:
        moment = clock.now()
        for pk in list(due_subscriptions(moment).values_list("pk", flat=True)):
            try:
                steps = subscription_advance(subscription_id=pk)
            except Exception:
                logger.exception("billing cycle: subscription %s failed", pk)
                summary["errors"] += 1
                continue
            summary["subscriptions"] += 1 if steps else 0
            summary["steps"] += steps
        for pk in list(Invoice.objects.due_for_retry(moment).values_list("pk", flat=True)):
            try:
                if invoice_retry(invoice_id=pk) is not None:
                    summary["retries"] += 1
            except Exception:
                logger.exception("billing cycle: invoice %s retry failed", pk)
                summary["errors"] += 1
    return summary
