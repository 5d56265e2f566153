"""/v1/customers"""

from api import params as p
from api.filters import time_range
from api.pagination import page
from api.router import operation
from billing import representations
from billing.models import Customer, PaymentMethod
from billing.services.customers import customer_create, customer_set_default_payment_method, customer_update

ADDRESS = p.Object(
    {k: p.String(max_length=200) for k in ("city", "country", "line1", "line2", "postal_code", "state")},
    unsettable=True,
)
SHIPPING = p.Object(
    {"address": ADDRESS, "name": p.String(max_length=256, required=True), "phone": p.String(max_length=32)},
    unsettable=True,
)
FIELDS = {
    "address": ADDRESS,
    "description": p.String(max_length=500, unsettable=True),
    "email": p.String(max_length=512, unsettable=True),
    "invoice_settings": p.Object({"default_payment_method": p.Id(unsettable=True)}),
    "metadata": p.Map(),
    "name": p.String(max_length=256, unsettable=True),
    "phone": p.String(max_length=32, unsettable=True),
    "preferred_locales": p.Array(p.String(max_length=10), max_items=10, unsettable=True),
    "shipping": SHIPPING,
    "expand": p.EXPAND,
}
SIMPLE = ("address", "description", "email", "name", "phone", "preferred_locales", "shipping")


def _fields(params: dict) -> dict:
    out = {}
    for key in SIMPLE:
        if key in params:
            value = params[key]
            out[key] = (
                None if value is p.UNSET and key in ("address", "shipping") else ("" if value is p.UNSET else value)
            )
    if out.get("preferred_locales") == "":
        out["preferred_locales"] = []
    return out


def _default_payment_method(ctx, customer, params):
    settings_ = params.get("invoice_settings") or {}
    if "default_payment_method" not in settings_:
        return
    pm_id = settings_["default_payment_method"]
    pm = None
    if pm_id is not p.UNSET:
        pm = ctx.get(PaymentMethod, pm_id, "PaymentMethod", param="invoice_settings[default_payment_method]")
    customer_set_default_payment_method(customer=customer, payment_method=pm, actor=ctx.actor)


@operation("POST", "/v1/customers", params=FIELDS, response="customer", summary="Create a customer", tags=["Customers"])
def create(ctx, params):
    customer = customer_create(
        account=ctx.account,
        livemode=ctx.livemode,
        actor=ctx.actor,
        metadata=params.get("metadata") or {},
        **_fields(params),
    )
    _default_payment_method(ctx, customer, params)
    customer.refresh_from_db()
    return representations.customer(customer)


@operation(
    "GET",
    "/v1/customers/{customer}",
    params={"expand": p.EXPAND},
    response="customer",
    summary="Retrieve a customer",
    tags=["Customers"],
)
def retrieve(ctx, params, customer):
    return representations.customer(ctx.get(Customer, customer, "customer"))


@operation(
    "POST",
    "/v1/customers/{customer}",
    params=FIELDS,
    response="customer",
    summary="Update a customer",
    tags=["Customers"],
)
def update(ctx, params, customer):
    obj = ctx.get(Customer, customer, "customer")
    metadata = params.get("metadata")
    obj = customer_update(
        customer=obj,
        actor=ctx.actor,
        **_fields(params),
        **({"metadata": "" if metadata is p.UNSET else metadata} if "metadata" in params else {}),
    )
    _default_payment_method(ctx, obj, params)
    obj.refresh_from_db()
    return representations.customer(obj)


@operation(
    "GET",
    "/v1/customers",
    params={**p.LIST, "email": p.String(max_length=512), "created": p.Range()},
    response="list[customer]",
    summary="List customers",
    tags=["Customers"],
)
def list_(ctx, params):
    queryset = ctx.scope(Customer)
    if "email" in params:
        queryset = queryset.filter(email=params["email"])
    queryset = time_range(queryset, "created", params.get("created"))
    return page(queryset, params, url="/v1/customers", render=representations.customer, label="customer")
