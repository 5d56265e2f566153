"""Tenant and mode isolation, walked over every operation the API registers.

An owner's objects of every kind are built through the API; an intruder (another account, or the same
account's other mode) then calls every operation that takes an id in its path with the owner's ids and
must get Stripe's 404 ``resource_missing``, leaving the owner's objects as they were. Ids of the owner
passed in request bodies get a 4xx and write nothing. The walk is derived from ``api.router.OPERATIONS``,
so a new endpoint is covered as soon as it is registered; one whose path names a resource without a
builder in ``BUILDERS`` fails the test until it gets one.
"""

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product
from urllib.parse import urlencode

import pytest
from django.test import Client
from stripe._encode import _api_encode

import api.resources  # noqa: F401  (registers the operations)
from api.router import OPERATIONS, Operation
from billing.gateways.test import TestGateway
from billing.models import Account, AuditEntry, Event
from billing.services.accounts import api_key_create
from tests.factories.billing import AccountFactory
from webhooks import ssrf


class LiveCapableGateway(TestGateway):
    """The test gateway's cards and tokens, accepted in live mode as a real provider's would be."""

    takes_live_payments = True

    def _test_mode_only(self, livemode: bool) -> None:
        return None


class Api:
    """Raw HTTP with one secret key, encoded as the stripe SDK encodes."""

    def __init__(self, secret: str):
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    def call(self, method: str, path: str, params: dict | None = None):
        encoded = urlencode(list(_api_encode(params or {})))
        if method == "POST":
            return self.client.post(path, encoded, content_type="application/x-www-form-urlencoded", **self.headers)
        return self.client.generic(method, f"{path}?{encoded}" if encoded else path, **self.headers)

    def ok(self, method: str, path: str, params: dict | None = None) -> dict:
        response = self.call(method, path, params)
        assert response.status_code == 200, f"{method} {path}: {response.content[:500]!r}"
        return response.json()


# ------------------------------------------------------------------------------------------- builders

# One builder per resource named in a path (the literal segments before an id placeholder), run in
# this order; each gets the API of the owner and the ids built so far and returns the new object's id.
# A resource added to the API gets its builder here (entries that no path names, such as
# subscription_items, serve the request-body checks below).
Builder = Callable[[Api, dict], str]


def _created(path: str, params: dict) -> Builder:
    return lambda api, ids: api.ok("POST", path, params)["id"]


def _payment_method(api: Api, ids: dict) -> str:
    return api.ok("POST", "/v1/payment_methods/pm_card_visa/attach", {"customer": ids["customers"]})["id"]


def _price(api: Api, ids: dict) -> str:
    params = {"product": ids["products"], "currency": "eur", "unit_amount": 1500, "recurring": {"interval": "month"}}
    return api.ok("POST", "/v1/prices", params)["id"]


def _promotion_code(api: Api, ids: dict) -> str:
    return api.ok("POST", "/v1/promotion_codes", {"coupon": ids["coupons"]})["id"]


def _subscription(api: Api, ids: dict) -> str:
    params = {
        "customer": ids["customers"],
        "items": [{"price": ids["prices"]}],
        "default_payment_method": ids["payment_methods"],
        "default_tax_rates": [ids["tax_rates"]],
        "promotion_code": ids["promotion_codes"],
    }
    return api.ok("POST", "/v1/subscriptions", params)["id"]


def _subscription_item(api: Api, ids: dict) -> str:
    return api.ok("GET", f"/v1/subscriptions/{ids['subscriptions']}")["items"]["data"][0]["id"]


def _invoice(api: Api, ids: dict) -> str:
    return api.ok("GET", f"/v1/subscriptions/{ids['subscriptions']}")["latest_invoice"]


def _payment_intent(api: Api, ids: dict) -> str:
    params = {"amount": 1500, "currency": "eur", "customer": ids["customers"], "payment_method": ids["payment_methods"]}
    return api.ok("POST", "/v1/payment_intents", params)["id"]


def _setup_intent(api: Api, ids: dict) -> str:
    return api.ok("POST", "/v1/setup_intents", {"customer": ids["customers"]})["id"]


def _charge(api: Api, ids: dict) -> str:
    """The charge that paid the subscription's first invoice."""
    return api.ok("GET", "/v1/charges", {"customer": ids["customers"]})["data"][0]["id"]


