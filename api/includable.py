"""Fields Stripe returns only when asked for with ``expand[]`` (its "includable" fields), filled for every object of
one expansion step at once (one query per field and step, whatever the number of objects).

Each entry of ``FIELDS`` is listed in Stripe's ``x-expandableFields`` for its object. Where this server keeps what
the field describes, it is computed (a customer's subscriptions and tax ids, a price's currency options, a refund's
customer and payment method); where it keeps nothing (sources, cash balances, Connect fields of an
invoice), the field gets the value Stripe returns when there is nothing: an empty list, null.
"""

import copy
from collections import defaultdict
from collections.abc import Callable

from billing import payment_representations, representations
from billing.models import Charge, PaymentIntent, Subscription, TaxId

EMBEDDED_LIST_LIMIT = 10  # Stripe embeds the first ten items of a sub-list and says whether there are more

Filler = Callable[[list[dict], object], None]


def _list(data: list, url: str, *, has_more: bool = False) -> dict:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def _id(value) -> str | None:
    """An id, also when an earlier expansion has already replaced it with its object."""
    return value.get("id") if isinstance(value, dict) else value


def _scoped(model, caller):
    return model.objects.filter(account=caller.account, livemode=caller.livemode)


def _constant(field: str, value) -> Filler:
    def fill(nodes: list[dict], caller) -> None:
        for node in nodes:
            node[field] = copy.deepcopy(value)

    return fill


def _each(field: str, compute: Callable[[dict, object], object]) -> Filler:
    def fill(nodes: list[dict], caller) -> None:
        for node in nodes:
            node[field] = compute(node, caller)

    return fill


def _grouped(rows, key: str, render) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, key)].append(render(row))
    return grouped


# ---------------------------------------------------------------------------------------------- customer


def _customer_sources(nodes: list[dict], caller) -> None:
    # Payment methods are not sources (Stripe's legacy cards and bank accounts): the list is always empty.
    for node in nodes:
        node["sources"] = _list([], f"/v1/customers/{node['id']}/sources")


def _customer_subscriptions(nodes: list[dict], caller) -> None:
    """The customer's subscriptions that have not ended, newest first, as Stripe embeds them."""
    rows = (
        _scoped(Subscription, caller)
        .filter(customer_id__in=[node["id"] for node in nodes])
        .exclude(status__in=Subscription.ENDED_STATUSES)
        .prefetch_related(*representations.PREFETCH[Subscription])
        .order_by("-id")
    )
    grouped = _grouped(rows, "customer_id", representations.subscription)
    for node in nodes:
        data = grouped.get(node["id"], [])
        node["subscriptions"] = _list(
            data[:EMBEDDED_LIST_LIMIT],
            f"/v1/customers/{node['id']}/subscriptions",
            has_more=len(data) > EMBEDDED_LIST_LIMIT,
        )


def _customer_tax_ids(nodes: list[dict], caller) -> None:
    rows = _scoped(TaxId, caller).filter(customer_id__in=[node["id"] for node in nodes]).order_by("-id")
    grouped = _grouped(rows, "customer_id", representations.tax_id)
    for node in nodes:
        data = grouped.get(node["id"], [])
        node["tax_ids"] = _list(
            data[:EMBEDDED_LIST_LIMIT], f"/v1/customers/{node['id']}/tax_ids", has_more=len(data) > EMBEDDED_LIST_LIMIT
        )


def _customer_invoice_credit_balance(node: dict, caller) -> dict:
    # Stripe's sign here is the opposite of ``balance``: positive is credit the customer has.
    if not node.get("balance") or not node.get("currency"):
        return {}
    return {node["currency"]: -node["balance"]}


# ---------------------------------------------------------------------------------------------- price, coupon


def _price_currency_options(node: dict, caller) -> dict:
    """The price's own currency is its one currency option (multi-currency prices are not kept)."""
    return {
        node["currency"]: {
            "custom_unit_amount": None,
            "tax_behavior": node.get("tax_behavior"),
            "unit_amount": node.get("unit_amount"),
            "unit_amount_decimal": node.get("unit_amount_decimal"),
        }
    }


def _coupon_currency_options(node: dict, caller) -> dict:
    if node.get("amount_off") is None or not node.get("currency"):
        return {}
    return {node["currency"]: {"amount_off": node["amount_off"]}}


# ---------------------------------------------------------------------------------------------- invoice


def _invoice_intent(node: dict, caller):
    return _scoped(PaymentIntent, caller).filter(invoice_id=node["id"]).order_by("-id").first()


