"""``expand[]``: replace ids in a response with the objects, loaded in one query per step and type."""

from api import errors
from billing import payment_representations, representations
from billing.models import (
    Charge,
    Customer,
    Invoice,
    Mandate,
    PaymentIntent,
    PaymentMethod,
    Price,
    Product,
    Refund,
    SetupIntent,
    Subscription,
    TaxRate,
)

MAX_DEPTH = 4

# id prefix -> (model, renderer, prefetches)
EXPANDABLE = {
    "cus": (Customer, representations.customer, []),
    "pm": (PaymentMethod, representations.payment_method, []),
    "prod": (Product, representations.product, []),
    "price": (Price, representations.price, []),
    "txr": (TaxRate, representations.tax_rate, []),
    "sub": (Subscription, representations.subscription, representations.PREFETCH[Subscription]),
    "in": (Invoice, representations.invoice, representations.PREFETCH[Invoice] + ["account"]),
    "ch": (Charge, payment_representations.charge, ["payment_method"]),
    "re": (Refund, payment_representations.refund, []),
    "mandate": (Mandate, payment_representations.mandate, ["payment_method"]),
    "pi": (PaymentIntent, payment_representations.payment_intent, []),
    "seti": (SetupIntent, payment_representations.setup_intent, []),
}


def _invoice_intent(node: dict, caller):
    return (
        PaymentIntent.objects.filter(invoice_id=node["id"], account=caller.account, livemode=caller.livemode)
        .order_by("-id")
        .first()
    )


def _confirmation_secret(node: dict, caller) -> dict | None:
    intent = _invoice_intent(node, caller)
    if intent is None or node.get("status") != "open":
        return None
    return {"client_secret": intent.client_secret, "type": "payment_intent"}


def _payments(node: dict, caller) -> dict:
    intent = _invoice_intent(node, caller)
    data = [payment_representations.invoice_payment(intent)] if intent is not None else []
    return {"object": "list", "data": data, "has_more": False, "url": f"/v1/invoice_payments?invoice={node['id']}"}


def _payment_intent(node: dict, caller) -> str | None:
    intent = _invoice_intent(node, caller)
    return intent.id if intent is not None else None


# Fields Stripe leaves out of an object unless asked for with expand[] (``includable``), and for older API versions
# an invoice's ``payment_intent``: (object type, field) -> how to compute it.
INCLUDABLE = {
    ("invoice", "confirmation_secret"): _confirmation_secret,
    ("invoice", "payments"): _payments,
    ("invoice", "payment_intent"): _payment_intent,
}


# The first API version whose invoices pay through ``payments`` (Stripe's "basil" release): an older
# ``Stripe-Version`` gets each invoice's ``payment_intent`` id without asking for it, as Stripe answers those versions.
INVOICE_PAYMENTS_SINCE = "2025-03-31"


def legacy_invoice_fields(data: dict, version: str | None, caller) -> None:
    """For a ``Stripe-Version`` before ``INVOICE_PAYMENTS_SINCE``: every invoice in ``data`` (the object itself, a
    list's, or one already expanded inside another) gets its ``payment_intent``, in one query."""
    if not version or version[:10] >= INVOICE_PAYMENTS_SINCE:
        return
    invoices = [node for node in _dicts(data) if node.get("object") == "invoice" and "payment_intent" not in node]
    if not invoices:
        return
    latest = dict(
        PaymentIntent.objects.filter(
            invoice_id__in={node["id"] for node in invoices}, account=caller.account, livemode=caller.livemode
        )
        .order_by("invoice_id", "id")
        .values_list("invoice_id", "id")
    )  # ordered by id within each invoice: the last one wins, as _invoice_intent picks it
    for node in invoices:
        node["payment_intent"] = latest.get(node["id"])


def _dicts(value):
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _dicts(child)
    elif isinstance(value, list):
        for child in value:
            yield from _dicts(child)


def register(prefix: str, model, render, prefetch=()) -> None:
    """Other apps add their own expandable objects (e.g. portal configurations)."""
    EXPANDABLE[prefix] = (model, render, list(prefetch))


def _kind(value) -> str | None:
    if isinstance(value, str) and "_" in value:
        prefix = value.split("_", 1)[0]
        return prefix if prefix in EXPANDABLE else None
    return None


def apply(data: dict, paths: list[str], caller) -> dict:
    for path in paths:
        parts = path.split(".")
        depth = len(parts) - (1 if parts[0] == "data" else 0)
        if depth > MAX_DEPTH or not all(parts):
            raise errors.invalid("expand", f"You cannot expand more than {MAX_DEPTH} levels of a property: {path}.")
        nodes = [data]
        for i, part in enumerate(parts):
            nodes = _step(
                nodes,
                part,
                path,
                expand=not (part == "data" and i == 0 and data.get("object") in ("list", "search_result")),
                caller=caller,
            )
    return data


def _step(nodes: list, part: str, path: str, *, expand: bool, caller) -> list:
    pending: dict[str, list[tuple[dict, str]]] = {}
    following = []
    for node in nodes:
        if isinstance(node, dict) and part not in node and (node.get("object"), part) in INCLUDABLE:
            node[part] = INCLUDABLE[(node["object"], part)](node, caller)
        if not isinstance(node, dict) or part not in node:
            raise errors.invalid("expand", f"This property cannot be expanded ({path}).")
        value = node[part]
        kind = _kind(value) if expand else None
        if kind:
            pending.setdefault(kind, []).append((node, part))
        elif expand and isinstance(value, str):
            raise errors.invalid("expand", f"This property cannot be expanded ({path}).")
        elif isinstance(value, list):
            following.extend(value)
        elif value is not None:
            following.append(value)
    for kind, places in pending.items():
        model, render, prefetch = EXPANDABLE[kind]
        wanted = {node[key] for node, key in places}
        found = {
            obj.pk: render(obj)
            for obj in model.objects.filter(
                pk__in=wanted, account=caller.account, livemode=caller.livemode
            ).prefetch_related(*prefetch)
        }
        for node, key in places:
            node[key] = found.get(node[key], node[key])
            following.append(node[key])
    return [n for n in following if isinstance(n, dict)]
