"""Refunds: Stripe's rules, the amount reserved on the charge, and the processor called between two transactions."""

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection, connections

from billing.exceptions import BillingError, InvalidRequest, NotFound, StateConflict
from billing.models import AuditEntry, Charge, Event, PaymentIntent, Refund
from billing.selectors import invoices_with_refunds
from billing.services.charges import charge_update
from billing.services.refunds import refund_cancel, refund_create, refund_update
from tests.billing.gateways import RefundLedgerGateway
from tests.billing.helpers import ACTOR, run_cycle, subscribed
from tests.factories.billing import AccountFactory

LEDGER = "tests.billing.gateways.RefundLedgerGateway"


@pytest.fixture(autouse=True)
def _ledger(settings):
    RefundLedgerGateway.reset()
    settings.BILLING_GATEWAY = LEDGER
    yield
    RefundLedgerGateway.reset()


@pytest.fixture
def paid(db, t0, settings):
    """A succeeded charge of 10.00 € (a subscription's first invoice), paid through the test gateway."""
    settings.BILLING_GATEWAY = "billing.gateways.test.TestGateway"
    subscription = subscribed(t0)
    settings.BILLING_GATEWAY = LEDGER
    return Charge.objects.get(invoice=subscription.latest_invoice)


def event_types(charge: Charge) -> list[str]:
    return list(
        Event.objects.filter(account_id=charge.account_id, type__contains="refund").values_list("type", flat=True)
    )


def test_a_refund_defaults_to_the_whole_charge(paid):
    refund = refund_create(charge=paid, actor=ACTOR, reason="requested_by_customer", metadata={"ticket": "42"})
    refund.refresh_from_db()
    paid.refresh_from_db()
    assert (refund.status, refund.amount, refund.currency, refund.reason) == (
        "succeeded",
        1000,
        "eur",
        "requested_by_customer",
    )
    assert refund.idempotency_key == f"{paid.id}:refund:1" and refund.processor_reference
    assert refund.metadata == {"ticket": "42"}
    assert paid.amount_refunded == 1000
    assert sorted(event_types(paid)) == sorted(
        ["refund.created", "refund.updated", "charge.refund.updated", "charge.refunded"]
    )
    refunded = Event.objects.get(type="charge.refunded")
    assert refunded.data_object["refunded"] is True and refunded.data_object["amount_refunded"] == 1000
    entry = AuditEntry.objects.get(action="refund.create")
    assert entry.object_id == refund.id and entry.changes == {
        "charge": paid.id,
        "amount": 1000,
        "reason": "requested_by_customer",
    }
    assert RefundLedgerGateway.calls == [refund.idempotency_key]


def test_partial_refunds_up_to_the_charge_and_no_further(paid):
    first = refund_create(charge=paid, amount=300, actor=ACTOR)
    with pytest.raises(InvalidRequest) as too_much:
        refund_create(charge=paid, amount=701, actor=ACTOR)
    assert too_much.value.code == "amount_too_large" and too_much.value.param == "amount"
    assert too_much.value.message == "Refund amount (€7.01) is greater than unrefunded amount on charge (€7.00)"
    rest = refund_create(charge=paid, actor=ACTOR)
    rest.refresh_from_db()
    assert (rest.amount, rest.status, rest.idempotency_key) == (700, "succeeded", f"{paid.id}:refund:2")
    with pytest.raises(StateConflict) as done:
        refund_create(charge=paid, amount=1, actor=ACTOR)
    assert done.value.code == "charge_already_refunded" and str(paid.id) in done.value.message
    paid.refresh_from_db()
    assert paid.amount_refunded == 1000
    assert Refund.objects.filter(charge=paid).count() == 2 and first.amount == 300
    # Stripe sends charge.refunded for a partial refund too.
    assert Event.objects.filter(type="charge.refunded").count() == 2


@pytest.mark.parametrize(
    ("kwargs", "code", "param"),
    [
        ({"amount": 0}, "parameter_invalid_integer", "amount"),
        ({"amount": -5}, "parameter_invalid_integer", "amount"),
        ({"reason": "changed_mind"}, "parameter_invalid", "reason"),
    ],
)
def test_bad_amounts_and_reasons_are_refused(paid, kwargs, code, param):
    with pytest.raises(InvalidRequest) as refused:
        refund_create(charge=paid, actor=ACTOR, **kwargs)
    assert (refused.value.code, refused.value.param) == (code, param)
    assert not Refund.objects.exists()


