"""Deliveries verify with the official ``stripe`` SDK and the ``standardwebhooks`` package; tampering,
stale timestamps and rolled secrets behave as those libraries expect."""

import base64
import datetime as dt
import json
import re

import pytest
import standardwebhooks
import stripe
import time_machine
from django.utils import timezone

from webhooks import signing
from webhooks.models import Delivery
from webhooks.services import delivery_resend, webhook_endpoint_roll_secret

from .conftest import ACTOR


def test_secrets_are_whsec_and_256_random_bits():
    secret = signing.generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert secret != signing.generate_secret()


def test_stripe_sdk_and_standard_webhooks_accept_a_delivery(endpoint, customer, receiver, change_customer):
    change_customer(customer, name="Ada Lovelace")

    [request] = receiver.requests
    event = stripe.Webhook.construct_event(request.body, request.headers["Stripe-Signature"], endpoint.secret)
    assert event.type == "customer.updated"
    assert event.data.object.name == "Ada Lovelace"
    payload = standardwebhooks.Webhook(endpoint.secret).verify(request.body, request.headers)
    assert payload["id"] == event.id == request.headers["webhook-id"]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", request.headers["Stripe-Signature"])
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.headers["User-Agent"].startswith("BillingPortal-Webhooks/1.0")


def test_a_tampered_body_is_rejected_by_both(endpoint, customer, receiver, change_customer):
    change_customer(customer)
    [request] = receiver.requests
    tampered = request.body.replace(b'"livemode":false', b'"livemode":true')
    assert tampered != request.body

    with pytest.raises(stripe.SignatureVerificationError, match="No signatures found matching"):
        stripe.Webhook.construct_event(tampered, request.headers["Stripe-Signature"], endpoint.secret)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError, match="No matching signature"):
        standardwebhooks.Webhook(endpoint.secret).verify(tampered, request.headers)


def test_an_old_timestamp_is_rejected_by_both(endpoint, customer, receiver, change_customer):
    with time_machine.travel(timezone.now() - dt.timedelta(minutes=10)):
        change_customer(customer)
    [request] = receiver.requests

    with pytest.raises(stripe.SignatureVerificationError, match="Timestamp outside the tolerance zone"):
        stripe.Webhook.construct_event(request.body, request.headers["Stripe-Signature"], endpoint.secret)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError, match="too old"):
        standardwebhooks.Webhook(endpoint.secret).verify(request.body, request.headers)


def test_a_wrong_secret_is_rejected(endpoint, customer, receiver, change_customer):
    change_customer(customer)
    [request] = receiver.requests
    other = signing.generate_secret()
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(request.body, request.headers["Stripe-Signature"], other)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(other).verify(request.body, request.headers)


def test_rolled_secret_signs_twice_until_it_expires(endpoint, customer, receiver, change_customer):
    old_secret = endpoint.secret
    endpoint = webhook_endpoint_roll_secret(endpoint=endpoint, expires_in_hours=24, actor=ACTOR)
    assert endpoint.secret != old_secret

    change_customer(customer)
    request = receiver.requests[-1]
    header = request.headers["Stripe-Signature"]
    assert len(re.findall(r"v1=", header)) == 2
    for secret in (endpoint.secret, old_secret):
        stripe.Webhook.construct_event(request.body, header, secret)
        standardwebhooks.Webhook(secret).verify(request.body, request.headers)
    # Each v1 is the signature of exactly one of the secrets.
    timestamp = int(header.split(",")[0].removeprefix("t="))
    assert header.split(",")[1:] == [
        f"v1={signing.stripe_signature(request.body, endpoint.secret, timestamp)}",
        f"v1={signing.stripe_signature(request.body, old_secret, timestamp)}",
    ]

    with time_machine.travel(timezone.now() + dt.timedelta(hours=25)):
        change_customer(customer)
        request = receiver.requests[-1]
        header = request.headers["Stripe-Signature"]
        assert len(re.findall(r"v1=", header)) == 1
        stripe.Webhook.construct_event(request.body, header, endpoint.secret)
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(request.body, header, old_secret)
        with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
            standardwebhooks.Webhook(old_secret).verify(request.body, request.headers)


def test_rolling_with_zero_hours_drops_the_old_secret_at_once(endpoint, customer, receiver, change_customer):
    old_secret = endpoint.secret
    endpoint = webhook_endpoint_roll_secret(endpoint=endpoint, expires_in_hours=0, actor=ACTOR)
    change_customer(customer)
    header = receiver.requests[-1].headers["Stripe-Signature"]
    assert header.count("v1=") == 1
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(receiver.requests[-1].body, header, old_secret)


def test_every_attempt_is_signed_anew(
    endpoint, customer, receiver, change_customer, django_capture_on_commit_callbacks
):
    change_customer(customer)
    delivery = Delivery.objects.get()
    with (
        time_machine.travel(timezone.now() + dt.timedelta(seconds=30)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        delivery_resend(delivery=delivery, actor=ACTOR)
    first, second = receiver.requests
    assert json.loads(first.body)["id"] == json.loads(second.body)["id"]
    assert first.headers["webhook-timestamp"] != second.headers["webhook-timestamp"]
    assert first.headers["Stripe-Signature"] != second.headers["Stripe-Signature"]
    for request in (first, second):
        stripe.Webhook.construct_event(request.body, request.headers["Stripe-Signature"], endpoint.secret, tolerance=60)
