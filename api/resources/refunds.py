"""/v1/refunds: create, retrieve, update (metadata), list and cancel."""

from api import errors
from api import params as p
from api.filters import time_range
from api.pagination import page
from api.router import operation
from billing import payment_representations
from billing.models import Charge, PaymentIntent, Refund
from billing.services.refunds import refund_cancel, refund_create, refund_update

LABEL = "refund"
TAGS = ["Refunds"]


def _get(ctx, refund_id: str) -> Refund:
    return ctx.get(Refund, refund_id, LABEL, param="refund")


def _render(refund: Refund) -> dict:
    return payment_representations.refund(refund)


@operation(
    "POST",
    "/v1/refunds",
    params={
        "charge": p.Id(),
        "payment_intent": p.Id(),
        "amount": p.Integer(min_value=1, description="Minor units; default: all that is left to refund."),
        "reason": p.String(choices=Refund.Reason.values),
        "metadata": p.Metadata(),
        "expand": p.EXPAND,
    },
    response="refund",
    summary="Refund a charge (or a PaymentIntent's succeeded charge)",
    tags=TAGS,
)
def create(ctx, params):
    if "charge" not in params and "payment_intent" not in params:
        raise errors.ApiError(
            "One of the following params should be provided for this request: payment_intent or charge.",
            code="parameter_missing",
            param="charge",
        )
    charge = ctx.get(Charge, params["charge"], "charge", param="charge") if "charge" in params else None
    intent = None
    if "payment_intent" in params:
        intent = ctx.get(PaymentIntent, params["payment_intent"], "payment_intent", param="payment_intent")
    refund = refund_create(
        charge=charge,
        payment_intent=intent,
        amount=params.get("amount"),
        reason=params.get("reason", ""),
        metadata=params.get("metadata") or {},
        actor=ctx.actor,
    )
    return _render(_get(ctx, refund.pk))


@operation(
    "GET",
    "/v1/refunds/{refund}",
    params={"expand": p.EXPAND},
    response="refund",
    summary="Retrieve a refund",
    tags=TAGS,
)
def retrieve(ctx, params, refund):
    return _render(_get(ctx, refund))


@operation(
    "POST",
    "/v1/refunds/{refund}",
    params={"metadata": p.Metadata(), "expand": p.EXPAND},
    response="refund",
    summary="Update a refund's metadata",
    tags=TAGS,
)
def update(ctx, params, refund):
    obj = _get(ctx, refund)
    if "metadata" in params:
        metadata = params["metadata"]
        obj = refund_update(refund=obj, metadata="" if metadata is p.UNSET else metadata, actor=ctx.actor)
    return _render(obj)


@operation(
    "POST",
    "/v1/refunds/{refund}/cancel",
    params={"expand": p.EXPAND},
    response="refund",
    summary="Cancel a refund the processor has not settled",
    tags=TAGS,
)
def cancel(ctx, params, refund):
    return _render(refund_cancel(refund=_get(ctx, refund), actor=ctx.actor))


@operation(
    "GET",
    "/v1/refunds",
    params={**p.LIST, "charge": p.Id(), "payment_intent": p.Id(), "created": p.Range()},
    response="list[refund]",
    summary="List refunds",
    tags=TAGS,
)
def list_(ctx, params):
    queryset = ctx.scope(Refund)
    if "charge" in params:
        queryset = queryset.filter(charge=ctx.get(Charge, params["charge"], "charge", param="charge"))
    if "payment_intent" in params:
        intent = ctx.get(PaymentIntent, params["payment_intent"], "payment_intent", param="payment_intent")
        queryset = queryset.filter(payment_intent=intent)
    queryset = time_range(queryset, "created", params.get("created"))
    return page(queryset, params, url="/v1/refunds", render=_render, label=LABEL)
