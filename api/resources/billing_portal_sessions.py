"""/v1/billing_portal/sessions: a short-lived, single-use URL into the hosted portal for one customer."""

from api import errors
from api import params as p
from api.router import operation
from billing.models import Customer
from configurations import flows, sessions
from configurations.models import PortalConfiguration
from configurations.representations import portal_session

SUBSCRIPTION = p.Id(required=True)
AFTER_COMPLETION = p.Object(
    {
        "type": p.String(choices=flows.AFTER_COMPLETION, required=True),
        "hosted_confirmation": p.Object({"custom_message": p.String(max_length=flows.MAX_CUSTOM_MESSAGE)}),
        "redirect": p.Object({"return_url": p.String(max_length=flows.MAX_URL, required=True)}),
    }
)
FLOW_DATA = p.Object(
    {
        "type": p.String(choices=flows.TYPES, required=True),
        "after_completion": AFTER_COMPLETION,
        "subscription_cancel": p.Object(
            {
                "subscription": SUBSCRIPTION,
                "retention": p.Object(
                    {
                        "type": p.String(choices=["coupon_offer"], required=True),
                        "coupon_offer": p.Object({"coupon": p.String(max_length=5000, required=True)}, required=True),
                    }
                ),
            }
        ),
        "subscription_update": p.Object({"subscription": SUBSCRIPTION}),
        "subscription_update_confirm": p.Object(
            {
                "subscription": SUBSCRIPTION,
                "items": p.Array(
                    p.Object({"id": p.Id(required=True), "price": p.Id(), "quantity": p.Integer(min_value=0)}),
                    required=True,
                ),
                "discounts": p.Array(p.Object({"coupon": p.String(max_length=5000), "promotion_code": p.Id()})),
            }
        ),
    }
)


@operation(
    "POST",
    "/v1/billing_portal/sessions",
    params={
        "customer": p.Id(required=True),
        "configuration": p.Id(),
        "return_url": p.String(max_length=flows.MAX_URL),
        "locale": p.String(choices=sessions.LOCALES),
        "flow_data": FLOW_DATA,
        "on_behalf_of": p.String(max_length=5000, description="Not supported: Connect accounts do not exist here."),
        "expand": p.EXPAND,
    },
    response="billing_portal.session",
    summary="Create a portal session",
    tags=["Billing portal"],
)
def create(ctx, params):
    if params.get("on_behalf_of"):
        raise errors.ApiError(
            "on_behalf_of is not supported: this server has no connected accounts. Leave it out.",
            param="on_behalf_of",
        )
    customer = ctx.get(Customer, params["customer"], "customer", param="customer")
    configuration = None
    if params.get("configuration"):
        configuration = ctx.get(PortalConfiguration, params["configuration"], "configuration", param="configuration")
    obj, url = sessions.portal_session_create(
        customer=customer,
        actor=ctx.actor,
        configuration=configuration,
        return_url=params.get("return_url"),
        locale=params.get("locale"),
        flow_data=params.get("flow_data"),
    )
    return portal_session(obj, url=url)
