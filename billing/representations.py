"""Objects -> Stripe JSON. Every field Stripe documents is present (null when empty).

Callers that render many objects prefetch the relations named in ``PREFETCH`` (a page of subscriptions:
``subscriptions_flagged`` and ``subscriptions_prefetch``).
"""

import functools

from django.conf import settings
from django.db.models import Prefetch, prefetch_related_objects

from billing import statements
from billing.clock import to_unix as ts
from billing.models import (
    Coupon,
    Customer,
    CustomerBalanceTransaction,
    Discount,
    Invoice,
    InvoiceItem,
    InvoiceLineItem,
    PaymentMethod,
    Price,
    Product,
    PromotionCode,
    Subscription,
    SubscriptionItem,
    TaxId,
    TaxRate,
    TestClock,
)
from billing.prefetch import mark_prefetched_by, mark_prefetched_empty, related_exists, related_rows

# An item's price and a line's price and tax rate come with it (a join, not one more query per list).
PREFETCH = {
    Subscription: [
        Prefetch("items", queryset=SubscriptionItem.objects.select_related("price")),
        "items__tax_rates",
        "default_tax_rates",
        "discounts__coupon",
    ],
    Invoice: [Prefetch("lines", queryset=InvoiceLineItem.objects.select_related("price", "tax_rate")), "subscription"],
    Customer: [],
}

# Most subscriptions and items have no tax rates and no discounts: a page asks the database which have any
# along with the rows (EXISTS flags) and loads those relations only for them, instead of one query each for all.
_HAS_DEFAULT_TAX_RATES = "rendering_has_default_tax_rates"
_HAS_DISCOUNTS = "rendering_has_discounts"
_HAS_TAX_RATES = "rendering_has_tax_rates"


@functools.cache
def _item_flags() -> tuple:
    return ((_HAS_TAX_RATES, related_exists(SubscriptionItem.tax_rates.through, "subscriptionitem", SubscriptionItem)),)


@functools.cache
def subscription_flags() -> tuple:
    """The flags ``subscriptions_prefetch`` reads (whether each has tax rates, discounts), as ``(name, RawSQL)``
    pairs (``billing.statements.rows_where``'s ``flags``)."""
    return (
        (_HAS_DEFAULT_TAX_RATES, related_exists(Subscription.default_tax_rates.through, "subscription", Subscription)),
        (_HAS_DISCOUNTS, related_exists(Discount, "subscription", Subscription)),
    )


def subscriptions_flagged(queryset):
    """Subscriptions with the flags ``subscriptions_prefetch`` reads."""
    return queryset.annotate(**dict(subscription_flags()))


def subscriptions_prefetch(subscriptions: list[Subscription]) -> None:
    """Load what ``subscription()`` renders for these rows: the items with their prices (one query), and the tax
    rates and discounts only of the rows that have any (read from ``subscriptions_flagged``'s flags; rows without
    the flags get every relation loaded)."""
    items = statements.rows_where(
        SubscriptionItem,
        "subscription",
        [subscription.pk for subscription in subscriptions],
        ("id",),
        related=("price",),
        flags=_item_flags(),
    )
    mark_prefetched_by(subscriptions, "items", SubscriptionItem, items, "subscription_id")
    _prefetch_where(subscriptions, _HAS_DEFAULT_TAX_RATES, "default_tax_rates", TaxRate)
    _prefetch_where(subscriptions, _HAS_DISCOUNTS, "discounts", Discount, Discount.objects.select_related("coupon"))
    _prefetch_where([item for sub in subscriptions for item in sub.items.all()], _HAS_TAX_RATES, "tax_rates", TaxRate)


