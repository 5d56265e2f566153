"""/v1/payment_methods and /v1/customers/{customer}/payment_methods.

Raw card data is accepted in test mode only, lives for one call (``CardInput``) and is never echoed:
every problem with it is a 4xx whose message names the parameter, not its value.
"""

from api import errors
from api import params as p
from api.pagination import page
from api.router import operation
from billing import representations
from billing.exceptions import InvalidRequest
from billing.gateways import CardInput, SepaInput
from billing.models import Customer, PaymentMethod
from billing.services.payment_methods import (
    clean_billing_details,
    payment_method_add,
    payment_method_attach,
    payment_method_create,
    payment_method_detach,
    payment_method_update,
)

LABEL = "PaymentMethod"
TAGS = ["Payment methods"]

ADDRESS = p.Object(
    {k: p.String(max_length=200) for k in ("city", "country", "line1", "line2", "postal_code", "state")},
    unsettable=True,
)
BILLING_DETAILS = p.Object(
    {
        "address": ADDRESS,
        "email": p.String(max_length=800, unsettable=True),
        "name": p.String(max_length=256, unsettable=True),
        "phone": p.String(max_length=32, unsettable=True),
    },
    description="Billing information associated with the payment method.",
)
CARD = p.Object(
    {
        "number": p.String(max_length=32, required=True, description="Test mode only; never stored."),
        "exp_month": p.Integer(required=True),
        "exp_year": p.Integer(required=True, min_value=0, max_value=9999),
        "cvc": p.String(max_length=8, description="Test mode only; never stored."),
    },
    description="Raw card details (test mode, through the test gateway).",
)
CREATE = {
    "type": p.String(choices=PaymentMethod.Type.values, required=True),
    "card": CARD,
    "sepa_debit": p.Object({"iban": p.String(max_length=64, required=True)}),
    "billing_details": BILLING_DETAILS,
    "metadata": p.Metadata(),
    "expand": p.EXPAND,
}
UPDATE = {
    "billing_details": BILLING_DETAILS,
    "card": p.Object({"exp_month": p.Integer(), "exp_year": p.Integer(min_value=0, max_value=9999)}),
    "metadata": p.Metadata(),
    "expand": p.EXPAND,
}
TYPE_FILTER = p.String(max_length=100, description="Only payment methods of this type.")


def _billing_details(params: dict) -> dict | None:
    """Parsed params -> the service's form: UNSET (``""``) clears a key."""
    if "billing_details" not in params:
        return None
    return {key: "" if value is p.UNSET else value for key, value in params["billing_details"].items()}


def _card_input(params: dict, livemode: bool) -> CardInput:
    if livemode:
        # Outside test mode card numbers must never reach this server: PCI scope stays with the PSP.
        raise errors.ApiError(
            "Sending card numbers directly to the API is only supported in test mode. In live mode, collect "
            "card details with your payment service provider and attach the resulting payment method.",
            status=400,
            code="raw_card_data_not_allowed",
            param="card[number]",
        )
    card = params["card"]
    return CardInput(
        number=card["number"], exp_month=card["exp_month"], exp_year=card["exp_year"], cvc=card.get("cvc", "")
    )


@operation(
    "POST",
    "/v1/payment_methods",
    params=CREATE,
    response="payment_method",
    summary="Create a payment method",
    tags=TAGS,
)
def create(ctx, params):
    kind = params["type"]
    other = "sepa_debit" if kind == PaymentMethod.Type.CARD else "card"
    if other in params:
        raise errors.invalid(other, f"Invalid {other}: this parameter is only allowed with type={other}.")
    if kind not in params:
        raise errors.missing(kind)
    details = _billing_details(params)
    pm = payment_method_create(
        account=ctx.account,
        livemode=ctx.livemode,
        actor=ctx.actor,
        card=_card_input(params, ctx.livemode) if kind == PaymentMethod.Type.CARD else None,
        sepa=SepaInput(iban=params["sepa_debit"]["iban"]) if kind == PaymentMethod.Type.SEPA_DEBIT else None,
        billing_details=clean_billing_details(details) if details is not None else None,
        metadata=params.get("metadata") or {},
    )
    return representations.payment_method(pm)


