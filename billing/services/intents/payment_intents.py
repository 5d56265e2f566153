"""PaymentIntents: create, update, confirm (the processor asked between two transactions), the customer's
authentication, capture, cancel, and the late answers of processing payments."""

import logging

from billing import audit, clock
from billing.audit import Actor
from billing.exceptions import BillingError, CardDeclined, GatewayUnavailable, InvalidRequest, StateConflict
from billing.gateways.base import MethodDetails, PaymentResult
from billing.models import Account, Charge, Customer, Invoice, PaymentIntent, PaymentMethod, Subscription
from billing.money import charge_amount_error, minimum_charge
from billing.services.common import emit, lock, merge_metadata, same_tenant, validate_metadata
from billing.services.door import service
from billing.services.intents.common import (
    check_method,
    clean_mandate_data,
    clean_types,
    customer_ref,
    error_object,
    gateway_of,
    make_mandate,
    method_from_token,
    pending_age_cutoff,
    redirect_action,
    remember_customer_reference,
    rendered,
    require_mandate,
    unexpected_state,
    use_method,
)

logger = logging.getLogger(__name__)

MAX_AMOUNT = 99_999_999
Status = PaymentIntent.Status
CONFIRMABLE = PaymentIntent.OPEN
CANCELABLE = (*PaymentIntent.OPEN, Status.REQUIRES_CAPTURE)
UPDATABLE_FIELDS = ("description", "receipt_email", "statement_descriptor", "setup_future_usage")


def _clean_amount(amount: int, currency: str) -> None:
    if amount is None or amount < 1:
        raise InvalidRequest("This value must be greater than or equal to 1.", param="amount")
    if amount > MAX_AMOUNT:
        raise InvalidRequest(f"Amount must be no more than {MAX_AMOUNT}.", param="amount", code="amount_too_large")
    if error := charge_amount_error(amount, currency):
        raise InvalidRequest(error, param="amount", code="invalid_charge_amount")
    floor = minimum_charge(currency)
    if amount < floor:
        raise InvalidRequest(
            f"Amount must be at least {floor} {currency} (in the smallest currency unit).",
            param="amount",
            code="amount_too_small",
        )


def _clean_future_usage(value: str | None) -> str:
    if value in (None, ""):
        return ""
    if value not in ("off_session", "on_session"):
        raise InvalidRequest(
            "Invalid setup_future_usage: must be one of off_session, on_session.", param="setup_future_usage"
        )
    return value


def payment_intent_create(
    *,
    confirm: bool = False,
    off_session: bool = False,
    **fields,
) -> PaymentIntent:
    """A new PaymentIntent; ``payment_method`` may be a test token (``pm_card_visa``), made into a payment method
    first. With ``confirm`` it is confirmed at once (see :func:`payment_intent_confirm`)."""
    token = fields.get("payment_method")
    if isinstance(token, str):
        fields["payment_method"] = method_from_token(fields["account"].pk, fields["livemode"], token)
    intent = _create(**fields)
    if confirm:
        intent = payment_intent_confirm(intent=intent, actor=fields["actor"], off_session=off_session)
    return intent


@service
def _create(
    *,
    account: Account,
    livemode: bool,
    actor: Actor,
    amount: int,
    currency: str,
    customer: Customer | None = None,
    payment_method: PaymentMethod | MethodDetails | None = None,
    payment_method_types: list[str] | None = None,
    capture_method: str = "automatic",
    confirmation_method: str = "automatic",
    setup_future_usage: str | None = None,
    description: str = "",
    metadata: dict | None = None,
    receipt_email: str = "",
    statement_descriptor: str = "",
    return_url: str = "",
    mandate_data: dict | None = None,
) -> PaymentIntent:
    """A new PaymentIntent (``requires_payment_method``, or ``requires_confirmation`` with a payment method).
    Confirming it is a second step (:func:`payment_intent_confirm`), as ``confirm=true`` is at Stripe."""
    currency = currency.lower()
    _clean_amount(amount, currency)
    intent = PaymentIntent(
        account=account,
        livemode=livemode,
        amount=amount,
        currency=currency,
        customer=customer,
        payment_method_types=clean_types(payment_method_types),
        capture_method=capture_method,
        confirmation_method=confirmation_method,
        setup_future_usage=_clean_future_usage(setup_future_usage),
        description=description or "",
        metadata=validate_metadata(metadata),
        receipt_email=receipt_email or "",
        statement_descriptor=statement_descriptor or "",
        return_url=return_url or "",
    )
    if customer is not None:
        same_tenant(intent, customer)
    if payment_method is not None:
        payment_method = use_method(intent, actor, payment_method, currency=currency)
        intent.mandate_data = clean_mandate_data(mandate_data, payment_method)
        intent.status = Status.REQUIRES_CONFIRMATION
    intent.save()
    emit("payment_intent.created", intent)
    audit.record(actor, "payment_intent.create", intent, {"amount": amount, "currency": currency})
    return intent


