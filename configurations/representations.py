"""Portal configurations and sessions -> Stripe's billing_portal JSON, with our extensions beside Stripe's fields."""

from django.db.models import Prefetch

from billing.clock import to_unix as ts
from billing.models import Price
from configurations.models import CancellationOffer, PortalConfiguration, PortalConfigurationProduct, PortalSession

PRODUCTS_EXPAND = "features.subscription_update.products"


def prefetch_products() -> list:
    """What rendering ``features.subscription_update.products`` of many configurations needs."""
    return [
        Prefetch(
            "products",
            queryset=PortalConfigurationProduct.objects.order_by("position", "id").prefetch_related(
                Prefetch("prices", queryset=Price.objects.order_by("id").only("id"))
            ),
        )
    ]


def prefetch_offers() -> list:
    """What rendering ``features.subscription_cancel.offers`` of many configurations needs."""
    return [
        Prefetch(
            "cancellation_offers",
            queryset=CancellationOffer.objects.order_by("position", "id").select_related("coupon"),
        )
    ]


def offer_entry(row: CancellationOffer) -> dict:
    """Extension: one step of the cancellation offer ladder."""
    return {
        "id": row.id,
        "type": row.type,
        "days": row.pause_days,
        "price": row.price_id,
        "coupon": row.coupon.coupon_id if row.coupon_id else None,
        "customer_group": {"metadata": dict(row.customer_metadata or {})},
        "reasons": list(row.reasons or []),
    }


def product_entry(row: PortalConfigurationProduct) -> dict:
    return {
        "adjustable_quantity": {
            "enabled": row.adjustable_quantity_enabled,
            "maximum": row.adjustable_quantity_maximum,
            "minimum": row.adjustable_quantity_minimum,
        },
        "prices": [price.id for price in row.prices.all()],
        "product": row.product_id,
        # Extension: customers may add this product to a subscription, and remove it again.
        "add_on": row.add_on,
    }


def configuration(obj: PortalConfiguration, *, include_products: bool = False) -> dict:
    """Every key Stripe documents is present; ``features.subscription_update.products`` only when asked for
    (Stripe lists it in ``x-expandableFields`` and leaves it out unless expanded)."""
    subscription_update = {
        "billing_cycle_anchor": obj.subscription_update_billing_cycle_anchor or None,
        "default_allowed_updates": list(obj.subscription_update_default_allowed_updates),
        "enabled": obj.subscription_update_enabled,
        "proration_behavior": obj.subscription_update_proration_behavior,
        "schedule_at_period_end": {
            "conditions": [{"type": condition} for condition in obj.schedule_at_period_end_conditions]
        },
        "trial_update_behavior": obj.trial_update_behavior,
        # Extension: which price switches the portal offers.
        "transitions": {
            "graph": dict(obj.subscription_update_transitions_graph or {}),
            "mode": obj.subscription_update_transitions_mode,
        },
    }
    if include_products:
        subscription_update["products"] = [product_entry(row) for row in obj.products.all()]
    return {
        "id": obj.id,
        "object": "billing_portal.configuration",
        "active": obj.active,
        "application": None,
        "business_profile": {
            "headline": obj.headline or None,
            "privacy_policy_url": obj.privacy_policy_url or None,
            "terms_of_service_url": obj.terms_of_service_url or None,
        },
        "created": ts(obj.created),
        "default_return_url": obj.default_return_url or None,
        "features": {
            "customer_update": {
                "allowed_updates": list(obj.customer_update_allowed_updates),
                "enabled": obj.customer_update_enabled,
            },
            "invoice_history": {"enabled": obj.invoice_history_enabled},
            "payment_method_update": {
                "enabled": obj.payment_method_update_enabled,
                "payment_method_configuration": None,
            },
            "subscription_cancel": {
                "cancellation_reason": {
                    "enabled": obj.cancellation_reason_enabled,
                    "feedback_options": None,
                    "options": list(obj.cancellation_reason_options),
                },
                "enabled": obj.subscription_cancel_enabled,
                "mode": obj.subscription_cancel_mode,
                "proration_behavior": obj.subscription_cancel_proration_behavior,
                # Extension: the cancellation offer ladder, in the order customers see it.
                "offers": [offer_entry(row) for row in _offers(obj)],
            },
            "subscription_update": subscription_update,
            # Extension: customers pause and resume payment collection themselves.
            "pause_collection": {
                "behavior": obj.pause_collection_behavior,
                "enabled": obj.pause_collection_enabled,
                "max_duration_days": obj.pause_collection_max_duration_days,
            },
        },
        "is_default": obj.is_default,
        "livemode": obj.livemode,
        "login_page": {"enabled": obj.login_page_enabled, "url": obj.login_page_url},
        "metadata": obj.metadata,
        "name": obj.name or None,
        "updated": ts(obj.updated),
        # Extensions: the merchant's own text (Markdown source) and the customer-group rule.
        "custom_text": {
            "cancel": obj.custom_text_cancel or None,
            "login": obj.custom_text_login or None,
            "overview": obj.custom_text_overview or None,
            "update": obj.custom_text_update or None,
        },
        "customer_group": {
            "metadata": obj.customer_group_metadata,
            "priority": obj.customer_group_priority,
        },
        # Extension: the Checkout link behind the portal's "Start a new subscription".
        "subscription_start": {"checkout_link": obj.subscription_start_link_id},
    }


def _offers(obj: PortalConfiguration) -> list[CancellationOffer]:
    if obj.pk is None:
        return []
    cache = getattr(obj, "_prefetched_objects_cache", {})
    if "cancellation_offers" in cache:
        return list(cache["cancellation_offers"])
    return list(obj.cancellation_offers.order_by("position", "id").select_related("coupon"))


def configuration_with_products(obj: PortalConfiguration) -> dict:
    return configuration(obj, include_products=True)


def portal_session(obj: PortalSession, *, url: str | None) -> dict:
    """Stripe's ``billing_portal.session``. ``url`` carries the single-use token, so it appears in the create
    response only, never in events."""
    return {
        "id": obj.id,
        "object": "billing_portal.session",
        "configuration": obj.configuration_id,
        "created": ts(obj.created),
        "customer": obj.customer_id,
        "customer_account": None,
        "flow": obj.flow,
        "livemode": obj.livemode,
        "locale": obj.locale or None,
        "on_behalf_of": None,
        "return_url": obj.return_url or None,
        "url": url,
    }
