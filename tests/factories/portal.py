"""Portal builders: a configuration with every feature on, and a browser (test client) inside a portal session."""

from django.test import Client

from billing.audit import Actor
from billing.models import Customer, Price
from configurations.models import PortalConfiguration
from configurations.services.portal_configurations import configuration_create
from configurations.sessions import portal_session_create

ACTOR = Actor.system("test")
RETURN_URL = "https://merchant.example/account"


def full_configuration(
    account, *, livemode: bool = False, prices: list[Price] = (), **overrides
) -> PortalConfiguration:
    """Every portal feature enabled; ``prices`` (recurring, one per product and interval) offered for plan changes."""
    by_product: dict[str, list[str]] = {}
    for price in prices:
        by_product.setdefault(price.product_id, []).append(price.id)
    features = {
        "customer_update": {"enabled": True, "allowed_updates": ["name", "email", "address", "phone", "tax_id"]},
        "invoice_history": {"enabled": True},
        "payment_method_update": {"enabled": True},
        "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
        "pause_collection": {"enabled": True, "behavior": "void", "max_duration_days": 90},
    }
    if by_product:
        features["subscription_update"] = {
            "enabled": True,
            "default_allowed_updates": ["price", "quantity"],
            "products": [{"product": product, "prices": ids} for product, ids in by_product.items()],
        }
    features.update(overrides.pop("features", {}))
    data = {
        "business_profile": {
            "headline": "Manage your subscription",
            "privacy_policy_url": "https://merchant.example/privacy",
            "terms_of_service_url": "https://merchant.example/terms",
        },
        "default_return_url": RETURN_URL,
        "features": features,
        **overrides,
    }
    return configuration_create(account=account, livemode=livemode, actor=ACTOR, data=data)


def session_url(customer: Customer, **kwargs) -> str:
    """A fresh single-use session URL, as the API would answer (``configuration``, ``locale``, ``flow_data``…)."""
    _session, url = portal_session_create(customer=customer, actor=ACTOR, **kwargs)
    return url


def open_portal(customer: Customer, client: Client | None = None, **kwargs) -> Client:
    """A test client that has visited a fresh session URL (so it holds the portal cookie)."""
    client = client or Client()
    url = session_url(customer, **kwargs)
    path = url.split("://", 1)[1].split("/", 1)[1]
    response = client.get("/" + path)
    assert response.status_code == 303, response.status_code
    return client