@operation(
    "GET",
    "/v1/payment_methods/{payment_method}",
    params={"expand": p.EXPAND},
    response="payment_method",
    summary="Retrieve a payment method",
    tags=TAGS,
)
def retrieve(ctx, params, payment_method):
    return representations.payment_method(ctx.get(PaymentMethod, payment_method, LABEL, param="payment_method"))


@operation(
    "POST",
    "/v1/payment_methods/{payment_method}",
    params=UPDATE,
    response="payment_method",
    summary="Update a payment method",
    tags=TAGS,
)
def update(ctx, params, payment_method):
    pm = ctx.get(PaymentMethod, payment_method, LABEL, param="payment_method")
    card = params.get("card") or {}
    metadata = params.get("metadata")
    pm = payment_method_update(
        payment_method=pm,
        actor=ctx.actor,
        billing_details=_billing_details(params),
        metadata="" if metadata is p.UNSET else metadata,
        exp_month=card.get("exp_month"),
        exp_year=card.get("exp_year"),
    )
    return representations.payment_method(pm)


@operation(
    "POST",
    "/v1/payment_methods/{payment_method}/attach",
    params={"customer": p.Id(required=True), "expand": p.EXPAND},
    response="payment_method",
    summary="Attach a payment method to a customer (or a processor's token: pm_card_visa, a Stripe pm_…, a Mollie tkn_…)",
    tags=TAGS,
)
def attach(ctx, params, payment_method):
    customer = ctx.get(Customer, params["customer"], "customer", param="customer")
    pm = ctx.scope(PaymentMethod).filter(pk=payment_method).first()
    if pm is not None:
        return representations.payment_method(
            payment_method_attach(payment_method=pm, customer=customer, actor=ctx.actor)
        )
    # Not ours: a token the account's processor makes a payment method of (a test token such as pm_card_visa, a
    # pm_… of the merchant's Stripe account, a Mollie Components tkn_…).
    try:
        pm = payment_method_add(customer=customer, livemode=ctx.livemode, actor=ctx.actor, token=payment_method)
    except InvalidRequest as error:
        if error.code == "resource_missing":  # the processor does not know it either
            raise errors.no_such(LABEL, payment_method, param="payment_method")
        raise
    return representations.payment_method(pm)


@operation(
    "POST",
    "/v1/payment_methods/{payment_method}/detach",
    params={"expand": p.EXPAND},
    response="payment_method",
    summary="Detach a payment method from its customer",
    tags=TAGS,
)
def detach(ctx, params, payment_method):
    pm = ctx.get(PaymentMethod, payment_method, LABEL, param="payment_method")
    return representations.payment_method(payment_method_detach(payment_method=pm, actor=ctx.actor))


@operation(
    "GET",
    "/v1/payment_methods",
    params={**p.LIST, "customer": p.Id(), "type": TYPE_FILTER},
    response="list[payment_method]",
    summary="List payment methods",
    tags=TAGS,
)
def list_(ctx, params):
    queryset = ctx.scope(PaymentMethod)
    if "customer" in params:
        customer = ctx.get(Customer, params["customer"], "customer", param="customer")
        queryset = queryset.filter(customer=customer)
    return _page(queryset, params, url="/v1/payment_methods")


@operation(
    "GET",
    "/v1/customers/{customer}/payment_methods",
    params={**p.LIST, "type": TYPE_FILTER},
    response="list[payment_method]",
    summary="List a customer's payment methods",
    tags=TAGS,
)
def list_for_customer(ctx, params, customer):
    obj = ctx.get(Customer, customer, "customer", param="customer")
    return _page(ctx.scope(PaymentMethod).filter(customer=obj), params, url=f"/v1/customers/{obj.id}/payment_methods")


@operation(
    "GET",
    "/v1/customers/{customer}/payment_methods/{payment_method}",
    params={"expand": p.EXPAND},
    response="payment_method",
    summary="Retrieve a customer's payment method",
    tags=TAGS,
)
def retrieve_for_customer(ctx, params, customer, payment_method):
    obj = ctx.get(Customer, customer, "customer", param="customer")
    queryset = ctx.scope(PaymentMethod).filter(customer=obj)
    return representations.payment_method(
        ctx.get(PaymentMethod, payment_method, LABEL, param="payment_method", queryset=queryset)
    )


def _page(queryset, params: dict, *, url: str) -> dict:
    if "type" in params:
        queryset = queryset.filter(type=params["type"])
    return page(queryset, params, url=url, render=representations.payment_method, label=LABEL)
