"""Events are rendered in the API version of the endpoint that receives them (else the account's, the current one)."""

import json

from billing.events import API_VERSION
from billing.models import PaymentIntent
from tests.billing.helpers import subscribed

from .conftest import make_endpoint

OLD = "2024-06-20"  # before invoices paid through ``payments`` (2025-03-31.basil)


def _invoice_events(receiver, path: str) -> list[dict]:
    bodies = [json.loads(request.body) for request in receiver.requests if request.path.endswith(path)]
    return [body for body in bodies if body["type"].startswith("invoice.")]


def test_an_endpoint_on_an_older_version_gets_its_fields(account, receiver, t0, django_capture_on_commit_callbacks):
    make_endpoint(account, receiver.url + "/old", api_version=OLD)
    make_endpoint(account, receiver.url + "/new", api_version=API_VERSION)
    make_endpoint(account, receiver.url + "/default")  # no api_version: the account's, the current one
    current = API_VERSION
    with django_capture_on_commit_callbacks(execute=True):
        subscription = subscribed(t0, account=account)
    invoice = subscription.latest_invoice
    intent = PaymentIntent.objects.get(invoice=invoice)

    old = _invoice_events(receiver, "old")
    assert old and all(body["api_version"] == OLD for body in old)
    paid = next(body for body in old if body["type"] == "invoice.paid")
    assert paid["data"]["object"]["payment_intent"] == intent.pk

    for path in ("new", "default"):
        bodies = _invoice_events(receiver, path)
        assert bodies and all(body["api_version"] == current for body in bodies)
        assert all("payment_intent" not in body["data"]["object"] for body in bodies)
