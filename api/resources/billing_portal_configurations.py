"""/v1/billing_portal/configurations: Stripe's portal configuration, with our extensions beside its fields."""

from api import errors, expand
from api import params as p
from api.pagination import page
from api.router import operation
from configurations.models import CancellationOffer, PortalConfiguration
from configurations.representations import (
    PRODUCTS_EXPAND,
    configuration,
    configuration_with_products,
    prefetch_offers,
    prefetch_products,
)
from configurations.services import validation
from configurations.services.params import MAX_URL
from configurations.services.portal_configurations import configuration_create, configuration_update

TAGS = ["Billing portal"]
RESPONSE = "billing_portal.configuration"
C = PortalConfiguration
URL = p.String(max_length=MAX_URL, unsettable=True)
PRORATION = p.String(choices=C.ProrationBehavior.values)


class Refused(p.Field):
    """Parsed as anything so that the service can say why it is refused (rather than "unknown parameter")."""

    def convert(self, value, path):
        return value

    def base_schema(self):
        return {"type": "object", "deprecated": True}


class TransitionGraph(p.Field):
    """A map of price id -> price ids (arrays); the service checks every id and names the one it does not know."""

    def __init__(self, **kwargs):
        kwargs.setdefault("unsettable", True)
        super().__init__(**kwargs)

    def convert(self, value, path):
        if not isinstance(value, dict):
            raise errors.invalid(path, f"Invalid {path}: must be an object of price ids", "parameter_invalid_object")
        return value

    def base_schema(self):
        return {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}


def _features(creating: bool) -> p.Object:
    """Stripe requires ``enabled`` of every feature on create; on update only where its spec says so."""
    product = p.Object(
        {
            "product": p.Id(required=True),
            "prices": p.Array(p.Id(), max_items=100, required=True),
            "adjustable_quantity": p.Object(
                {
                    "enabled": p.Boolean(required=True),
                    "minimum": p.Integer(min_value=0, max_value=validation.MAX_QUANTITY),
                    "maximum": p.Integer(min_value=1, max_value=validation.MAX_QUANTITY),
                }
            ),
            "add_on": p.Boolean(
                description="Extension: customers may add this product to a subscription that has other items, "
                "and remove it again (never the last item)."
            ),
        }
    )
    return p.Object(
        {
            "customer_update": p.Object(
                {
                    "enabled": p.Boolean(required=creating),
                    "allowed_updates": p.Array(p.String(choices=C.AllowedUpdate.values), max_items=6, unsettable=True),
                }
            ),
            "invoice_history": p.Object({"enabled": p.Boolean(required=True)}),
            "payment_method_update": p.Object(
                {
                    "enabled": p.Boolean(required=True),
                    "payment_method_configuration": p.String(max_length=5000, unsettable=True),
                }
            ),
            "subscription_cancel": p.Object(
                {
                    "enabled": p.Boolean(required=creating),
                    "mode": p.String(choices=C.CancelMode.values),
                    "proration_behavior": PRORATION,
                    "cancellation_reason": p.Object(
                        {
                            "enabled": p.Boolean(required=True),
                            "options": p.Array(
                                p.String(choices=C.CancellationReason.values),
                                max_items=8,
                                unsettable=True,
                                required=creating,
                            ),
                        }
                    ),
                    "offers": p.Array(
                        p.Object(
                            {
                                "type": p.String(choices=CancellationOffer.Type.values, required=True),
                                "days": p.Integer(min_value=1, max_value=validation.MAX_PAUSE_DAYS),
                                "price": p.Id(),
                                "coupon": p.String(max_length=64),
                                "customer_group": p.Object({"metadata": p.Metadata()}),
                                "reasons": p.Array(
                                    p.String(choices=C.CancellationReason.values), max_items=8, unsettable=True
                                ),
                            }
                        ),
                        max_items=validation.MAX_OFFERS,
                        unsettable=True,
                        description="Extension: the cancellation offer ladder, shown in this order when a customer "
                        "starts to cancel, each at most once per subscription: pause (days; needs pause_collection), "
                        "switch (price: a cheaper price in the currency and interval of the plans listed in "
                        "subscription_update), coupon (a coupon id). customer_group[metadata] and reasons limit "
                        "whom an offer is shown to. The list replaces the previous one.",
                    ),
                }
            ),
            "subscription_update": p.Object(
                {
                    "enabled": p.Boolean(required=creating),
                    "default_allowed_updates": p.Array(
                        p.String(choices=C.SubscriptionUpdate.values), max_items=3, unsettable=True
                    ),
                    "products": p.Array(product, max_items=validation.MAX_PRODUCTS, unsettable=True),
                    "proration_behavior": PRORATION,
                    "billing_cycle_anchor": p.String(choices=C.BillingCycleAnchor.values),
                    "schedule_at_period_end": p.Object(
                        {
                            "conditions": p.Array(
                                p.Object({"type": p.String(choices=C.ScheduleCondition.values, required=True)}),
                                max_items=2,
                                unsettable=True,
                            )
                        }
                    ),
                    "trial_update_behavior": p.String(choices=C.TrialUpdateBehavior.values),
                    "transitions": p.Object(
                        {
                            "mode": p.String(choices=C.TransitionMode.values),
                            "graph": TransitionGraph(),
                        },
                        description="Extension: which price switches customers may make in the portal: any "
                        "(default), upgrades_only, no_lateral (not between prices of equal amount per interval) or "
                        "graph (from each price only to the prices listed for it). A customer's metadata "
                        "portal_allowed_prices (comma-separated price ids) overrides the mode for that customer.",
                    ),
                }
            ),
            "subscription_pause": Refused(
                description="Removed from Stripe's API in 2024-04-10 and refused here: use pause_collection."
            ),
            "pause_collection": p.Object(
                {
                    "enabled": p.Boolean(required=creating),
                    "behavior": p.String(choices=C.PauseBehavior.values),
                    "max_duration_days": p.Integer(min_value=1, max_value=validation.MAX_PAUSE_DAYS, unsettable=True),
                },
                description="Extension: customers pause and resume payment collection of their subscriptions.",
            ),
        },
        required=creating,
    )