def _refund(api: Api, ids: dict) -> str:
    return api.ok("POST", "/v1/refunds", {"charge": ids["charges"], "amount": 100})["id"]


def _event(api: Api, ids: dict) -> str:
    return api.ok("GET", "/v1/events", {"limit": 1})["data"][0]["id"]


def _portal_configuration(api: Api, ids: dict) -> str:
    params = {
        # What a live-mode portal needs before sessions can be made.
        "business_profile": {
            "privacy_policy_url": "https://example.com/privacy",
            "terms_of_service_url": "https://example.com/terms",
        },
        "default_return_url": "https://example.com/account",
        "features": {
            "invoice_history": {"enabled": True},
            "subscription_cancel": {"enabled": True},
            "subscription_update": {
                "enabled": True,
                "default_allowed_updates": ["price"],
                "products": [{"product": ids["products"], "prices": [ids["prices"]]}],
            },
        },
        "is_default": True,  # sessions without a configuration use it
    }
    return api.ok("POST", "/v1/billing_portal/configurations", params)["id"]


def _test_clock(api: Api, ids: dict) -> str:
    if "sk_live_" not in api.headers["HTTP_AUTHORIZATION"]:
        return api.ok("POST", "/v1/test_helpers/test_clocks", {"frozen_time": 1893456000, "name": "Owner's clock"})[
            "id"
        ]
    # Live mode has no test clocks (creating one answers an error): a row stands in, so that the walk can check that
    # a test key does not reach the live world's ids here either.
    from billing.models import Customer, TestClock

    account = Customer.objects.get(pk=ids["customers"]).account
    when = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    return TestClock.objects.create(account=account, livemode=True, frozen_time=when, deletes_after=when).id


BUILDERS: dict[str, Builder] = {
    "customers": _created("/v1/customers", {"email": "owner@example.com", "name": "Owner"}),
    "payment_methods": _payment_method,
    "products": _created("/v1/products", {"name": "Owner's plan"}),
    "prices": _price,
    "coupons": _created("/v1/coupons", {"percent_off": 10, "duration": "forever"}),
    "promotion_codes": _promotion_code,
    "tax_rates": _created("/v1/tax_rates", {"display_name": "VAT", "percentage": 19, "inclusive": False}),
    "subscriptions": _subscription,
    "subscription_items": _subscription_item,
    "invoices": _invoice,
    "payment_intents": _payment_intent,
    "setup_intents": _setup_intent,
    "charges": _charge,
    "refunds": _refund,
    "events": _event,
    "billing_portal/configurations": _portal_configuration,
    "tax_ids": lambda api, ids: api.ok(
        "POST", f"/v1/customers/{ids['customers']}/tax_ids", {"type": "eu_vat", "value": "DE123456789"}
    )["id"],
    "balance_transactions": lambda api, ids: api.ok(
        "POST", f"/v1/customers/{ids['customers']}/balance_transactions", {"amount": -500, "currency": "eur"}
    )["id"],
    "invoiceitems": lambda api, ids: api.ok(
        "POST", "/v1/invoiceitems", {"customer": ids["customers"], "amount": 500, "currency": "eur"}
    )["id"],
    "checkout/sessions": lambda api, ids: api.ok(
        "POST",
        "/v1/checkout/sessions",
        {"mode": "subscription", "line_items": [{"price": ids["prices"]}], "success_url": "https://shop.example/ok"},
    )["id"],
    # An event type nothing here emits: no delivery is attempted.
    "webhook_endpoints": _created(
        "/v1/webhook_endpoints", {"url": "https://hooks.example.com/billing", "enabled_events": ["invoice.upcoming"]}
    ),
    "test_helpers/test_clocks": _test_clock,
    "billing/meters": _created(
        "/v1/billing/meters",
        {"display_name": "API calls", "event_name": "api_calls", "default_aggregation": {"formula": "sum"}},
    ),
}

