"""Adding a payment method with the customer present (the portal). Card and bank details are typed into the
processor's hosted fields, never into our pages: the browser hands us what those gave (a payment method of ours
from the test gateway's vault, or Stripe's or Mollie's token). A SetupIntent then saves it for off-session payments,
sending the customer to their bank's page first when the issuer asks (3-D Secure) and recording a SEPA mandate."""

from typing import NamedTuple

from billing.audit import Actor
from billing.exceptions import DuplicatePaymentMethod, InvalidRequest
from billing.gateways import gateway_for
from billing.gateways.base import HostedFields
from billing.models import Customer, PaymentMethod, SetupIntent
from billing.services.common import no_such
from billing.services.customers import customer_set_default_payment_method
from billing.services.intents.setup_intents import setup_intent_confirm, setup_intent_create, setup_intent_refresh
from billing.services.payment_methods import currencies_needing_payment_method, payment_method_detach

# In a return URL: replaced by the SetupIntent's id, as Stripe Checkout fills in ``{CHECKOUT_SESSION_ID}``.
SETUP_INTENT_ID = "{SETUP_INTENT_ID}"


class PaymentFields(NamedTuple):
    """``hosted``: how the customer's processor collects details; ``types``: what the customer may add;
    ``currency``: the one their subscriptions are (first) billed in, for fields that want one (Stripe's)."""

    hosted: HostedFields
    types: list[str]
    currency: str


def payment_fields_for(customer: Customer) -> PaymentFields:
    """The customer may add the types their processor takes for a currency their subscriptions are billed in (euros
    when they have none yet) from their country, and that its hosted fields can collect. SEPA Direct Debit thus only
    for euros and SEPA countries.

    Raises ProcessorNotConfigured or LiveModeNotAllowed when the processor cannot take this mode's payments."""
    gateway = gateway_for(customer.account_id, customer.livemode)
    hosted = gateway.hosted_fields(livemode=customer.livemode)
    country = ((customer.address or {}).get("country") or "").upper()
    currencies = sorted(currencies_needing_payment_method(customer)) or ["eur"]
    offered: set[str] = set()
    for currency in currencies:
        offered.update(gateway.payment_method_types(currency=currency, country=country, livemode=customer.livemode))
    return PaymentFields(hosted, [kind for kind in hosted.types if kind in offered], currencies[0])


def _hosted_method(customer: Customer, hosted: HostedFields, payment_method: str) -> PaymentMethod | str:
    """The vault's payment method (ours, of the customer's account and mode, attached to nobody yet), or the
    processor's token as it is (the SetupIntent stores what the processor says of it)."""
    if hosted.kind != "vault":
        return payment_method
    found = PaymentMethod.objects.filter(
        pk=payment_method, account_id=customer.account_id, livemode=customer.livemode, customer__isnull=True
    ).first()
    if found is None:
        raise InvalidRequest(
            "No such payment method: it did not come from this portal's payment fields, or it is in use already.",
            param="payment_method",
            code="resource_missing",
        )
    refuse_duplicate(customer, found)
    return found


def duplicate_of(customer: Customer, payment_method: PaymentMethod) -> PaymentMethod | None:
    """The customer's saved method with the same type and fingerprint (the same card or bank account), if any."""
    if not payment_method.fingerprint:
        return None
    return (
        PaymentMethod.objects.filter(
            customer=customer, type=payment_method.type, fingerprint=payment_method.fingerprint
        )
        .exclude(pk=payment_method.pk)
        .first()
    )


def refuse_duplicate(customer: Customer, payment_method: PaymentMethod) -> None:
    """Raises DuplicatePaymentMethod when the customer already saved this card or account."""
    if duplicate_of(customer, payment_method) is not None:
        raise DuplicatePaymentMethod(
            f"The customer already has this {payment_method.type} payment method saved.",
            existing_type=payment_method.type,
        )


def payment_method_add_on_session(
    *,
    customer: Customer,
    actor: Actor,
    payment_method: str,
    payment_method_type: str,
    return_url: str,
    make_default: bool,
    mandate_acceptance: dict | None = None,
) -> SetupIntent:
    """Save what the hosted fields gave (``payment_method``) for ``customer``: a SetupIntent confirmed now.

    Succeeded: the method is the customer's (and with ``make_default`` their default). ``requires_action``: send
    the customer to ``next_action``'s page; they come back to ``return_url`` (``{SETUP_INTENT_ID}`` in it becomes
    the intent's id), where :func:`payment_method_add_finish` ends it. ``mandate_acceptance``
    (``ip_address``, ``user_agent``): the customer accepting the SEPA mandate now, online.

    Raises CardDeclined when the processor refuses the method, InvalidRequest for a type not offered or a payment
    method that did not come from the hosted fields."""
    hosted, types, _currency = payment_fields_for(customer)
    if payment_method_type not in types:
        raise InvalidRequest(f"Payment methods of type {payment_method_type} cannot be added here.", param="type")
    mandate_data = None
    if payment_method_type == PaymentMethod.Type.SEPA_DEBIT and mandate_acceptance:
        mandate_data = {"customer_acceptance": {"type": "online", "online": mandate_acceptance}}
    intent = setup_intent_create(
        account=customer.account,
        livemode=customer.livemode,
        actor=actor,
        customer=customer,
        payment_method=_hosted_method(customer, hosted, payment_method),
        payment_method_types=[payment_method_type],
        usage="off_session",
        mandate_data=mandate_data,
    )
    intent = setup_intent_confirm(intent=intent, actor=actor, return_url=return_url.replace(SETUP_INTENT_ID, intent.id))
    _undo_duplicate(intent, actor)
    return _made_default(intent, actor, make_default)


def payment_method_add_finish(*, customer: Customer, actor: Actor, setup_intent_id: str, make_default: bool):
    """The customer came back from their bank's page: the setup's outcome (asked of the processor where it is
    still open) and, once it succeeded, the default as chosen. NotFound for another customer's intent."""
    intent = SetupIntent.objects.select_related("payment_method").filter(pk=setup_intent_id, customer=customer).first()
    if intent is None:
        raise no_such("setupintent", setup_intent_id, param="setup_intent")
    intent = setup_intent_refresh(intent=intent)
    _undo_duplicate(intent, actor)
    return _made_default(intent, actor, make_default)


def _undo_duplicate(intent: SetupIntent, actor: Actor) -> None:
    """A processor's token shows which card it is only once set up: a card or account the customer had saved
    already is detached again (the saved one stays as it was) and refused."""
    pm = intent.payment_method
    if intent.status != SetupIntent.Status.SUCCEEDED or pm is None or pm.customer_id != intent.customer_id:
        return
    if duplicate_of(intent.customer, pm) is not None:
        payment_method_detach(payment_method=pm, actor=actor)
        refuse_duplicate(intent.customer, pm)


def _made_default(intent: SetupIntent, actor: Actor, make_default: bool) -> SetupIntent:
    if intent.status == SetupIntent.Status.SUCCEEDED and make_default:
        customer_set_default_payment_method(customer=intent.customer, payment_method=intent.payment_method, actor=actor)
    return intent
