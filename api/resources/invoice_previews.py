"""Invoice previews: POST /v1/invoices/create_preview, and GET /v1/invoices/upcoming (+ /lines) for the API versions
that still have them. Each is a dry run of the subscription services the change then goes through."""

from api import errors
from api import params as p
from api.resources.invoice_items import FIELDS, item_arguments
from api.resources.subscriptions import PRORATION
from api.resources.subscriptions import _discount as discount_params
from api.resources.subscriptions import _discount_param as discount_param
from api.router import operation
from billing import clock
from billing.events import API_VERSION
from billing.models import Customer, Price, Subscription, SubscriptionItem, TaxRate
from billing.services.subscriptions import ChangeOptions, ItemChange, ItemSpec
from billing.services.subscriptions.preview import (
    no_upcoming,
    subscription_create_preview,
    subscription_invoice_preview,
)

TAGS = ["Invoices"]
LINE_FIELDS = {key: value for key, value in FIELDS.items() if key != "expand"}
# Stripe removed GET /v1/invoices/upcoming (and /lines) in this version (changelog 2025-03-31.basil).
UPCOMING_REMOVED_IN = "2025-03-31"
PREVIEW_ITEM = p.Object(
    {
        "id": p.Id(),
        "price": p.Id(),
        "quantity": p.Integer(min_value=0, max_value=10**7),
        "deleted": p.Boolean(),
        "clear_usage": p.Boolean(description="Accepted for compatibility: metered usage is not recorded here."),
        "tax_rates": p.Array(p.Id(), max_items=5, unsettable=True),
        "metadata": p.Metadata(),
    }
)
DISCOUNT = p.Object({"coupon": p.String(max_length=64), "promotion_code": p.Id(), "discount": p.Id()})
AUTOMATIC_TAX = p.Object({"enabled": p.Boolean(required=True)})
SUBSCRIPTION_DETAILS = {
    "items": p.Array(PREVIEW_ITEM, max_items=20),
    "proration_behavior": PRORATION,
    "proration_date": p.Timestamp(),
    "cancel_at": p.Timestamp(unsettable=True),
    "cancel_at_period_end": p.Boolean(),
    "billing_cycle_anchor": p.String(choices=("now", "unchanged")),
    "trial_end": p.Timestamp(keywords=("now",)),
    "default_tax_rates": p.Array(p.Id(), max_items=5, unsettable=True),
}
CREATE_PREVIEW = {
    "customer": p.Id(),
    "invoice_items": p.Array(p.Object({**LINE_FIELDS, "currency": p.String(max_length=3)}), max_items=250),
    "subscription": p.Id(),
    "subscription_details": p.Object(SUBSCRIPTION_DETAILS),
    "schedule": p.Id(),
    "schedule_details": p.Map(description="Subscription schedules are not supported; only an empty value passes."),
    "discounts": p.Array(DISCOUNT, max_items=1, unsettable=True),
    "automatic_tax": AUTOMATIC_TAX,
    "currency": p.String(max_length=3),
    "preview_mode": p.String(choices=("next",), description="Only next (the default) is supported."),
    "expand": p.EXPAND,
}
# The older flat names of GET /v1/invoices/upcoming, and the subscription_details key each one stands for.
LEGACY_NAMES = {
    "subscription_items": "items",
    "subscription_proration_behavior": "proration_behavior",
    "subscription_proration_date": "proration_date",
    "subscription_cancel_at": "cancel_at",
    "subscription_cancel_at_period_end": "cancel_at_period_end",
    "subscription_billing_cycle_anchor": "billing_cycle_anchor",
    "subscription_trial_end": "trial_end",
    "subscription_default_tax_rates": "default_tax_rates",
}
UPCOMING = {
    "customer": p.Id(),
    "subscription": p.Id(),
    **{legacy: SUBSCRIPTION_DETAILS[name] for legacy, name in LEGACY_NAMES.items()},
    "coupon": p.String(max_length=64),
    "discounts": p.Array(DISCOUNT, max_items=1, unsettable=True),
    "automatic_tax": AUTOMATIC_TAX,
    "currency": p.String(max_length=3),
    "expand": p.EXPAND,
}


@operation(
    "POST",
    "/v1/invoices/create_preview",
    params=CREATE_PREVIEW,
    response="invoice",
    summary="Preview the invoice a subscription change (or the next renewal, or a new subscription) produces",
    tags=TAGS,
)
def create_preview(ctx, params):
    if params.get("schedule") or params.get("schedule_details"):
        raise errors.invalid("schedule", "Subscription schedules are not supported; preview a subscription instead.")
    return _preview(ctx, params, params.get("subscription_details") or {}, "subscription_details")


@operation(
    "GET",
    "/v1/invoices/upcoming",
    params=UPCOMING,
    response="invoice",
    summary="Retrieve the upcoming invoice (API versions before 2025-03-31.basil)",
    tags=TAGS,
)
def upcoming(ctx, params):
    _check_version(ctx)
    invoice = _preview(ctx, _legacy(params), _legacy_details(params), "")
    # The older object names the moment its prorations were computed at, to pass on as the update's proration_date.
    proration_date = params.get("subscription_proration_date") or clock.now()
    return {**invoice, "subscription_proration_date": clock.to_unix(proration_date)}


