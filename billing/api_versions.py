"""Objects as an older Stripe API version shows them: what a request's ``Stripe-Version`` or a webhook endpoint's
``api_version`` asks for. Objects are stored and rendered in the current version (``billing.events.API_VERSION``);
the differences of the older versions this server supports are added here.

Supported: every version from 2020-08-27 on. Before ``INVOICE_PAYMENTS_SINCE`` (Stripe's "basil" release) an
invoice carries ``payment_intent`` (its latest PaymentIntent's id) instead of only ``payments``.
"""

from billing.models import PaymentIntent

INVOICE_PAYMENTS_SINCE = "2025-03-31"


def before_invoice_payments(version: str | None) -> bool:
    return bool(version) and version[:10] < INVOICE_PAYMENTS_SINCE


def differs_from_current(version: str | None) -> bool:
    """Whether objects in ``version`` show anything the current version does not."""
    return before_invoice_payments(version)


def _dicts(value):
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _dicts(child)
    elif isinstance(value, list):
        for child in value:
            yield from _dicts(child)


def render_in(data, version: str | None, *, account_id: str, livemode: bool) -> None:
    """Adds, in place and with one query, what ``version`` shows beyond the current one to every object in ``data``
    (an object, a list, an event envelope, or objects already expanded inside another)."""
    if not differs_from_current(version):
        return
    invoices = [node for node in _dicts(data) if node.get("object") == "invoice" and "payment_intent" not in node]
    if not invoices:
        return
    latest = dict(
        PaymentIntent.objects.filter(
            invoice_id__in={node["id"] for node in invoices}, account_id=account_id, livemode=livemode
        )
        .order_by("invoice_id", "id")
        .values_list("invoice_id", "id")
    )  # ordered by id within each invoice: the last one wins, as the invoice's ``payments`` shows it
    for node in invoices:
        node["payment_intent"] = latest.get(node["id"])
