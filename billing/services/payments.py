"""Payment attempts on invoices, with the processor called outside every transaction and lock.

An attempt has two transactions. The first (the action that wants the money: a renewal, a plan change, "Pay now")
counts the attempt and writes a ``pending`` charge whose idempotency key is the invoice id and attempt number.
After it commits, the processor is called with that key; a second short transaction records the answer (charge
succeeded or failed, invoice paid or dunning, subscription status, events). A crash between the two leaves the
invoice open with a pending charge: the billing cycle sends it again with the same key, and the processor answers
from its record of the first call, so nothing is charged twice.

Who calls the processor is a *collector*: by default the caller's thread, at once after the commit; the billing
cycle's batches use a pipelined one that keeps several calls in flight while the next renewals are written.
"""

import contextlib
import contextvars
import datetime as dt
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings

from billing import audit, balance_ledger, broker, clock
from billing.audit import SYSTEM
from billing.exceptions import BillingError, CardDeclined, GatewayUnavailable, PaymentMethodRequired
from billing.gateways import ChargeResult, Gateway, gateway_for, looked_up_once
from billing.models import Charge, Invoice, PaymentIntent, PaymentMethod, Subscription
from billing.services.common import emit, lock, render
from billing.services.door import after_commit, service
from billing.services.intents.invoice_payments import (
    intent_failed,
    intent_for_attempt,
    intent_paid,
    needs_authentication,
    save_default_payment_method,
)
from billing.services.payment_batches import NotAsLeft, plain_success, settle_successes

logger = logging.getLogger(__name__)

# Sent by name (billing imports none of the apps above it): the portal writes the email in the customer's language.
PAYMENT_ACTION_EMAIL_TASK = "portal.tasks.send_payment_action_email"
# ChargeResult.failure_code of a payment that is not final yet (a SEPA debit waiting for the bank).
PAYMENT_PENDING = "payment_pending"
NO_PAYMENT_METHOD = ("payment_method_required", "", "There is no payment method that can pay this invoice.")


@dataclass
class Attempt:
    """A pending charge as the transaction that started it left it (with its invoice, lines cached)."""

    charge: Charge
    invoice: Invoice | None = None
    gateway: Gateway | None = None
    intent: PaymentIntent | None = None  # looked up in the first transaction: processor threads touch no database


# ---------------------------------------------------------------------------------------------- collectors


class Collector:
    """Calls the processor in the caller's thread and records the answer at once."""

    def submit(self, attempt: Attempt) -> None:
        settle(attempt, call_processor(attempt))


class PipelinedCollector(Collector):
    """Keeps up to ``concurrency`` processor calls in flight in threads (they touch no database); the answers are
    recorded in the thread that owns the database connection, by :meth:`poll` between renewals and :meth:`drain`."""

    def __init__(self, concurrency: int):
        self.pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="processor")
        self.in_flight: list[tuple[Attempt, Future]] = []
        self.settled = 0
        self.errors = 0

    def submit(self, attempt: Attempt) -> None:
        self.in_flight.append((attempt, self.pool.submit(call_processor, attempt)))

    def poll(self) -> None:
        done = [(attempt, future) for attempt, future in self.in_flight if future.done()]
        self.in_flight = [entry for entry in self.in_flight if not entry[1].done()]
        self._record([(attempt, future.result()) for attempt, future in done])

    def drain(self) -> None:
        self._record([(attempt, future.result()) for attempt, future in self.in_flight])
        self.in_flight = []
        self.pool.shutdown(wait=True)

    def _record(self, answered: list[tuple[Attempt, ChargeResult | None]]) -> None:
        """The successes on invoices as their attempts left them in one transaction; the rest one by one."""
        plain = [(attempt, result) for attempt, result in answered if plain_success(attempt, result)]
        others = [(attempt, result) for attempt, result in answered if not plain_success(attempt, result)]
        if plain:
            try:
                settle_successes(plain)
                self.settled += len(plain)
            except Exception:  # something changed meanwhile (or the database failed): one by one
                others = plain + others
        for attempt, result in others:
            self._settle(attempt, result)

    def _settle(self, attempt: Attempt, result: ChargeResult | None) -> None:
        try:
            settle(attempt, result)
            self.settled += 1
        except Exception:
            # The charge stays pending; the next cycle sends it again with the same key.
            logger.exception("could not record the answer for charge %s", attempt.charge.pk)
            self.errors += 1


_collector: contextvars.ContextVar[Collector | None] = contextvars.ContextVar("billing_collector", default=None)


