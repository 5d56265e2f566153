"""Plain successes of renewal payments recorded in bulk: many invoices paid, their charges and PaymentIntents
succeeded, in one transaction of a few statements (see ``billing.services.payments.settle``)."""

from django.db import connection

from billing import clock
from billing.models import Charge, Invoice, PaymentIntent, Subscription
from billing.services.common import emit
from billing.services.door import service


def plain_success(attempt, result) -> bool:
    """A success on an invoice whose subscription's status it leaves as it is (the common renewal)."""
    if result is None or not result.succeeded or attempt.invoice is None:
        return False
    subscription = attempt.invoice.subscription if attempt.invoice.subscription_id else None
    # A pending update waits for its invoice's answer: the general path applies it (or shows it).
    return subscription is None or (
        subscription.status == Subscription.Status.ACTIVE and not subscription.pending_update
    )


class NotAsLeft(Exception):
    """An invoice or charge is no longer as its attempt left it: its answer is recorded by the general path."""


# Successes recorded on invoices and charges exactly as their attempts left them (conditional: a second answer, or a
# change meanwhile, matches no row and the whole group is recorded one by one instead).
PAY_INVOICES_SQL = (
    "UPDATE billing_invoice SET amount_paid = amount_paid + amount_remaining, amount_remaining = 0, "
    "status = 'paid', paid_at = %s, next_payment_attempt = NULL "
    "WHERE status = 'open' AND (id, attempt_count) IN (VALUES {rows})"
)
INTENTS_SUCCEEDED_SQL = (
    "UPDATE billing_paymentintent SET status = 'succeeded', amount_received = amount, next_action = NULL, "
    "last_payment_error = NULL WHERE status = 'processing' AND id IN ({ids})"
)
CHARGES_SUCCEEDED_SQL = (
    "UPDATE billing_charge SET status = 'succeeded', gateway_reference = CASE id {cases} END "
    "WHERE status = 'pending' AND id IN ({ids})"
)


def _charges_and_intents_succeeded(cursor, answered, charge_rows) -> None:
    """The charges succeeded and their PaymentIntents with them: on PostgreSQL one statement (the charges' UPDATE in a
    WITH clause), elsewhere two. Raises ``NotAsLeft`` unless every row was as its attempt left it."""
    charges_sql = CHARGES_SUCCEEDED_SQL.format(
        cases=" ".join(["WHEN %s THEN %s"] * len(charge_rows)), ids=", ".join(["%s"] * len(charge_rows))
    )
    charge_params = [*(value for row in charge_rows for value in row), *(charge_id for charge_id, _ in charge_rows)]
    intent_ids = [attempt.intent.pk for attempt, _result in answered if attempt.intent is not None]
    if connection.vendor == "postgresql" and len(intent_ids) == len(answered):
        # Only placeholders are formatted into the statement; the values travel as parameters.
        intents_sql = INTENTS_SUCCEEDED_SQL.format(ids="SELECT payment_intent_id FROM charged")
        cursor.execute(f"WITH charged AS ({charges_sql} RETURNING payment_intent_id) {intents_sql}", charge_params)  # noqa: S608
        if cursor.rowcount != len(answered):
            raise NotAsLeft  # rolls back the invoices too
        return
    cursor.execute(charges_sql, charge_params)
    if cursor.rowcount != len(answered):
        raise NotAsLeft
    if intent_ids:
        cursor.execute(INTENTS_SUCCEEDED_SQL.format(ids=", ".join(["%s"] * len(intent_ids))), intent_ids)
        if cursor.rowcount != len(intent_ids):
            raise NotAsLeft


@service
def settle_successes(answered: list[tuple]) -> None:
    """Record several plain successes (see ``plain_success``) in one transaction with two UPDATEs and one INSERT of
    their events."""
    now = clock.now()
    invoice_rows = [(attempt.invoice.pk, attempt.invoice.attempt_count) for attempt, _result in answered]
    charge_rows = [(attempt.charge.pk, result.reference) for attempt, result in answered]
    with connection.cursor() as cursor:
        cursor.execute(
            PAY_INVOICES_SQL.format(rows=", ".join(["(%s, %s)"] * len(invoice_rows))),
            [now, *(value for row in invoice_rows for value in row)],
        )
        if cursor.rowcount != len(answered):
            raise NotAsLeft
        _charges_and_intents_succeeded(cursor, answered, charge_rows)
    for attempt, result in answered:
        invoice, charge = attempt.invoice, attempt.charge
        charge.status, charge.gateway_reference = Charge.Status.SUCCEEDED, result.reference
        if attempt.intent is not None:
            intent = attempt.intent
            intent.status, intent.amount_received = PaymentIntent.Status.SUCCEEDED, intent.amount
            intent.last_payment_error = intent.next_action = None
            intent._latest_charge = charge.pk
            emit("payment_intent.succeeded", intent)
        invoice.amount_paid += invoice.amount_remaining
        invoice.amount_remaining = 0
        invoice.status, invoice.paid_at, invoice.next_payment_attempt = Invoice.Status.PAID, now, None
        emit("charge.succeeded", charge)
        emit("invoice.paid", invoice)
        emit("invoice.payment_succeeded", invoice)