# Request bodies for operations with required parameters, given the intruder's own ids (so that only
# the owner's id in the path can be the reason for the answer).
BODIES: dict[tuple[str, str], Callable[[dict], dict]] = {
    ("POST", "/v1/payment_methods/{payment_method}/attach"): lambda mine: {"customer": mine["customers"]},
    ("POST", "/v1/customers/{customer}/tax_ids"): lambda mine: {"type": "eu_vat", "value": "DE999999999"},
    ("POST", "/v1/customers/{customer}/balance_transactions"): lambda mine: {"amount": 100, "currency": "eur"},
    ("POST", "/v1/invoices/{invoice}/add_lines"): lambda mine: {"lines": [{"amount": 100}]},
    ("POST", "/v1/invoices/{invoice}/remove_lines"): lambda mine: {"lines": [{"id": "il_x", "behavior": "delete"}]},
    ("POST", "/v1/invoices/{invoice}/update_lines"): lambda mine: {"lines": [{"id": "il_x", "amount": 1}]},
    ("POST", "/v1/test_helpers/test_clocks/{test_clock}/advance"): lambda mine: {"frozen_time": 1893459600},
    ("GET", "/v1/billing/meters/{id}/event_summaries"): lambda mine: {
        "customer": mine["customers"],
        "start_time": 1893456000,
        "end_time": 1893459600,
    },
}


# Required parameters of list operations.
LIST_PARAMS: dict[str, dict] = {
    "/v1/subscriptions/search": {"query": "status:'active'"},
    "/v1/charges/search": {"query": "status:'succeeded'"},
    "/v1/payment_intents/search": {"query": "status:'succeeded'"},
}


def path_ids(path: str) -> list[tuple[str, str]]:
    """``/v1/customers/{customer}/payment_methods/{pm}`` -> [("customer", "customers"), ("pm", "payment_methods")]."""
    found, literal = [], []
    for segment in path.split("/")[2:]:
        match = re.fullmatch(r"{(\w+)}", segment)
        if match:
            found.append((match.group(1), "/".join(literal)))
            literal = []
        else:
            literal.append(segment)
    return found


ID_OPERATIONS: list[Operation] = [op for op in OPERATIONS if path_ids(op.path)]
# GETs walked with an id of the owner only (in ``_lists`` and ``_bodies``): invoice previews are not lists (and the
# upcoming invoice, gone in the current API version, answers that), a subscription's items need the subscription.
NOT_WALKED = ("/v1/invoices/upcoming", "/v1/invoices/upcoming/lines", "/v1/subscription_items")
LIST_OPERATIONS: list[Operation] = [
    op for op in OPERATIONS if op.method == "GET" and not path_ids(op.path) and op.path not in NOT_WALKED
]


def fill(path: str, ids_by_placeholder: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda m: ids_by_placeholder[m.group(1)], path)


@dataclass
class World:
    account: Account
    livemode: bool
    api: Api
    ids: dict[str, str]

    def counts(self) -> tuple[int, int]:
        """Every service writes an audit entry and most record events: unchanged counts, nothing written."""
        scope = {"account": self.account, "livemode": self.livemode}
        return AuditEntry.objects.filter(**scope).count(), Event.objects.filter(**scope).count()

    def snapshot(self) -> dict:
        """What the owner reads through every GET operation with ids in its path."""
        seen = {}
        for op in ID_OPERATIONS:
            if op.method == "GET":
                path = fill(op.path, {name: self.ids[resource] for name, resource in path_ids(op.path)})
                params = BODIES[("GET", op.path)](self.ids) if ("GET", op.path) in BODIES else None
                seen[path] = self.api.ok("GET", path, params)
        return seen


def build(account: Account, *, livemode: bool) -> World:
    _, secret = api_key_create(account=account, livemode=livemode)
    api = Api(secret)
    ids: dict[str, str] = {}
    for resource, builder in BUILDERS.items():
        ids[resource] = builder(api, ids)
    return World(account=account, livemode=livemode, api=api, ids=ids)


@pytest.fixture
def worlds(transactional_db, settings):
    settings.BILLING_GATEWAY = f"{__name__}.LiveCapableGateway"
    settings.API_RATE_LIMIT_LIVE = 0
    with ssrf.using_resolver(lambda host, port: ["93.184.215.14"]):
        account = AccountFactory()
        other = AccountFactory()
        yield {
            "a_test": build(account, livemode=False),
            "a_live": build(account, livemode=True),
            "b_test": build(other, livemode=False),
        }


