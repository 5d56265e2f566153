"""Stripe's pending updates (``payment_behavior=pending_if_incomplete``) through the official SDK: a change that
invoices now applies only once that invoice is paid, and is dropped when it expires."""

import datetime as dt

import pytest
import stripe

from billing.models import Event, Subscription
from tests.billing.helpers import run_cycle
from tests.factories.billing import PriceFactory

UPGRADE = {"proration_behavior": "always_invoice", "payment_behavior": "pending_if_incomplete"}


@pytest.fixture
def prices(merchant):
    small = PriceFactory(account=merchant, product__account=merchant, unit_amount=1000, currency="eur")
    big = PriceFactory(account=merchant, product__account=merchant, unit_amount=3000, currency="eur")
    return small, big


def subscribed(client, prices, *, then_card: str | None = None):
    """A customer paying ``prices[0]`` with a good card; ``then_card`` becomes their default card afterwards."""
    customer = client.v1.customers.create({"email": "ada@example.com"})
    good = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": good.id}})
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": prices[0].id}]})
    assert sub.status == "active"
    if then_card:
        other = client.v1.payment_methods.attach(then_card, {"customer": customer.id})
        client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": other.id}})
    return customer, sub


def upgrade(client, sub, price, **extra):
    item = sub["items"].data[0]
    return client.v1.subscriptions.update(sub.id, {"items": [{"id": item.id, "price": price.id}], **UPGRADE, **extra})


def types_since(merchant, event_id: int) -> list[str]:
    return list(Event.objects.filter(account=merchant, id__gt=event_id).order_by("id").values_list("type", flat=True))


def last_event_id(merchant) -> int:
    return Event.objects.filter(account=merchant).order_by("-id").values_list("id", flat=True).first() or 0


def test_a_declined_upgrade_waits_as_a_pending_update_until_its_invoice_is_paid(client, merchant, prices):
    small, big = prices
    customer, sub = subscribed(client, prices, then_card="pm_card_chargeCustomerFail")
    mark = last_event_id(merchant)

    pending = upgrade(client, sub, big, expand=["latest_invoice"])

    # Stripe answers 200: the items stay as they were, the change waits in pending_update.
    assert [item.price.id for item in pending["items"].data] == [small.id]
    assert pending.status == "active"
    update = pending.pending_update
    assert [(item.id, item.price.id, item.quantity) for item in update.subscription_items] == [
        (sub["items"].data[0].id, big.id, 1)
    ]
    assert update.subscription_items[0].object == "subscription_item"
    assert update.billing_cycle_anchor is None and update.trial_end is None and update.trial_from_plan is None
    # 23 hours on: the period (a month) and no trial end sooner.
    assert abs(update.expires_at - (dt.datetime.now(dt.UTC) + dt.timedelta(hours=23)).timestamp()) < 120
    invoice = pending.latest_invoice
    assert invoice.status == "open" and invoice.attempt_count == 1 and invoice.amount_remaining > 0
    assert invoice.billing_reason == "subscription_update"
    types = types_since(merchant, mark)
    assert "invoice.payment_failed" in types and "customer.subscription.pending_update_applied" not in types
    assert types.count("customer.subscription.updated") == 1
    shown = Event.objects.filter(account=merchant, type="customer.subscription.updated").latest("id")
    assert set(shown.previous_attributes) == {"latest_invoice", "pending_update"}
    assert shown.data_object["pending_update"]["subscription_items"][0]["price"]["id"] == big.id
    # No dunning for it: the subscription is not past due and nothing is retried.
    assert invoice.next_payment_attempt is None
    assert client.v1.subscriptions.retrieve(sub.id).pending_update.expires_at == update.expires_at

    # Paying its PaymentIntent with a card that declines changes nothing: the update keeps its expiry.
    intent = client.v1.invoices.retrieve(invoice.id, {"expand": ["payment_intent"]}).payment_intent
    assert intent.status == "requires_payment_method"
    with pytest.raises(stripe.CardError):
        client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_chargeDeclined"})
    still = client.v1.subscriptions.retrieve(sub.id)
    assert still.pending_update.expires_at == update.expires_at and still["items"].data[0].price.id == small.id

    # The customer brings a card that works and the invoice is paid: the change applies, once.
    good = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    mark = last_event_id(merchant)
    paid = client.v1.invoices.pay(invoice.id, {"payment_method": good.id})
    assert paid.status == "paid"
    applied = client.v1.subscriptions.retrieve(sub.id)
    assert [item.price.id for item in applied["items"].data] == [big.id]
    assert applied["items"].data[0].id == sub["items"].data[0].id
    assert applied.pending_update is None and applied.latest_invoice == invoice.id
    types = types_since(merchant, mark)
    assert types[types.index("invoice.paid") :] == [
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.pending_update_applied",
        "customer.subscription.updated",
    ]
    applied_event = Event.objects.filter(type="customer.subscription.pending_update_applied").get()
    assert applied_event.previous_attributes["pending_update"]["subscription_items"][0]["price"]["id"] == big.id
    assert applied_event.data_object["items"]["data"][0]["price"]["id"] == big.id
    # The prorations were on the paid invoice: nothing waits for the next one.
    upcoming = client.v1.invoices.list({"subscription": sub.id, "status": "draft"})
    assert upcoming.data == []


