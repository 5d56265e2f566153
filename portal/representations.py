"""Portal session -> Stripe's ``billing_portal.session`` JSON."""

from billing.clock import to_unix
from portal.models import PortalSession


def session(obj: PortalSession, *, url: str | None) -> dict:
    """``url`` carries the single-use token, so it appears in the create response only, never in events."""
    return {
        "id": obj.id,
        "object": "billing_portal.session",
        "configuration": obj.configuration_id,
        "created": to_unix(obj.created),
        "customer": obj.customer_id,
        "customer_account": None,
        "flow": obj.flow,
        "livemode": obj.livemode,
        "locale": obj.locale or None,
        "on_behalf_of": None,
        "return_url": obj.return_url or None,
        "url": url,
    }
