"""``expand[]``: replace ids in a response with the objects, loaded in one query per step and type."""

from django.db.models import prefetch_related_objects

from api import errors, includable
from billing import api_versions, payment_representations, representations
from billing.models import (
    Charge,
    Customer,
    Discount,
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
    TestClock,
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
    "di": (Discount, representations.discount, ["coupon"]),
    "clock": (TestClock, representations.test_clock, []),
}


def legacy_invoice_fields(data: dict, version: str | None, caller) -> None:
    """What an older ``Stripe-Version`` shows beyond the current one (see ``billing.api_versions``)."""
    api_versions.render_in(data, version, account_id=caller.account.pk, livemode=caller.livemode)


def register(prefix: str, model, render, prefetch=()) -> None:
    """Other apps add their own expandable objects (e.g. portal configurations)."""
    EXPANDABLE[prefix] = (model, render, list(prefetch))


def _kind(value) -> str | None:
    if isinstance(value, str) and "_" in value:
        prefix = value.split("_", 1)[0]
        return prefix if prefix in EXPANDABLE else None
    return None


def wants(params: dict, path: str) -> bool:
    """Whether ``expand[]`` asks for ``path`` (or for something under it)."""
    return any(wanted == path or wanted.startswith(path + ".") for wanted in params.get("expand") or [])


def apply(data: dict, paths: list[str], caller, loaded: dict | None = None) -> dict:
    """``loaded``: objects the request has already read (id -> instance), used instead of reading them again."""
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
                loaded=loaded or {},
            )
    return data


def _step(nodes: list, part: str, path: str, *, expand: bool, caller, loaded: dict) -> list:
    pending: dict[str, list[tuple[dict, str]]] = {}
    following = []
    includable.fill(nodes, part, caller)
    for node in nodes:
        if not isinstance(node, dict) or part not in node:
            raise errors.invalid("expand", f"This property cannot be expanded ({path}).")
        value = node[part]
        kind = _kind(value) if expand else None
        if kind:
            pending.setdefault(kind, []).append((node, part))
        elif expand and isinstance(value, str):
            raise errors.invalid("expand", f"This property cannot be expanded ({path}).")
        elif isinstance(value, list):
            # A list of ids (a subscription's or an invoice's ``discounts``): each one is expanded in place.
            for i, element in enumerate(value):
                element_kind = _kind(element) if expand else None
                if element_kind:
                    pending.setdefault(element_kind, []).append((value, i))
                else:
                    following.append(element)
        elif value is not None:
            following.append(value)
    for kind, places in pending.items():
        model, render, prefetch = EXPANDABLE[kind]
        wanted = {node[key] for node, key in places}
        known = [
            obj
            for obj in map(loaded.get, wanted)
            if type(obj) is model and obj.account_id == caller.account.pk and obj.livemode == caller.livemode
        ]
        if known and prefetch:
            prefetch_related_objects(known, *prefetch)
        found = {obj.pk: render(obj) for obj in known}
        if missing := wanted - found.keys():
            found.update(
                (obj.pk, render(obj))
                for obj in model.objects.filter(
                    pk__in=missing, account=caller.account, livemode=caller.livemode
                ).prefetch_related(*prefetch)
            )
        for node, key in places:
            node[key] = found.get(node[key], node[key])
            following.append(node[key])
    return [n for n in following if isinstance(n, dict)]