@operation(
    "GET",
    "/v1/invoices/upcoming/lines",
    params={**UPCOMING, **p.LIST},
    response="list[line_item]",
    summary="List the upcoming invoice's line items (API versions before 2025-03-31.basil)",
    tags=TAGS,
)
def upcoming_lines(ctx, params):
    _check_version(ctx)
    invoice = _preview(ctx, _legacy(params), _legacy_details(params), "")
    return _page(invoice["lines"]["data"], params, url="/v1/invoices/upcoming/lines")


def _check_version(ctx) -> None:
    version = ctx.request.headers.get("Stripe-Version") or API_VERSION
    if version[:10] >= UPCOMING_REMOVED_IN:
        raise errors.ApiError(
            f"GET {ctx.request.path} was removed in API version 2025-03-31.basil (this request uses {version}). "
            "Use POST /v1/invoices/create_preview instead.",
            status=404,
        )


def _legacy(params: dict) -> dict:
    legacy = {key: value for key, value in params.items() if key not in LEGACY_NAMES}
    if params.get("coupon"):
        legacy["discounts"] = [{"coupon": params["coupon"]}]
    return legacy


def _legacy_details(params: dict) -> dict:
    return {name: params[legacy] for legacy, name in LEGACY_NAMES.items() if legacy in params}


def _preview(ctx, params: dict, details: dict, prefix: str) -> dict:
    if (params.get("automatic_tax") or {}).get("enabled"):
        raise errors.invalid("automatic_tax[enabled]", "Automatic tax is not supported; use tax rates instead.")
    name = (lambda key: f"{prefix}[{key}]") if prefix else (lambda key: _legacy_name(key))
    customer = None
    if params.get("customer"):
        customer = ctx.get(Customer, params["customer"], "customer", param="customer")
    if params.get("subscription"):
        subscription = ctx.get(Subscription, params["subscription"], "subscription", param="subscription")
        if customer is not None and subscription.customer_id != customer.pk:
            raise errors.invalid(
                "subscription", f"The subscription {subscription.pk} does not belong to the customer {customer.pk}."
            )
        items = [
            {**item_arguments(ctx, item), "currency": item.get("currency")} for item in params.get("invoice_items", [])
        ]
        invoice = subscription_invoice_preview(
            subscription=subscription,
            actor=ctx.actor,
            update=_update(ctx, subscription, params, details, name),
            invoice_items=items,
        )
    elif details.get("items"):
        if customer is None:
            raise errors.missing("customer")
        coupon, promotion = discount_params(ctx, params)
        create = {
            **_create(ctx, details, name),
            "coupon": coupon,
            "promotion_code": promotion,
            "discount_param": discount_param(params),
        }
        invoice = subscription_create_preview(customer=customer, actor=ctx.actor, create=create)
    elif customer is not None and not prefix:
        invoice = _customer_upcoming(ctx, customer)
    elif customer is not None:
        raise errors.ApiError(
            "Provide subscription or subscription_details[items] with customer to preview an invoice.",
            code="parameter_missing",
            param="subscription",
        )
    else:
        raise errors.missing("customer")
    if params.get("currency") and params["currency"].lower() != invoice["currency"]:
        raise errors.invalid("currency", f"The invoice's currency is {invoice['currency']}, not {params['currency']}.")
    return _as_preview(invoice, "/v1/invoices/upcoming/lines" if not prefix else None)


def _legacy_name(key: str) -> str:
    return next(legacy for legacy, name in LEGACY_NAMES.items() if name == key)


def _customer_upcoming(ctx, customer: Customer) -> dict:
    """The old endpoint with a customer only: the invoice of the customer's subscription that renews first."""
    subscription = (
        ctx.scope(Subscription)
        .filter(customer=customer)
        .exclude(status__in=Subscription.ENDED_STATUSES)
        .order_by("current_period_end")
        .first()
    )
    if subscription is None:
        raise errors.from_domain(no_upcoming(customer.pk))
    return subscription_invoice_preview(subscription=subscription, actor=ctx.actor)


def _tax_rates(ctx, ids, param) -> list[TaxRate]:
    if not ids or ids is p.UNSET:
        return []
    return [ctx.get(TaxRate, rate, "tax_rate", param=f"{param}[{i}]") for i, rate in enumerate(ids)]


def _trial_end_now(details: dict, name) -> bool:
    trial_end = details.get("trial_end")
    if trial_end not in (None, "now"):
        raise errors.invalid(name("trial_end"), "Only trial_end=now (end the trial now) can be previewed.")
    return trial_end == "now"


