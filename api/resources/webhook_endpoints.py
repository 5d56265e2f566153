"""/v1/webhook_endpoints: Stripe's webhook endpoints, plus our ``roll_secret`` extension.

The signing secret (``whsec_…``) is in the answer to create and to a secret roll only, as at Stripe.
URL checks (HTTPS and public addresses in live mode), event types and limits are the service's.
"""

from api import errors
from api import params as p
from api.pagination import page
from api.resources.products import unset_to_blank
from api.router import operation
from webhooks import event_types, representations, services
from webhooks.models import WebhookEndpoint
from webhooks.selectors import webhook_endpoint_list

TAGS = ["Webhook endpoints"]
RESPONSE = "webhook_endpoint"
LABEL = "webhook endpoint"


class EventType(p.String):
    """A known event type or ``*``. The document lists them; the service names an unknown one precisely."""

    def base_schema(self):
        return {**super().base_schema(), "enum": [event_types.WILDCARD, *sorted(event_types.KNOWN)]}


def _enabled_events(*, required: bool = False) -> p.Array:
    return p.Array(
        EventType(max_length=100),
        max_items=len(event_types.KNOWN) + 1,
        required=required,
        description="The event types sent to this endpoint; ['*'] for all.",
    )


def _url(*, required: bool = False) -> p.String:
    return p.String(
        max_length=services.URL_MAX_LENGTH,
        required=required,
        description="Where events are POSTed: HTTPS on a public address in live mode.",
    )


DESCRIPTION = p.String(max_length=services.DESCRIPTION_MAX_LENGTH, unsettable=True)
CREATE = {
    "url": _url(required=True),
    "enabled_events": _enabled_events(required=True),
    "description": DESCRIPTION,
    "metadata": p.Metadata(),
    "api_version": p.String(max_length=40, description="Recorded as given, e.g. 2026-06-24.dahlia."),
    "connect": p.Boolean(description="Connect endpoints are not supported: only false is accepted."),
    "expand": p.EXPAND,
}
UPDATE = {
    "url": _url(),
    "enabled_events": _enabled_events(),
    "description": DESCRIPTION,
    "metadata": p.Metadata(),
    "disabled": p.Boolean(description="true disables the endpoint (nothing is sent), false enables it again."),
    "expand": p.EXPAND,
}
ROLL_SECRET = {
    "expires_in_hours": p.Integer(
        min_value=0,
        max_value=services.MAX_ROLL_EXPIRY_HOURS,
        description="Extension: hours the old secret keeps signing beside the new one (0 to "
        f"{services.MAX_ROLL_EXPIRY_HOURS}, default {services.MAX_ROLL_EXPIRY_HOURS}); 0 drops it at once.",
    ),
    "expand": p.EXPAND,
}


def _get(ctx, endpoint_id: str) -> WebhookEndpoint:
    return ctx.get(
        WebhookEndpoint,
        endpoint_id,
        LABEL,
        queryset=webhook_endpoint_list(account=ctx.account, livemode=ctx.livemode),
    )


def _render(endpoint: WebhookEndpoint) -> dict:
    """Retrieve, update and list never show the secret."""
    return representations.webhook_endpoint(endpoint)


@operation(
    "POST", "/v1/webhook_endpoints", params=CREATE, response=RESPONSE, summary="Create a webhook endpoint", tags=TAGS
)
def create(ctx, params):
    if params.get("connect"):
        raise errors.invalid(
            "connect",
            "Connect webhook endpoints are not supported: this server has no connected accounts. "
            "Leave out connect (or pass connect=false) to receive your own account's events.",
            "parameter_invalid_boolean",
        )
    endpoint = services.webhook_endpoint_create(
        account=ctx.account,
        livemode=ctx.livemode,
        actor=ctx.actor,
        url=params["url"],
        enabled_events=params["enabled_events"],
        description=unset_to_blank(params.get("description", "")),
        metadata=unset_to_blank(params.get("metadata")) or {},
        api_version=params.get("api_version"),
    )
    return representations.webhook_endpoint(endpoint, with_secret=True)


@operation(
    "GET",
    "/v1/webhook_endpoints/{webhook_endpoint}",
    params={"expand": p.EXPAND},
    response=RESPONSE,
    summary="Retrieve a webhook endpoint",
    tags=TAGS,
)
def retrieve(ctx, params, webhook_endpoint):
    return _render(_get(ctx, webhook_endpoint))


@operation(
    "POST",
    "/v1/webhook_endpoints/{webhook_endpoint}",
    params=UPDATE,
    response=RESPONSE,
    summary="Update a webhook endpoint",
    tags=TAGS,
)
def update(ctx, params, webhook_endpoint):
    changes = {
        name: unset_to_blank(params[name])
        for name in ("url", "enabled_events", "description", "metadata", "disabled")
        if name in params
    }
    endpoint = services.webhook_endpoint_update(endpoint=_get(ctx, webhook_endpoint), actor=ctx.actor, **changes)
    return _render(endpoint)


@operation(
    "DELETE",
    "/v1/webhook_endpoints/{webhook_endpoint}",
    params={},
    response=f"deleted_{RESPONSE}",
    summary="Delete a webhook endpoint (its pending deliveries are dropped)",
    tags=TAGS,
)
def delete(ctx, params, webhook_endpoint):
    endpoint_id = services.webhook_endpoint_delete(endpoint=_get(ctx, webhook_endpoint), actor=ctx.actor)
    return representations.webhook_endpoint_deleted(endpoint_id)


@operation(
    "POST",
    "/v1/webhook_endpoints/{webhook_endpoint}/roll_secret",
    params=ROLL_SECRET,
    response=RESPONSE,
    summary="Extension: replace the signing secret (the answer carries the new secret)",
    tags=TAGS,
)
def roll_secret(ctx, params, webhook_endpoint):
    endpoint = services.webhook_endpoint_roll_secret(
        endpoint=_get(ctx, webhook_endpoint),
        actor=ctx.actor,
        expires_in_hours=params.get("expires_in_hours", services.MAX_ROLL_EXPIRY_HOURS),
    )
    return representations.webhook_endpoint(endpoint, with_secret=True)


@operation(
    "GET",
    "/v1/webhook_endpoints",
    params=p.LIST,
    response=f"list[{RESPONSE}]",
    summary="List webhook endpoints",
    tags=TAGS,
)
def list_(ctx, params):
    queryset = webhook_endpoint_list(account=ctx.account, livemode=ctx.livemode)
    return page(queryset, params, url="/v1/webhook_endpoints", render=_render, label=LABEL)