@service
def payment_intent_update(
    *,
    intent: PaymentIntent,
    actor: Actor,
    amount: int | None = None,
    currency: str | None = None,
    customer: Customer | None = None,
    payment_method: PaymentMethod | None = None,
    payment_method_types: list[str] | None = None,
    metadata: dict | None = None,
    **fields,
) -> PaymentIntent:
    intent = lock(PaymentIntent, intent.pk)
    only_metadata = amount is None and currency is None and payment_method is None and customer is None and not fields
    if intent.status not in CONFIRMABLE and not only_metadata:
        raise unexpected_state(intent, "update", "updated", CONFIRMABLE)
    changes = {}
    if currency is not None:
        intent.currency = currency.lower()
        changes["currency"] = intent.currency
    if amount is not None:
        intent.amount = amount
        changes["amount"] = amount
    if amount is not None or currency is not None:
        _clean_amount(intent.amount, intent.currency)
    if customer is not None and customer.id != intent.customer_id:
        if intent.customer_id:
            raise InvalidRequest("You cannot change the customer of a PaymentIntent.", param="customer")
        same_tenant(intent, customer)
        intent.customer = customer
        changes["customer"] = customer.id
    if payment_method_types is not None:
        intent.payment_method_types = clean_types(payment_method_types)
    if payment_method is not None:
        check_method(intent, payment_method, currency=intent.currency)
        intent.payment_method = payment_method
        changes["payment_method"] = payment_method.id
    if intent.payment_method_id and intent.status == Status.REQUIRES_PAYMENT_METHOD:
        intent.status = Status.REQUIRES_CONFIRMATION
    for name in UPDATABLE_FIELDS:
        if name in fields:
            value = fields[name] or ""
            if name == "setup_future_usage":
                value = _clean_future_usage(value)
            setattr(intent, name, value)
            changes[name] = value
    if metadata is not None:
        intent.metadata = merge_metadata(intent.metadata, metadata)
        changes["metadata"] = intent.metadata
    intent.save()
    audit.record(actor, "payment_intent.update", intent, changes)
    return intent


# ---------------------------------------------------------------------------------------------- confirm


def payment_intent_confirm(
    *,
    intent: PaymentIntent,
    actor: Actor,
    payment_method: PaymentMethod | str | None = None,
    off_session: bool = False,
    return_url: str | None = None,
    mandate_data: dict | None = None,
    setup_future_usage: str | None = None,
    capture_method: str | None = None,
    raise_on_failure: bool = True,
) -> PaymentIntent:
    """Confirm: the processor is asked outside every transaction. A decline raises :class:`CardDeclined` carrying
    the intent (Stripe answers 402 with it) unless ``raise_on_failure`` is false."""
    if isinstance(payment_method, str):
        payment_method = method_from_token(intent.account_id, intent.livemode, payment_method)
    charge_id = _confirm_start(
        intent=intent,
        actor=actor,
        payment_method=payment_method,
        off_session=off_session,
        return_url=return_url,
        mandate_data=mandate_data,
        setup_future_usage=setup_future_usage,
        capture_method=capture_method,
    )
    charge = Charge.objects.select_related("payment_method", "payment_intent__customer").get(pk=charge_id)
    result = _ask(charge)
    intent = _record(intent.pk, result, charge_id=charge_id)
    if raise_on_failure:
        raise_unless_succeeded(intent)
    return intent


