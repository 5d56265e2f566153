"""``/v1/openapi.json`` describes every object the API answers, field by field, and nothing it does not answer.

Objects of every kind are built through the API (the isolation walk's builders, plus a few in other states) and
read back through every GET operation; each is checked against its schema in the document. With
``WRITE_OBJECT_SCHEMAS=1`` the schemas (``api/object_schemas.json``) are written from these objects instead.
"""

import os
import re

import pytest
from django.test import Client

from api import object_schemas
from api.router import OPERATIONS
from tests.factories.billing import AccountFactory
from tests.sdk.test_isolation import BODIES, ID_OPERATIONS, LIST_OPERATIONS, LIST_PARAMS, build, fill, path_ids
from webhooks import ssrf

WRITE = os.environ.get("WRITE_OBJECT_SCHEMAS") == "1"


def _more_states(api, ids: dict) -> None:
    """Objects in states the builders do not make, so that fields that are sometimes set are seen set."""
    address = {"line1": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115", "country": "DE"}
    api.ok(
        "POST",
        "/v1/customers",
        {
            "email": "full@example.com",
            "name": "Full",
            "phone": "+4930123456",
            "description": "All fields",
            "address": address,
            "shipping": {"name": "Full", "address": address, "phone": "+4930123456"},
            "preferred_locales": ["de"],
            "metadata": {"k": "v"},
        },
    )
    api.ok("POST", "/v1/customers", {"email": "clock@example.com", "test_clock": ids["test_helpers/test_clocks"]})
    api.ok("POST", "/v1/prices", {"product": ids["products"], "currency": "eur", "unit_amount": 500})
    metered = {"interval": "month", "usage_type": "metered", "meter": ids["billing/meters"]}
    api.ok(
        "POST", "/v1/prices", {"product": ids["products"], "currency": "eur", "unit_amount": 2, "recurring": metered}
    )
    api.ok("POST", f"/v1/billing/meters/{ids['billing/meters']}/deactivate")
    api.ok("POST", f"/v1/billing/meters/{ids['billing/meters']}/reactivate")
    api.ok(
        "POST", "/v1/coupons", {"amount_off": 500, "currency": "eur", "duration": "repeating", "duration_in_months": 3}
    )
    api.ok("POST", "/v1/billing_portal/sessions", {"customer": ids["customers"]})
    api.ok("POST", f"/v1/customers/{ids['customers']}/balance_transactions", {"amount": 200, "currency": "eur"})
    api.ok(
        "POST",
        "/v1/checkout/sessions",
        {
            "mode": "subscription",
            "line_items": [{"price": ids["prices"], "adjustable_quantity": {"enabled": True, "maximum": 5}}],
            "success_url": "https://shop.example/ok",
            "cancel_url": "https://shop.example/back",
            "customer": ids["customers"],
            "discounts": [{"coupon": api.ok("GET", "/v1/coupons", {"limit": 1})["data"][0]["id"]}],
            "billing_address_collection": "required",
            "consent_collection": {"terms_of_service": "required"},
            "custom_text": {"submit": {"message": "Thanks"}},
            "locale": "de",
            "client_reference_id": "ref-1",
            "subscription_data": {"trial_period_days": 7},
        },
    )
    api.ok(
        "POST", "/v1/checkout/sessions", {"mode": "setup", "currency": "eur", "success_url": "https://shop.example/ok"}
    )
    promo = api.ok(
        "POST", "/v1/promotion_codes", {"coupon": api.ok("GET", "/v1/coupons", {"limit": 1})["data"][0]["id"]}
    )
    api.ok(
        "POST",
        "/v1/checkout/sessions",
        {
            "mode": "subscription",
            "line_items": [{"price": ids["prices"]}],
            "success_url": "https://shop.example/ok",
            "customer_email": "buyer@example.com",
            "discounts": [{"promotion_code": promo["id"]}],
        },
    )


def _completed_checkout_sessions(account) -> None:
    """Sessions completed on the hosted page (a card subscription, and a payment with the customer's details), so
    that the fields a completion fills are seen filled."""
    from billing.models import Price
    from checkout.services.complete import CustomerInput, checkout_session_confirm
    from tests.factories.billing import PriceFactory, ProductFactory
    from tests.factories.checkout import hosted_card, session_for

    product = ProductFactory(account=account)
    monthly = PriceFactory(product=product, account=account)
    once = PriceFactory(product=product, account=account, type=Price.Type.ONE_TIME, recurring_interval="")
    details = CustomerInput(
        email="done@example.com",
        name="Done",
        phone="+4930123",
        address={"line1": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115", "country": "DE"},
        tax_ids=[{"type": "eu_vat", "value": "DE123456789"}],
        terms_accepted=True,
    )
    for session in (
        session_for(monthly, consent_collection={"terms_of_service": "required"}),
        session_for(once, mode="payment", customer_creation="always"),
    ):
        checkout_session_confirm(
            session=session, details=details, payment_method_id=hosted_card(account).pk, return_url="https://x.example"
        )


def _kind(response: str) -> tuple[str, bool]:
    match = re.fullmatch(r"(?:list|search_result)\[(.+)\]", response)
    return (match.group(1), True) if match else (response, False)


@pytest.fixture
def served(db, settings) -> dict[str, list[dict]]:
    """Every object the API answered, by object name."""
    settings.API_RATE_LIMIT_TEST = 0
    with ssrf.using_resolver(lambda host, port: ["93.184.215.14"]):
        account = AccountFactory()
        world = build(account, livemode=False)
        _more_states(world.api, world.ids)
        _completed_checkout_sessions(account)
        samples: dict[str, list[dict]] = {}

        def add(response: str, body: dict) -> None:
            kind, listed = _kind(response)
            if kind.startswith("deleted_"):
                return
            for item in body["data"] if listed else [body]:
                samples.setdefault(kind, []).append(item)

        for op in ID_OPERATIONS:
            if op.method == "GET":
                path = fill(op.path, {name: world.ids[resource] for name, resource in path_ids(op.path)})
                params = BODIES[("GET", op.path)](world.ids) if ("GET", op.path) in BODIES else None
                add(op.response, world.api.ok("GET", path, params))
        for op in LIST_OPERATIONS:
            limit = {"limit": 100} if "limit" in op.params.fields else {}
            add(op.response, world.api.ok("GET", op.path, {**limit, **LIST_PARAMS.get(op.path, {})}))
        session = world.api.ok("POST", "/v1/billing_portal/sessions", {"customer": world.ids["customers"]})
        add("billing_portal.session", session)
        usage = {"stripe_customer_id": world.ids["customers"], "value": "3"}
        add(
            "billing.meter_event",
            world.api.ok("POST", "/v1/billing/meter_events", {"event_name": "api_calls", "payload": usage}),
        )
    return samples


def test_every_served_object_matches_its_schema_both_ways(served):
    if WRITE:
        schemas = dict(object_schemas.NEVER_SERVED)
        for kind, items in served.items():
            for item in items:
                schemas[kind] = object_schemas.describe(item, schemas.get(kind))
        object_schemas.write(schemas)
    document = Client().get("/v1/openapi.json").json()
    components = document["components"]["schemas"]
    problems = []
    for kind, items in sorted(served.items()):
        assert kind in components, f"{kind}: no schema in the document"
        for item in items:
            problems += [
                f"{kind} {item.get('id')}: {problem}" for problem in object_schemas.mismatches(item, components[kind])
            ]
    assert not problems, "run with WRITE_OBJECT_SCHEMAS=1 to describe them:\n" + "\n".join(problems[:40])


def test_every_response_object_of_the_document_has_a_full_schema(db):
    document = Client().get("/v1/openapi.json").json()
    components = document["components"]["schemas"]
    for op in OPERATIONS:
        kind, _ = _kind(op.response)
        schema = components[kind]
        assert schema.get("properties", {}).keys() > {"object"}, f"{op.method} {op.path}: {kind} has no fields"
        assert schema["properties"]["object"]["enum"] == [kind.removeprefix("deleted_")]
