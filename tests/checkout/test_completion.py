"""Completing a Checkout Session through its services: a subscription paid by card, declined then retried, 3-D
Secure, a trial, setup and payment modes, an expired session, and two completions at once (PostgreSQL threads):
one customer, one subscription, one payment, one checkout.session.completed."""

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection, connections

from billing.exceptions import StateConflict
from billing.models import Charge, Customer, Event, Invoice, PaymentIntent, PaymentMethod, Price, Subscription
from billing.services.coupons import coupon_create, promotion_code_create
from checkout.models import CheckoutSession
from checkout.services.complete import CustomerInput, checkout_session_confirm, checkout_session_settle
from checkout.services.create import checkout_session_create
from checkout.services.discounts import checkout_session_apply_promotion_code
from checkout.services.expire import checkout_session_expire, checkout_sessions_sweep
from tests.factories.billing import ACTOR, PriceFactory
from tests.factories.checkout import hosted_card, session_for, subscription_session
from tests.sdk.test_payment_intents import authenticate

RETURN = "https://portal.example/c/return"


def confirm(session, pm, **details):
    return checkout_session_confirm(
        session=session, details=CustomerInput(**details), payment_method_id=pm.pk, return_url=RETURN
    )


def event_types(account) -> list[str]:
    return list(Event.objects.filter(account=account).order_by("id").values_list("type", flat=True))


@pytest.mark.django_db
def test_a_subscription_session_paid_by_card():
    session = subscription_session()
    attempt = confirm(session, hosted_card(session.account), name="Ada")
    assert attempt.status == "complete"
    session.refresh_from_db()
    assert (session.status, session.payment_status) == ("complete", "paid")
    subscription = session.subscription
    assert subscription.status == "active"
    assert subscription.customer.email == "ada@example.com"
    assert Invoice.objects.get(pk=session.invoice_id).status == "paid"
    assert subscription.default_payment_method.card_last4 == "4242"
    types = event_types(session.account)
    assert types.index("customer.subscription.created") < types.index("checkout.session.completed")
    assert types.count("checkout.session.completed") == 1
    # Completing again changes nothing.
    assert checkout_session_settle(session=session).status == "complete"
    assert event_types(session.account).count("checkout.session.completed") == 1


@pytest.mark.django_db
def test_a_decline_leaves_the_session_open_and_a_retry_completes_it():
    session = subscription_session()
    declined = confirm(session, hosted_card(session.account, "4000000000000002"))
    assert declined.status == "failed" and declined.error["decline_code"] == "generic_decline"
    session.refresh_from_db()
    assert session.status == "open" and session.subscription_id is None
    assert confirm(session, hosted_card(session.account)).status == "complete"
    assert Subscription.objects.filter(customer__account=session.account).count() == 1
    assert Customer.objects.filter(account=session.account).count() == 1
    session.refresh_from_db()
    assert session.subscription.status == "active"


@pytest.mark.django_db
def test_3d_secure_is_completed_on_the_banks_page():
    session = subscription_session()
    attempt = confirm(session, hosted_card(session.account, "4000002500003155"))
    assert attempt.status == "action"
    authenticate(attempt.redirect_to)
    assert checkout_session_settle(session=session, refresh=True).status == "complete"
    session.refresh_from_db()
    assert session.subscription.status == "active" and session.payment_status == "paid"


@pytest.mark.django_db
def test_a_trial_creates_a_trialing_subscription_without_a_charge():
    session = subscription_session(subscription_data={"trial_period_days": 14})
    assert session.amount_total == 0
    assert confirm(session, hosted_card(session.account)).status == "complete"
    session.refresh_from_db()
    assert session.subscription.status == "trialing"
    assert session.payment_status == "no_payment_required"
    assert session.setup_intent.status == "succeeded"
    assert not Charge.objects.filter(customer=session.customer, amount__gt=0).exists()
    assert session.subscription.default_payment_method_id == session.setup_intent.payment_method_id


@pytest.mark.django_db
def test_setup_mode_attaches_the_method():
    price = PriceFactory()
    session = checkout_session_create(
        account=price.account,
        livemode=False,
        actor=ACTOR,
        mode="setup",
        currency="eur",
        success_url="https://shop.example/done",
        customer_email="sam@example.com",
    )
    assert confirm(session, hosted_card(price.account)).status == "complete"
    session.refresh_from_db()
    assert session.payment_status == "no_payment_required"
    assert PaymentMethod.objects.get(pk=session.setup_intent.payment_method_id).customer_id == session.customer_id


@pytest.mark.django_db
def test_payment_mode_charges_once():
    price = PriceFactory(type=Price.Type.ONE_TIME, recurring_interval="", unit_amount=4900)
    session = session_for(price, mode="payment", quantity=2)
    assert confirm(session, hosted_card(price.account), email="guest@example.com").status == "complete"
    session.refresh_from_db()
    assert session.payment_status == "paid" and session.customer is None
    intent = PaymentIntent.objects.get(pk=session.payment_intent_id)
    assert intent.status == "succeeded" and intent.amount == 9800
    assert Charge.objects.filter(payment_intent=intent, status="succeeded").count() == 1


@pytest.mark.django_db
def test_an_expired_session_refuses_payment_and_the_sweep_expires_it():
    session = subscription_session()
    with time_machine.travel(session.expires_at + dt.timedelta(minutes=1)):
        with pytest.raises(StateConflict):
            confirm(session, hosted_card(session.account))
        assert checkout_sessions_sweep()["expired"] == 1
    session.refresh_from_db()
    assert session.status == "expired" and session.subscription_id is None
    assert event_types(session.account).count("checkout.session.expired") == 1
    with pytest.raises(StateConflict):
        checkout_session_expire(session=session, actor=ACTOR)


@pytest.mark.django_db
def test_a_promotion_code_lowers_the_first_invoice():
    session = subscription_session(allow_promotion_codes=True)
    coupon = coupon_create(account=session.account, livemode=False, actor=ACTOR, percent_off=20, duration="once")
    promotion_code_create(coupon=coupon, code="WELCOME20", actor=ACTOR)
    session = checkout_session_apply_promotion_code(session=session, code="welcome20")
    assert (session.amount_subtotal, session.amount_discount, session.amount_total) == (1500, 300, 1200)
    assert confirm(session, hosted_card(session.account)).status == "complete"
    session.refresh_from_db()
    assert Invoice.objects.get(pk=session.invoice_id).amount_paid == 1200


@pytest.mark.django_db(transaction=True)
def test_two_completions_at_once_make_one_subscription():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises every write, so there is no race to test")
    session = subscription_session()
    cards = [hosted_card(session.account), hosted_card(session.account, "5555555555554444")]
    barrier = threading.Barrier(2)
    results, errors = [], []

    def submit(pm):
        try:
            barrier.wait(timeout=10)
            results.append(confirm(session, pm).status)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit, args=(pm,)) for pm in cards]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and "complete" in results
    assert Subscription.objects.filter(customer__account=session.account).count() == 1
    assert Customer.objects.filter(account=session.account).count() == 1
    assert Charge.objects.filter(customer__account=session.account, status="succeeded").count() == 1
    assert event_types(session.account).count("checkout.session.completed") == 1
    assert CheckoutSession.objects.get(pk=session.pk).status == "complete"