PAIRS = [
    pytest.param("a_test", "b_test", id="another-account"),
    pytest.param("a_test", "a_live", id="live-key-on-test-objects"),
    pytest.param("a_live", "a_test", id="test-key-on-live-objects"),
]


def assert_missing(response, what: str) -> None:
    assert response.status_code == 404, f"{what}: {response.status_code} {response.content[:300]!r}"
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "resource_missing", f"{what}: {error}"


def test_every_resource_in_a_path_has_a_builder():
    named = {resource for op in ID_OPERATIONS for _, resource in path_ids(op.path)}
    assert named - set(BUILDERS) == set(), "add a builder to BUILDERS for these resources"
    assert ID_OPERATIONS, "the registry is empty"


@pytest.mark.parametrize(("owner_name", "intruder_name"), PAIRS)
def test_path_ids_of_others_are_missing(worlds, owner_name, intruder_name):
    owner, intruder = worlds[owner_name], worlds[intruder_name]
    before, counts = owner.snapshot(), owner.counts()
    for op in ID_OPERATIONS:
        placeholders = path_ids(op.path)
        unbuilt = {resource for _, resource in placeholders} - set(BUILDERS)
        assert not unbuilt, f"{op.method} {op.path}: add a builder to BUILDERS for {sorted(unbuilt)}"
        body = BODIES.get((op.method, op.path), lambda mine: {})(intruder.ids)
        missing_required = {name for name, field in op.params.fields.items() if field.required} - set(body)
        assert not missing_required, f"{op.method} {op.path}: add its required params to BODIES"
        if op.method == "POST" and "metadata" in op.params.fields:
            body = {**body, "metadata": {"intruder": "was here"}}
        # Every mix of owner's and intruder's ids in which at least one id is the owner's.
        for choice in product((owner, intruder), repeat=len(placeholders)):
            if owner not in choice:
                continue
            ids = {name: world.ids[resource] for (name, resource), world in zip(placeholders, choice, strict=True)}
            path = fill(op.path, ids)
            assert_missing(intruder.api.call(op.method, path, body), f"{op.method} {path}")
    assert owner.snapshot() == before
    assert owner.counts() == counts


def _lists(owner: dict) -> list[tuple[str, dict]]:
    return [
        ("/v1/invoices", {"customer": owner["customers"]}),
        ("/v1/invoices", {"subscription": owner["subscriptions"]}),
        ("/v1/payment_methods", {"customer": owner["customers"]}),
        ("/v1/subscriptions", {"customer": owner["customers"]}),
        ("/v1/subscriptions", {"price": owner["prices"]}),
        ("/v1/subscription_items", {"subscription": owner["subscriptions"]}),
        ("/v1/invoiceitems", {"customer": owner["customers"]}),
        ("/v1/invoiceitems", {"invoice": owner["invoices"]}),
        ("/v1/prices", {"product": owner["products"]}),
        ("/v1/products", {"ids": [owner["products"]]}),
        ("/v1/promotion_codes", {"coupon": owner["coupons"]}),
        ("/v1/promotion_codes", {"customer": owner["customers"]}),
        ("/v1/customers", {"starting_after": owner["customers"]}),
        ("/v1/subscriptions", {"ending_before": owner["subscriptions"]}),
        ("/v1/events", {"starting_after": owner["events"]}),
        ("/v1/charges", {"customer": owner["customers"]}),
        ("/v1/charges", {"starting_after": owner["charges"]}),
        ("/v1/refunds", {"charge": owner["charges"]}),
        ("/v1/refunds", {"ending_before": owner["refunds"]}),
    ]


