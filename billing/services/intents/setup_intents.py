"""SetupIntents: save a payment method for later off-session payments, authenticating now where the issuer asks
(3-D Secure) and recording the customer's SEPA mandate."""

import logging

from billing import audit, clock
from billing.audit import Actor
from billing.exceptions import BillingError, CardDeclined, GatewayUnavailable, InvalidRequest
from billing.gateways.base import SetupResult
from billing.models import Account, Customer, PaymentMethod, SetupIntent
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
    redirect_action,
    remember_customer_reference,
    rendered,
    require_mandate,
    unexpected_state,
    use_method,
)

logger = logging.getLogger(__name__)

Status = SetupIntent.Status
CONFIRMABLE = SetupIntent.OPEN


def _clean_usage(usage: str | None) -> str:
    usage = usage or "off_session"
    if usage not in ("off_session", "on_session"):
        raise InvalidRequest("Invalid usage: must be one of off_session, on_session.", param="usage")
    return usage


def setup_intent_create(*, confirm: bool = False, **fields) -> SetupIntent:
    """A new SetupIntent; ``payment_method`` may be a test token (``pm_card_visa``). With ``confirm`` it is
    confirmed at once."""
    token = fields.get("payment_method")
    if isinstance(token, str):
        fields["payment_method"] = method_from_token(fields["account"].pk, fields["livemode"], token)
    intent = _create(**fields)
    if confirm:
        intent = setup_intent_confirm(intent=intent, actor=fields["actor"])
    return intent


@service
def _create(
    *,
    account: Account,
    livemode: bool,
    actor: Actor,
    customer: Customer | None = None,
    payment_method: PaymentMethod | None = None,
    payment_method_types: list[str] | None = None,
    usage: str | None = None,
    description: str = "",
    metadata: dict | None = None,
    return_url: str = "",
    mandate_data: dict | None = None,
) -> SetupIntent:
    intent = SetupIntent(
        account=account,
        livemode=livemode,
        customer=customer,
        payment_method_types=clean_types(payment_method_types),
        usage=_clean_usage(usage),
        description=description or "",
        metadata=validate_metadata(metadata),
        return_url=return_url or "",
    )
    if customer is not None:
        same_tenant(intent, customer)
    if payment_method is not None:
        payment_method = use_method(intent, actor, payment_method)
        intent.mandate_data = clean_mandate_data(mandate_data, payment_method)
        intent.status = Status.REQUIRES_CONFIRMATION
    intent.save()
    emit("setup_intent.created", intent)
    audit.record(actor, "setup_intent.create", intent)
    return intent


@service
def setup_intent_update(
    *,
    intent: SetupIntent,
    actor: Actor,
    customer: Customer | None = None,
    payment_method: PaymentMethod | None = None,
    payment_method_types: list[str] | None = None,
    description: str | None = None,
    metadata: dict | None = None,
) -> SetupIntent:
    intent = lock(SetupIntent, intent.pk)
    if intent.status not in CONFIRMABLE and (payment_method is not None or customer is not None):
        raise unexpected_state(intent, "update", "updated", CONFIRMABLE)
    changes = {}
    if customer is not None and customer.id != intent.customer_id:
        if intent.customer_id:
            raise InvalidRequest("You cannot change the customer of a SetupIntent.", param="customer")
        same_tenant(intent, customer)
        intent.customer = customer
        changes["customer"] = customer.id
    if payment_method_types is not None:
        intent.payment_method_types = clean_types(payment_method_types)
    if payment_method is not None:
        check_method(intent, payment_method)
        intent.payment_method = payment_method
        changes["payment_method"] = payment_method.id
        if intent.status == Status.REQUIRES_PAYMENT_METHOD:
            intent.status = Status.REQUIRES_CONFIRMATION
    if description is not None:
        intent.description = description
        changes["description"] = description
    if metadata is not None:
        intent.metadata = merge_metadata(intent.metadata, metadata)
        changes["metadata"] = intent.metadata
    intent.save()
    audit.record(actor, "setup_intent.update", intent, changes)
    return intent


def setup_intent_confirm(
    *,
    intent: SetupIntent,
    actor: Actor,
    payment_method: PaymentMethod | None = None,
    return_url: str | None = None,
    mandate_data: dict | None = None,
    raise_on_failure: bool = True,
) -> SetupIntent:
    if isinstance(payment_method, str):
        payment_method = method_from_token(intent.account_id, intent.livemode, payment_method)
    intent = _confirm_start(
        intent=intent, actor=actor, payment_method=payment_method, return_url=return_url, mandate_data=mandate_data
    )
    pm = intent.payment_method
    try:
        result = gateway_of(intent).setup(
            reference=pm.gateway_reference,
            livemode=intent.livemode,
            idempotency_key=f"{intent.pk}:{intent.attempt_count}",
            customer=customer_ref(intent.customer),
            return_url=intent.return_url,
            mandate=intent.mandate_data,
        )
    except GatewayUnavailable as error:
        logger.warning("processor unavailable for setup %s: %s", intent.pk, error.message)
        result = None
    except BillingError as error:  # refused outright
        result = SetupResult(status="failed", failure_code=error.code, failure_message=error.message)
    intent = _record(intent.pk, result)
    if raise_on_failure:
        raise_unless_succeeded(intent)
    return intent


