import datetime as dt

import pytest
import time_machine

from billing.exceptions import InvalidRequest
from billing.models import Event, Subscription
from billing.services.customers import customer_update
from billing.services.subscriptions import subscription_pause_collection, subscription_resume_collection
from tests.billing.helpers import ACTOR, run_cycle, subscribed

UTC = dt.UTC
FEB_28 = dt.datetime(2026, 2, 28, 10, tzinfo=UTC)


def _pause(subscription, behavior, resumes_at=None, at=None):
    with time_machine.travel(at or subscription.current_period_start + dt.timedelta(days=1), tick=False):
        return subscription_pause_collection(
            subscription=subscription, actor=ACTOR, behavior=behavior, resumes_at=resumes_at
        )


def test_keep_as_draft_leaves_the_renewal_a_draft(db, t0):
    subscription = _pause(subscribed(t0), "keep_as_draft")
    run_cycle(FEB_28)
    subscription.refresh_from_db()
    renewal = subscription.latest_invoice
    assert (renewal.status, renewal.auto_advance, renewal.number) == ("draft", False, "")
    assert not renewal.charges.exists()
    assert subscription.status == "active"
    assert Subscription.objects.collection_paused("keep_as_draft").get() == subscription


def test_mark_uncollectible_marks_the_renewal(db, t0):
    subscription = _pause(subscribed(t0), "mark_uncollectible")
    run_cycle(FEB_28)
    subscription.refresh_from_db()
    assert subscription.latest_invoice.status == "uncollectible"
    assert subscription.latest_invoice.number and not subscription.latest_invoice.charges.exists()
    assert subscription.status == "active"


def test_mark_uncollectible_is_paid_when_the_balance_covers_it(db, t0):
    subscription = _pause(subscribed(t0), "mark_uncollectible")
    subscription.customer.balance = -5000
    subscription.customer.save()
    run_cycle(FEB_28)
    subscription.refresh_from_db()
    assert subscription.latest_invoice.status == "paid"
    subscription.customer.refresh_from_db()
    assert subscription.customer.balance == -4000


def test_void_gives_back_the_credit_the_renewal_used(db, t0):
    subscription = _pause(subscribed(t0), "void")  # 10.00 a month
    subscription.customer.balance = -400  # 4.00 of credit: pays part of the renewal
    subscription.customer.save()
    run_cycle(FEB_28)
    subscription.refresh_from_db()
    invoice = subscription.latest_invoice
    assert invoice.status == "void" and invoice.starting_balance == -400 and invoice.ending_balance == 0
    subscription.customer.refresh_from_db()
    assert subscription.customer.balance == -400
    restored = Event.objects.filter(type="customer.updated").order_by("-id").first()
    assert restored.previous_attributes == {"balance": 0} and restored.data_object["balance"] == -400


def test_voiding_an_open_invoice_gives_back_the_credit_it_used(db, t0):
    from billing.services.invoices import invoice_void

    subscription = _pause(subscribed(t0), "mark_uncollectible")
    subscription.customer.balance = -300
    subscription.customer.save()
    run_cycle(FEB_28)
    subscription.refresh_from_db()
    invoice = subscription.latest_invoice
    assert invoice.status == "uncollectible" and invoice.amount_due == 700
    subscription.customer.refresh_from_db()
    assert subscription.customer.balance == 0
    invoice_void(invoice=invoice, actor=ACTOR)
    subscription.customer.refresh_from_db()
    assert subscription.customer.balance == -300


def test_void_voids_the_renewal(db, t0):
    subscription = _pause(subscribed(t0), "void")
    run_cycle(FEB_28)
    subscription.refresh_from_db()
    assert subscription.latest_invoice.status == "void" and subscription.status == "active"


def test_collection_resumes_automatically_at_resumes_at(db, t0):
    resumes_at = dt.datetime(2026, 3, 10, tzinfo=UTC)
    subscription = _pause(subscribed(t0), "void", resumes_at=resumes_at)
    event = Event.objects.filter(type="customer.subscription.updated").latest("id")
    assert event.previous_attributes == {"pause_collection": None}
    assert event.data_object["pause_collection"] == {"behavior": "void", "resumes_at": int(resumes_at.timestamp())}
    assert event.data_object["status"] == "active"

    run_cycle(FEB_28)  # still paused: voided
    run_cycle(resumes_at)
    subscription.refresh_from_db()
    assert subscription.pause_collection is None
    resumed = Event.objects.filter(type="customer.subscription.updated").latest("id")
    assert resumed.previous_attributes["pause_collection"]["behavior"] == "void"
    assert resumed.data_object["pause_collection"] is None
    assert resumed.request_id == ""  # automatic change
    run_cycle(dt.datetime(2026, 3, 31, 10, tzinfo=UTC))
    subscription.refresh_from_db()
    assert [i.status for i in subscription.invoices.order_by("period_start")] == ["paid", "void", "paid"]


def test_catching_up_resumes_in_order(db, t0):
    """A cycle that runs late still voids the period that began while paused and collects the next."""
    subscription = _pause(subscribed(t0), "void", resumes_at=dt.datetime(2026, 3, 10, tzinfo=UTC))
    run_cycle(dt.datetime(2026, 4, 1, tzinfo=UTC))
    assert [i.status for i in subscription.invoices.order_by("period_start")] == ["paid", "void", "paid"]


def test_resume_now_and_changing_the_pause(db, t0):
    subscription = _pause(subscribed(t0), "keep_as_draft")
    subscription = _pause(subscription, "void")
    assert subscription.pause_collection["behavior"] == "void"
    with time_machine.travel(t0 + dt.timedelta(days=2), tick=False):
        subscription_resume_collection(subscription=subscription, actor=ACTOR)
    subscription.refresh_from_db()
    assert subscription.pause_collection is None
    changes = Event.objects.filter(type="customer.subscription.updated").values_list("previous_attributes", flat=True)
    # After the first payment made it active: paused, pause changed, resumed.
    assert [list(change) for change in reversed(changes)] == [["status"], *[["pause_collection"]] * 3]


def test_pause_refuses_bad_input(db, t0):
    subscription = subscribed(t0)
    with pytest.raises(InvalidRequest) as error:
        _pause(subscription, "forever")
    assert error.value.param == "pause_collection[behavior]"
    with pytest.raises(InvalidRequest) as error:
        _pause(subscription, "void", resumes_at=t0 - dt.timedelta(days=1))
    assert error.value.param == "pause_collection[resumes_at]"
    subscription.refresh_from_db()
    assert subscription.pause_collection is None


def test_customer_update_records_previous_attributes(db, t0):
    subscription = subscribed(t0)
    customer_update(
        customer=subscription.customer,
        actor=ACTOR,
        name="Neu",
        address={"line1": "Hauptstr. 1", "city": "Berlin", "country": "de"},
    )
    event = Event.objects.filter(type="customer.updated").latest("id")
    assert set(event.previous_attributes) == {"name", "address"}
    assert event.data_object["address"]["country"] == "DE"
