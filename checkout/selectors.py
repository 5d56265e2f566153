"""Reads of sessions that cross a trust boundary: the hosted page finds a session by its id (the unguessable key
in its URL), on our host or the merchant's own verified domain only."""

from billing.exceptions import NotFound
from billing.models import Subscription
from checkout.models import CheckoutLineItem, CheckoutLink, CheckoutSession


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


def link_for_visit(*, slug: str, domain_account=None) -> CheckoutLink:
    """A link by its URL's slug (256 random bits), on our host or its account's verified domain only; inactive
    links are found (their page says so), unknown ones are not."""
    link = (
        CheckoutLink.objects.select_related("account").filter(slug=slug).first()
        if isinstance(slug, str) and 0 < len(slug) <= 64 and "\x00" not in slug
        else None
    )
    if link is None or (domain_account is not None and domain_account.pk != link.account_id):
        raise NotFound("No such checkout link")
    return link


def subscription_start_link(*, customer, configuration) -> CheckoutLink | None:
    """The configuration's link for "Start a new subscription", while it is offered to ``customer``: the link is
    active, of the customer's account and mode, and the customer has no subscription that has not ended."""
    link_id = configuration.subscription_start_link_id
    if not link_id or customer.subscriptions.exclude(status__in=Subscription.ENDED_STATUSES).exists():
        return None
    return (
        CheckoutLink.objects.select_related("account")
        .filter(pk=link_id, account_id=customer.account_id, livemode=customer.livemode, active=True)
        .first()
    )
