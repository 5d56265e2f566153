"""Charges, refunds, mandates, PaymentIntents and SetupIntents as Stripe's JSON."""

from billing.clock import to_unix as ts
from billing.models import Charge, Mandate, PaymentIntent, PaymentMethod, Refund, SetupIntent

MISSING = object()


def _method_details(pm: PaymentMethod | None) -> dict | None:
    if pm is None:
        return None
    if pm.type == PaymentMethod.Type.CARD:
        inner = {
            "brand": pm.card_brand,
            "country": pm.country or None,
            "exp_month": pm.card_exp_month,
            "exp_year": pm.card_exp_year,
            "fingerprint": pm.fingerprint,
            "funding": pm.card_funding or "credit",
            "last4": pm.card_last4,
            "network": pm.card_brand,
            "three_d_secure": None,
        }
    else:
        inner = {
            "bank_code": pm.sepa_bank_code or None,
            "branch_code": None,
            "country": pm.country or None,
            "fingerprint": pm.fingerprint,
            "last4": pm.sepa_last4,
            "mandate": None,
        }
    return {"type": pm.type, pm.type: inner}


def charge(obj: Charge) -> dict:
    from billing.representations import payment_method

    pm = obj.payment_method
    succeeded = obj.status == Charge.Status.SUCCEEDED
    captured = succeeded and obj.captured
    return {
        "id": obj.id,
        "object": "charge",
        "amount": obj.amount,
        "amount_captured": (obj.amount_captured if obj.amount_captured is not None else obj.amount) if captured else 0,
        "amount_refunded": obj.amount_refunded,
        # Money is settled in the processor's ledger, not here (see /v1/balance_transactions): never set.
        "balance_transaction": None,
        "billing_details": payment_method(pm)["billing_details"] if pm else None,
        "captured": captured,
        "created": ts(obj.created),
        "currency": obj.currency,
        "customer": obj.customer_id,
        "description": obj.description or None,
        "disputed": False,
        "failure_code": obj.failure_code or None,
        "failure_message": obj.failure_message or None,
        "invoice": obj.invoice_id,
        "livemode": obj.livemode,
        "metadata": obj.metadata,
        "outcome": {
            "network_status": "approved_by_network" if succeeded else "declined_by_network",
            "reason": None if succeeded else (obj.decline_code or None),
            "risk_level": "normal",
            "seller_message": "Payment complete." if succeeded else "The bank did not return any further details.",
            "type": "authorized" if succeeded else "issuer_declined",
        },
        "paid": succeeded,
        "payment_intent": obj.payment_intent_id,
        "payment_method": obj.payment_method_id,
        "payment_method_details": _method_details(pm),
        "receipt_email": None,
        "refunded": obj.amount_refunded >= obj.amount and obj.amount_refunded > 0,
        "status": obj.status,
    }


def refund(obj: Refund) -> dict:
    return {
        "id": obj.id,
        "object": "refund",
        "amount": obj.amount,
        "balance_transaction": None,
        "charge": obj.charge_id,
        "created": ts(obj.created),
        "currency": obj.currency,
        "description": obj.description or None,
        "failure_reason": obj.failure_reason or None,
        "metadata": obj.metadata,
        "payment_intent": obj.payment_intent_id,
        "reason": obj.reason or None,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": obj.status,
        "transfer_reversal": None,
    }


def mandate(obj: Mandate) -> dict:
    pm = obj.payment_method
    acceptance = obj.customer_acceptance or {}
    return {
        "id": obj.id,
        "object": "mandate",
        "customer_acceptance": {
            "accepted_at": acceptance.get("accepted_at"),
            "offline": {} if acceptance.get("type") == "offline" else None,
            "online": acceptance.get("online") if acceptance.get("type") == "online" else None,
            "type": acceptance.get("type", "online"),
        },
        "livemode": obj.livemode,
        "multi_use": {},
        "payment_method": obj.payment_method_id,
        "payment_method_details": {
            "type": pm.type,
            pm.type: {"reference": obj.reference, "url": None},
        },
        "status": obj.status,
        "type": obj.type,
    }


def _next_action(obj) -> dict | None:
    if not obj.next_action:
        return None
    return obj.next_action


def payment_intent(obj: PaymentIntent) -> dict:
    latest = getattr(obj, "_latest_charge", MISSING)  # the services set it when they know it
    if latest is MISSING:
        latest = obj.charges.order_by("-id").values_list("id", flat=True).first()
    return {
        "id": obj.id,
        "object": "payment_intent",
        "amount": obj.amount,
        "amount_capturable": obj.amount_capturable,
        "amount_details": {"tip": {}},
        "amount_received": obj.amount_received,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": ts(obj.canceled_at),
        "cancellation_reason": obj.cancellation_reason or None,
        "capture_method": obj.capture_method,
        "client_secret": obj.client_secret,
        "confirmation_method": obj.confirmation_method,
        "created": ts(obj.created),
        "currency": obj.currency,
        "customer": obj.customer_id,
        "description": obj.description or None,
        "last_payment_error": obj.last_payment_error,
        "latest_charge": latest,
        "livemode": obj.livemode,
        "metadata": obj.metadata,
        "next_action": _next_action(obj),
        "on_behalf_of": None,
        "payment_method": obj.payment_method_id,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": obj.payment_method_types,
        "processing": None,
        "receipt_email": obj.receipt_email or None,
        "review": None,
        "setup_future_usage": obj.setup_future_usage or None,
        "shipping": None,
        "source": None,
        "statement_descriptor": obj.statement_descriptor or None,
        "statement_descriptor_suffix": None,
        "status": obj.status,
        "transfer_data": None,
        "transfer_group": None,
    }


def setup_intent(obj: SetupIntent) -> dict:
    return {
        "id": obj.id,
        "object": "setup_intent",
        "application": None,
        "automatic_payment_methods": None,
        "cancellation_reason": obj.cancellation_reason or None,
        "client_secret": obj.client_secret,
        "created": ts(obj.created),
        "customer": obj.customer_id,
        "description": obj.description or None,
        "flow_directions": None,
        "last_setup_error": obj.last_setup_error,
        "latest_attempt": None,
        "livemode": obj.livemode,
        "mandate": obj.mandate_id,
        "metadata": obj.metadata,
        "next_action": _next_action(obj),
        "on_behalf_of": None,
        "payment_method": obj.payment_method_id,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": obj.payment_method_types,
        "single_use_mandate": None,
        "status": obj.status,
        "usage": obj.usage,
    }


def invoice_payment(intent: PaymentIntent) -> dict:
    """Stripe's InvoicePayment (2025-03-31 and later): the invoice's PaymentIntent as one of its payments."""
    paid = intent.status == PaymentIntent.Status.SUCCEEDED
    canceled = intent.status == PaymentIntent.Status.CANCELED
    return {
        "id": "inpay_" + intent.id.split("_", 1)[1],
        "object": "invoice_payment",
        "amount_paid": intent.amount_received if paid else None,
        "amount_requested": intent.amount,
        "created": ts(intent.created),
        "currency": intent.currency,
        "invoice": intent.invoice_id,
        "is_default": True,
        "livemode": intent.livemode,
        "payment": {"type": "payment_intent", "payment_intent": intent.id},
        "status": "paid" if paid else "canceled" if canceled else "open",
        "status_transitions": {"canceled_at": ts(intent.canceled_at), "paid_at": None},
    }