def _fields(creating: bool) -> dict:
    fields = {
        "business_profile": p.Object(
            {
                "headline": p.String(max_length=validation.MAX_HEADLINE, unsettable=True),
                "privacy_policy_url": URL,
                "terms_of_service_url": URL,
            }
        ),
        "default_return_url": URL,
        "features": _features(creating),
        "login_page": p.Object({"enabled": p.Boolean(required=True)}),
        "metadata": p.Metadata(),
        "name": p.String(max_length=validation.MAX_NAME, unsettable=True),
        "custom_text": p.Object(
            {
                section: p.String(max_length=validation.MAX_CUSTOM_TEXT, unsettable=True)
                for section in validation.CUSTOM_TEXT_SECTIONS
            },
            description="Extension: Markdown shown on the portal's pages (sanitised when rendered).",
        ),
        "customer_group": p.Object(
            {"metadata": p.Metadata(), "priority": p.Integer(min_value=0, max_value=validation.MAX_PRIORITY)},
            description="Extension: sessions without a configuration use the active one whose metadata rule "
            "matches the customer's metadata (highest priority first), else the default.",
        ),
        "subscription_start": p.Object(
            {"checkout_link": p.String(unsettable=True)},
            description="Extension: the no-code Checkout link (plink_…, subscription mode) behind the portal's "
            '"Start a new subscription", shown to customers without a subscription; "" removes it.',
        ),
        "is_default": p.Boolean(
            description="Extension: true makes this configuration the default of its mode (the previous default "
            'stops being one), as the admin\'s "Make default" does. Stripe sets the default only in its Dashboard; '
            "without this parameter a configuration created here is never the default.",
        ),
        "expand": p.EXPAND,
    }
    if not creating:
        fields["active"] = p.Boolean()
    return fields


def _plain(value):
    """Parsed params -> the service's Stripe-shaped data: ``UNSET`` becomes ``""`` (clear)."""
    if value is p.UNSET:
        return ""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _data(params: dict) -> dict:
    return _plain({key: value for key, value in params.items() if key not in ("expand", "is_default")})


def _make_default(params: dict, obj: PortalConfiguration | None = None) -> bool:
    """``is_default=true`` (our extension) makes the configuration the default; a default stops being one only when
    another takes its place."""
    if params.get("is_default") is False and obj is not None and obj.is_default:
        raise errors.invalid(
            "is_default",
            "A configuration stops being the default when another one becomes the default: pass is_default=true "
            "when updating that one.",
            code="parameter_invalid_boolean",
        )
    return params.get("is_default") is True


def _wants_products(params: dict, path: str) -> bool:
    """Stripe leaves ``features.subscription_update.products`` out unless expanded; the toolkit's expand only
    replaces ids with objects, so this one is handled here and taken out of ``expand``."""
    wanted = params.get("expand") or []
    if path in wanted:
        params["expand"] = [item for item in wanted if item != path]
        return True
    return False


def _one(params: dict, obj: PortalConfiguration) -> dict:
    return configuration(obj, include_products=_wants_products(params, PRODUCTS_EXPAND))


def _get(ctx, configuration_id: str) -> PortalConfiguration:
    return ctx.get(PortalConfiguration, configuration_id, "configuration")


@operation(
    "POST",
    "/v1/billing_portal/configurations",
    params=_fields(creating=True),
    response=RESPONSE,
    summary="Create a portal configuration",
    tags=TAGS,
)
def create(ctx, params):
    obj = configuration_create(
        account=ctx.account,
        livemode=ctx.livemode,
        actor=ctx.actor,
        data=_data(params),
        default_if_first=False,
        make_default=_make_default(params),
    )
    return _one(params, obj)


@operation(
    "GET",
    "/v1/billing_portal/configurations/{configuration}",
    params={"expand": p.EXPAND},
    response=RESPONSE,
    summary="Retrieve a portal configuration",
    tags=TAGS,
)
def retrieve(ctx, params, configuration):
    return _one(params, _get(ctx, configuration))


@operation(
    "POST",
    "/v1/billing_portal/configurations/{configuration}",
    params=_fields(creating=False),
    response=RESPONSE,
    summary="Update a portal configuration",
    tags=TAGS,
)
def update(ctx, params, configuration):
    obj = _get(ctx, configuration)
    obj = configuration_update(
        configuration=obj,
        actor=ctx.actor,
        data=_data(params),
        default_if_none=False,
        make_default=_make_default(params, obj),
    )
    return _one(params, obj)


@operation(
    "GET",
    "/v1/billing_portal/configurations",
    params={**p.LIST, "active": p.Boolean(), "is_default": p.Boolean()},
    response=f"list[{RESPONSE}]",
    summary="List portal configurations",
    tags=TAGS,
)
def list_(ctx, params):
    queryset = ctx.scope(PortalConfiguration).select_related("account__custom_domain")
    queryset = queryset.prefetch_related(*prefetch_offers())
    for name in ("active", "is_default"):
        if name in params:
            queryset = queryset.filter(**{name: params[name]})
    render = configuration
    if _wants_products(params, f"data.{PRODUCTS_EXPAND}"):
        queryset = queryset.prefetch_related(*prefetch_products())
        render = configuration_with_products
    return page(queryset, params, url="/v1/billing_portal/configurations", render=render, label="configuration")


expand.register("bpc", PortalConfiguration, configuration)