def _bodies(owner: dict, mine: dict) -> list[tuple[str, str, dict]]:
    subscription = {"customer": mine["customers"], "items": [{"price": mine["prices"]}]}
    portal_products = {
        "subscription_update": {
            "enabled": True,
            "default_allowed_updates": ["price"],
            "products": [{"product": owner["products"], "prices": [owner["prices"]]}],
        }
    }
    return [
        ("POST", "/v1/customers", {"invoice_settings": {"default_payment_method": owner["payment_methods"]}}),
        (
            "POST",
            f"/v1/customers/{mine['customers']}",
            {"name": "Changed", "invoice_settings": {"default_payment_method": owner["payment_methods"]}},
        ),
        ("POST", "/v1/prices", {"product": owner["products"], "currency": "eur", "unit_amount": 100}),
        ("POST", "/v1/promotion_codes", {"coupon": owner["coupons"]}),
        ("POST", "/v1/promotion_codes", {"promotion": {"type": "coupon", "coupon": owner["coupons"]}}),
        ("POST", "/v1/promotion_codes", {"coupon": mine["coupons"], "customer": owner["customers"]}),
        ("POST", "/v1/payment_methods/pm_card_visa/attach", {"customer": owner["customers"]}),
        ("POST", f"/v1/payment_methods/{mine['payment_methods']}/attach", {"customer": owner["customers"]}),
        ("POST", "/v1/subscriptions", {**subscription, "customer": owner["customers"]}),
        ("POST", "/v1/subscriptions", {**subscription, "items": [{"price": owner["prices"]}]}),
        (
            "POST",
            "/v1/subscriptions",
            {**subscription, "items": [{"price": mine["prices"], "tax_rates": [owner["tax_rates"]]}]},
        ),
        ("POST", "/v1/subscriptions", {**subscription, "default_payment_method": owner["payment_methods"]}),
        ("POST", "/v1/subscriptions", {**subscription, "coupon": owner["coupons"]}),
        ("POST", "/v1/subscriptions", {**subscription, "promotion_code": owner["promotion_codes"]}),
        ("POST", "/v1/subscriptions", {**subscription, "discounts": [{"coupon": owner["coupons"]}]}),
        ("POST", "/v1/subscriptions", {**subscription, "discounts": [{"promotion_code": owner["promotion_codes"]}]}),
        ("POST", "/v1/subscriptions", {**subscription, "default_tax_rates": [owner["tax_rates"]]}),
        ("POST", f"/v1/subscriptions/{mine['subscriptions']}", {"items": [{"price": owner["prices"]}]}),
        (
            "POST",
            f"/v1/subscriptions/{mine['subscriptions']}",
            {"items": [{"id": owner["subscription_items"], "quantity": 3}]},
        ),
        (
            "POST",
            f"/v1/subscriptions/{mine['subscriptions']}",
            {"default_payment_method": owner["payment_methods"]},
        ),
        ("POST", f"/v1/subscriptions/{mine['subscriptions']}", {"default_tax_rates": [owner["tax_rates"]]}),
        ("POST", f"/v1/invoices/{mine['invoices']}/pay", {"payment_method": owner["payment_methods"]}),
        ("POST", "/v1/subscription_items", {"subscription": owner["subscriptions"], "price": mine["prices"]}),
        ("POST", "/v1/subscription_items", {"subscription": mine["subscriptions"], "price": owner["prices"]}),
        (
            "POST",
            "/v1/subscription_items",
            {"subscription": mine["subscriptions"], "price": mine["prices"], "tax_rates": [owner["tax_rates"]]},
        ),
        ("POST", "/v1/invoices/create_preview", {"subscription": owner["subscriptions"]}),
        ("POST", "/v1/invoiceitems", {"customer": owner["customers"], "amount": 100, "currency": "eur"}),
        (
            "POST",
            "/v1/invoiceitems",
            {"customer": mine["customers"], "amount": 100, "currency": "eur", "subscription": owner["subscriptions"]},
        ),
        (
            "POST",
            "/v1/invoiceitems",
            {"customer": mine["customers"], "amount": 100, "currency": "eur", "invoice": owner["invoices"]},
        ),
        (
            "POST",
            "/v1/invoiceitems",
            {"customer": mine["customers"], "amount": 100, "currency": "eur", "tax_rates": [owner["tax_rates"]]},
        ),
        ("POST", "/v1/invoices", {"customer": owner["customers"]}),
        ("POST", "/v1/invoices", {"customer": mine["customers"], "subscription": owner["subscriptions"]}),
        (
            "POST",
            f"/v1/invoices/{mine['invoices']}/add_lines",
            {"lines": [{"invoice_item": owner["invoiceitems"]}]},
        ),
        (
            "POST",
            "/v1/invoices/create_preview",
            {"customer": owner["customers"], "subscription": mine["subscriptions"]},
        ),
        (
            "POST",
            "/v1/invoices/create_preview",
            {"customer": mine["customers"], "subscription_details": {"items": [{"price": owner["prices"]}]}},
        ),
        (
            "POST",
            "/v1/invoices/create_preview",
            {
                "subscription": mine["subscriptions"],
                "subscription_details": {"items": [{"id": owner["subscription_items"], "quantity": 2}]},
            },
        ),
        ("POST", "/v1/payment_intents", {"amount": 900, "currency": "eur", "customer": owner["customers"]}),
        ("POST", "/v1/payment_intents", {"amount": 900, "currency": "eur", "payment_method": owner["payment_methods"]}),
        (
            "POST",
            f"/v1/payment_intents/{mine['payment_intents']}/confirm",
            {"payment_method": owner["payment_methods"]},
        ),
        ("POST", f"/v1/payment_intents/{mine['payment_intents']}", {"customer": owner["customers"]}),
        ("POST", "/v1/setup_intents", {"customer": owner["customers"]}),
        ("POST", "/v1/setup_intents", {"payment_method": owner["payment_methods"], "confirm": True}),
        ("POST", "/v1/refunds", {"charge": owner["charges"]}),
        ("POST", "/v1/billing_portal/sessions", {"customer": owner["customers"]}),
        (
            "POST",
            "/v1/billing_portal/sessions",
            {"customer": mine["customers"], "configuration": owner["billing_portal/configurations"]},
        ),
        (
            "POST",
            "/v1/billing_portal/sessions",
            {
                "customer": mine["customers"],
                "flow_data": {
                    "type": "subscription_cancel",
                    "subscription_cancel": {"subscription": owner["subscriptions"]},
                },
            },
        ),
        (
            "POST",
            "/v1/billing_portal/sessions",
            {
                "customer": mine["customers"],
                "flow_data": {
                    "type": "subscription_update",
                    "subscription_update": {"subscription": owner["subscriptions"]},
                },
            },
        ),
        ("POST", "/v1/billing_portal/configurations", {"features": portal_products}),
        (
            "POST",
            f"/v1/billing_portal/configurations/{mine['billing_portal/configurations']}",
            {"features": portal_products},
        ),
        (
            "POST",
            "/v1/billing/meter_events",
            {"event_name": "api_calls", "payload": {"stripe_customer_id": owner["customers"], "value": "1"}},
        ),
        (
            "GET",
            f"/v1/billing/meters/{mine['billing/meters']}/event_summaries",
            {"customer": owner["customers"], "start_time": 1893456000, "end_time": 1893459600},
        ),
        (
            "POST",
            "/v1/prices",
            {
                "currency": "eur",
                "unit_amount": 1,
                "product": mine["products"],
                "recurring": {"interval": "month", "usage_type": "metered", "meter": owner["billing/meters"]},
            },
        ),
    ]