def _prefetch_where(objects: list, flag: str, relation: str, model, queryset=None) -> None:
    """Prefetch ``relation`` for the objects whose ``flag`` is true; the others get it empty, as a prefetch that found
    nothing leaves it (without going through the prefetch machinery, which builds a query even for nothing)."""
    flagged = [obj for obj in objects if getattr(obj, flag, True)]
    if flagged:
        prefetch_related_objects(flagged, Prefetch(relation, queryset=queryset))
    for obj in objects:
        if not getattr(obj, flag, True):
            mark_prefetched_empty(obj, relation, model)


def hosted_invoice_url(invoice: Invoice) -> str:
    return f"{settings.PORTAL_BASE_URL}/i/{invoice.hosted_token}/"


def invoice_pdf_url(invoice: Invoice) -> str:
    return f"{settings.PORTAL_BASE_URL}/i/{invoice.hosted_token}/pdf"


def _address(address: dict | None) -> dict | None:
    if not address:
        return None
    keys = ("city", "country", "line1", "line2", "postal_code", "state")
    return {key: address.get(key) or None for key in keys}


def customer(obj: Customer) -> dict:
    if obj.deleted:
        return deleted_customer(obj.id)
    shipping = None
    if obj.shipping:
        shipping = {
            "address": _address(obj.shipping.get("address")),
            "name": obj.shipping.get("name") or None,
            "phone": obj.shipping.get("phone") or None,
        }
    return {
        "id": obj.id,
        "object": "customer",
        "address": _address(obj.address),
        "balance": obj.balance,
        "created": ts(obj.created),
        "currency": obj.currency or None,
        "default_source": None,
        "delinquent": False,
        "description": obj.description or None,
        "discount": None,
        "email": obj.email or None,
        "invoice_prefix": None,
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": obj.default_payment_method_id,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": obj.livemode,
        "metadata": obj.metadata,
        "name": obj.name or None,
        "phone": obj.phone or None,
        "preferred_locales": obj.preferred_locales,
        "shipping": shipping,
        "tax_exempt": "none",
        "test_clock": obj.test_clock_id,
    }


def deleted_customer(customer_id: str) -> dict:
    """What Stripe answers for a deleted customer (retrieve, expansions)."""
    return {"id": customer_id, "object": "customer", "deleted": True}


def tax_id(obj: TaxId) -> dict:
    return {
        "id": obj.id,
        "object": "tax_id",
        "country": obj.country or None,
        "created": ts(obj.created),
        "customer": obj.customer_id,
        "customer_account": None,
        "livemode": obj.livemode,
        "owner": {"account": None, "application": None, "customer": obj.customer_id, "type": "customer"},
        "type": obj.type,
        "value": obj.value,
        "verification": {"status": "unverified", "verified_address": None, "verified_name": None},
    }


def customer_balance_transaction(obj: CustomerBalanceTransaction) -> dict:
    return {
        "id": obj.id,
        "object": "customer_balance_transaction",
        "amount": obj.amount,
        "checkout_session": None,
        "created": ts(obj.created),
        "credit_note": None,
        "currency": obj.currency or None,
        "customer": obj.customer_id,
        "customer_account": None,
        "description": obj.description or None,
        "ending_balance": obj.ending_balance,
        "invoice": obj.invoice_id or None,
        "livemode": obj.livemode,
        "metadata": obj.metadata,
        "type": obj.type,
    }


