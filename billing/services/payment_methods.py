"""Payment method services: create through the gateway, attach, add (create + attach), detach (keep-one rule),
update."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from billing import audit, clock
from billing.audit import Actor
from billing.exceptions import InvalidRequest, LastPaymentMethod, StateConflict
from billing.gateways import CardInput, MethodDetails, SepaInput, gateway_for
from billing.models import Account, Customer, PaymentMethod, Subscription
from billing.services.common import emit, lock, merge_metadata, no_such, render, same_tenant, validate_metadata
from billing.services.customers import _clean_address, customer_set_default_payment_method
from billing.services.door import service


def _tokenize(
    *, account_id: str, livemode: bool, card: CardInput | None, sepa: SepaInput | None, token: str | None
) -> MethodDetails:
    """Card or bank data (or a token) -> what the gateway lets us keep. Called before any transaction opens: a
    processor call never runs inside one."""
    if sum(x is not None for x in (card, sepa, token)) != 1:
        raise InvalidRequest("Provide exactly one of card, sepa_debit or a test token.", param="type")
    gateway = gateway_for(account_id, livemode)
    if card is not None:
        return gateway.tokenize_card(card, livemode=livemode)
    if sepa is not None:
        return gateway.tokenize_sepa(sepa, livemode=livemode)
    return gateway.from_token(token, livemode=livemode)


@service
def _payment_method_store(
    *,
    account: Account,
    livemode: bool,
    actor: Actor,
    details: MethodDetails,
    billing_details: dict | None,
    metadata: dict,
) -> PaymentMethod:
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
    audit.record(actor, "payment_method.create", pm)
    return pm


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
    """Tokenize card or bank data with the gateway; only non-sensitive details are kept.

    The gateway is asked first, outside any transaction; the row is then written by a service door."""
    metadata = validate_metadata(metadata)
    details = _tokenize(account_id=account.pk, livemode=livemode, card=card, sepa=sepa, token=token)
    return _payment_method_store(
        account=account,
        livemode=livemode,
        actor=actor,
        details=details,
        billing_details=billing_details,
        metadata=metadata,
    )


@service
def payment_method_attach(*, payment_method: PaymentMethod, customer: Customer, actor: Actor) -> PaymentMethod:
    same_tenant(customer, payment_method)
    pm = lock(PaymentMethod, payment_method.pk)
    if pm.customer_id == customer.id:
        return pm
    if pm.customer_id is not None:
        raise InvalidRequest(
            "The payment method you provided has already been attached to a customer.",
            param="payment_method",
            code="payment_method_already_attached",
        )
    gateway_for(pm.account_id, pm.livemode).verify(pm.gateway_reference, livemode=pm.livemode)
    pm.customer = customer
    pm.save(update_fields=["customer"])
    emit("payment_method.attached", pm)
    audit.record(actor, "payment_method.attach", pm, {"customer": customer.id})
    return pm


def payment_method_add(
    *,
    customer: Customer,
    livemode: bool,
    actor: Actor,
    card: CardInput | None = None,
    sepa: SepaInput | None = None,
    token: str | None = None,
    billing_details: dict | None = None,
    make_default: bool = False,
) -> PaymentMethod:
    """A new payment method for ``customer``: created through the gateway, attached and, with ``make_default``,
    made the default, as one change, so a declined card or an unusable token leaves nothing behind.

    The gateway tokenizes first, outside any transaction; one service door then stores, attaches and sets the
    default."""
    details = _tokenize(account_id=customer.account_id, livemode=livemode, card=card, sepa=sepa, token=token)
    return _payment_method_add(
        customer=customer,
        livemode=livemode,
        actor=actor,
        details=details,
        billing_details=billing_details,
        make_default=make_default,
    )


@service
def _payment_method_add(
    *,
    customer: Customer,
    livemode: bool,
    actor: Actor,
    details: MethodDetails,
    billing_details: dict | None,
    make_default: bool,
) -> PaymentMethod:
    # The customer row is locked last, only to set the default: until then the one row locked is the new payment
    # method, which nobody else can see yet.
    pm = _payment_method_store(
        account=customer.account,
        livemode=livemode,
        actor=actor,
        details=details,
        billing_details=billing_details,
        metadata={},
    )
    pm = payment_method_attach(payment_method=pm, customer=customer, actor=actor)
    if make_default:
        customer_set_default_payment_method(customer=customer, payment_method=pm, actor=actor)
    return pm


def currencies_needing_payment_method(customer: Customer, *, loaded: list[Subscription] | None = None) -> set[str]:
    """The currencies of the customer's subscriptions that charge a payment method automatically and need one.

    ``loaded``: the customer's subscriptions already read, at least every one that has not ended; then no query."""
    if loaded is not None:
        return {
            subscription.currency
            for subscription in loaded
            if subscription.customer_id == customer.pk
            and subscription.status in Subscription.NEEDS_PAYMENT_METHOD
            and subscription.collection_method == Subscription.CollectionMethod.CHARGE_AUTOMATICALLY
        }
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


