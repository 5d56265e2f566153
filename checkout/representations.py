"""Checkout Sessions -> Stripe's JSON (``checkout.session`` and its ``item`` line items)."""

from billing import representations
from billing.clock import to_unix as ts
from checkout.models import CheckoutLineItem, CheckoutSession
from configurations.sessions import portal_base_url

CUSTOM_TEXT_KEYS = ("after_submit", "shipping_address", "submit", "terms_of_service_acceptance")


def session_url(session: CheckoutSession) -> str:
    """The hosted page: on the merchant's verified custom domain, else PORTAL_BASE_URL."""
    return f"{portal_base_url(session.account)}/c/{session.id}"


def _custom_text(stored: dict) -> dict:
    return {key: ({"message": stored[key]} if stored.get(key) else None) for key in CUSTOM_TEXT_KEYS}


def _customer_details(session: CheckoutSession) -> dict | None:
    details = session.customer_details
    if not details:
        return None
    return {
        "address": representations._address(details.get("address")),
        "business_name": None,
        "email": details.get("email") or None,
        "individual_name": None,
        "name": details.get("name") or None,
        "phone": details.get("phone") or None,
        "tax_exempt": "none",
        "tax_ids": [{"type": t["type"], "value": t["value"]} for t in details.get("tax_ids") or []],
    }


def _discounts(session: CheckoutSession) -> list[dict]:
    if session.promotion_code_id:
        return [{"coupon": None, "promotion_code": session.promotion_code_id}]
    if session.coupon_id:
        return [{"coupon": session.coupon.coupon_id, "promotion_code": None}]
    return []


def checkout_session(obj: CheckoutSession) -> dict:
    consent_collection = obj.consent_collection
    return {
        "id": obj.id,
        "object": "checkout.session",
        "adaptive_pricing": None,
        "after_expiration": None,
        "allow_promotion_codes": obj.allow_promotion_codes,
        "amount_subtotal": obj.amount_subtotal,
        "amount_total": obj.amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": obj.billing_address_collection or None,
        "cancel_url": obj.cancel_url or None,
        "client_reference_id": obj.client_reference_id or None,
        "client_secret": None,
        "collected_information": None,
        "consent": obj.consent,
        "consent_collection": {
            "payment_method_reuse_agreement": None,
            "promotions": None,
            "terms_of_service": consent_collection.get("terms_of_service"),
        }
        if consent_collection
        else None,
        "created": ts(obj.created),
        "currency": obj.currency or None,
        "custom_fields": [],
        "custom_text": _custom_text(obj.custom_text or {}),
        "customer": obj.customer_id,
        "customer_creation": obj.customer_creation or None,
        "customer_details": _customer_details(obj),
        "customer_email": obj.customer_email or None,
        "discounts": _discounts(obj),
        "expires_at": ts(obj.expires_at),
        "invoice": obj.invoice_id,
        "invoice_creation": None,
        "livemode": obj.livemode,
        "locale": obj.locale or None,
        "metadata": obj.metadata,
        "mode": obj.mode,
        "payment_intent": obj.payment_intent_id,
        "payment_link": obj.checkout_link_id,
        "payment_method_collection": "always" if obj.mode == CheckoutSession.Mode.SUBSCRIPTION else None,
        "payment_method_options": {},
        "payment_method_types": list(obj.payment_method_types),
        "payment_status": obj.payment_status,
        "phone_number_collection": {"enabled": obj.phone_number_collection},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": obj.setup_intent_id,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": obj.status,
        "submit_type": None,
        "subscription": obj.subscription_id,
        "success_url": obj.success_url,
        "tax_id_collection": {"enabled": obj.tax_id_collection, "required": "never"},
        "total_details": {
            "amount_discount": obj.amount_discount,
            "amount_shipping": 0,
            "amount_tax": obj.amount_tax,
        },
        "ui_mode": "hosted",
        "url": session_url(obj) if obj.status == CheckoutSession.Status.OPEN else None,
    }


def line_item(obj: CheckoutLineItem, *, discount: int = 0, tax: int = 0) -> dict:
    price = obj.price
    subtotal = obj.amount_subtotal
    return {
        "id": obj.id,
        "object": "item",
        "adjustable_quantity": obj.adjustable_quantity,
        "amount_discount": discount,
        "amount_subtotal": subtotal,
        "amount_tax": tax,
        "amount_total": subtotal - discount + tax,
        "currency": price.currency,
        "description": price.product.name,
        "metadata": {},
        "price": representations.price(price),
        "quantity": obj.quantity,
    }