@contextlib.contextmanager
def pipelined(concurrency: int | None = None):
    """Within the block, processor calls started by the actions run are pipelined (see :class:`PipelinedCollector`);
    at its end every call has been answered and recorded."""
    collector = PipelinedCollector(concurrency or settings.BILLING_PROCESSOR_CONCURRENCY)
    token = _collector.set(collector)
    try:
        with looked_up_once():
            yield collector
    finally:
        _collector.reset(token)
        collector.drain()


def _dispatch(attempt: Attempt) -> None:
    (_collector.get() or Collector()).submit(attempt)


# ---------------------------------------------------------------------------------------------- the first transaction


def payment_method_for(invoice: Invoice) -> PaymentMethod | None:
    if invoice.default_payment_method_id:
        return invoice.default_payment_method
    if invoice.subscription_id and invoice.subscription.default_payment_method_id:
        return invoice.subscription.default_payment_method
    return invoice.customer.default_payment_method


def payment_start(invoice: Invoice, payment_method: PaymentMethod | None = None) -> Charge | None:
    """Count an attempt on an open (or uncollectible) invoice, inside the caller's transaction. Without a payment
    method that can pay it the attempt fails now (dunning applies; None is returned). Otherwise a pending charge is
    written and its processor call happens after the commit. The invoice is saved by the caller or, when it is
    already stored, here."""
    pm = payment_method or payment_method_for(invoice)
    invoice.attempt_count += 1
    invoice.attempted = True
    if not invoice.can_be_paid_with(pm):
        schedule_retry(invoice, clock.now())
        if not invoice._state.adding:
            invoice.save()
        emit("invoice.payment_failed", invoice)
        return None
    gateway = gateway_for(invoice.account_id, invoice.livemode)
    gateway.check_mode(livemode=invoice.livemode)
    if not invoice._state.adding:
        invoice.save(update_fields=["attempt_count", "attempted"])
    intent = intent_for_attempt(invoice, pm)
    charge = _new_charge(invoice, pm, Charge.Status.PENDING, intent=intent)
    intent._latest_charge = charge.pk
    attempt = Attempt(charge=charge, invoice=invoice, gateway=gateway, intent=intent)
    after_commit(lambda: _dispatch(attempt))
    return charge


def payment_prepare(invoice: Invoice) -> PaymentIntent:
    """The invoice's PaymentIntent, ready for the customer to confirm (``default_incomplete``): with the payment
    method the invoice would be charged with, if any (``requires_confirmation``), else ``requires_payment_method``."""
    pm = payment_method_for(invoice)
    status = (
        PaymentIntent.Status.REQUIRES_CONFIRMATION if pm is not None else PaymentIntent.Status.REQUIRES_PAYMENT_METHOD
    )
    return intent_for_attempt(invoice, pm, status=status)


def _new_charge(invoice: Invoice, pm: PaymentMethod, status: str, *, intent=None, reference: str = "") -> Charge:
    """The charge of the invoice's current attempt; its idempotency key is the invoice id and attempt number."""
    return Charge.objects.create(
        account_id=invoice.account_id,
        livemode=invoice.livemode,
        customer_id=invoice.customer_id,
        invoice=invoice,
        payment_intent=intent,
        payment_method=pm,
        amount=invoice.amount_remaining,
        currency=invoice.currency,
        status=status,
        gateway_reference=reference,
        idempotency_key=f"{invoice.pk}:{invoice.attempt_count}",
    )


def charge_inline(invoice: Invoice) -> None:
    """``error_if_incomplete``: ask the processor inside the caller's transaction (before the invoice is numbered)
    and raise the decline, so the caller's whole change rolls back. The answer waits on the invoice for
    :func:`record_inline`."""
    invoice.inline_result = None
    if invoice.amount_due <= 0:
        return
    pm = payment_method_for(invoice)
    if not invoice.can_be_paid_with(pm):
        raise PaymentMethodRequired(NO_PAYMENT_METHOD[2], param="payment_method")
    result = gateway_for(invoice.account_id, invoice.livemode).charge(
        reference=pm.gateway_reference,
        amount=invoice.amount_due,
        currency=invoice.currency,
        livemode=invoice.livemode,
        idempotency_key=f"{invoice.pk}:{invoice.attempt_count + 1}",
    )
    if not result.succeeded:
        raise CardDeclined(
            result.failure_message or "Your card was declined.", decline_code=result.decline_code or None
        )
    invoice.inline_result = (pm, result)