def test_a_new_item_waits_with_its_own_id_and_is_created_with_it(client, merchant, prices):
    small, big = prices
    extra = PriceFactory(account=merchant, product__account=merchant, unit_amount=500, currency="eur")
    customer, sub = subscribed(client, prices, then_card="pm_card_chargeCustomerFail")
    pending = client.v1.subscriptions.update(sub.id, {"items": [{"price": extra.id, "quantity": 2}], **UPGRADE})
    assert len(pending["items"].data) == 1
    waiting = {item.price.id: item for item in pending.pending_update.subscription_items}
    assert set(waiting) == {small.id, extra.id} and waiting[extra.id].quantity == 2
    good = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    client.v1.invoices.pay(pending.latest_invoice, {"payment_method": good.id})
    items = {item.price.id: item for item in client.v1.subscriptions.retrieve(sub.id)["items"].data}
    assert items[extra.id].id == waiting[extra.id].id and items[extra.id].quantity == 2


def test_the_success_path_is_the_same_as_allow_incomplete(client, merchant, prices):
    small, big = prices
    outcomes = []
    for behavior in ("allow_incomplete", "pending_if_incomplete"):
        _customer, sub = subscribed(client, prices)
        mark = last_event_id(merchant)
        item = sub["items"].data[0]
        updated = client.v1.subscriptions.update(
            sub.id,
            {
                "items": [{"id": item.id, "price": big.id}],
                "proration_behavior": "always_invoice",
                "payment_behavior": behavior,
                "expand": ["latest_invoice"],
            },
        )
        changed = Event.objects.filter(account=merchant, id__gt=mark, type="customer.subscription.updated").get()
        outcomes.append(
            {
                "items": [(i.price.id, i.quantity) for i in updated["items"].data],
                "pending_update": updated.pending_update,
                "invoice": (updated.latest_invoice.status, updated.latest_invoice.amount_paid),
                "events": sorted(types_since(merchant, mark)),
                "previous": sorted(changed.previous_attributes),
            }
        )
    assert outcomes[0] == outcomes[1]
    assert outcomes[1]["items"] == [(big.id, 1)] and outcomes[1]["pending_update"] is None
    assert outcomes[1]["invoice"][0] == "paid"
    assert "customer.subscription.pending_update_applied" not in outcomes[1]["events"]


