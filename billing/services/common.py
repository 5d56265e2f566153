"""Helpers shared by the services: locking, validation and event emission."""

from decimal import Decimal, InvalidOperation

from django.db import models

from billing import audit, events, payment_representations, representations
from billing.audit import Actor
from billing.exceptions import InvalidRequest, NotFound
from billing.models import Account

METADATA_MAX_KEYS = 50
METADATA_KEY_MAX = 40
METADATA_VALUE_MAX = 500

RENDER = {
    "Customer": representations.customer,
    "TaxId": representations.tax_id,
    "PaymentMethod": representations.payment_method,
    "Product": representations.product,
    "Price": representations.price,
    "TaxRate": representations.tax_rate,
    "Coupon": representations.coupon,
    "PromotionCode": representations.promotion_code,
    "Subscription": representations.subscription,
    "Invoice": representations.invoice,
    "InvoiceItem": representations.invoice_item,
    "Charge": payment_representations.charge,
    "Refund": payment_representations.refund,
    "Mandate": payment_representations.mandate,
    "PaymentIntent": payment_representations.payment_intent,
    "SetupIntent": payment_representations.setup_intent,
    "TestClock": representations.test_clock,
}


def render(obj) -> dict:
    return RENDER[type(obj).__name__](obj)


def emit(type_: str, obj, *, before: dict | None = None) -> dict:
    """Record an event for ``obj``; with ``before``, ``previous_attributes`` holds what changed."""
    data = render(obj)
    previous = events.changed_attributes(before, data) if before is not None else None
    events.record(type=type_, obj=obj, data=data, previous_attributes=previous)
    return data


def record_created(obj, actor: Actor, action: str, event: str):
    """The audit entry and the ``*.created`` event of a row just inserted; returns the row."""
    audit.record(actor, action, obj)
    emit(event, obj)
    return obj


def save_changes(obj, before: dict, fields: list[str], *, actor: Actor, action: str, event: str):
    """Save ``fields`` and record the update, unless the Stripe JSON of ``obj`` did not change."""
    if render(obj) == before:
        return obj
    obj.save(update_fields=fields)
    after = emit(event, obj, before=before)
    changes = {key: after[key] for key in after if before.get(key) != after[key]}
    audit.record(actor, action, obj, changes)
    return obj


def lock(model: type[models.Model], pk: str):
    """The row, locked ``FOR NO KEY UPDATE`` until the transaction ends (see ``billing.services.door``)."""
    try:
        return model.objects.select_for_update(no_key=True).get(pk=pk)
    except model.DoesNotExist:
        raise NotFound(f"No such {model._meta.model_name}: '{pk}'", param="id")


def lock_account(account_id: str) -> None:
    """Serialise checks of per-account rules the database cannot hold (a lookup key or an active promotion code
    used once, one default configuration per mode)."""
    Account.objects.select_for_update(no_key=True).filter(pk=account_id).first()


def same_tenant(*objs) -> None:
    first = objs[0]
    for other in objs[1:]:
        if other is not None and (other.account_id, other.livemode) != (first.account_id, first.livemode):
            raise NotFound(f"No such {other._meta.model_name}: '{other.pk}'")


def clean_text(value: str, *, param: str, max_length: int, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidRequest(f"Invalid {param}: must not be empty.", param=param, code="parameter_invalid_empty")
    if len(value) > max_length:
        raise InvalidRequest(f"Invalid {param}: must be at most {max_length} characters.", param=param)
    return value


def clean_decimal(value, *, param: str, places: int) -> Decimal:
    try:
        number = Decimal(str(value))
        if not number.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        raise InvalidRequest(f"Invalid {param}: must be a number.", param=param)
    if number.as_tuple().exponent < -places:
        raise InvalidRequest(f"Invalid {param}: at most {places} decimal places are allowed.", param=param)
    return number


def validate_metadata(metadata: dict | None, *, param: str = "metadata") -> dict:
    metadata = metadata or {}
    if not isinstance(metadata, dict):
        raise InvalidRequest("Invalid metadata: must be a set of key-value pairs.", param=param)
    if len(metadata) > METADATA_MAX_KEYS:
        raise InvalidRequest(f"Invalid metadata: at most {METADATA_MAX_KEYS} keys are allowed.", param=param)
    for key, value in metadata.items():
        if len(str(key)) > METADATA_KEY_MAX or "[" in str(key) or "]" in str(key):
            raise InvalidRequest(
                f"Invalid metadata key '{key}': keys are at most {METADATA_KEY_MAX} characters without square brackets.",
                param=f"{param}[{key}]",
            )
        if isinstance(value, dict | list | tuple):
            # str() would store "['a']": refuse instead, as Stripe does for nested metadata.
            raise InvalidRequest(
                f"Invalid metadata value for '{key}': values must be text, not a list or an object. For several "
                "values, use one key for each.",
                param=f"{param}[{key}]",
            )
        if len(str(value)) > METADATA_VALUE_MAX:
            raise InvalidRequest(
                f"Invalid metadata value for '{key}': at most {METADATA_VALUE_MAX} characters.", param=f"{param}[{key}]"
            )
    return {str(k): str(v) for k, v in metadata.items()}


def merge_metadata(current: dict, update: dict | str | None) -> dict:
    """Stripe's semantics: ``""`` clears all; a key with an empty value is removed."""
    if update == "":
        return {}
    merged = dict(current)
    for key, value in (update or {}).items():
        if value in ("", None):
            merged.pop(key, None)
        else:
            merged[key] = value
    return validate_metadata(merged)