@service
def _confirm_start(
    *,
    intent: PaymentIntent,
    actor: Actor,
    payment_method: PaymentMethod | MethodDetails | None,
    off_session: bool,
    return_url: str | None,
    mandate_data: dict | None,
    setup_future_usage: str | None,
    capture_method: str | None,
) -> str:
    invoice = _lock_invoice_of(intent.pk)
    intent = lock(PaymentIntent, intent.pk)
    if intent.status not in CONFIRMABLE:
        raise unexpected_state(intent, "confirm", "confirmed", CONFIRMABLE)
    if invoice is not None:
        _count_invoice_attempt(invoice, intent)
    if payment_method is not None:
        use_method(intent, actor, payment_method, currency=intent.currency)
    pm = intent.payment_method
    if pm is None:
        raise InvalidRequest(
            "You cannot confirm this PaymentIntent because it's missing a payment method. To confirm this "
            "PaymentIntent, provide a payment_method.",
            param="payment_method",
            code="payment_intent_unexpected_state",
        )
    if mandate_data is not None:
        intent.mandate_data = clean_mandate_data(mandate_data, pm)
    require_mandate(intent, pm)
    if return_url is not None:
        intent.return_url = return_url
    if setup_future_usage is not None:
        intent.setup_future_usage = _clean_future_usage(setup_future_usage)
    if capture_method is not None:
        intent.capture_method = capture_method
    gateway_of(intent).check_mode(livemode=intent.livemode)
    intent.off_session = bool(off_session)
    intent.attempt_count = invoice.attempt_count if invoice is not None else intent.attempt_count + 1
    intent.status = Status.PROCESSING  # until the processor answers: a second confirm meanwhile is refused
    intent.next_action = None
    intent.last_payment_error = None
    intent.save()
    make_mandate(intent, pm)
    charge = Charge.objects.create(
        account_id=intent.account_id,
        livemode=intent.livemode,
        customer_id=intent.customer_id,
        payment_intent=intent,
        invoice_id=intent.invoice_id,
        payment_method=pm,
        amount=intent.amount,
        currency=intent.currency,
        status=Charge.Status.PENDING,
        description=intent.description,
        idempotency_key=f"{intent.pk}:{intent.attempt_count}",
    )
    audit.record(actor, "payment_intent.confirm", intent, {"payment_method": pm.id, "off_session": off_session})
    return charge.pk


def _ask(charge: Charge) -> PaymentResult | None:
    """The processor's answer for a pending charge (no database access; None when it could not be reached)."""
    intent = charge.payment_intent
    try:
        return gateway_of(intent).pay(
            reference=charge.payment_method.gateway_reference,
            amount=charge.amount,
            currency=charge.currency,
            livemode=charge.livemode,
            idempotency_key=charge.idempotency_key,
            off_session=intent.off_session,
            customer=customer_ref(intent.customer),
            return_url=intent.return_url,
            capture=intent.capture_method != PaymentIntent.CaptureMethod.MANUAL,
            setup_future_usage=bool(intent.setup_future_usage),
            description=intent.description,
        )
    except GatewayUnavailable as error:
        logger.warning("processor unavailable for payment %s: %s", intent.pk, error.message)
        return None
    except BillingError as error:  # refused outright: nothing was charged
        return PaymentResult(status="failed", failure_code=error.code, failure_message=error.message)


# ---------------------------------------------------------------------------------------------- answers


@service
def _record(intent_id: str, result: PaymentResult | None, *, charge_id: str | None = None) -> PaymentIntent:
    """Record the processor's answer on the intent (and its pending charge, or a new one for an answer that came
    after authentication or processing). No answer: the intent stays ``processing`` with its pending charge, which
    is asked again later with the same key."""
    invoice = _lock_invoice_of(intent_id)
    intent = lock(PaymentIntent, intent_id)
    charge = None
    if charge_id is not None:
        charge = (
            Charge.objects.select_for_update(no_key=True, of=("self",))
            .select_related("payment_method")
            .get(pk=charge_id)
        )
        if charge.status != Charge.Status.PENDING:
            return intent  # answered already
    if result is None:
        return intent
    remember_customer_reference(intent.customer_id, result.customer_reference)
    if result.status == "requires_action":
        if charge is not None:
            charge.delete()  # Stripe creates the charge once the customer has authenticated
        intent.status = Status.REQUIRES_ACTION
        intent.processor_reference = result.reference
        intent.next_action = redirect_action(intent, result.action_url)
        intent.save()
        emit("payment_intent.requires_action", intent)
        return intent
    charge = charge or _new_charge(intent)
    charge.gateway_reference = result.reference or charge.gateway_reference
    if result.status == "processing":
        intent.status = Status.PROCESSING
        intent.processor_reference = result.reference
        if charge._state.adding:  # processing after the customer authenticated: the attempt's first charge row
            charge.save()
        else:
            charge.save(update_fields=["gateway_reference"])
        intent.save()
        emit("payment_intent.processing", intent)
        return intent
    if result.status in ("succeeded", "requires_capture"):
        _succeeded(intent, charge, result)
    else:
        _failed(intent, charge, result)
    if invoice is not None:
        from billing.services.payments import invoice_payment_answered

        invoice_payment_answered(invoice, charge, succeeded=result.status == "succeeded")
    return intent


