"""What the hosted Checkout page shows around its form: the merchant's brand and the order summary, computed from
the server's prices (the same amounts the session and its first invoice carry)."""

from dataclasses import dataclass

from billing.models import Price
from checkout.models import CheckoutLineItem, CheckoutSession
from checkout.services.amounts import session_coupon
from configurations.selectors import branding_for, default_configuration
from portal.views.common import _image_url, brand_colors


@dataclass
class SummaryRow:
    item: CheckoutLineItem
    name: str
    quantity: int
    unit_amount: int
    amount: int
    price: Price


def brand(session: CheckoutSession) -> dict:
    return account_brand(session.account, session.livemode, cancel_url=session.cancel_url)


def account_brand(account, livemode: bool, *, cancel_url: str = "") -> dict:
    """The merchant's brand around a Checkout page (a session's, or a link's that has no session)."""
    branding = branding_for(account)
    configuration = default_configuration(account=account, livemode=livemode)
    return {
        "business_name": branding.display_name if branding else account.name,
        "brand_colors": brand_colors(branding),
        "logo_url": _image_url(branding, "logo") if branding else "",
        "icon_url": _image_url(branding, "icon") if branding else "",
        "terms_url": configuration.terms_of_service_url if configuration else "",
        "privacy_url": configuration.privacy_policy_url if configuration else "",
        "livemode": livemode,
        "cancel_url": cancel_url,
    }


def summary(session: CheckoutSession, line_items: list[CheckoutLineItem]) -> dict:
    rows = [
        SummaryRow(
            item=item,
            name=item.price.product.name,
            quantity=item.quantity,
            unit_amount=item.price.unit_amount or 0,
            amount=item.amount_subtotal,
            price=item.price,
        )
        for item in line_items
    ]
    recurring = sum(row.amount for row in rows if row.price.type == Price.Type.RECURRING)
    first = next((row.price for row in rows if row.price.type == Price.Type.RECURRING), None)
    # What renews each period, shaped as a price so the portal's ``recurring_price`` filter words it.
    renewal = None
    if first is not None:
        renewal = Price(
            unit_amount=recurring,
            currency=first.currency,
            type=Price.Type.RECURRING,
            recurring_interval=first.recurring_interval,
            recurring_interval_count=first.recurring_interval_count,
        )
    return {
        "rows": rows,
        "currency": session.currency,
        "trial_days": session.trial_period_days,
        "recurring_amount": recurring,
        "renewal": renewal,
        "coupon": session_coupon(session),
        "custom_text": session.custom_text or {},
    }
