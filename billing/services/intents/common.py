"""What PaymentIntents and SetupIntents share: the processor of an account, payment method rules, the customer's
authentication page, mandates and Stripe's error objects."""

import datetime as dt

from django.conf import settings
from django.urls import reverse

from billing import clock, payment_representations
from billing.exceptions import InvalidRequest, StateConflict
from billing.gateways import Gateway, gateway_for
from billing.gateways.base import CustomerRef
from billing.models import Customer, Mandate, PaymentMethod
from billing.services.common import same_tenant

PAYMENT_METHOD_TYPES = ("card", "sepa_debit")


def gateway_of(obj) -> Gateway:
    """The processor that takes ``obj``'s account's payments in ``obj``'s mode."""
    return gateway_for(obj.account_id, obj.livemode)


def customer_ref(customer: Customer | None) -> CustomerRef | None:
    if customer is None:
        return None
    return CustomerRef(
        id=customer.id, email=customer.email or "", name=customer.name or "", reference=customer.processor_reference
    )


def remember_customer_reference(customer_id: str | None, reference: str) -> None:
    """The processor answered with its id for our customer (it created one): kept for the next calls."""
    if customer_id and reference:
        Customer.objects.filter(pk=customer_id, processor_reference="").update(processor_reference=reference)


def clean_types(types: list[str] | None, *, param: str = "payment_method_types") -> list[str]:
    types = list(types or ["card"])
    for index, kind in enumerate(types):
        if kind not in PAYMENT_METHOD_TYPES:
            raise InvalidRequest(
                f"The payment method type provided: {kind} is invalid. This payment method is available to Stripe "
                "accounts in some countries only; supported here: card, sepa_debit.",
                param=f"{param}[{index}]",
                code="payment_intent_invalid_parameter",
            )
    return list(dict.fromkeys(types))


def check_method(intent, pm: PaymentMethod, *, currency: str | None = None) -> None:
    """``pm`` may pay for ``intent``: same merchant and mode, the intent's customer's (or nobody's), an allowed
    type, a currency the type can be charged in."""
    same_tenant(intent, pm)
    if intent.customer_id and pm.customer_id and pm.customer_id != intent.customer_id:
        raise InvalidRequest(
            f"The payment method {pm.id} belongs to another customer.",
            param="payment_method",
            code="payment_method_invalid_parameter",
        )
    if not intent.customer_id and pm.customer_id:
        raise InvalidRequest(
            f"The provided PaymentMethod {pm.id} is attached to a Customer. Pass that customer's id as `customer`.",
            param="customer",
            code="payment_method_invalid_parameter",
        )
    if pm.type not in intent.payment_method_types:
        raise InvalidRequest(
            f"The PaymentMethod provided ({pm.type}) is not allowed for this intent. Allowed: "
            f"{', '.join(intent.payment_method_types)}. Add it to payment_method_types.",
            param="payment_method",
            code="payment_intent_incompatible_payment_method",
        )
    if currency and not pm.can_charge(currency):
        raise InvalidRequest(
            f"The currency provided ({currency}) is invalid for {pm.type} payments; SEPA Direct Debit only takes eur.",
            param="currency",
            code="payment_intent_invalid_currency",
        )


def unexpected_state(intent, verb: str, participle: str, allowed) -> StateConflict:
    """Stripe's error for an action the intent's status does not allow (``verb`` "confirm", ``participle``
    "confirmed")."""
    label, code = (
        ("PaymentIntent", "payment_intent") if intent.id.startswith("pi_") else ("SetupIntent", "setup_intent")
    )
    return StateConflict(
        f"You cannot {verb} this {label} because it has a status of {intent.status}. Only a {label} with one of "
        f"the following statuses may be {participle}: {', '.join(allowed)}.",
        code=f"{code}_unexpected_state",
    )


def authentication_url(intent) -> str:
    """Our hosted page where the customer authenticates with the test gateway's simulated issuer."""
    path = reverse("portal:authenticate", args=[intent.id])
    return f"{settings.PORTAL_BASE_URL}{path}?client_secret={intent.client_secret}"


def redirect_action(intent, action_url: str) -> dict:
    return {
        "type": "redirect_to_url",
        "redirect_to_url": {"url": action_url or authentication_url(intent), "return_url": intent.return_url or None},
    }


