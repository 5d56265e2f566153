"""Every portal URL that takes an id, walked with customer A's session and customer B's ids (of the same merchant
and of another merchant): each answers 404 to GET and POST and changes nothing of B's. The list of URLs comes
from portal/urls.py, so a new page with an id is covered (or the test says it is not)."""

import datetime as dt

import pytest
import time_machine
from django.urls import URLPattern, get_resolver, reverse

from billing.audit import Actor
from billing.models import AuditEntry, Event
from billing.services.subscriptions import ItemSpec, subscription_create
from tests.billing.helpers import run_cycle, subscribed
from tests.factories.billing import CustomerFactory, PriceFactory, card
from tests.factories.portal import full_configuration, open_portal

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(days=40)

# Path parameters that name a customer's object, and where to find B's one.
OBJECT_PARAMETERS = {"payment_method_id", "invoice_id", "subscription_id"}
# Path parameters that are capabilities or public names, not a customer's objects (tested elsewhere; an intent
# is reached with its client secret: tests/portal/test_authenticate.py).
OTHER_PARAMETERS = {"token", "account_id", "kind", "version", "configuration_id", "intent_id"}


def _portal_routes() -> list[tuple[str, set[str]]]:
    resolver = get_resolver()
    routes = []
    for pattern in resolver.url_patterns:
        for inner in getattr(pattern, "url_patterns", []):
            if isinstance(inner, URLPattern) and getattr(pattern, "namespace", None) == "portal":
                routes.append((inner.name, set(inner.pattern.converters)))
    return routes


def _objects(customer) -> dict[str, str]:
    subscription = customer.subscriptions.get()
    return {
        "payment_method_id": customer.payment_methods.first().pk,
        "invoice_id": subscription.invoices.order_by("-id").first().pk,
        "subscription_id": subscription.pk,
    }


def _neighbour_of(customer):
    """Another customer of the same merchant, with a card and a subscription."""
    with time_machine.travel(T0, tick=False):
        neighbour = CustomerFactory(account=customer.account)
        price = PriceFactory(account=customer.account, product__account=customer.account, unit_amount=2500)
        card(neighbour)
        subscription_create(customer=neighbour, items=[ItemSpec(price, 1)], actor=Actor.system("test"))
    return neighbour


@pytest.fixture
def customers(db):
    a = subscribed(T0, amount=1500).customer
    neighbour = _neighbour_of(a)
    stranger = subscribed(T0, amount=3500).customer
    full_configuration(a.account)
    full_configuration(stranger.account)
    with time_machine.travel(T0, tick=False):
        for customer in (a, neighbour, stranger):  # a second card: "remove" is not refused by the keep-one rule
            card(customer, default=False)
    run_cycle(T0 + dt.timedelta(days=32))
    return a, neighbour, stranger


def test_every_portal_route_with_an_id_is_known_to_this_test():
    for name, parameters in _portal_routes():
        unknown = parameters - OBJECT_PARAMETERS - OTHER_PARAMETERS
        assert not unknown, f"portal:{name} takes {unknown}: add it to this test"


@pytest.mark.parametrize("other", ["same merchant", "another merchant"])
def test_another_customers_ids_answer_404_and_change_nothing(customers, other):
    a, neighbour, stranger = customers
    b = neighbour if other == "same merchant" else stranger
    with time_machine.travel(NOW, tick=False):
        client = open_portal(a)
        ids = _objects(b)
        events, audits = Event.objects.count(), AuditEntry.objects.count()
        walked = 0
        for name, parameters in _portal_routes():
            if not parameters & OBJECT_PARAMETERS:
                continue
            url = reverse(f"portal:{name}", kwargs={p: ids[p] for p in parameters})
            for method in ("get", "post"):
                response = getattr(client, method)(url)
                # 405: the page does not take this method at all (a POST-only action), whoever asks.
                assert response.status_code in (404, 405), f"{method.upper()} {url}: {response.status_code}"
                walked += response.status_code == 404
        assert walked >= 10
        assert (Event.objects.count(), AuditEntry.objects.count()) == (events, audits)
        b.refresh_from_db()
        subscription = b.subscriptions.get()
        assert not subscription.cancel_at_period_end and not subscription.pause_collection_behavior
        assert b.payment_methods.count() == 2
