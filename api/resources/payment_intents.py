"""/v1/payment_intents: create, retrieve, update, list, confirm, capture, cancel.

Confirming asks the processor outside every transaction (``billing.services.intents``); a decline answers 402
with Stripe's card error carrying the PaymentIntent, as Stripe does."""

from api import errors
from api import params as p
from api.filters import time_range
from api.pagination import page
from api.router import operation
from api.search import SearchField, integer_q, parse, search_page, to_q
from billing import payment_representations
from billing.models import Customer, PaymentIntent, PaymentMethod
from billing.services.intents import (
    payment_intent_cancel,
    payment_intent_capture,
    payment_intent_confirm,
    payment_intent_create,
    payment_intent_update,
)

LABEL = "payment_intent"
TAGS = ["Payment intents"]
TEST_TOKEN_PREFIX = "pm_card_"
ONLINE = p.Object({"ip_address": p.String(max_length=100), "user_agent": p.String(max_length=1000)})
MANDATE_DATA = p.Object(
    {
        "customer_acceptance": p.Object(
            {
                "type": p.String(choices=["online", "offline"], required=True),
                "accepted_at": p.Timestamp(),
                "online": ONLINE,
                "offline": p.Object({}),
            },
            required=True,
        )
    },
    description="The customer's acceptance of a SEPA Direct Debit mandate.",
)
FUTURE_USAGE = p.String(choices=["off_session", "on_session"], unsettable=True)
TYPES = p.Array(p.String(max_length=40), max_items=20)
CONFIRM_PARAMS = {
    "payment_method": p.Id(),
    "off_session": p.Boolean(),
    "return_url": p.String(max_length=2000),
    "mandate_data": MANDATE_DATA,
    "setup_future_usage": FUTURE_USAGE,
    "capture_method": p.String(choices=PaymentIntent.CaptureMethod.values),
    "expand": p.EXPAND,
}
CREATE = {
    "amount": p.Integer(required=True, min_value=1, max_value=99_999_999),
    "currency": p.String(max_length=3, min_length=3, required=True),
    "customer": p.Id(),
    "payment_method_types": TYPES,
    "capture_method": p.String(choices=PaymentIntent.CaptureMethod.values),
    "confirmation_method": p.String(choices=["automatic", "manual"]),
    "confirm": p.Boolean(),
    "description": p.String(max_length=1000),
    "metadata": p.Metadata(),
    "receipt_email": p.String(max_length=800),
    "statement_descriptor": p.String(max_length=22),
    "automatic_payment_methods": p.Object({"enabled": p.Boolean(required=True), "allow_redirects": p.String()}),
    **{k: v for k, v in CONFIRM_PARAMS.items() if k != "capture_method"},
}
UPDATE = {
    "amount": p.Integer(min_value=1, max_value=99_999_999),
    "currency": p.String(max_length=3, min_length=3),
    "customer": p.Id(),
    "payment_method": p.Id(),
    "payment_method_types": TYPES,
    "description": p.String(max_length=1000, unsettable=True),
    "metadata": p.Metadata(),
    "receipt_email": p.String(max_length=800, unsettable=True),
    "setup_future_usage": FUTURE_USAGE,
    "statement_descriptor": p.String(max_length=22, unsettable=True),
    "expand": p.EXPAND,
}


def _render(intent: PaymentIntent) -> dict:
    return payment_representations.payment_intent(intent)


def _get(ctx, intent_id: str) -> PaymentIntent:
    return ctx.get(PaymentIntent, intent_id, "payment_intent", param="intent")


def payment_method_param(ctx, value: str | None, param: str = "payment_method"):
    """A payment method of this account and mode, or (as a string) a token the account's processor makes one of:
    the test gateway's ``pm_card_visa``…, a ``pm_…`` of the merchant's Stripe account from Stripe's Payment Element,
    a Mollie Components ``tkn_…``. The services ask the processor; one that does not know the token answers
    "No such PaymentMethod"."""
    if value is None:
        return None
    pm = ctx.scope(PaymentMethod).filter(pk=value).first()
    return pm if pm is not None else value


def customer_param(ctx, params: dict):
    if "customer" not in params:
        return None
    return ctx.get(Customer, params["customer"], "customer", param="customer")


def _types(params: dict) -> list[str] | None:
    if params.get("automatic_payment_methods", {}).get("enabled"):
        return ["card", "sepa_debit"]
    return params.get("payment_method_types")


@operation(
    "POST", "/v1/payment_intents", params=CREATE, response="payment_intent", summary="Create a PaymentIntent", tags=TAGS
)
def create(ctx, params):
    future = params.get("setup_future_usage")
    intent = payment_intent_create(
        account=ctx.account,
        livemode=ctx.livemode,
        actor=ctx.actor,
        amount=params["amount"],
        currency=params["currency"],
        customer=customer_param(ctx, params),
        payment_method=payment_method_param(ctx, params.get("payment_method")),
        payment_method_types=_types(params),
        capture_method=params.get("capture_method", "automatic"),
        confirmation_method=params.get("confirmation_method", "automatic"),
        setup_future_usage=None if future is p.UNSET else future,
        description=params.get("description", ""),
        metadata=params.get("metadata"),
        receipt_email=params.get("receipt_email", ""),
        statement_descriptor=params.get("statement_descriptor", ""),
        return_url=params.get("return_url", ""),
        mandate_data=params.get("mandate_data"),
        confirm=params.get("confirm", False),
        off_session=params.get("off_session", False),
    )
    return _render(intent)