def test_a_card_that_needs_authentication_leaves_the_invoice_s_payment_requiring_action(client, merchant, prices):
    small, big = prices
    _customer, sub = subscribed(client, prices, then_card="pm_card_authenticationRequired")
    pending = upgrade(client, sub, big, expand=["latest_invoice.payment_intent"])
    assert [item.price.id for item in pending["items"].data] == [small.id]
    assert pending.pending_update.subscription_items[0].price.id == big.id
    intent = pending.latest_invoice.payment_intent
    assert intent.status == "requires_action" and intent.next_action.type == "redirect_to_url"
    # The customer pays with another card instead (the invoice's PaymentIntent, as the hosted invoice page does).
    paid = client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    assert paid.status == "succeeded"
    applied = client.v1.subscriptions.retrieve(sub.id)
    assert applied.pending_update is None and applied["items"].data[0].price.id == big.id
    assert Event.objects.filter(type="customer.subscription.pending_update_applied").count() == 1


def test_a_change_that_invoices_nothing_now_simply_applies(client, merchant, prices):
    small, big = prices
    _customer, sub = subscribed(client, prices, then_card="pm_card_chargeCustomerFail")
    item = sub["items"].data[0]
    updated = client.v1.subscriptions.update(
        sub.id,
        {
            "items": [{"id": item.id, "price": big.id}],
            "proration_behavior": "create_prorations",
            "payment_behavior": "pending_if_incomplete",
        },
    )
    assert updated.pending_update is None and updated["items"].data[0].price.id == big.id
    assert updated.latest_invoice == sub.latest_invoice


def test_an_unpaid_pending_update_expires_with_the_billing_cycle(client, merchant, prices):
    small, big = prices
    _customer, sub = subscribed(client, prices, then_card="pm_card_chargeCustomerFail")
    pending = upgrade(client, sub, big)
    expires_at = dt.datetime.fromtimestamp(pending.pending_update.expires_at, tz=dt.UTC)
    mark = last_event_id(merchant)

    assert run_cycle(expires_at - dt.timedelta(minutes=1))["steps"] == 0
    assert client.v1.subscriptions.retrieve(sub.id).pending_update is not None

    summary = run_cycle(expires_at + dt.timedelta(minutes=1))
    assert summary["steps"] == 1 and summary["errors"] == 0
    expired = client.v1.subscriptions.retrieve(sub.id)
    assert expired.pending_update is None and [i.price.id for i in expired["items"].data] == [small.id]
    assert expired.status == "active"
    assert client.v1.invoices.retrieve(pending.latest_invoice).status == "void"
    assert types_since(merchant, mark) == [
        "invoice.voided",
        "customer.subscription.pending_update_expired",
        "customer.subscription.updated",
    ]
    event = Event.objects.get(type="customer.subscription.pending_update_expired")
    assert event.data_object["pending_update"] is None and event.previous_attributes["pending_update"] is not None
    # The voided invoice can no longer be paid: the change is gone for good.
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.pay(pending.latest_invoice, {"payment_method": "pm_card_visa"})


def test_a_new_update_replaces_the_pending_one_and_voiding_its_invoice_cancels_it(client, merchant, prices):
    small, big = prices
    bigger = PriceFactory(account=merchant, product__account=merchant, unit_amount=9000, currency="eur")
    _customer, sub = subscribed(client, prices, then_card="pm_card_chargeCustomerFail")
    first = upgrade(client, sub, big)
    second = upgrade(client, sub, bigger)
    assert second.latest_invoice != first.latest_invoice
    assert client.v1.invoices.retrieve(first.latest_invoice).status == "void"
    assert client.v1.invoices.retrieve(second.latest_invoice).status == "open"
    assert second.pending_update.subscription_items[0].price.id == bigger.id

    # Stripe's way to cancel a pending update: void its invoice.
    client.v1.invoices.void_invoice(second.latest_invoice)
    canceled = client.v1.subscriptions.retrieve(sub.id)
    assert canceled.pending_update is None and canceled["items"].data[0].price.id == small.id
    assert not Event.objects.filter(type="customer.subscription.pending_update_applied").exists()