def payment_method(obj: PaymentMethod) -> dict:
    details = obj.billing_details or {}
    data = {
        "id": obj.id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": _address(details.get("address")),
            "email": details.get("email") or None,
            "name": details.get("name") or None,
            "phone": details.get("phone") or None,
            "tax_id": None,
        },
        "created": ts(obj.created),
        "customer": obj.customer_id,
        "livemode": obj.livemode,
        "metadata": obj.metadata,
        "type": obj.type,
    }
    if obj.type == PaymentMethod.Type.CARD:
        data["card"] = {
            "brand": obj.card_brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": obj.country or None,
            "display_brand": obj.card_brand,
            "exp_month": obj.card_exp_month,
            "exp_year": obj.card_exp_year,
            "fingerprint": obj.fingerprint,
            "funding": obj.card_funding or "credit",
            "generated_from": None,
            "last4": obj.card_last4,
            "networks": {"available": [obj.card_brand], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        }
    else:
        data["sepa_debit"] = {
            "bank_code": obj.sepa_bank_code or None,
            "branch_code": None,
            "country": obj.country or None,
            "fingerprint": obj.fingerprint,
            "generated_from": {"charge": None, "setup_attempt": None},
            "last4": obj.sepa_last4,
        }
    return data


def product(obj: Product) -> dict:
    return {
        "id": obj.id,
        "object": "product",
        "active": obj.active,
        "created": ts(obj.created),
        "default_price": None,
        "description": obj.description or None,
        "images": [],
        "livemode": obj.livemode,
        "marketing_features": [],
        "metadata": obj.metadata,
        "name": obj.name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "unit_label": None,
        "updated": ts(obj.updated),
        "url": None,
    }


def price(obj: Price) -> dict:
    recurring = None
    if obj.is_recurring:
        recurring = {
            "interval": obj.recurring_interval,
            "interval_count": obj.recurring_interval_count,
            "meter": obj.meter_id,
            "trial_period_days": None,
            "usage_type": obj.recurring_usage_type,
        }
    return {
        "id": obj.id,
        "object": "price",
        "active": obj.active,
        "billing_scheme": "per_unit",
        "created": ts(obj.created),
        "currency": obj.currency,
        "custom_unit_amount": None,
        "livemode": obj.livemode,
        "lookup_key": obj.lookup_key or None,
        "metadata": obj.metadata,
        "nickname": obj.nickname or None,
        "product": obj.product_id,
        "recurring": recurring,
        "tax_behavior": obj.tax_behavior,
        "tiers_mode": None,
        "transform_quantity": None,
        "type": obj.type,
        "unit_amount": obj.unit_amount,
        "unit_amount_decimal": None if obj.unit_amount is None else str(obj.unit_amount),
    }


def tax_rate(obj: TaxRate) -> dict:
    return {
        "id": obj.id,
        "object": "tax_rate",
        "active": obj.active,
        "country": obj.country or None,
        "created": ts(obj.created),
        "description": obj.description or None,
        "display_name": obj.display_name,
        "effective_percentage": float(obj.percentage),
        "flat_amount": None,
        "inclusive": obj.inclusive,
        "jurisdiction": obj.jurisdiction or None,
        "jurisdiction_level": None,
        "livemode": obj.livemode,
        "metadata": obj.metadata,
        "percentage": float(obj.percentage),
        "rate_type": "percentage",
        "state": None,
        "tax_type": None,
    }


def coupon(obj: Coupon) -> dict:
    from billing import clock

    return {
        "id": obj.coupon_id,
        "object": "coupon",
        "amount_off": obj.amount_off,
        "created": ts(obj.created),
        "currency": obj.currency or None,
        "duration": obj.duration,
        "duration_in_months": obj.duration_in_months,
        "livemode": obj.livemode,
        "max_redemptions": obj.max_redemptions,
        "metadata": obj.metadata,
        "name": obj.name or None,
        "percent_off": None if obj.percent_off is None else float(obj.percent_off),
        "redeem_by": ts(obj.redeem_by),
        "times_redeemed": obj.times_redeemed,
        "valid": obj.is_valid_at(clock.now()),
    }


def promotion_code(obj: PromotionCode) -> dict:
    return {
        "id": obj.id,
        "object": "promotion_code",
        "active": obj.active,
        "code": obj.code,
        "coupon": coupon(obj.coupon),
        "created": ts(obj.created),
        "customer": obj.customer_id,
        "expires_at": ts(obj.expires_at),
        "livemode": obj.livemode,
        "max_redemptions": obj.max_redemptions,
        "metadata": obj.metadata,
        "promotion": {"coupon": obj.coupon.coupon_id, "type": "coupon"},
        "restrictions": {
            "currency_options": {},
            "first_time_transaction": obj.first_time_transaction,
            "minimum_amount": obj.minimum_amount,
            "minimum_amount_currency": obj.minimum_amount_currency or None,
        },
        "times_redeemed": obj.times_redeemed,
    }


def discount(obj: Discount) -> dict:
    return {
        "id": obj.id,
        "object": "discount",
        "checkout_session": None,
        "coupon": coupon(obj.coupon),
        "customer": obj.customer_id,
        "end": ts(obj.end),
        "invoice": None,
        "invoice_item": None,
        "promotion_code": obj.promotion_code_id,
        "source": {"coupon": obj.coupon.coupon_id, "type": "coupon"},
        "start": ts(obj.start),
        "subscription": obj.subscription_id,
        "subscription_item": None,
    }


def subscription_item(obj: SubscriptionItem, subscription: Subscription | None = None) -> dict:
    sub = subscription or obj.subscription
    return {
        "id": obj.id,
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": ts(obj.created),
        "current_period_end": ts(sub.current_period_end),
        "current_period_start": ts(sub.current_period_start),
        "discounts": [],
        "metadata": obj.metadata,
        "price": price(obj.price),
        "quantity": obj.quantity,
        "subscription": obj.subscription_id,
        "tax_rates": [tax_rate(rate) for rate in related_rows(obj, "tax_rates")],
    }


def _pending_update(stored: dict | None) -> dict | None:
    """Stripe's ``pending_update`` hash (the stored update also keeps what applying it writes)."""
    if not stored:
        return None
    keys = ("billing_cycle_anchor", "expires_at", "subscription_items", "trial_end", "trial_from_plan")
    return {key: stored.get(key) for key in keys}


def _anchor_config(stored: dict | None) -> dict | None:
    if not stored or stored.get("day_of_month") is None:
        return None
    return {key: stored.get(key) for key in ("day_of_month", "hour", "minute", "month", "second")}


def subscription(obj: Subscription) -> dict:
    items = [subscription_item(item, obj) for item in related_rows(obj, "items")]
    return {
        "id": obj.id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": ts(obj.billing_cycle_anchor),
        "billing_cycle_anchor_config": _anchor_config(obj.billing_cycle_anchor_config),
        "billing_mode": {"type": "classic"},
        "billing_thresholds": None,
        "cancel_at": ts(obj.cancel_at),
        "cancel_at_period_end": obj.cancel_at_period_end,
        "canceled_at": ts(obj.canceled_at),
        "cancellation_details": {
            "comment": obj.cancellation_comment or None,
            "feedback": obj.cancellation_feedback or None,
            "reason": obj.cancellation_reason or None,
        },
        "collection_method": obj.collection_method,
        "created": ts(obj.created),
        "currency": obj.currency,
        "current_period_end": ts(obj.current_period_end),
        "current_period_start": ts(obj.current_period_start),
        "customer": obj.customer_id,
        "days_until_due": obj.days_until_due,
        "default_payment_method": obj.default_payment_method_id,
        "default_source": None,
        "default_tax_rates": [tax_rate(rate) for rate in related_rows(obj, "default_tax_rates")],
        "description": obj.description or None,
        "discounts": [
            d.id
            for d in related_rows(obj, "discounts")
            if not d.used and (d.end is None or d.end > obj.current_period_start)
        ],
        "ended_at": ts(obj.ended_at),
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": items,
            "has_more": False,
            "total_count": len(items),
            "url": f"/v1/subscription_items?subscription={obj.id}",
        },
        "latest_invoice": obj.latest_invoice_id,
        "livemode": obj.livemode,
        "metadata": obj.metadata,
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": obj.pause_collection,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": obj.payment_settings.get("payment_method_types"),
            "save_default_payment_method": obj.payment_settings.get("save_default_payment_method", "off"),
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": _pending_update(obj.pending_update),
        # Extension: the cancellation offers shown to the customer and what they decided (null when none).
        "retention": _retention(obj.retention),
        "schedule": None,
        "start_date": ts(obj.start_date),
        "status": obj.status,
        "test_clock": obj.test_clock_id,
        "transfer_data": None,
        "trial_end": ts(obj.trial_end),
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": ts(obj.trial_start),
    }


