"""A promotion code typed on the hosted page (``allow_promotion_codes``): checked as the subscription will check it,
shown in the summary; it is redeemed when the session's subscription or payment is created."""

from django.db.models.functions import Upper

from billing import clock
from billing.exceptions import InvalidRequest
from billing.models import PromotionCode
from billing.services.common import lock
from billing.services.door import service
from checkout.models import CheckoutLineItem, CheckoutSession
from checkout.services.amounts import recompute
from checkout.services.complete import check_payable


def _usable(session: CheckoutSession, code: str) -> PromotionCode:
    now = clock.now()
    promo = (
        PromotionCode.objects.select_related("coupon")
        .annotate(upper=Upper("code"))
        .filter(account_id=session.account_id, livemode=session.livemode, active=True, upper=code.strip().upper())
        .first()
    )
    refused = InvalidRequest("This code is invalid.", param="promotion_code", code="promotion_code_invalid")
    if promo is None or (promo.expires_at and promo.expires_at <= now):
        raise refused
    if promo.max_redemptions is not None and promo.times_redeemed >= promo.max_redemptions:
        raise refused
    if promo.customer_id and promo.customer_id != session.customer_id:
        raise refused
    coupon = promo.coupon
    if coupon.deleted or not coupon.is_valid_at(now):
        raise refused
    if coupon.amount_off is not None and coupon.currency != session.currency:
        raise refused
    if promo.minimum_amount and (session.amount_subtotal or 0) < promo.minimum_amount:
        raise InvalidRequest(
            "This code needs a larger order.", param="promotion_code", code="promotion_code_minimum_amount"
        )
    return promo


@service
def checkout_session_apply_promotion_code(*, session: CheckoutSession, code: str) -> CheckoutSession:
    """Apply ``code`` to the open session (an empty code removes the one applied). InvalidRequest with
    ``param="promotion_code"`` for a code that cannot be used."""
    session = lock(CheckoutSession, session.pk)
    check_payable(session)
    if not session.allow_promotion_codes:
        raise InvalidRequest("Promotion codes are not accepted here.", param="promotion_code")
    if session.subscription_id or session.payment_intent_id:
        raise InvalidRequest("The order can no longer be changed.", param="promotion_code")
    session.promotion_code = _usable(session, code) if code.strip() else None
    session.coupon = None
    recompute(session, list(CheckoutLineItem.objects.filter(session=session).select_related("price")))
    session.save()
    return session
