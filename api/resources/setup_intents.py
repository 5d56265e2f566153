"""/v1/setup_intents: create, retrieve, update, list, confirm, cancel."""

from api import params as p
from api.filters import time_range
from api.pagination import page
from api.resources.payment_intents import MANDATE_DATA, TYPES, customer_param, payment_method_param
from api.router import operation
from billing import payment_representations
from billing.models import SetupIntent
from billing.services.intents import (
    setup_intent_cancel,
    setup_intent_confirm,
    setup_intent_create,
    setup_intent_update,
)

LABEL = "setup_intent"
TAGS = ["Setup intents"]
CONFIRM_PARAMS = {
    "payment_method": p.Id(),
    "return_url": p.String(max_length=2000),
    "mandate_data": MANDATE_DATA,
    "expand": p.EXPAND,
}
CREATE = {
    "customer": p.Id(),
    "payment_method_types": TYPES,
    "usage": p.String(choices=["off_session", "on_session"]),
    "confirm": p.Boolean(),
    "description": p.String(max_length=1000),
    "metadata": p.Metadata(),
    "automatic_payment_methods": p.Object({"enabled": p.Boolean(required=True), "allow_redirects": p.String()}),
    **CONFIRM_PARAMS,
}
UPDATE = {
    "customer": p.Id(),
    "payment_method": p.Id(),
    "payment_method_types": TYPES,
    "description": p.String(max_length=1000, unsettable=True),
    "metadata": p.Metadata(),
    "expand": p.EXPAND,
}


def _render(intent: SetupIntent) -> dict:
    return payment_representations.setup_intent(intent)


def _get(ctx, intent_id: str) -> SetupIntent:
    return ctx.get(SetupIntent, intent_id, "setup_intent", param="intent")


@operation(
    "POST", "/v1/setup_intents", params=CREATE, response="setup_intent", summary="Create a SetupIntent", tags=TAGS
)
def create(ctx, params):
    types = params.get("payment_method_types")
    if params.get("automatic_payment_methods", {}).get("enabled"):
        types = ["card", "sepa_debit"]
    intent = setup_intent_create(
        account=ctx.account,
        livemode=ctx.livemode,
        actor=ctx.actor,
        customer=customer_param(ctx, params),
        payment_method=payment_method_param(ctx, params.get("payment_method")),
        payment_method_types=types,
        usage=params.get("usage"),
        description=params.get("description", ""),
        metadata=params.get("metadata"),
        return_url=params.get("return_url", ""),
        mandate_data=params.get("mandate_data"),
        confirm=params.get("confirm", False),
    )
    return _render(intent)


@operation(
    "GET",
    "/v1/setup_intents/{intent}",
    params={"client_secret": p.String(max_length=200), "expand": p.EXPAND},
    response="setup_intent",
    summary="Retrieve a SetupIntent",
    tags=TAGS,
)
def retrieve(ctx, params, intent):
    return _render(_get(ctx, intent))


@operation(
    "POST",
    "/v1/setup_intents/{intent}",
    params=UPDATE,
    response="setup_intent",
    summary="Update a SetupIntent",
    tags=TAGS,
)
def update(ctx, params, intent):
    method = payment_method_param(ctx, params.get("payment_method"))
    description = params.get("description")
    metadata = params.get("metadata")
    obj = setup_intent_update(
        intent=_get(ctx, intent),
        actor=ctx.actor,
        customer=customer_param(ctx, params),
        payment_method=None if isinstance(method, str) else method,
        payment_method_types=params.get("payment_method_types"),
        description="" if description is p.UNSET else description,
        metadata="" if metadata is p.UNSET else metadata,
    )
    return _render(obj)


@operation(
    "GET",
    "/v1/setup_intents",
    params={**p.LIST, "customer": p.Id(), "payment_method": p.Id(), "created": p.Range()},
    response="list[setup_intent]",
    summary="List SetupIntents",
    tags=TAGS,
)
def list_(ctx, params):
    queryset = ctx.scope(SetupIntent)
    if "customer" in params:
        queryset = queryset.filter(customer=customer_param(ctx, params))
    if "payment_method" in params:
        queryset = queryset.filter(payment_method_id=params["payment_method"])
    queryset = time_range(queryset, "created", params.get("created"))
    return page(queryset, params, url="/v1/setup_intents", render=_render, label=LABEL)


@operation(
    "POST",
    "/v1/setup_intents/{intent}/confirm",
    params=CONFIRM_PARAMS,
    response="setup_intent",
    summary="Confirm a SetupIntent",
    tags=TAGS,
)
def confirm(ctx, params, intent):
    obj = setup_intent_confirm(
        intent=_get(ctx, intent),
        actor=ctx.actor,
        payment_method=payment_method_param(ctx, params.get("payment_method")),
        return_url=params.get("return_url"),
        mandate_data=params.get("mandate_data"),
    )
    return _render(obj)


@operation(
    "POST",
    "/v1/setup_intents/{intent}/cancel",
    params={
        "cancellation_reason": p.String(choices=["abandoned", "duplicate", "requested_by_customer"]),
        "expand": p.EXPAND,
    },
    response="setup_intent",
    summary="Cancel a SetupIntent",
    tags=TAGS,
)
def cancel(ctx, params, intent):
    obj = setup_intent_cancel(
        intent=_get(ctx, intent), actor=ctx.actor, cancellation_reason=params.get("cancellation_reason", "")
    )
    return _render(obj)