@pytest.mark.parametrize(("owner_name", "intruder_name"), PAIRS)
def test_body_ids_of_others_are_refused(worlds, owner_name, intruder_name):
    owner, intruder = worlds[owner_name], worlds[intruder_name]
    before = owner.snapshot(), owner.counts()
    mine = intruder.snapshot()
    for method, path, body in _bodies(owner.ids, intruder.ids):
        counts = intruder.counts()
        response = intruder.api.call(method, path, body)
        what = f"{method} {path} {body}: {response.status_code} {response.content[:300]!r}"
        assert 400 <= response.status_code < 500, what
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error", what
        # Refused for the owner's id, not for some other flaw of the request.
        assert any(object_id in error["message"] for object_id in owner.ids.values()), what
        assert intruder.counts() == counts, f"{what}: wrote something before refusing"
    # Filters and cursors naming the owner's objects, then every list operation as it is.
    lists = _lists(owner.ids) + [(op.path, LIST_PARAMS.get(op.path, {})) for op in LIST_OPERATIONS]
    for path, params in lists:
        response = intruder.api.call("GET", path, params)
        what = f"GET {path} {params}: {response.status_code} {response.content[:300]!r}"
        if response.status_code == 200:
            leaked = [object_id for object_id in owner.ids.values() if object_id in response.content.decode()]
            assert leaked == [], what
        else:
            assert_missing(response, what)
    assert (owner.snapshot(), owner.counts()) == before
    assert intruder.snapshot() == mine