def _retention(retention: dict | None) -> dict | None:
    if not retention:
        return None
    return {"offers": list(retention.get("offers") or []), "reason": retention.get("reason") or None}


def _line_taxes(line: InvoiceLineItem) -> list[dict]:
    if line.tax_rate_id is None:
        return []
    return [
        {
            "amount": line.tax_amount,
            "tax_behavior": "inclusive" if line.tax_inclusive else "exclusive",
            "tax_rate_details": {"tax_rate": line.tax_rate_id},
            "taxability_reason": "standard_rated",
            "taxable_amount": line.taxable_amount,
            "type": "tax_rate_details",
        }
    ]


def _sole_discount(invoice: Invoice) -> str | None:
    """The discount an amount was taken off by, when the invoice has exactly one (else it cannot be told apart)."""
    ids = invoice.discount_ids or []
    return ids[0] if len(ids) == 1 else None


def invoice_line(line: InvoiceLineItem) -> dict:
    return {
        "id": line.id,
        "object": "line_item",
        "amount": line.amount,
        "currency": line.currency,
        "description": line.description,
        "discount_amounts": [{"amount": line.discount_amount, "discount": _sole_discount(line.invoice)}]
        if line.discount_amount
        else [],
        "discountable": True,
        "discounts": [],
        "invoice": line.invoice_id,
        "livemode": line.livemode,
        "metadata": {},
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": line.invoice_item_id,
                "proration": line.proration,
                "proration_details": {"credited_items": None},
                "subscription": line.subscription_id,
                "subscription_item": line.subscription_item_id,
            },
            "type": "subscription_item_details",
        }
        if line.subscription_id
        else None,
        "period": {"end": ts(line.period_end), "start": ts(line.period_start)},
        "pricing": {
            "price_details": {"price": line.price_id, "product": line.price.product_id} if line.price_id else None,
            "type": "price_details",
            "unit_amount_decimal": str(line.amount // line.quantity) if line.quantity else None,
        },
        "proration": line.proration,
        "quantity": line.quantity,
        "subscription": line.subscription_id,
        "taxes": _line_taxes(line),
        "type": line.type,
    }


