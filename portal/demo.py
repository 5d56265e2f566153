"""The demo merchant's portal: a default test-mode configuration with every feature on, its brand, a login page."""

from billing.audit import Actor
from billing.models import Account, Price, Product
from configurations.models import PortalConfiguration
from configurations.selectors import branding_for, default_configuration
from configurations.services.branding import branding_update
from configurations.services.portal_configurations import configuration_create

ACTOR = Actor.system("demo data")
RETURN_URL = "https://northwind.example/account"


def every_feature(products: list[dict], *, return_url: str = RETURN_URL) -> dict:
    """Configuration data with every portal feature on, offering ``products`` (``{"product", "prices"}``)."""
    return {
        "name": "Coffee club members",
        "business_profile": {
            "headline": "Your coffee subscription, your way",
            "privacy_policy_url": "https://northwind.example/privacy",
            "terms_of_service_url": "https://northwind.example/terms",
        },
        "default_return_url": return_url,
        "features": {
            "customer_update": {"enabled": True, "allowed_updates": ["name", "email", "address", "phone", "tax_id"]},
            "invoice_history": {"enabled": True},
            "payment_method_update": {"enabled": True},
            "subscription_cancel": {
                "enabled": True,
                "mode": "at_period_end",
                "cancellation_reason": {
                    "enabled": True,
                    "options": ["too_expensive", "missing_features", "switched_service", "unused", "other"],
                },
            },
            "subscription_update": {
                "enabled": True,
                "default_allowed_updates": ["price", "quantity", "promotion_code"],
                "products": products,
                "proration_behavior": "create_prorations",
            },
            "pause_collection": {"enabled": True, "behavior": "void", "max_duration_days": 90},
        },
        "login_page": {"enabled": True},
    }


def seed_portal(account: Account) -> PortalConfiguration:
    """Idempotent: returns the existing default configuration when there is one."""
    existing = default_configuration(account=account, livemode=False)
    if existing is not None:
        return existing
    products = []
    for product in Product.objects.filter(account=account, livemode=False, active=True).order_by("created", "id"):
        prices = Price.objects.filter(product=product, active=True, currency="eur", type="recurring").order_by("id")
        products.append({"product": product.id, "prices": [price.id for price in prices]})
    configuration = configuration_create(account=account, livemode=False, actor=ACTOR, data=every_feature(products))
    if branding_for(account) is None:
        branding_update(
            account=account,
            actor=ACTOR,
            business_name="",
            primary_color="#7c3a12",
            background_color="#fbf7f2",
            font="humanist",
        )
    return configuration