def _lock_invoice_of(intent_id: str) -> Invoice | None:
    """An invoice's PaymentIntent: its subscription and invoice are locked first (lock order: subscription,
    invoice, payment intent, charge)."""
    row = PaymentIntent.objects.filter(pk=intent_id).values_list("invoice_id", "invoice__subscription_id").first()
    if row is None or row[0] is None:
        return None
    if row[1]:
        lock(Subscription, row[1])
    return lock(Invoice, row[0])


def _count_invoice_attempt(invoice: Invoice, intent: PaymentIntent) -> None:
    """Confirming an invoice's PaymentIntent is an attempt on the invoice (the hosted invoice page, a client
    confirming ``latest_invoice.confirmation_secret``): only while something is owed, for what is owed."""
    if invoice.status not in (Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE) or invoice.amount_remaining <= 0:
        raise StateConflict(f"This invoice is {invoice.status}: there is nothing to pay.", code="invoice_not_payable")
    invoice.attempt_count += 1
    invoice.attempted = True
    invoice.save(update_fields=["attempt_count", "attempted"])
    intent.amount = invoice.amount_remaining


def _new_charge(intent: PaymentIntent) -> Charge:
    return Charge(
        account_id=intent.account_id,
        livemode=intent.livemode,
        customer_id=intent.customer_id,
        payment_intent=intent,
        invoice_id=intent.invoice_id,
        payment_method_id=intent.payment_method_id,
        amount=intent.amount,
        currency=intent.currency,
        status=Charge.Status.PENDING,
        description=intent.description,
        idempotency_key=f"{intent.pk}:{intent.attempt_count}",
    )


def _succeeded(intent: PaymentIntent, charge: Charge, result: PaymentResult) -> None:
    authorized_only = result.status == "requires_capture"
    charge.status = Charge.Status.SUCCEEDED
    charge.captured = not authorized_only
    charge.save()
    emit("charge.succeeded", charge)
    intent.processor_reference = result.reference
    intent.next_action = None
    intent.last_payment_error = None
    if authorized_only:
        intent.status = Status.REQUIRES_CAPTURE
        intent.amount_capturable = intent.amount
        intent.save()
        emit("payment_intent.amount_capturable_updated", intent)
    else:
        intent.status = Status.SUCCEEDED
        intent.amount_received = intent.amount
        intent.save()
        emit("payment_intent.succeeded", intent)
    _keep_method(intent, result)


def _keep_method(intent: PaymentIntent, result: PaymentResult) -> None:
    """``setup_future_usage``: the method is attached to the customer for later payments (with the processor's
    new handle when it made one, e.g. a mandate)."""
    pm = intent.payment_method
    if pm is None:
        return
    fields = []
    if result.method_reference and result.method_reference != pm.gateway_reference:
        pm.gateway_reference = result.method_reference
        fields.append("gateway_reference")
    if intent.setup_future_usage and intent.customer_id and pm.customer_id is None:
        pm.customer_id = intent.customer_id
        fields.append("customer")
    if fields:
        pm.save(update_fields=fields)
        if "customer" in fields:
            emit("payment_method.attached", pm)