@operation(
    "GET",
    "/v1/payment_intents/{intent}",
    params={"client_secret": p.String(max_length=200), "expand": p.EXPAND},
    response="payment_intent",
    summary="Retrieve a PaymentIntent",
    tags=TAGS,
)
def retrieve(ctx, params, intent):
    return _render(_get(ctx, intent))


@operation(
    "POST",
    "/v1/payment_intents/{intent}",
    params=UPDATE,
    response="payment_intent",
    summary="Update a PaymentIntent",
    tags=TAGS,
)
def update(ctx, params, intent):
    obj = _get(ctx, intent)
    fields = {
        name: ("" if params[name] is p.UNSET else params[name])
        for name in ("description", "receipt_email", "statement_descriptor", "setup_future_usage")
        if name in params
    }
    metadata = params.get("metadata")
    obj = payment_intent_update(
        intent=obj,
        actor=ctx.actor,
        amount=params.get("amount"),
        currency=params.get("currency"),
        customer=customer_param(ctx, params),
        payment_method=_stored_method(ctx, params.get("payment_method")),
        payment_method_types=params.get("payment_method_types"),
        metadata="" if metadata is p.UNSET else metadata,
        **fields,
    )
    return _render(obj)


def _stored_method(ctx, value):
    method = payment_method_param(ctx, value)
    if isinstance(method, str):
        if not method.startswith(TEST_TOKEN_PREFIX):
            raise errors.no_such("PaymentMethod", value, param="payment_method")
        raise errors.invalid(
            "payment_method", "Attach the test token to a customer or confirm with it; update takes a pm_ id."
        )
    return method


@operation(
    "GET",
    "/v1/payment_intents",
    params={**p.LIST, "customer": p.Id(), "created": p.Range()},
    response="list[payment_intent]",
    summary="List PaymentIntents",
    tags=TAGS,
)
def list_(ctx, params):
    queryset = ctx.scope(PaymentIntent)
    if "customer" in params:
        queryset = queryset.filter(customer=customer_param(ctx, params))
    queryset = time_range(queryset, "created", params.get("created"))
    return page(queryset, params, url="/v1/payment_intents", render=_render, label=LABEL)


SEARCH_FIELDS = {
    "amount": SearchField("number", to_q=integer_q("amount")),
    "created": SearchField("number", lookup="created"),
    "currency": SearchField("string", lookup="currency"),
    "customer": SearchField("string", lookup="customer_id"),
    "metadata": SearchField("metadata"),
    "status": SearchField("string", lookup="status"),
}


@operation(
    "GET",
    "/v1/payment_intents/search",
    params=p.SEARCH,
    response="search_result[payment_intent]",
    summary="Search PaymentIntents with Stripe's query language (amount, created, currency, customer, metadata, status)",
    tags=TAGS,
)
def search(ctx, params):
    clauses, joiner = parse(params["query"])
    queryset = ctx.scope(PaymentIntent).filter(to_q(clauses, joiner, SEARCH_FIELDS))
    return search_page(queryset, params, url="/v1/payment_intents/search", render=_render)


@operation(
    "POST",
    "/v1/payment_intents/{intent}/confirm",
    params=CONFIRM_PARAMS,
    response="payment_intent",
    summary="Confirm a PaymentIntent",
    tags=TAGS,
)
def confirm(ctx, params, intent):
    obj = _get(ctx, intent)
    future = params.get("setup_future_usage")
    obj = payment_intent_confirm(
        intent=obj,
        actor=ctx.actor,
        payment_method=payment_method_param(ctx, params.get("payment_method")),
        off_session=params.get("off_session", False),
        return_url=params.get("return_url"),
        mandate_data=params.get("mandate_data"),
        setup_future_usage="" if future is p.UNSET else future,
        capture_method=params.get("capture_method"),
    )
    return _render(obj)


@operation(
    "POST",
    "/v1/payment_intents/{intent}/capture",
    params={"amount_to_capture": p.Integer(min_value=1, max_value=99_999_999), "expand": p.EXPAND},
    response="payment_intent",
    summary="Capture a PaymentIntent",
    tags=TAGS,
)
def capture(ctx, params, intent):
    obj = payment_intent_capture(
        intent=_get(ctx, intent), actor=ctx.actor, amount_to_capture=params.get("amount_to_capture")
    )
    return _render(obj)


@operation(
    "POST",
    "/v1/payment_intents/{intent}/cancel",
    params={
        "cancellation_reason": p.String(choices=["duplicate", "fraudulent", "requested_by_customer", "abandoned"]),
        "expand": p.EXPAND,
    },
    response="payment_intent",
    summary="Cancel a PaymentIntent",
    tags=TAGS,
)
def cancel(ctx, params, intent):
    obj = payment_intent_cancel(
        intent=_get(ctx, intent), actor=ctx.actor, cancellation_reason=params.get("cancellation_reason", "")
    )
    return _render(obj)
