import pytest
from django.db import connection

from billing.exceptions import (
    CardDeclined,
    InvalidRequest,
    LastPaymentMethod,
    LiveModeNotAllowed,
    ProcessorNotConfigured,
)
from billing.gateways import CardInput, get_gateway
from billing.gateways.test import TestGateway
from billing.models import AuditEntry, Event, PaymentMethod
from billing.services.payment_methods import (
    payment_method_add,
    payment_method_attach,
    payment_method_create,
    payment_method_detach,
)
from tests.billing.helpers import ACTOR, subscribed
from tests.factories.billing import CustomerFactory, card, sepa


def test_last_chargeable_payment_method_cannot_be_detached(db, t0):
    subscription = subscribed(t0)
    only = subscription.customer.default_payment_method
    with pytest.raises(LastPaymentMethod) as error:
        payment_method_detach(payment_method=only, actor=ACTOR)
    assert "Add a new payment method first" in error.value.message
    only.refresh_from_db()
    assert only.customer_id == subscription.customer_id


def test_detach_after_adding_another_moves_the_default(db, t0):
    subscription = subscribed(t0)
    customer = subscription.customer
    first = customer.default_payment_method
    second = card(customer, "5555555555554444", default=False)
    payment_method_detach(payment_method=first, actor=ACTOR)
    customer.refresh_from_db()
    assert customer.default_payment_method_id == second.id
    assert Event.objects.filter(type="payment_method.detached").count() == 1


def test_sepa_cannot_keep_a_usd_subscription_alive(db, t0):
    subscription = subscribed(t0, currency="usd")
    customer = subscription.customer
    sepa(customer)
    with pytest.raises(LastPaymentMethod):
        payment_method_detach(payment_method=customer.default_payment_method, actor=ACTOR)


def test_customer_without_active_subscription_may_remove_everything(db):
    customer = CustomerFactory()
    pm = card(customer)
    payment_method_detach(payment_method=pm, actor=ACTOR)
    customer.refresh_from_db()
    assert customer.default_payment_method is None


def test_only_non_sensitive_card_data_is_stored(db):
    customer = CustomerFactory()
    pm = card(customer, "4000002760000016")
    stored = {f.name: getattr(pm, f.name) for f in PaymentMethod._meta.fields}
    assert (pm.card_brand, pm.card_last4, pm.country, pm.card_exp_year) == ("visa", "0016", "DE", 2035)
    assert not any("4000002760000016" in str(value) or value == "123" for value in stored.values())
    assert "4000002760000016" not in repr(CardInput("4000002760000016", 1, 2030, "123"))


def test_declining_cards_do_not_attach_and_bad_numbers_are_refused(db):
    customer = CustomerFactory()
    with pytest.raises(CardDeclined):
        card(customer, "4000000000000002")
    assert not customer.payment_methods.exists()
    with pytest.raises(InvalidRequest) as error:
        card(customer, "4242424242424241")
    assert error.value.param == "card[number]"


def test_live_mode_without_a_processor_names_the_missing_setting(db):
    customer = CustomerFactory(livemode=True)
    with pytest.raises(ProcessorNotConfigured) as error:
        payment_method_create(account=customer.account, livemode=True, actor=ACTOR, token="pm_card_visa")
    assert "Payment processors" in error.value.message


def test_test_gateway_refuses_live_mode(db):
    with pytest.raises(LiveModeNotAllowed):
        TestGateway().from_token("pm_card_visa", livemode=True)


def test_attach_across_tenants_is_refused(db):
    customer = CustomerFactory()
    other = CustomerFactory()
    pm = payment_method_create(account=other.account, livemode=False, actor=ACTOR, token="pm_card_visa")
    with pytest.raises(Exception) as error:
        payment_method_attach(payment_method=pm, customer=customer, actor=ACTOR)
    assert error.value.code == "resource_missing"


def test_add_creates_attaches_and_makes_the_default_in_one_change(db):
    customer = CustomerFactory()
    first = card(customer)
    events_before = set(Event.objects.values_list("id", flat=True))
    added = payment_method_add(
        customer=customer,
        livemode=False,
        actor=ACTOR,
        card=CardInput("5555555555554444", 12, 2034, "123"),
        billing_details={"name": "Ada"},
        make_default=True,
    )
    customer.refresh_from_db()
    assert added.customer_id == customer.id and added.billing_details == {"name": "Ada"}
    assert customer.default_payment_method_id == added.id != first.id
    new_events = Event.objects.exclude(id__in=events_before)
    assert sorted(new_events.values_list("type", flat=True)) == ["customer.updated", "payment_method.attached"]
    assert set(AuditEntry.objects.filter(object_id=added.id).values_list("action", flat=True)) == {
        "payment_method.create",
        "payment_method.attach",
    }


def test_add_with_a_declining_card_leaves_nothing_behind(db):
    customer = CustomerFactory()
    first = card(customer)
    counts = Event.objects.count(), AuditEntry.objects.count(), PaymentMethod.objects.count()
    with pytest.raises(CardDeclined):
        payment_method_add(
            customer=customer,
            livemode=False,
            actor=ACTOR,
            card=CardInput("4000000000000002", 12, 2034, "123"),
            make_default=True,
        )
    customer.refresh_from_db()
    assert customer.default_payment_method_id == first.id
    assert (Event.objects.count(), AuditEntry.objects.count(), PaymentMethod.objects.count()) == counts


def test_the_gateway_tokenizes_outside_any_transaction(db, monkeypatch):
    """A processor call never holds a transaction open (``db`` runs each test in one: compare with its depth)."""
    gateway = get_gateway()
    outer = len(connection.atomic_blocks)
    depths = []
    tokenize = gateway.tokenize_card

    def spy(card, *, livemode):
        depths.append(len(connection.atomic_blocks))
        return tokenize(card, livemode=livemode)

    monkeypatch.setattr(gateway, "tokenize_card", spy)
    customer = CustomerFactory()
    number = CardInput("4242424242424242", 12, 2034, "123")
    payment_method_create(account=customer.account, livemode=False, actor=ACTOR, card=number)
    payment_method_add(customer=customer, livemode=False, actor=ACTOR, card=number)
    assert depths == [outer, outer]
