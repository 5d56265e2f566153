"""/v1/checkout/sessions through the official SDK: create, retrieve, line items, list, expire; Stripe's errors for
bad input (never a 500); sessions of another account or mode are not found."""

import time

import pytest
import stripe

from billing.exceptions import StateConflict
from billing.models import Event


@pytest.fixture
def catalog(client):
    product = client.v1.products.create({"name": "Pro"})
    monthly = client.v1.prices.create(
        {"product": product.id, "currency": "eur", "unit_amount": 1500, "recurring": {"interval": "month"}}
    )
    once = client.v1.prices.create({"product": product.id, "currency": "eur", "unit_amount": 4900})
    dollars = client.v1.prices.create({"product": product.id, "currency": "usd", "unit_amount": 4900})
    return {"monthly": monthly, "once": once, "dollars": dollars}


def subscription_session(client, catalog, **extra):
    return client.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "line_items": [{"price": catalog["monthly"].id, "quantity": 2}],
            "success_url": "https://shop.example/done?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://shop.example/pricing",
            **extra,
        }
    )


def test_create_retrieve_line_items_expire(client, catalog):
    before = int(time.time())
    session = subscription_session(
        client,
        catalog,
        customer_email="ada@example.com",
        metadata={"order": "42"},
        client_reference_id="user-7",
        allow_promotion_codes=True,
        subscription_data={"trial_period_days": 14, "metadata": {"plan": "pro"}},
        billing_address_collection="required",
        tax_id_collection={"enabled": True},
        phone_number_collection={"enabled": True},
        consent_collection={"terms_of_service": "required"},
        custom_text={"submit": {"message": "Cancel any time."}},
        locale="de",
    )
    assert session.object == "checkout.session"
    assert session.id.startswith("cs_")
    assert (session.status, session.payment_status, session.mode) == ("open", "unpaid", "subscription")
    assert session.url.endswith(f"/c/{session.id}")
    assert session.currency == "eur"
    assert session.amount_subtotal == 0 and session.amount_total == 0  # a trial charges nothing today
    assert session.customer is None and session.customer_email == "ada@example.com"
    assert session.customer_creation == "always"
    assert 24 * 3600 - 5 <= session.expires_at - before <= 24 * 3600 + 5
    assert session.metadata.to_dict() == {"order": "42"} and session.client_reference_id == "user-7"
    assert session.billing_address_collection == "required"
    assert session.tax_id_collection.enabled is True and session.phone_number_collection.enabled is True
    assert session.consent_collection.terms_of_service == "required"
    assert session.custom_text.submit.message == "Cancel any time."
    assert session.locale == "de" and session.ui_mode == "hosted"

    again = client.v1.checkout.sessions.retrieve(session.id, {"expand": ["line_items"]})
    assert again.id == session.id
    assert [i.quantity for i in again.line_items.data] == [2]

    items = client.v1.checkout.sessions.line_items.list(session.id)
    assert items.object == "list" and len(items.data) == 1
    item = items.data[0]
    assert item.object == "item" and item.price.id == catalog["monthly"].id and item.quantity == 2
    assert item.amount_subtotal == 3000 and item.description == "Pro"

    listed = client.v1.checkout.sessions.list({"limit": 5})
    assert [s.id for s in listed.data] == [session.id]

    expired = client.v1.checkout.sessions.expire(session.id)
    assert expired.status == "expired" and expired.url is None
    assert Event.objects.filter(type="checkout.session.expired", data_object__id=session.id).count() == 1
    with pytest.raises(stripe.InvalidRequestError) as again_expired:
        client.v1.checkout.sessions.expire(session.id)
    assert "status in [open]" in again_expired.value.user_message


def test_payment_mode_amounts_come_from_the_prices(client, catalog):
    session = client.v1.checkout.sessions.create(
        {
            "mode": "payment",
            "line_items": [{"price": catalog["once"].id, "quantity": 3}],
            "success_url": "https://shop.example/done",
        }
    )
    assert session.amount_subtotal == 14700 and session.amount_total == 14700
    assert session.customer_creation == "if_required" and session.payment_method_collection is None


def test_setup_mode_needs_no_line_items(client):
    session = client.v1.checkout.sessions.create(
        {"mode": "setup", "currency": "eur", "success_url": "https://shop.example/done"}
    )
    assert session.mode == "setup" and session.amount_total is None and session.currency == "eur"


def _error(client, params) -> stripe.StripeError:
    with pytest.raises(stripe.StripeError) as refused:
        client.v1.checkout.sessions.create({"success_url": "https://shop.example/done", **params})
    return refused.value