def _update(ctx, subscription: Subscription, params: dict, details: dict, name) -> dict:
    """``subscription_update``'s arguments for the change ``details`` describe (empty: no change)."""
    update: dict = {}
    fields: dict = {}
    if "cancel_at" in details:
        fields["cancel_at"] = None if details["cancel_at"] is p.UNSET else details["cancel_at"]
        fields["proration_behavior"] = details.get("proration_behavior", "create_prorations")
    if "default_tax_rates" in details:
        fields["default_tax_rates"] = _tax_rates(ctx, details["default_tax_rates"], name("default_tax_rates"))
    if fields:
        update["fields"] = fields
    if "cancel_at_period_end" in details:
        update["cancel_at_period_end"] = details["cancel_at_period_end"]
    coupon, promotion = discount_params(ctx, params)
    end_trial = _trial_end_now(details, name)
    changes = None
    if "items" in details:
        changes = [_item_change(ctx, subscription, i, item, name) for i, item in enumerate(details["items"])]
    elif details.get("billing_cycle_anchor") == "now" or end_trial or coupon or promotion:
        changes = []  # the same items: a new period, the trial's end or a discount
    if changes is not None:
        update["changes"] = changes
        update["change_options"] = ChangeOptions.checked(
            proration_behavior=details.get("proration_behavior", "create_prorations"),
            proration_date=details.get("proration_date"),
            schedule_at_period_end_conditions=(),
            end_trial=end_trial,
            billing_cycle_anchor=details.get("billing_cycle_anchor", "unchanged"),
            coupon=coupon,
            promotion_code=promotion,
            payment_behavior="allow_incomplete",
            discount_param=discount_param(params),
        )
    return update


def _item_change(ctx, subscription: Subscription, i: int, item: dict, name) -> ItemChange:
    param = f"{name('items')}[{i}]"
    existing = None
    if item.get("id"):
        existing = ctx.get(
            SubscriptionItem, item["id"], "subscription item", param=f"{param}[id]", queryset=subscription.items.all()
        )
    price = _price(ctx, item, param) if item.get("price") else None
    metadata = item.get("metadata")
    return ItemChange(
        item=existing,
        price=price,
        quantity=item.get("quantity"),
        deleted=bool(item.get("deleted")),
        metadata="" if metadata is p.UNSET else metadata,
        tax_rates=_tax_rates(ctx, item["tax_rates"], f"{param}[tax_rates]") if "tax_rates" in item else None,
    )


def _price(ctx, item: dict, param: str) -> Price:
    queryset = ctx.scope(Price).select_related("product")
    return ctx.get(Price, item["price"], "price", param=f"{param}[price]", queryset=queryset)


def _create(ctx, details: dict, name) -> dict:
    """``subscription_create``'s arguments for a new subscription of ``details[items]``."""
    items = []
    for i, item in enumerate(details["items"]):
        param = f"{name('items')}[{i}]"
        if not item.get("price"):
            raise errors.missing(f"{param}[price]")
        items.append(
            ItemSpec(
                _price(ctx, item, param),
                item.get("quantity", 1),
                _tax_rates(ctx, item.get("tax_rates"), f"{param}[tax_rates]"),
            )
        )
    trial_end = details.get("trial_end")
    return {
        "items": items,
        "trial_end": None if trial_end in (None, "now") else trial_end,
        "default_tax_rates": _tax_rates(ctx, details.get("default_tax_rates"), name("default_tax_rates")),
        "cancel_at_period_end": bool(details.get("cancel_at_period_end")),
        "cancel_at": None if details.get("cancel_at") is p.UNSET else details.get("cancel_at"),
        "proration_behavior": details.get("proration_behavior") or "create_prorations",
    }


def _as_preview(invoice: dict, lines_url: str | None) -> dict:
    """A preview's invoice as Stripe shows one: an ``upcoming_`` id and temporary line ids, never stored."""
    preview_id = f"upcoming_{invoice['id']}"
    # Line ids name the line's place in the preview, so the same preview pages the same way on every call.
    owner = (invoice["subscription"] or invoice["customer"]).split("_", 1)[1]
    lines = [
        {**line, "id": f"il_tmp_{owner}{n:03d}", "invoice": preview_id}
        for n, line in enumerate(invoice["lines"]["data"], start=1)
    ]
    return {
        **invoice,
        "id": preview_id,
        "lines": {**invoice["lines"], "data": lines, "url": lines_url or f"/v1/invoices/{preview_id}/lines"},
    }


def _page(lines: list[dict], params: dict, *, url: str) -> dict:
    """The preview's lines in invoice order, paged by ``limit``/``starting_after``/``ending_before``."""
    limit = params.get("limit") or 10
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        raise errors.invalid(
            "ending_before", "You may only specify one of these parameters: starting_after, ending_before."
        )
    ids = [line["id"] for line in lines]
    for cursor, param in ((after, "starting_after"), (before, "ending_before")):
        if cursor and cursor not in ids:
            raise errors.no_such("line item", cursor, param=param)
    if before:
        end = ids.index(before)
        rows = lines[max(end - limit, 0) : end]
        has_more = end - limit > 0
    else:
        start = ids.index(after) + 1 if after else 0
        rows = lines[start : start + limit]
        has_more = start + limit < len(lines)
    return {"object": "list", "data": rows, "has_more": has_more, "url": url}