def record_inline(invoice: Invoice) -> None:
    """The successful inline charge (see :func:`charge_inline`) as a charge, the invoice paid, and their events."""
    if getattr(invoice, "inline_result", None) is None or invoice.status != Invoice.Status.OPEN:
        return
    pm, result = invoice.inline_result
    invoice.attempt_count += 1
    invoice.attempted = True
    intent = intent_for_attempt(invoice, pm)
    charge = _new_charge(invoice, pm, Charge.Status.SUCCEEDED, intent=intent, reference=result.reference)
    intent._latest_charge = charge.pk
    emit("charge.succeeded", charge)
    intent_paid(intent, reference=result.reference)
    invoice.amount_paid += invoice.amount_remaining
    invoice.amount_remaining = 0
    invoice.status = Invoice.Status.PAID
    invoice.paid_at = clock.now()
    invoice.save()
    emit("invoice.paid", invoice)
    emit("invoice.payment_succeeded", invoice)
    refresh_subscription_after_settlement(invoice)


# ---------------------------------------------------------------------------------------------- the processor


def call_processor(attempt: Attempt) -> ChargeResult | None:
    """Ask the processor for the money (no database access: this may run in another thread). None when it could not
    be reached: the charge stays pending."""
    charge = attempt.charge
    pm = charge.payment_method
    try:
        return attempt.gateway.charge(
            reference=pm.gateway_reference,
            amount=charge.amount,
            currency=charge.currency,
            livemode=charge.livemode,
            idempotency_key=charge.idempotency_key,
        )
    except GatewayUnavailable as error:
        logger.warning("processor unavailable for charge %s: %s", charge.pk, error.message)
        return None
    except BillingError as error:  # refused outright: nothing was charged
        return ChargeResult(succeeded=False, failure_code=error.code, failure_message=error.message)
    except Exception:
        logger.exception("processor call for charge %s failed", charge.pk)
        return None


# ---------------------------------------------------------------------------------------------- the second transaction


def settle(attempt: Attempt, result: ChargeResult | None) -> None:
    if result is None:
        return
    if plain_success(attempt, result):
        try:
            settle_successes([(attempt, result)])
            return
        except NotAsLeft:
            pass
    _settle(attempt.charge.pk, result)


@service
def _settle(charge_id: str, result: ChargeResult) -> Invoice | None:
    """Record the processor's answer for a pending charge (the general path; a second answer changes nothing)."""
    charge = Charge.objects.select_related("invoice", "payment_method").filter(pk=charge_id).first()
    if charge is None or charge.status != Charge.Status.PENDING or charge.invoice_id is None:
        return None
    if charge.invoice.subscription_id:
        lock(Subscription, charge.invoice.subscription_id)  # lock order: subscription, invoice, intent, charge
    invoice = lock(Invoice, charge.invoice_id)
    if charge.payment_intent_id:
        lock(PaymentIntent, charge.payment_intent_id)
    charge = (
        Charge.objects.select_for_update(no_key=True, of=("self",)).select_related("payment_method").get(pk=charge_id)
    )
    if charge.status != Charge.Status.PENDING:
        return None
    if result.failure_code == PAYMENT_PENDING:
        _wait_for_the_bank(charge, result.reference)
        return invoice
    now = clock.now()
    succeeded = result.succeeded
    charge.status = Charge.Status.SUCCEEDED if succeeded else Charge.Status.FAILED
    charge.gateway_reference = result.reference
    if not succeeded:
        charge.failure_code, charge.decline_code, charge.failure_message = (
            result.failure_code,
            result.decline_code,
            result.failure_message,
        )
    charge.save(update_fields=["status", "gateway_reference", "failure_code", "decline_code", "failure_message"])
    emit("charge.succeeded" if succeeded else "charge.failed", charge)
    intent = _locked_intent(charge)
    if intent is not None:
        intent._latest_charge = charge.pk
    if succeeded:
        intent_paid(intent, reference=result.reference)
    else:
        intent_failed(
            intent,
            code=charge.failure_code,
            decline_code=charge.decline_code,
            message=charge.failure_message,
            charge_id=charge.pk,
        )
        if needs_authentication(intent):
            _ask_customer_to_authenticate(invoice)
    if invoice.status not in (Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE):
        # Voided (or paid otherwise) while the processor was asked: the money is the customer's credit.
        if succeeded:
            _credit_customer(invoice, charge)
        return invoice
    if succeeded:
        invoice.amount_paid += charge.amount
        invoice.amount_remaining = max(invoice.amount_remaining - charge.amount, 0)
        invoice.status = Invoice.Status.PAID
        invoice.paid_at = now
        invoice.next_payment_attempt = None
        invoice.save()
        emit("invoice.paid", invoice)
        emit("invoice.payment_succeeded", invoice)
        refresh_subscription_after_settlement(invoice)
    else:
        schedule_retry(invoice, now)
        invoice.save()
        emit("invoice.payment_failed", invoice)
    return invoice


