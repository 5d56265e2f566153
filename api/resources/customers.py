"""/v1/customers

A deleted customer keeps its row: retrieving it answers Stripe's deleted stub; everywhere else (update,
list, the ``customer`` parameter of other resources) it is missing, which ``Context.get`` ensures.
"""

from api import params as p
from api.filters import time_range
from api.pagination import page
from api.router import operation
from billing import representations
from billing.models import Customer, PaymentMethod, TestClock
from billing.services.customers import customer_create, customer_delete, customer_update

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
    "metadata": p.Metadata(),
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


def _default_payment_method(ctx, params) -> dict:
    """``{"default_payment_method": …}`` when ``invoice_settings[default_payment_method]`` was given ("" unsets),
    else nothing. Looked up before anything is written, so an unknown id changes nothing."""
    settings_ = params.get("invoice_settings") or {}
    if "default_payment_method" not in settings_:
        return {}
    pm_id = settings_["default_payment_method"]
    if pm_id is p.UNSET:
        return {"default_payment_method": None}
    pm = ctx.get(PaymentMethod, pm_id, "PaymentMethod", param="invoice_settings[default_payment_method]")
    return {"default_payment_method": pm}


TAX_ID_DATA = p.Array(
    p.Object({"type": p.String(max_length=16, required=True), "value": p.String(max_length=64, required=True)}),
    max_items=25,
    description="Tax ids to add (Stripe's types; the value's form is checked, error code tax_id_invalid).",
)


@operation(
    "POST",
    "/v1/customers",
    params={
        **FIELDS,
        "tax_id_data": TAX_ID_DATA,
        "test_clock": p.Id(description="A test clock (test mode): the customer lives in its time."),
    },
    response="customer",
    summary="Create a customer",
    tags=["Customers"],
)
def create(ctx, params):
    test_clock = None
    if params.get("test_clock"):
        # Test clocks are test-mode objects: a live key finds none (404), as for any id of the other mode.
        test_clock = ctx.get(TestClock, params["test_clock"], "test_clock", param="test_clock")
    customer = customer_create(
        test_clock=test_clock,
        account=ctx.account,
        livemode=ctx.livemode,
        actor=ctx.actor,
        metadata=params.get("metadata") or {},
        tax_id_data=params.get("tax_id_data") or [],
        **_default_payment_method(ctx, params),
        **_fields(params),
    )
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
    # Deleted customers included: their representation is the deleted stub, as Stripe answers.
    return representations.customer(ctx.get(Customer, customer, "customer", queryset=ctx.scope(Customer)))


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
        **_default_payment_method(ctx, params),
        **_fields(params),
        **({"metadata": "" if metadata is p.UNSET else metadata} if "metadata" in params else {}),
    )
    return representations.customer(obj)


@operation(
    "DELETE",
    "/v1/customers/{customer}",
    params={},
    response="deleted_customer",
    summary="Delete a customer (cancels their subscriptions immediately)",
    tags=["Customers"],
)
def delete(ctx, params, customer):
    obj = customer_delete(customer=ctx.get(Customer, customer, "customer"), actor=ctx.actor)
    return representations.deleted_customer(obj.id)


@operation(
    "GET",
    "/v1/customers",
    params={**p.LIST, "email": p.String(max_length=512), "created": p.Range()},
    response="list[customer]",
    summary="List customers",
    tags=["Customers"],
)
def list_(ctx, params):
    scope = ctx.scope(Customer)
    queryset = scope.filter(deleted=False)
    if "email" in params:
        queryset = queryset.filter(email=params["email"])
    queryset = time_range(queryset, "created", params.get("created"))
    # A cursor whose customer was deleted meanwhile still marks a place; the strict id comparison of
    # the page leaves it out of the results.
    cursors = [params[name] for name in ("starting_after", "ending_before") if params.get(name)]
    if cursors:
        queryset = queryset | scope.filter(pk__in=cursors, deleted=True)
    return page(queryset, params, url="/v1/customers", render=representations.customer, label="customer")


@operation(
    "GET",
    "/v1/customers/{customer}/sources",
    params={**p.LIST, "object": p.String(max_length=5000)},
    response="list[payment_source]",
    summary="List a customer's sources (always empty: payment methods are not Stripe's legacy sources)",
    tags=["Customers"],
)
def source_list(ctx, params, customer):
    obj = ctx.get(Customer, customer, "customer")
    return {"object": "list", "data": [], "has_more": False, "url": f"/v1/customers/{obj.pk}/sources"}