def test_exactly_one_of_charge_and_payment_intent(paid):
    with pytest.raises(InvalidRequest) as neither:
        refund_create(actor=ACTOR)
    assert neither.value.code == "parameter_missing"
    intent = PaymentIntent.objects.create(account=paid.account, amount=1000, currency="eur")
    with pytest.raises(InvalidRequest):
        refund_create(charge=paid, payment_intent=intent, actor=ACTOR)


def test_a_payment_intent_refunds_its_latest_succeeded_charge(paid):
    intent = PaymentIntent.objects.create(account=paid.account, amount=1000, currency="eur", status="succeeded")
    with pytest.raises(StateConflict) as nothing:
        refund_create(payment_intent=intent, actor=ACTOR)
    assert nothing.value.code == "charge_not_refundable" and nothing.value.param == "payment_intent"
    Charge.objects.filter(pk=paid.pk).update(payment_intent=intent)
    refund = refund_create(payment_intent=intent, amount=250, actor=ACTOR)
    assert (refund.charge_id, refund.payment_intent_id, refund.amount) == (paid.id, intent.id, 250)


def test_failed_and_uncaptured_charges_cannot_be_refunded(paid):
    Charge.objects.filter(pk=paid.pk).update(captured=False)
    with pytest.raises(StateConflict, match="has not been captured"):
        refund_create(charge=paid, actor=ACTOR)
    Charge.objects.filter(pk=paid.pk).update(captured=True, status=Charge.Status.FAILED)
    with pytest.raises(StateConflict) as failed:
        refund_create(charge=paid, actor=ACTOR)
    assert failed.value.code == "charge_not_refundable"


def test_another_tenants_payment_intent_is_missing(paid):
    intent = PaymentIntent.objects.create(account=AccountFactory(), amount=1000, currency="eur")
    Charge.objects.filter(pk=paid.pk).update(payment_intent=intent)
    with pytest.raises(NotFound):
        refund_create(payment_intent=intent, actor=ACTOR)


def test_an_unreachable_processor_leaves_the_refund_pending_until_the_cycle_sends_it_again(paid, t0, settings):
    RefundLedgerGateway.down = True
    with time_machine.travel(t0 + dt.timedelta(days=1), tick=False):
        refund = refund_create(charge=paid, amount=400, actor=ACTOR)
    refund.refresh_from_db()
    paid.refresh_from_db()
    assert refund.status == "pending" and paid.amount_refunded == 400  # reserved while the processor is asked
    RefundLedgerGateway.down = False
    # Not yet stale: the call that started it may still be running.
    run_cycle(t0 + dt.timedelta(days=1, seconds=settings.BILLING_PAYMENT_PENDING_SECONDS - 1))
    refund.refresh_from_db()
    assert refund.status == "pending"
    summary = run_cycle(t0 + dt.timedelta(days=1, seconds=settings.BILLING_PAYMENT_PENDING_SECONDS + 1))
    refund.refresh_from_db()
    paid.refresh_from_db()
    assert refund.status == "succeeded" and paid.amount_refunded == 400 and summary["errors"] == 0
    # Sent twice with the same key; the processor paid back once.
    assert RefundLedgerGateway.calls == [refund.idempotency_key, refund.idempotency_key]
    assert len(RefundLedgerGateway.ledger) == 1
    # A later cycle leaves it alone.
    run_cycle(t0 + dt.timedelta(days=2))
    assert len(RefundLedgerGateway.calls) == 2
    assert Event.objects.filter(type="charge.refunded").count() == 1


def test_a_lost_answer_is_resumed_with_the_same_key_and_no_second_refund(paid, t0, settings):
    with time_machine.travel(t0 + dt.timedelta(days=1), tick=False):
        refund = refund_create(charge=paid, amount=400, actor=ACTOR)
    # The worker died after the processor refunded and before the answer was recorded.
    Refund.objects.filter(pk=refund.pk).update(status="pending", processor_reference="")
    run_cycle(t0 + dt.timedelta(days=2))
    refund.refresh_from_db()
    assert refund.status == "succeeded"
    assert RefundLedgerGateway.calls == [refund.idempotency_key] * 2 and len(RefundLedgerGateway.ledger) == 1


