"""Payment method services: create through the gateway, attach, detach (keep-one rule), default."""

from django.db import transaction

from billing import audit
from billing.audit import Actor
from billing.exceptions import InvalidRequest, LastPaymentMethod
from billing.gateways import CardInput, SepaInput, get_gateway
from billing.models import Account, Customer, PaymentMethod, Subscription
from billing.services.common import emit, lock, render, same_tenant, validate_metadata
from billing.services.customers import customer_set_default_payment_method


def payment_method_create(
    *,
    account: Account,
    livemode: bool,
    actor: Actor,
    card: CardInput | None = None,
    sepa: SepaInput | None = None,
    token: str | None = None,
    billing_details: dict | None = None,
    metadata: dict | None = None,
) -> PaymentMethod:
    """Tokenize card or bank data with the gateway; only non-sensitive details are kept."""
    gateway = get_gateway()
    if sum(x is not None for x in (card, sepa, token)) != 1:
        raise InvalidRequest("Provide exactly one of card, sepa_debit or a test token.", param="type")
    if card is not None:
        details = gateway.tokenize_card(card, livemode=livemode)
    elif sepa is not None:
        details = gateway.tokenize_sepa(sepa, livemode=livemode)
    else:
        details = gateway.from_token(token, livemode=livemode)
    metadata = validate_metadata(metadata)
    with transaction.atomic():
        pm = PaymentMethod.objects.create(
            account=account,
            livemode=livemode,
            type=details.type,
            billing_details=billing_details or {},
            card_brand=details.brand,
            card_last4=details.last4 if details.type == "card" else "",
            card_exp_month=details.exp_month,
            card_exp_year=details.exp_year,
            card_funding=details.funding,
            country=details.country,
            fingerprint=details.fingerprint,
            sepa_bank_code=details.bank_code,
            sepa_last4=details.last4 if details.type == "sepa_debit" else "",
            gateway_reference=details.reference,
            metadata=metadata,
        )
        audit.record(account=account, livemode=livemode, actor=actor, action="payment_method.create", obj=pm)
    return pm


def payment_method_attach(*, payment_method: PaymentMethod, customer: Customer, actor: Actor) -> PaymentMethod:
    same_tenant(customer, payment_method)
    with transaction.atomic():
        pm = lock(PaymentMethod, payment_method.pk)
        if pm.customer_id == customer.id:
            return pm
        if pm.customer_id is not None:
            raise InvalidRequest(
                "The payment method you provided has already been attached to a customer.",
                param="payment_method",
                code="payment_method_already_attached",
            )
        get_gateway().verify(pm.gateway_reference, livemode=pm.livemode)
        pm.customer = customer
        pm.save(update_fields=["customer"])
        emit("payment_method.attached", pm)
        audit.record(
            account=pm.account,
            livemode=pm.livemode,
            actor=actor,
            action="payment_method.attach",
            obj=pm,
            changes={"customer": customer.id},
        )
    return pm


def currencies_needing_payment_method(customer: Customer) -> set[str]:
    return set(
        Subscription.objects.filter(
            customer=customer,
            status__in=Subscription.NEEDS_PAYMENT_METHOD,
            collection_method=Subscription.CollectionMethod.CHARGE_AUTOMATICALLY,
        ).values_list("currency", flat=True)
    )


def detach_blocked_reason(payment_method: PaymentMethod, remaining: list[PaymentMethod], currencies: set[str]) -> str:
    """Why this payment method cannot be removed, or "" if it can (the keep-one rule)."""
    for currency in sorted(currencies):
        if payment_method.can_charge(currency) and not any(pm.can_charge(currency) for pm in remaining):
            return (
                "This is the only payment method that can pay for an active subscription. "
                "Add a new payment method first, then remove this one."
            )
    return ""


def payment_method_detach(*, payment_method: PaymentMethod, actor: Actor) -> PaymentMethod:
    with transaction.atomic():
        pm = lock(PaymentMethod, payment_method.pk)
        if pm.customer_id is None:
            raise InvalidRequest(
                "The payment method you provided is not attached to a customer so detachment is impossible.",
                param="payment_method",
            )
        customer = lock(Customer, pm.customer_id)
        remaining = list(customer.payment_methods.exclude(pk=pm.pk).order_by("-id"))
        reason = detach_blocked_reason(pm, remaining, currencies_needing_payment_method(customer))
        if reason:
            raise LastPaymentMethod(reason, param="payment_method")
        subscriptions = list(
            Subscription.objects.select_for_update().filter(customer=customer, default_payment_method=pm)
        )
        for subscription in subscriptions:
            before = render(subscription)
            subscription.default_payment_method = None
            subscription.save(update_fields=["default_payment_method"])
            emit("customer.subscription.updated", subscription, before=before)
        pm.customer = None
        pm.save(update_fields=["customer"])
        if customer.default_payment_method_id == pm.id:
            # Keep paying: the newest remaining method becomes the default.
            replacement = remaining[0] if remaining else None
            customer_set_default_payment_method(customer=customer, payment_method=replacement, actor=actor)
        data = emit("payment_method.detached", pm)
        audit.record(
            account=pm.account,
            livemode=pm.livemode,
            actor=actor,
            action="payment_method.detach",
            obj=pm,
            changes={"customer": data["customer"], "previous_customer": customer.id},
        )
    return pm