def error_object(intent, *, code: str, message: str, decline_code: str = "", pm: PaymentMethod | None = None):
    from billing.representations import payment_method

    error = {
        "type": "card_error" if code not in ("payment_intent_authentication_failure",) else "invalid_request_error",
        "code": code or "card_declined",
        "message": message,
        "doc_url": f"https://docs.stripe.com/error-codes/{(code or 'card_declined').replace('_', '-')}",
        "decline_code": decline_code or None,
        "param": None,
        "payment_method": payment_method(pm) if pm is not None else None,
        "payment_method_type": pm.type if pm is not None else None,
    }
    if intent.id.startswith("seti_"):
        error["setup_intent"] = None
    return error


def clean_mandate_data(mandate_data: dict | None, pm: PaymentMethod | None) -> dict | None:
    """Stripe's ``mandate_data[customer_acceptance]``: required to debit a bank account (SEPA)."""
    if pm is None or pm.type != PaymentMethod.Type.SEPA_DEBIT:
        return None
    acceptance = (mandate_data or {}).get("customer_acceptance")
    if not acceptance:
        return None
    kind = acceptance.get("type", "online")
    if kind not in ("online", "offline"):
        raise InvalidRequest(
            "Invalid mandate_data[customer_acceptance][type]: must be online or offline.",
            param="mandate_data[customer_acceptance][type]",
        )
    online = acceptance.get("online") or {}
    if kind == "online" and not (online.get("ip_address") and online.get("user_agent")):
        raise InvalidRequest(
            "Missing required param: mandate_data[customer_acceptance][online][ip_address] and user_agent.",
            param="mandate_data[customer_acceptance][online]",
            code="parameter_missing",
        )
    accepted_at = acceptance.get("accepted_at") or clock.now()
    if not isinstance(accepted_at, int):
        accepted_at = clock.to_unix(accepted_at)
    return {
        "type": kind,
        "accepted_at": accepted_at,
        "online": {"ip_address": online.get("ip_address"), "user_agent": online.get("user_agent")}
        if kind == "online"
        else None,
    }


def require_mandate(intent, pm: PaymentMethod) -> None:
    if pm.type != PaymentMethod.Type.SEPA_DEBIT:
        return
    has_active = Mandate.objects.filter(payment_method=pm, status=Mandate.Status.ACTIVE).exists()
    if not has_active and not intent.mandate_data:
        raise InvalidRequest(
            "A mandate is required to debit this bank account: pass mandate_data[customer_acceptance] (the "
            "customer's agreement to the SEPA Direct Debit mandate).",
            param="mandate_data",
            code="parameter_missing",
        )


def make_mandate(intent, pm: PaymentMethod, processor_reference: str = "") -> Mandate | None:
    """The SEPA mandate from the intent's ``mandate_data`` (once per payment method); emits ``mandate.updated``."""
    from billing.services.common import emit

    if pm.type != PaymentMethod.Type.SEPA_DEBIT:
        return None
    existing = Mandate.objects.filter(payment_method=pm, status=Mandate.Status.ACTIVE).first()
    if existing is not None or not intent.mandate_data:
        return existing
    mandate = Mandate.objects.create(
        account_id=intent.account_id,
        livemode=intent.livemode,
        payment_method=pm,
        customer_acceptance=intent.mandate_data,
        status=Mandate.Status.ACTIVE,
        reference=intent.id.split("_", 1)[1][:16].upper(),
        processor_reference=processor_reference,
    )
    emit("mandate.updated", mandate)
    return mandate


def pending_age_cutoff(now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(seconds=settings.BILLING_PAYMENT_PENDING_SECONDS)


def rendered(intent) -> dict:
    render = (
        payment_representations.payment_intent if intent.id.startswith("pi_") else payment_representations.setup_intent
    )
    return render(intent)


def method_from_token(account_id: str, livemode: bool, token: str):
    """A test token such as ``pm_card_visa``: the gateway's details, asked outside any transaction (the row is
    written by :func:`use_method` inside the caller's door)."""
    from billing.services.payment_methods import _tokenize

    return _tokenize(account_id=account_id, livemode=livemode, card=None, sepa=None, token=token)


def use_method(intent, actor, payment_method, *, currency: str | None = None) -> PaymentMethod:
    """``payment_method`` (a stored method, or a test token's details from :func:`method_from_token`, stored now
    inside the caller's door) made the intent's, once it may pay for it."""
    from billing.gateways.base import MethodDetails
    from billing.services.payment_methods import _payment_method_store

    if isinstance(payment_method, MethodDetails):
        payment_method = _payment_method_store(
            account=intent.account,
            livemode=intent.livemode,
            actor=actor,
            details=payment_method,
            billing_details=None,
            metadata={},
        )
    check_method(intent, payment_method, currency=currency)
    intent.payment_method = payment_method
    return payment_method