def invoice_payment_answered(invoice: Invoice, charge: Charge, *, succeeded: bool) -> None:
    """A customer-present payment of the invoice's PaymentIntent was answered (the hosted invoice page, a client
    confirming the invoice's ``confirmation_secret``); the invoice is locked by the caller."""
    if not succeeded:
        emit("invoice.payment_failed", invoice)
        return
    if invoice.status not in (Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE):
        _credit_customer(invoice, charge)  # paid or voided meanwhile: the money is the customer's credit
        return
    invoice.amount_paid += charge.amount
    invoice.amount_remaining = max(invoice.amount_remaining - charge.amount, 0)
    invoice.status = Invoice.Status.PAID
    invoice.paid_at = clock.now()
    invoice.next_payment_attempt = None
    invoice.save()
    emit("invoice.paid", invoice)
    emit("invoice.payment_succeeded", invoice)
    save_default_payment_method(invoice, charge)
    refresh_subscription_after_settlement(invoice)


def _ask_customer_to_authenticate(invoice: Invoice) -> None:
    """An off-session payment needs the customer (3-D Secure): ``invoice.payment_action_required`` and, after the
    commit, an email with the link to the hosted invoice page, where they authenticate and pay (Stripe's way)."""
    emit("invoice.payment_action_required", invoice)
    invoice_id = invoice.pk
    after_commit(lambda: broker.send(PAYMENT_ACTION_EMAIL_TASK, [invoice_id]))


def _locked_intent(charge: Charge) -> PaymentIntent | None:
    """The charge's PaymentIntent (locked by the caller already, in lock order)."""
    if not charge.payment_intent_id:
        return None
    return PaymentIntent.objects.select_related("invoice", "payment_method").get(pk=charge.payment_intent_id)


def _credit_customer(invoice: Invoice, charge: Charge) -> None:
    from billing.models import Customer

    customer = lock(Customer, invoice.customer_id)
    before = render(customer)
    customer.balance -= charge.amount
    customer.save(update_fields=["balance"])
    balance_ledger.record(
        customer,
        amount=-charge.amount,
        type="adjustment",
        currency=charge.currency,
        invoice_id=invoice.pk,
        description=f"Payment {charge.pk} arrived after the invoice was {invoice.status}: credited to the balance.",
    )
    emit("customer.updated", customer, before=before)
    audit.record(SYSTEM, "charge.credited", charge, {"invoice": invoice.pk, "status": invoice.status})


# ---------------------------------------------------------------------------------------------- dunning


def set_subscription_status(subscription: Subscription, status: str) -> None:
    if subscription.status == status:
        return
    before = render(subscription)
    subscription.status = status
    subscription.save(update_fields=["status"])
    emit("customer.subscription.updated", subscription, before=before)


def refresh_subscription_after_settlement(invoice: Invoice) -> None:
    """The one place an invoice settles (paid, void, uncollectible): a pending update applies once its invoice is
    paid; a subscription that was behind on payment is current again once nothing is owed."""
    if invoice.subscription_id is None:
        return
    from billing.services.subscriptions.pending import pending_invoice_ids, pending_update_settled  # builds on this

    subscription = lock(Subscription, invoice.subscription_id)
    pending_update_settled(subscription, invoice)
    behind = (Subscription.Status.PAST_DUE, Subscription.Status.UNPAID, Subscription.Status.INCOMPLETE)
    if subscription.status not in behind:
        return
    still_owed = (
        Invoice.objects.filter(subscription=subscription, status=Invoice.Status.OPEN, attempt_count__gt=0)
        .exclude(pk__in=[invoice.pk, *pending_invoice_ids(subscription)])
        .exists()
    )
    if not still_owed:
        set_subscription_status(subscription, Subscription.Status.ACTIVE)