def _confirmation_secret(node: dict, caller) -> dict | None:
    intent = _invoice_intent(node, caller)
    if intent is None or node.get("status") != "open":
        return None
    return {"client_secret": intent.client_secret, "type": "payment_intent"}


def _payments(node: dict, caller) -> dict:
    intent = _invoice_intent(node, caller)
    data = [payment_representations.invoice_payment(intent)] if intent is not None else []
    return _list(data, f"/v1/invoice_payments?invoice={node['id']}")


def _payment_intent(node: dict, caller) -> str | None:
    intent = _invoice_intent(node, caller)
    return intent.id if intent is not None else None


def _invoice_customer_tax_ids(nodes: list[dict], caller) -> None:
    rows = _scoped(TaxId, caller).filter(customer_id__in={_id(node["customer"]) for node in nodes}).order_by("id")
    grouped = _grouped(rows, "customer_id", lambda row: {"type": row.type, "value": row.value})
    for node in nodes:
        node["customer_tax_ids"] = grouped.get(_id(node["customer"]), [])


# ---------------------------------------------------------------------------------------------- refund


def _refund_charge_fields(nodes: list[dict], caller) -> None:
    """A refund's ``customer`` and ``payment_method`` are its charge's."""
    charges = {
        row[0]: row[1:]
        for row in _scoped(Charge, caller)
        .filter(pk__in={_id(node["charge"]) for node in nodes if node.get("charge")})
        .values_list("pk", "customer_id", "payment_method_id")
    }
    for node in nodes:
        customer, payment_method = charges.get(_id(node.get("charge")), (None, None))
        node.setdefault("customer", customer)
        node.setdefault("payment_method", payment_method)


NOTHING_OF_INVOICE = {
    "account_tax_ids": None,
    "application": None,
    "custom_fields": None,
    "customer_shipping": None,
    "default_source": None,
    "default_tax_rates": [],
    "from_invoice": None,
    "issuer": {"type": "self"},
    "last_finalization_error": None,
    "latest_revision": None,
    "on_behalf_of": None,
    "payment_settings": {"default_mandate": None, "payment_method_options": None, "payment_method_types": None},
    "rendering": None,
    "shipping_cost": None,
    "shipping_details": None,
    "status_details": None,
    "threshold_reason": None,
    "total_pretax_credit_amounts": [],
}

FIELDS: dict[tuple[str, str], Filler] = {
    ("customer", "sources"): _customer_sources,
    ("customer", "subscriptions"): _customer_subscriptions,
    ("customer", "tax_ids"): _customer_tax_ids,
    ("customer", "tax"): _constant(
        "tax", {"automatic_tax": "not_collecting", "ip_address": None, "location": None, "provider": "stripe"}
    ),
    ("customer", "cash_balance"): _constant("cash_balance", None),
    ("customer", "invoice_credit_balance"): _each("invoice_credit_balance", _customer_invoice_credit_balance),
    ("price", "currency_options"): _each("currency_options", _price_currency_options),
    ("price", "tiers"): _constant("tiers", []),  # every price here is per_unit
    # No coupon here is limited to some products: Stripe's answer for an unrestricted coupon.
    ("coupon", "applies_to"): _constant("applies_to", None),
    ("coupon", "currency_options"): _each("currency_options", _coupon_currency_options),
    ("product", "tax_details"): _constant("tax_details", None),
    ("invoice", "confirmation_secret"): _each("confirmation_secret", _confirmation_secret),
    ("invoice", "payments"): _each("payments", _payments),
    ("invoice", "payment_intent"): _each("payment_intent", _payment_intent),
    ("invoice", "customer_tax_ids"): _invoice_customer_tax_ids,
    **{("invoice", field): _constant(field, value) for field, value in NOTHING_OF_INVOICE.items()},
    ("refund", "customer"): _refund_charge_fields,
    ("refund", "payment_method"): _refund_charge_fields,
    **{
        ("refund", field): _constant(field, None)
        for field in ("destination_details", "failure_balance_transaction", "next_action", "presentment_details")
    },
}


def fill(nodes: list, field: str, caller) -> None:
    """Give every object among ``nodes`` that lacks ``field`` and can include it its value."""
    wanting: dict[str, list[dict]] = defaultdict(list)
    for node in nodes:
        if (
            isinstance(node, dict)
            and field not in node
            and (node.get("object"), field) in FIELDS
            and not node.get("deleted")
        ):
            wanting[node["object"]].append(node)
    for kind, group in wanting.items():
        FIELDS[(kind, field)](group, caller)