@pytest.mark.parametrize(
    ("params", "param", "words"),
    [
        ({"mode": "payment", "line_items": [{"price": "price_nope"}]}, "line_items[0][price]", "No such price"),
        (
            {"mode": "subscription", "line_items": [{"price": "MONTHLY"}, {"price": "DOLLARS_MONTHLY"}]},
            "line_items[1][price]",
            "same currency",
        ),
        ({"mode": "payment", "line_items": [{"price": "MONTHLY"}]}, "line_items[0][price]", "recurring price"),
        ({"mode": "subscription", "line_items": [{"price": "ONCE"}]}, "line_items", "at least one recurring price"),
        ({"mode": "payment", "line_items": [{"price": "ONCE", "quantity": 0}]}, "line_items[0][quantity]", ""),
        (
            {"mode": "payment", "line_items": [{"price": "ONCE"}], "success_url": "javascript:alert(1)"},
            "success_url",
            "Not a valid URL",
        ),
        ({"mode": "payment", "line_items": [{"price": "ONCE"}], "success_url": ""}, "success_url", ""),
        ({"mode": "payment"}, "line_items", "line_items"),
        (
            {"mode": "payment", "line_items": [{"price": "ONCE"}], "expires_at": int(time.time()) + 60},
            "expires_at",
            "30 minutes",
        ),
        (
            {"mode": "subscription", "line_items": [{"price": "MONTHLY"}], "customer_creation": "always"},
            "customer_creation",
            "",
        ),
    ],
)
def test_bad_input_answers_stripes_error(client, catalog, params, param, words):
    product = client.v1.products.create({"name": "US"})
    names = {
        "MONTHLY": catalog["monthly"].id,
        "ONCE": catalog["once"].id,
        "DOLLARS_MONTHLY": client.v1.prices.create(
            {"product": product.id, "currency": "usd", "unit_amount": 900, "recurring": {"interval": "month"}}
        ).id,
    }
    for item in params.get("line_items", []):
        item["price"] = names.get(item["price"], item["price"])
    error = _error(client, params)
    assert isinstance(error, stripe.InvalidRequestError), error
    assert error.http_status in (400, 404)
    assert error.error.type == "invalid_request_error"
    assert error.error.param == param
    assert words in error.user_message


def test_another_accounts_price_and_session_are_not_found(client, other_client, catalog):
    error = _error(other_client, {"mode": "subscription", "line_items": [{"price": catalog["monthly"].id}]})
    assert error.error.code == "resource_missing" and error.error.param == "line_items[0][price]"
    session = subscription_session(client, catalog)
    for call in (
        lambda: other_client.v1.checkout.sessions.retrieve(session.id),
        lambda: other_client.v1.checkout.sessions.expire(session.id),
        lambda: other_client.v1.checkout.sessions.line_items.list(session.id),
    ):
        with pytest.raises(stripe.InvalidRequestError) as missing:
            call()
        assert missing.value.http_status == 404 and missing.value.error.code == "resource_missing"
    assert other_client.v1.checkout.sessions.list().data == []
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"


# ---------------------------------------------------------------------------------------------- completion


@pytest.fixture
def receiver(settings):
    from tests.webhooks.receiver import Receiver
    from webhooks import sending

    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    with Receiver() as running:
        yield running
    sending.close_clients()


def _complete(client, session_id: str, number: str = "4242424242424242"):
    """What the hosted page does once the customer pressed the button (the page itself is tested in Chromium)."""
    from checkout.models import CheckoutSession
    from checkout.services.complete import CustomerInput, checkout_session_confirm
    from tests.factories.checkout import hosted_card

    session = CheckoutSession.objects.get(pk=session_id)
    return checkout_session_confirm(
        session=session,
        details=CustomerInput(email="ada@example.com"),
        payment_method_id=hosted_card(session.account, number).pk,
        return_url="https://portal.example/return",
    )


def test_a_completed_subscription_session_is_delivered_signed(client, catalog, receiver):
    endpoint = client.v1.webhook_endpoints.create(
        {"url": receiver.url, "enabled_events": ["checkout.session.completed", "customer.subscription.created"]}
    )
    session = subscription_session(client, catalog, customer_email="ada@example.com")
    assert _complete(client, session.id).status == "complete"
    done = client.v1.checkout.sessions.retrieve(session.id, {"expand": ["subscription", "invoice"]})
    assert (done.status, done.payment_status, done.url) == ("complete", "paid", None)
    assert done.subscription.status == "active" and done.invoice.status == "paid"
    assert done.invoice.amount_paid == 3000  # two seats at 15.00, from the server's price
    received = [
        stripe.Webhook.construct_event(r.body, r.headers["Stripe-Signature"], endpoint.secret)
        for r in receiver.requests
    ]
    assert [e.type for e in received] == ["customer.subscription.created", "checkout.session.completed"]
    assert received[1].data.object.id == session.id and received[1].data.object.subscription == done.subscription.id
    assert client.v1.checkout.sessions.list({"subscription": done.subscription.id}).data[0].id == session.id


def test_setup_and_payment_modes(client, catalog):
    setup = client.v1.checkout.sessions.create(
        {"mode": "setup", "currency": "eur", "success_url": "https://shop.example/done"}
    )
    assert _complete(client, setup.id).status == "complete"
    setup = client.v1.checkout.sessions.retrieve(setup.id, {"expand": ["setup_intent"]})
    assert setup.payment_status == "no_payment_required" and setup.setup_intent.status == "succeeded"
    assert client.v1.payment_methods.retrieve(setup.setup_intent.payment_method).customer == setup.customer

    payment = client.v1.checkout.sessions.create(
        {"mode": "payment", "line_items": [{"price": catalog["once"].id}], "success_url": "https://shop.example/d"}
    )
    assert _complete(client, payment.id).status == "complete"
    with pytest.raises(StateConflict):  # a second confirmation charges nothing
        _complete(client, payment.id)
    payment = client.v1.checkout.sessions.retrieve(payment.id, {"expand": ["payment_intent"]})
    assert payment.payment_status == "paid" and payment.payment_intent.amount_received == 4900
    assert len(client.v1.charges.list({"payment_intent": payment.payment_intent.id}).data) == 1