def test_a_refused_refund_releases_the_amount(paid):
    RefundLedgerGateway.answer = "failed"
    refund = refund_create(charge=paid, amount=600, actor=ACTOR)
    refund.refresh_from_db()
    paid.refresh_from_db()
    assert (refund.status, refund.failure_reason) == ("failed", "expired_or_canceled_card")
    assert paid.amount_refunded == 0
    assert "refund.failed" in event_types(paid) and "charge.refunded" not in event_types(paid)
    RefundLedgerGateway.answer = ""
    again = refund_create(charge=paid, actor=ACTOR)
    again.refresh_from_db()
    assert (again.amount, again.status, again.idempotency_key) == (1000, "succeeded", f"{paid.id}:refund:2")


def test_a_refund_the_processor_settles_later_stays_pending_and_is_not_resent(paid, t0):
    RefundLedgerGateway.answer = "pending"
    refund = refund_create(charge=paid, amount=100, actor=ACTOR)
    refund.refresh_from_db()
    assert refund.status == "pending" and refund.processor_reference
    run_cycle(t0 + dt.timedelta(days=3))
    assert RefundLedgerGateway.calls == [refund.idempotency_key]


def test_only_a_pending_refund_can_be_canceled_and_that_releases_the_amount(paid):
    RefundLedgerGateway.down = True
    pending = refund_create(charge=paid, amount=300, actor=ACTOR)
    canceled = refund_cancel(refund=pending, actor=ACTOR)
    paid.refresh_from_db()
    assert canceled.status == "canceled" and paid.amount_refunded == 0
    assert AuditEntry.objects.filter(action="refund.cancel", object_id=pending.id).exists()
    with pytest.raises(StateConflict):
        refund_cancel(refund=pending, actor=ACTOR)
    RefundLedgerGateway.down = False
    done = refund_create(charge=paid, amount=300, actor=ACTOR)
    with pytest.raises(StateConflict) as refused:
        refund_cancel(refund=done, actor=ACTOR)
    assert refused.value.code == "refund_not_cancelable"


def test_metadata_is_all_a_refund_update_changes(paid):
    refund = refund_create(charge=paid, amount=100, actor=ACTOR, metadata={"a": "1"})
    updated = refund_update(refund=refund, metadata={"b": "2", "a": ""}, actor=ACTOR)
    assert updated.metadata == {"b": "2"}
    assert AuditEntry.objects.filter(action="refund.update", object_id=refund.id).exists()
    changed = charge_update(charge=paid, description="Order 7", metadata={"order": "7"}, actor=ACTOR)
    assert (changed.description, changed.metadata) == ("Order 7", {"order": "7"})
    assert Event.objects.filter(type="charge.updated").count() == 1


def test_invoices_know_how_much_of_them_was_refunded(paid):
    refund_create(charge=paid, amount=250, actor=ACTOR)
    invoice = invoices_with_refunds(type(paid.invoice).objects.filter(pk=paid.invoice_id)).get()
    assert (invoice.status, invoice.amount_charged, invoice.amount_refunded) == ("paid", 1000, 250)


@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_never_give_back_more_than_the_charge(t0, settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (run through .ci/run)")
    settings.BILLING_GATEWAY = "billing.gateways.test.TestGateway"
    charge = Charge.objects.get(invoice=subscribed(t0).latest_invoice)
    settings.BILLING_GATEWAY = LEDGER
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def refund_600():
        try:
            barrier.wait()
            refund_create(charge=charge, amount=600, actor=ACTOR)
            outcomes.append("refunded")
        except BillingError as error:
            outcomes.append(error.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=refund_600) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    charge.refresh_from_db()
    assert sorted(outcomes) == ["amount_too_large"] * 3 + ["refunded"]
    assert charge.amount_refunded == 600
    assert Refund.objects.filter(charge=charge, status="succeeded").count() == 1
