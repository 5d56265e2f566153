"""Reads of sessions that cross a trust boundary: the hosted page finds a session by its id (the unguessable key
in its URL), on our host or the merchant's own verified domain only."""

from billing.exceptions import NotFound
from checkout.models import CheckoutLineItem, CheckoutSession


def session_for_page(*, session_id: str, domain_account=None) -> CheckoutSession:
    session = (
        CheckoutSession.objects.select_related("account", "customer", "coupon", "promotion_code__coupon")
        .filter(pk=session_id)
        .first()
        if isinstance(session_id, str) and "\x00" not in session_id
        else None
    )
    if session is None or (domain_account is not None and domain_account.pk != session.account_id):
        raise NotFound(f"No such checkout.session: '{session_id}'")
    return session


def line_items_of(session: CheckoutSession) -> list[CheckoutLineItem]:
    return list(CheckoutLineItem.objects.filter(session=session).select_related("price__product").order_by("position"))
