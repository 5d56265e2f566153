"""Helpers shared by the services: locking, validation and event emission."""

from decimal import Decimal, InvalidOperation

from django.db import models
from django.utils.translation import gettext_lazy as _

from billing import audit, events, payment_representations, representations
from billing.audit import Actor
from billing.exceptions import InvalidRequest, NotFound
from billing.metadata import metadata_error
from billing.models import Account

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


# "No such …" for the rows the services lock or compare: Stripe's English names the kind as the model does
# (``paymentmethod``, ``invoiceitem``); where people read it, in the admin, it reads in their language.
NO_SUCH = {
    "account": _("No such account: '%(id)s'"),
    "charge": _("No such charge: '%(id)s'"),
    "configuration": _("No such configuration: '%(id)s'"),
    "checkoutsession": _("No such checkoutsession: '%(id)s'"),
    "coupon": _("No such coupon: '%(id)s'"),
    "customer": _("No such customer: '%(id)s'"),
    "invoice": _("No such invoice: '%(id)s'"),
    "invoiceitem": _("No such invoiceitem: '%(id)s'"),
    "meter": _("No such meter: '%(id)s'"),
    "billing.meter": _("No such billing.meter: '%(id)s'"),
    "paymentintent": _("No such paymentintent: '%(id)s'"),
    "paymentmethod": _("No such paymentmethod: '%(id)s'"),
    "price": _("No such price: '%(id)s'"),
    "processoraccount": _("No such processoraccount: '%(id)s'"),
    "product": _("No such product: '%(id)s'"),
    "promotioncode": _("No such promotioncode: '%(id)s'"),
    "refund": _("No such refund: '%(id)s'"),
    "setupintent": _("No such setupintent: '%(id)s'"),
    "subscription": _("No such subscription: '%(id)s'"),
    "taxid": _("No such taxid: '%(id)s'"),
    "tax id": _("No such tax id: '%(id)s'"),
    "taxrate": _("No such taxrate: '%(id)s'"),
    "testclock": _("No such testclock: '%(id)s'"),
    "test clock": _("No such test clock: '%(id)s'"),
    "webhook delivery": _("No such webhook delivery: '%(id)s'"),
    "webhook endpoint": _("No such webhook endpoint: '%(id)s'"),
}


def no_such(kind: str, pk, *, param: str | None = None) -> NotFound:
    """``NotFound`` for the ``kind`` of row (a model name, or Stripe's name for it) with the id ``pk``."""
    text = NO_SUCH.get(kind)
    if text is None:
        return NotFound(f"No such {kind}: '{pk}'", param=param)
    return NotFound(text, params={"id": pk}, param=param)


def lock(model: type[models.Model], pk: str):
    """The row, locked ``FOR NO KEY UPDATE`` until the transaction ends (see ``billing.services.door``)."""
    try:
        return model.objects.select_for_update(no_key=True).get(pk=pk)
    except model.DoesNotExist:
        raise no_such(model._meta.model_name, pk, param="id")


def lock_account(account_id: str) -> None:
    """Serialise checks of per-account rules the database cannot hold (a lookup key or an active promotion code
    used once, one default configuration per mode)."""
    Account.objects.select_for_update(no_key=True).filter(pk=account_id).first()


def same_tenant(*objs) -> None:
    first = objs[0]
    for other in objs[1:]:
        if other is not None and (other.account_id, other.livemode) != (first.account_id, first.livemode):
            raise no_such(other._meta.model_name, other.pk)


def clean_text(value: str, *, param: str, max_length: int, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidRequest(
            _("Invalid %(param)s: must not be empty."),
            params={"param": param},
            param=param,
            code="parameter_invalid_empty",
        )
    if len(value) > max_length:
        raise InvalidRequest(
            _("Invalid %(param)s: must be at most %(max)s characters."),
            params={"param": param, "max": max_length},
            param=param,
        )
    return value


def clean_decimal(value, *, param: str, places: int) -> Decimal:
    try:
        number = Decimal(str(value))
        if not number.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        raise InvalidRequest(_("Invalid %(param)s: must be a number."), params={"param": param}, param=param)
    if number.as_tuple().exponent < -places:
        raise InvalidRequest(
            _("Invalid %(param)s: at most %(places)s decimal places are allowed."),
            params={"param": param, "places": places},
            param=param,
        )
    return number


def validate_metadata(metadata: dict | None, *, param: str = "metadata") -> dict:
    metadata = metadata or {}
    error = metadata_error(metadata, param=param)
    if error is not None:
        raise error
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