def test_canceling_the_subscription_drops_its_pending_update(client, merchant, prices):
    small, big = prices
    _customer, sub = subscribed(client, prices, then_card="pm_card_chargeCustomerFail")
    pending = upgrade(client, sub, big)
    canceled = client.v1.subscriptions.cancel(sub.id)
    assert canceled.status == "canceled" and canceled.pending_update is None
    assert client.v1.invoices.retrieve(pending.latest_invoice).status == "void"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"metadata": {"k": "v"}}, "metadata"),
        ({"cancel_at_period_end": True}, "cancel_at_period_end"),
        ({"default_payment_method": "pm_nope"}, "default_payment_method"),
        ({"off_session": True}, "off_session"),
    ],
)
def test_only_the_parameters_of_a_pending_update_are_taken(client, merchant, prices, extra, param):
    small, big = prices
    _customer, sub = subscribed(client, prices)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        upgrade(client, sub, big, **extra)
    assert refused.value.http_status == 400 and refused.value.param == param
    assert refused.value.error.type == "invalid_request_error"
    assert "pending_if_incomplete" in refused.value.user_message
    unchanged = client.v1.subscriptions.retrieve(sub.id)
    assert unchanged["items"].data[0].price.id == small.id and unchanged.metadata.to_dict() == {}


def test_item_parameters_outside_a_pending_update_are_refused(client, merchant, prices):
    small, big = prices
    _customer, sub = subscribed(client, prices)
    item = sub["items"].data[0]
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.subscriptions.update(
            sub.id, {"items": [{"id": item.id, "price": big.id, "metadata": {"k": "v"}}], **UPGRADE}
        )
    assert refused.value.param == "items[0][metadata]"


def test_pending_if_incomplete_is_refused_on_create_and_for_send_invoice(client, merchant, prices):
    small, big = prices
    customer = client.v1.customers.create({"email": "ada@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.subscriptions.create(
            {"customer": customer.id, "items": [{"price": small.id}], "payment_behavior": "pending_if_incomplete"}
        )
    assert refused.value.http_status == 400 and refused.value.param == "payment_behavior"
    assert "only supported when updating" in refused.value.user_message
    assert not Subscription.objects.filter(customer_id=customer.id).exists()

    invoiced = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": small.id}], "collection_method": "send_invoice",
         "days_until_due": 30}
    )  # fmt: skip
    with pytest.raises(stripe.InvalidRequestError) as refused:
        upgrade(client, invoiced, big)
    assert refused.value.http_status == 400 and refused.value.param == "payment_behavior"
    assert "send_invoice" in refused.value.user_message
    assert client.v1.subscriptions.retrieve(invoiced.id)["items"].data[0].price.id == small.id


def test_a_new_billing_cycle_waits_too_and_starts_when_paid(client, merchant, prices):
    small, big = prices
    customer, sub = subscribed(client, prices, then_card="pm_card_chargeCustomerFail")
    item = sub["items"].data[0]
    pending = client.v1.subscriptions.update(
        sub.id,
        {
            "items": [{"id": item.id, "price": big.id}],
            "billing_cycle_anchor": "now",
            "payment_behavior": "pending_if_incomplete",
        },
    )
    assert pending.billing_cycle_anchor == sub.billing_cycle_anchor
    assert pending.current_period_start == sub.current_period_start
    anchor = pending.pending_update.billing_cycle_anchor
    assert anchor >= sub.created
    waiting = pending.pending_update.subscription_items[0]
    assert waiting.price.id == big.id and waiting.current_period_start == anchor
    invoice = client.v1.invoices.retrieve(pending.latest_invoice)
    assert invoice.status == "open" and invoice.period_start == anchor

    good = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    client.v1.invoices.pay(invoice.id, {"payment_method": good.id})
    restarted = client.v1.subscriptions.retrieve(sub.id)
    assert restarted.pending_update is None
    assert restarted.billing_cycle_anchor == anchor and restarted.current_period_start == anchor
    assert restarted.current_period_end == waiting.current_period_end


def test_billing_cycle_anchor_now_alone_restarts_the_period(client, merchant, prices):
    _customer, sub = subscribed(client, prices)
    restarted = client.v1.subscriptions.update(sub.id, {"billing_cycle_anchor": "now"})
    assert restarted.billing_cycle_anchor >= sub.billing_cycle_anchor
    assert restarted.latest_invoice != sub.latest_invoice and restarted["items"].data[0].price.id == prices[0].id