def invoice(obj: Invoice) -> dict:
    lines = [invoice_line(line) for line in obj.lines.all()]
    finalized = obj.is_finalized
    tax_totals: dict[tuple, dict] = {}
    for line in obj.lines.all():
        for tax in _line_taxes(line):
            key = (tax["tax_rate_details"]["tax_rate"], tax["tax_behavior"])
            entry = tax_totals.setdefault(key, {**tax, "amount": 0, "taxable_amount": 0})
            entry["amount"] += tax["amount"]
            entry["taxable_amount"] += tax["taxable_amount"]
    return {
        "id": obj.id,
        "object": "invoice",
        "account_country": None,
        "account_name": obj.account.name,
        "amount_due": obj.amount_due,
        "amount_overpaid": 0,
        "amount_paid": obj.amount_paid,
        "amount_remaining": obj.amount_remaining,
        "amount_shipping": 0,
        "attempt_count": obj.attempt_count,
        "attempted": obj.attempted,
        "auto_advance": obj.auto_advance,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None, "status": None},
        "billing_reason": obj.billing_reason,
        "collection_method": obj.collection_method,
        "created": ts(obj.created),
        "currency": obj.currency,
        "customer": obj.customer_id,
        "customer_address": _address(obj.customer_address),
        "customer_email": obj.customer_email or None,
        "customer_name": obj.customer_name or None,
        "default_payment_method": obj.default_payment_method_id,
        "description": obj.description or None,
        "discounts": list(obj.discount_ids or []),
        "due_date": ts(obj.due_date),
        "effective_at": ts(obj.finalized_at),
        "ending_balance": obj.ending_balance,
        "footer": None,
        "hosted_invoice_url": hosted_invoice_url(obj) if finalized else None,
        "invoice_pdf": invoice_pdf_url(obj) if finalized else None,
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": False,
            "total_count": len(lines),
            "url": f"/v1/invoices/{obj.id}/lines",
        },
        "livemode": obj.livemode,
        "metadata": obj.metadata,
        "next_payment_attempt": ts(obj.next_payment_attempt),
        "number": obj.number or None,
        "parent": {
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": obj.subscription_id},
            "type": "subscription_details",
        }
        if obj.subscription_id
        else None,
        "period_end": ts(obj.period_end),
        "period_start": ts(obj.period_start),
        "starting_balance": obj.starting_balance,
        "status": obj.status,
        "status_transitions": {
            "finalized_at": ts(obj.finalized_at),
            "marked_uncollectible_at": ts(obj.marked_uncollectible_at),
            "paid_at": ts(obj.paid_at),
            "voided_at": ts(obj.voided_at),
        },
        "subscription": obj.subscription_id,
        "subtotal": obj.subtotal,
        "subtotal_excluding_tax": obj.subtotal - sum(line.tax_amount for line in obj.lines.all() if line.tax_inclusive),
        "tax": obj.tax,
        "test_clock": obj.test_clock_id,
        "total": obj.total,
        "total_discount_amounts": [{"amount": obj.total_discount, "discount": _sole_discount(obj)}]
        if obj.total_discount
        else [],
        "total_excluding_tax": obj.total_excluding_tax,
        "total_taxes": list(tax_totals.values()),
        "webhooks_delivered_at": ts(obj.finalized_at),
    }