def schedule_retry(invoice: Invoice, now: dt.datetime) -> None:
    """Dunning: retry on the configured days after the first failure, then mark the subscription unpaid."""
    subscription = lock(Subscription, invoice.subscription_id) if invoice.subscription_id else None
    if subscription is None or subscription.collection_method != Subscription.CollectionMethod.CHARGE_AUTOMATICALLY:
        invoice.next_payment_attempt = None
        return
    from billing.services.subscriptions.pending import pending_payment_failed  # builds on this module

    if subscription.status == Subscription.Status.INCOMPLETE or pending_payment_failed(subscription, invoice):
        invoice.next_payment_attempt = None  # a first invoice, a pending update's: the customer must act, or it expires
        return
    if invoice.first_failed_at is None:
        invoice.first_failed_at = now
    retry_days = settings.BILLING_RETRY_DAYS
    retries_done = invoice.attempt_count - 1
    if retries_done < len(retry_days):
        invoice.next_payment_attempt = invoice.first_failed_at + dt.timedelta(days=retry_days[retries_done])
        if subscription.status in (Subscription.Status.ACTIVE, Subscription.Status.TRIALING):
            set_subscription_status(subscription, Subscription.Status.PAST_DUE)
    else:
        invoice.next_payment_attempt = None
        set_subscription_status(subscription, Subscription.Status.UNPAID)


# ---------------------------------------------------------------------------------------------- doors


@service
def invoice_retry(*, invoice_id: str) -> Invoice | None:
    """The billing cycle's automatic retry: idempotent for a given moment."""
    invoice = Invoice.objects.filter(pk=invoice_id).only("subscription_id").first()
    if invoice is None:
        return None
    if invoice.subscription_id:
        lock(Subscription, invoice.subscription_id)
    invoice = lock(Invoice, invoice_id)
    due = invoice.next_payment_attempt
    if invoice.status != Invoice.Status.OPEN or due is None or due > clock.now() or pending_charge(invoice):
        return None
    payment_start(invoice)
    audit.record(SYSTEM, "invoice.retry", invoice, {"attempt_count": invoice.attempt_count})
    return invoice


def _wait_for_the_bank(charge: Charge, reference: str) -> None:
    """A debit the processor took but the bank has not answered yet (SEPA): the charge stays pending and its
    PaymentIntent ``processing`` under the processor's reference, settled by the processor's webhook or the billing
    cycle's poll (``payment_intents_poll``), never counted as a failure."""
    charge.gateway_reference = reference
    charge.save(update_fields=["gateway_reference"])
    intent = _locked_intent(charge)
    if intent is not None and reference:
        intent.processor_reference = reference
        intent.save(update_fields=["processor_reference"])


def pending_charge(invoice: Invoice) -> str | None:
    """The id of the invoice's attempt still waiting for the processor, if any."""
    return (
        Charge.objects.filter(invoice_id=invoice.pk, status=Charge.Status.PENDING).values_list("pk", flat=True).first()
    )


def payment_resume(*, charge_id: str) -> None:
    """Send a pending charge to the processor again (same idempotency key) and record the answer."""
    charge = Charge.objects.select_related("payment_method").filter(pk=charge_id, status=Charge.Status.PENDING).first()
    if charge is None or charge.payment_method is None:
        return
    _dispatch(Attempt(charge=charge, gateway=gateway_for(charge.account_id, charge.livemode)))


def stale_pending_charges(now: dt.datetime):
    """Pending charges old enough that the call that started them has certainly ended (crashed or timed out)."""
    cutoff = now - dt.timedelta(seconds=settings.BILLING_PAYMENT_PENDING_SECONDS)
    # A PaymentIntent's pending charge is asked about through its intent (``processing_payment_intents``).
    return Charge.objects.filter(
        status=Charge.Status.PENDING, created__lte=cutoff, invoice__isnull=False, idempotency_key__startswith="in_"
    ).order_by("created")


def raise_unless_paid(invoice: Invoice, charge_id: str | None) -> None:
    """After a customer-present attempt (``charge_id``: its charge, None when no payment method could pay): the
    decline, or the outage, as the error the API and the portal report."""
    if invoice.status == Invoice.Status.PAID:
        return
    charge = Charge.objects.filter(pk=charge_id).first() if charge_id else None
    if charge is None:
        raise CardDeclined(NO_PAYMENT_METHOD[2])
    if charge.status == Charge.Status.PENDING:
        raise GatewayUnavailable("The payment processor did not answer; the payment will be tried again.")
    raise CardDeclined(
        charge.failure_message or "Your card was declined.",
        decline_code=charge.decline_code or None,
        charge_id=charge.id,
    )