def _failed(intent: PaymentIntent, charge: Charge, result: PaymentResult) -> None:
    charge.status = Charge.Status.FAILED
    charge.failure_code = result.failure_code or "card_declined"
    charge.decline_code = result.decline_code
    charge.failure_message = result.failure_message or "Your card was declined."
    charge.save()
    emit("charge.failed", charge)
    intent.status = Status.REQUIRES_PAYMENT_METHOD
    intent.next_action = None
    intent.last_payment_error = error_object(
        intent,
        code=charge.failure_code,
        message=charge.failure_message,
        decline_code=charge.decline_code,
        pm=intent.payment_method,
    )
    intent.last_payment_error["charge"] = charge.pk
    intent.save()
    emit("payment_intent.payment_failed", intent)


def raise_unless_succeeded(intent: PaymentIntent) -> None:
    """A failed confirmation as Stripe answers it: 402 with the error and the intent."""
    error = intent.last_payment_error
    if intent.status != Status.REQUIRES_PAYMENT_METHOD or not error:
        return
    raise CardDeclined(
        error["message"],
        decline_code=error.get("decline_code"),
        charge_id=error.get("charge"),
        code=error["code"],
        intent=rendered(intent),
    )


# ---------------------------------------------------------------------------------------------- after confirm


def payment_intent_authenticate(*, intent: PaymentIntent, succeeded: bool) -> PaymentIntent:
    """The customer's answer on the test gateway's simulated issuer page."""
    if intent.status != Status.REQUIRES_ACTION:
        return intent
    gateway = gateway_of(intent)
    result = gateway.authenticate(reference=intent.processor_reference, succeeded=succeeded, livemode=intent.livemode)
    if not succeeded:
        return _authentication_failed(intent.pk, result)
    return _record(intent.pk, result)


@service
def _authentication_failed(intent_id: str, result: PaymentResult) -> PaymentIntent:
    intent = lock(PaymentIntent, intent_id)
    if intent.status != Status.REQUIRES_ACTION:
        return intent
    intent.status = Status.REQUIRES_PAYMENT_METHOD
    intent.next_action = None
    intent.last_payment_error = error_object(
        intent, code=result.failure_code, message=result.failure_message, pm=intent.payment_method
    )
    intent.save()
    emit("payment_intent.payment_failed", intent)
    return intent


def payment_intent_refresh(*, intent: PaymentIntent) -> PaymentIntent:
    """Ask the processor again about a payment waiting for the customer or the bank (after the customer comes back
    from authenticating, or from the poll of processing payments)."""
    if intent.status not in (Status.REQUIRES_ACTION, Status.PROCESSING) or not intent.processor_reference:
        return intent
    try:
        result = gateway_of(intent).payment_status(reference=intent.processor_reference, livemode=intent.livemode)
    except GatewayUnavailable:
        return intent
    if result.status == intent.status:
        return intent
    pending = intent.charges.filter(status=Charge.Status.PENDING).values_list("pk", flat=True).first()
    return _record(intent.pk, result, charge_id=pending)


def processing_payment_intents(now):
    """Payments waiting for the bank (SEPA) or for a processor that did not answer: the billing cycle asks again
    (the processor's webhook usually brings the answer first)."""
    return PaymentIntent.objects.filter(status=Status.PROCESSING, created__lte=now)


def payment_intent_poll(intent_id: str) -> PaymentIntent | None:
    """Ask the processor about one ``processing`` payment: the bank's outcome, or the answer to a call that was
    lost (sent again with the same idempotency key)."""
    intent = PaymentIntent.objects.select_related("customer").filter(pk=intent_id, status=Status.PROCESSING).first()
    if intent is None:
        return None
    pending = (
        Charge.objects.select_related("payment_method", "payment_intent__customer")
        .filter(payment_intent=intent, status=Charge.Status.PENDING)
        .first()
    )
    if pending is not None and not pending.gateway_reference:
        if pending.created > pending_age_cutoff(clock.now()):
            return intent  # its confirmation may still be waiting for the answer
        return _record(intent.pk, _ask(pending), charge_id=pending.pk)
    return payment_intent_refresh(intent=intent)


def payment_intents_poll(now=None) -> int:
    """Every ``processing`` payment asked about once (see :func:`payment_intent_poll`); how many changed."""
    changed = 0
    for intent_id in processing_payment_intents(now or clock.now()).values_list("pk", flat=True):
        intent = payment_intent_poll(intent_id)
        if intent is not None and intent.status != Status.PROCESSING:
            changed += 1
    return changed