def invoice_item(obj: InvoiceItem) -> dict:
    return {
        "id": obj.id,
        "object": "invoiceitem",
        "amount": obj.amount,
        "currency": obj.currency,
        "customer": obj.customer_id,
        "date": ts(obj.created),
        "description": obj.description or None,
        "discountable": obj.discountable,
        "discounts": [],
        "invoice": obj.invoice_id,
        "livemode": obj.livemode,
        "metadata": obj.metadata,
        "parent": {
            "subscription_details": {"subscription": obj.subscription_id, "subscription_item": None},
            "type": "subscription_details",
        }
        if obj.subscription_id
        else None,
        "period": {"end": ts(obj.period_end), "start": ts(obj.period_start)},
        "pricing": {
            "price_details": {"price": obj.price_id, "product": obj.price.product_id} if obj.price_id else None,
            "type": "price_details",
            "unit_amount_decimal": str(obj.amount // obj.quantity) if obj.quantity else None,
        },
        "proration": obj.proration,
        "proration_details": {"credited_items": None},
        "quantity": obj.quantity,
        "tax_rates": [tax_rate(obj.tax_rate)] if obj.tax_rate_id else [],
        "test_clock": obj.test_clock_id,
    }


def test_clock(obj: TestClock) -> dict:
    if obj.deleted:
        return {"id": obj.id, "object": "test_helpers.test_clock", "deleted": True}
    advancing = obj.status == TestClock.Status.ADVANCING and obj.target_frozen_time is not None
    return {
        "id": obj.id,
        "object": "test_helpers.test_clock",
        "created": ts(obj.created),
        "deletes_after": ts(obj.deletes_after),
        "frozen_time": ts(obj.frozen_time),
        "livemode": obj.livemode,
        "name": obj.name or None,
        "status": obj.status,
        "status_details": ({"advancing": {"target_frozen_time": ts(obj.target_frozen_time)}} if advancing else {}),
    }