@service
def _confirm_start(
    *,
    intent: SetupIntent,
    actor: Actor,
    payment_method: PaymentMethod | None,
    return_url: str | None,
    mandate_data: dict | None,
) -> SetupIntent:
    intent = lock(SetupIntent, intent.pk)
    if intent.status not in CONFIRMABLE:
        raise unexpected_state(intent, "confirm", "confirmed", CONFIRMABLE)
    if payment_method is not None:
        use_method(intent, actor, payment_method)
    pm = intent.payment_method
    if pm is None:
        raise InvalidRequest(
            "You cannot confirm this SetupIntent because it's missing a payment method. To confirm this "
            "SetupIntent, provide a payment_method.",
            param="payment_method",
            code="setup_intent_unexpected_state",
        )
    if mandate_data is not None:
        intent.mandate_data = clean_mandate_data(mandate_data, pm)
    require_mandate(intent, pm)
    if return_url is not None:
        intent.return_url = return_url
    gateway_of(intent).check_mode(livemode=intent.livemode)
    intent.attempt_count += 1
    intent.status = Status.PROCESSING
    intent.processor_reference = ""  # until this attempt's answer: a late webhook about an earlier one finds nothing
    intent.next_action = None
    intent.last_setup_error = None
    intent.save()
    audit.record(actor, "setup_intent.confirm", intent, {"payment_method": pm.id})
    return intent


@service
def _record(intent_id: str, result: SetupResult | None) -> SetupIntent:
    intent = lock(SetupIntent, intent_id)
    if intent.status not in (Status.PROCESSING, Status.REQUIRES_ACTION):
        return intent
    if result is None:  # the processor did not answer: the customer may confirm again
        intent.status = Status.REQUIRES_CONFIRMATION
        intent.save()
        return intent
    remember_customer_reference(intent.customer_id, result.customer_reference)
    if result.status == "requires_action":
        intent.status = Status.REQUIRES_ACTION
        intent.processor_reference = result.reference
        intent.next_action = redirect_action(intent, result.action_url)
        intent.save()
        emit("setup_intent.requires_action", intent)
    elif result.status == "processing":
        intent.status = Status.PROCESSING
        intent.processor_reference = result.reference
        intent.save()
    elif result.status == "succeeded":
        _succeeded(intent, result)
    else:
        intent.status = Status.REQUIRES_PAYMENT_METHOD
        intent.next_action = None
        intent.last_setup_error = error_object(
            intent,
            code=result.failure_code or "card_declined",
            message=result.failure_message or "Your card was declined.",
            decline_code=result.decline_code,
            pm=intent.payment_method,
        )
        intent.save()
        emit("setup_intent.setup_failed", intent)
    return intent


def _succeeded(intent: SetupIntent, result: SetupResult) -> None:
    pm = lock(PaymentMethod, intent.payment_method_id)
    fields = []
    if result.method_reference and result.method_reference != pm.gateway_reference:
        pm.gateway_reference = result.method_reference
        fields.append("gateway_reference")
    attach = intent.customer_id and pm.customer_id is None
    if attach:
        pm.customer_id = intent.customer_id
        fields.append("customer")
    if fields:
        pm.save(update_fields=fields)
    if attach:
        emit("payment_method.attached", pm)
    mandate = make_mandate(intent, pm, result.mandate_reference)
    intent.mandate = mandate
    intent.status = Status.SUCCEEDED
    intent.next_action = None
    intent.last_setup_error = None
    intent.processor_reference = result.reference or intent.processor_reference
    intent.save()
    emit("setup_intent.succeeded", intent)


def raise_unless_succeeded(intent: SetupIntent) -> None:
    error = intent.last_setup_error
    if intent.status != Status.REQUIRES_PAYMENT_METHOD or not error:
        return
    raise CardDeclined(
        error["message"], decline_code=error.get("decline_code"), code=error["code"], intent=rendered(intent)
    )


def setup_intent_authenticate(*, intent: SetupIntent, succeeded: bool) -> SetupIntent:
    """The customer's answer on the test gateway's simulated issuer page."""
    if intent.status != Status.REQUIRES_ACTION:
        return intent
    result = gateway_of(intent).authenticate_setup(
        reference=intent.processor_reference,
        method_reference=intent.payment_method.gateway_reference,
        succeeded=succeeded,
        livemode=intent.livemode,
    )
    return _record(intent.pk, result)


def setup_intent_refresh(*, intent: SetupIntent) -> SetupIntent:
    """Ask the processor again about a setup waiting for the customer or the bank (the customer came back from
    authenticating on the processor's page)."""
    if intent.status not in (Status.REQUIRES_ACTION, Status.PROCESSING) or not intent.processor_reference:
        return intent
    try:
        result = gateway_of(intent).setup_status(reference=intent.processor_reference, livemode=intent.livemode)
    except GatewayUnavailable:
        return intent
    if result.status == intent.status:
        return intent
    return _record(intent.pk, result)


@service
def setup_intent_cancel(*, intent: SetupIntent, actor: Actor, cancellation_reason: str = "") -> SetupIntent:
    intent = lock(SetupIntent, intent.pk)
    if intent.status not in CONFIRMABLE:
        raise unexpected_state(intent, "cancel", "canceled", CONFIRMABLE)
    intent.status = Status.CANCELED
    intent.cancellation_reason = cancellation_reason or ""
    intent.canceled_at = clock.now()
    intent.next_action = None
    intent.save()
    emit("setup_intent.canceled", intent)
    audit.record(actor, "setup_intent.cancel", intent, {"cancellation_reason": intent.cancellation_reason})
    return intent
