"""/v1/subscriptions/{id}/resume and /v1/subscriptions/{id}/discount."""

from api import params as p
from api.resources.subscriptions import PRORATION, TAGS, _fresh, _render
from api.router import operation
from billing import representations
from billing.models import Subscription
from billing.services.subscriptions import subscription_delete_discount, subscription_resume


@operation(
    "POST",
    "/v1/subscriptions/{subscription}/resume",
    params={
        "billing_cycle_anchor": p.String(choices=("now", "unchanged")),
        "proration_behavior": PRORATION,
        "proration_date": p.Timestamp(),
        "payment_behavior": p.String(choices=("allow_incomplete", "error_if_incomplete", "pending_if_incomplete")),
        "expand": p.EXPAND,
    },
    response="subscription",
    summary="Resume a paused subscription (status paused): a new period starts now and is invoiced",
    tags=TAGS,
)
def resume(ctx, params, subscription):
    sub = ctx.get(Subscription, subscription, "subscription")
    subscription_resume(
        subscription=sub,
        actor=ctx.actor,
        billing_cycle_anchor=params.get("billing_cycle_anchor", "now"),
        payment_behavior=params.get("payment_behavior", ""),
    )
    return _render(_fresh(ctx, sub.pk))


@operation(
    "DELETE",
    "/v1/subscriptions/{subscription}/discount",
    response="deleted_discount",
    summary="Remove the subscription's discount",
    tags=TAGS,
)
def delete_discount(ctx, params, subscription):
    sub = ctx.get(Subscription, subscription, "subscription")
    discount = subscription_delete_discount(subscription=sub, actor=ctx.actor)
    data = representations.discount(discount)
    return {key: data[key] for key in data if key != "end"} | {"deleted": True}
