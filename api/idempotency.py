"""Idempotency-Key on POST: the first result is stored 24 h and replayed; other params are refused."""

import datetime as dt
import hashlib
import hmac
import json

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse, JsonResponse

from api.errors import ApiError
from api.models import IdempotencyRecord
from billing import clock, representations
from billing.models import Customer, Event, Invoice, PaymentMethod, Price, Product, PromotionCode, Subscription, TaxRate

RETENTION = dt.timedelta(hours=24)
MAX_KEY_LENGTH = 255
# A request still "in progress" after this long died with its process (gunicorn's timeout is far shorter).
ABANDONED_AFTER = dt.timedelta(minutes=2)
# What a committed write answered, rebuilt from its event when the process died before storing the answer.
REPLAYABLE = {
    "customer": (Customer, representations.customer),
    "subscription": (Subscription, representations.subscription),
    "invoice": (Invoice, representations.invoice),
    "payment_method": (PaymentMethod, representations.payment_method),
    "product": (Product, representations.product),
    "price": (Price, representations.price),
    "tax_rate": (TaxRate, representations.tax_rate),
    "promotion_code": (PromotionCode, representations.promotion_code),
}


def fingerprint(method: str, path: str, params: dict) -> str:
    """Keyed, so a stored fingerprint cannot be used to guess low-entropy params such as card numbers."""
    canonical = json.dumps([method, path, params], sort_keys=True, default=str)
    return hmac.new(settings.SECRET_KEY.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def begin(caller, key: str, print_: str, response_object: str = "") -> IdempotencyRecord | HttpResponse:
    """Claim the key (a stored record) or answer from it: a replay, a mismatch or a conflict."""
    if len(key) > MAX_KEY_LENGTH:
        raise ApiError(f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters.", type="idempotency_error")
    scope = {"account": caller.account, "livemode": caller.livemode, "key": key}
    IdempotencyRecord.objects.filter(**scope, created__lt=clock.now() - RETENTION).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(**scope, fingerprint=print_)
    except IntegrityError:
        pass
    record = IdempotencyRecord.objects.filter(**scope).first()
    if record is None:  # removed meanwhile: the caller may retry
        raise ApiError(
            "There is currently another in-progress request using this Idempotent Key.",
            status=409,
            type="idempotency_error",
            code="idempotency_key_in_use",
        )
    if record.fingerprint != print_:
        raise ApiError(
            f"Keys for idempotent requests can only be used with the same parameters they were first used with. "
            f"Try using a key other than '{key}' if you meant to execute a different request.",
            type="idempotency_error",
        )
    if record.status == IdempotencyRecord.Status.IN_PROGRESS and record.created <= clock.now() - ABANDONED_AFTER:
        return _abandoned(record, caller, response_object)
    if record.status == IdempotencyRecord.Status.IN_PROGRESS:
        raise ApiError(
            "There is currently another in-progress request using this Idempotent Key (that probably means you "
            "submitted twice, and the other request is still going through). Please retry this request later.",
            status=409,
            type="idempotency_error",
            code="idempotency_key_in_use",
        )
    response = HttpResponse(record.response_body, status=record.response_status, content_type="application/json")
    response["Idempotent-Replayed"] = "true"
    response["Original-Request"] = record.request_id
    return response


def finish(record: IdempotencyRecord, response: HttpResponse, request_id: str) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status=IdempotencyRecord.Status.DONE,
        response_status=response.status_code,
        response_body=response.content.decode(),
        request_id=request_id,
    )


def _abandoned(record: IdempotencyRecord, caller, response_object: str) -> IdempotencyRecord | HttpResponse:
    """The request holding the key died. If its write committed (its events carry the key), answer with the object
    it wrote as it is now; if nothing committed, this request takes the key over and runs."""
    written = Event.objects.filter(account=caller.account, livemode=caller.livemode, idempotency_key=record.key)
    objects = [event.data_object for event in written.order_by("id").only("data_object")]
    if not objects:
        taken = IdempotencyRecord.objects.filter(pk=record.pk, created=record.created).update(created=clock.now())
        if taken:
            return record
        raise ApiError(
            "There is currently another in-progress request using this Idempotent Key. Please retry this request later.",
            status=409,
            type="idempotency_error",
            code="idempotency_key_in_use",
        )
    found = next((obj for obj in objects if obj.get("object") == response_object), None)
    if found is None or response_object not in REPLAYABLE:
        raise ApiError(
            f"The first request with this Idempotency-Key was carried out but its answer was lost; it wrote "
            f"{', '.join(sorted({obj.get('id', '') for obj in objects}))}. Retrieve those objects instead.",
            status=409,
            type="idempotency_error",
            code="idempotency_key_in_use",
        )
    model, render = REPLAYABLE[response_object]
    obj = model.objects.filter(pk=found["id"], account=caller.account, livemode=caller.livemode).first()
    body = JsonResponse(render(obj) if obj is not None else found)
    finish(record, body, record.request_id)
    body["Idempotent-Replayed"] = "true"
    return body


def forget(record: IdempotencyRecord) -> None:
    """The request ended without a result worth keeping (it may simply be sent again)."""
    IdempotencyRecord.objects.filter(pk=record.pk).delete()