def _not_attached() -> InvalidRequest:
    return InvalidRequest(
        "The payment method you provided is not attached to a customer so detachment is impossible.",
        param="payment_method",
    )


@service
def payment_method_detach(*, payment_method: PaymentMethod, actor: Actor) -> PaymentMethod:
    # The customer first, then the payment method (the services' lock order): the owner is read without a lock
    # and checked again once both rows are locked.
    row = PaymentMethod.objects.filter(pk=payment_method.pk).values("customer_id").first()
    if row is None:
        raise no_such("paymentmethod", payment_method.pk, param="id")
    if row["customer_id"] is None:
        raise _not_attached()
    customer = lock(Customer, row["customer_id"])
    pm = lock(PaymentMethod, payment_method.pk)
    if pm.customer_id != customer.id:
        raise StateConflict(
            "The payment method was detached while this request was being handled; retrieve it and try again.",
            param="payment_method",
        )
    remaining = list(customer.payment_methods.exclude(pk=pm.pk).order_by("-id"))
    reason = detach_blocked_reason(pm, remaining, currencies_needing_payment_method(customer))
    if reason:
        raise LastPaymentMethod(reason, param="payment_method")
    subscriptions = list(
        Subscription.objects.select_for_update(no_key=True).filter(customer=customer, default_payment_method=pm)
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
    audit.record(actor, "payment_method.detach", pm, {"customer": data["customer"], "previous_customer": customer.id})
    return pm


BILLING_DETAIL_LIMITS = {"email": 800, "name": 256, "phone": 32}


def clean_billing_details(details: dict, *, current: dict | None = None, param: str = "billing_details") -> dict:
    """Stripe's ``billing_details``: given keys replace the current ones, ``""`` (or None) clears a key."""
    merged = dict(current or {})
    for key, value in details.items():
        if key == "address":
            merged["address"] = _clean_address(value, f"{param}[address]")
            continue
        if key not in BILLING_DETAIL_LIMITS:
            raise InvalidRequest(f"Received unknown parameter: {param}[{key}]", param=f"{param}[{key}]")
        value = str(value or "").strip()
        if len(value) > BILLING_DETAIL_LIMITS[key]:
            raise InvalidRequest(
                f"Invalid {param}[{key}]: must be at most {BILLING_DETAIL_LIMITS[key]} characters.",
                param=f"{param}[{key}]",
            )
        if key == "email" and value:
            try:
                validate_email(value)
            except ValidationError:
                raise InvalidRequest(f"Invalid email address: {value}", param=f"{param}[email]", code="email_invalid")
        merged[key] = value
    return {key: value for key, value in merged.items() if value not in ("", None)}


def _clean_expiry(pm: PaymentMethod, exp_month: int | None, exp_year: int | None) -> tuple[int, int]:
    if pm.type != PaymentMethod.Type.CARD:
        raise InvalidRequest(f"You cannot update card details of a {pm.type} payment method.", param="card")
    month = pm.card_exp_month if exp_month is None else int(exp_month)
    year = pm.card_exp_year if exp_year is None else int(exp_year)
    if not 1 <= month <= 12:
        raise InvalidRequest(
            "Your card's expiration month is invalid.", param="card[exp_month]", code="invalid_expiry_month"
        )
    year = year + 2000 if year < 100 else year
    today = clock.now()
    if year > today.year + 50 or (year, month) < (today.year, today.month):
        raise InvalidRequest(
            "Your card's expiration year is invalid.", param="card[exp_year]", code="invalid_expiry_year"
        )
    return month, year


@service
def payment_method_update(
    *,
    payment_method: PaymentMethod,
    actor: Actor,
    billing_details: dict | None = None,
    metadata: dict | str | None = None,
    exp_month: int | None = None,
    exp_year: int | None = None,
) -> PaymentMethod:
    """Billing details, metadata and (cards) the expiry date. Only methods saved to a customer change."""
    pm = lock(PaymentMethod, payment_method.pk)
    if pm.customer_id is None:
        raise InvalidRequest(
            "You must save this PaymentMethod to a customer before you update it.", param="payment_method"
        )
    before = render(pm)
    fields = []
    if exp_month is not None or exp_year is not None:
        pm.card_exp_month, pm.card_exp_year = _clean_expiry(pm, exp_month, exp_year)
        fields += ["card_exp_month", "card_exp_year"]
    if billing_details is not None:
        pm.billing_details = clean_billing_details(billing_details, current=pm.billing_details)
        fields.append("billing_details")
    if metadata is not None:
        pm.metadata = merge_metadata(pm.metadata, metadata)
        fields.append("metadata")
    after = render(pm)
    if after == before:
        return pm
    pm.save(update_fields=fields)
    emit("payment_method.updated", pm, before=before)
    audit.record(
        actor, "payment_method.update", pm, {key: after[key] for key in after if before.get(key) != after[key]}
    )
    return pm
