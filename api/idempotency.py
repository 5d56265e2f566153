"""Idempotency-Key on POST: the first result is stored 24 h and replayed; other params are refused."""

import datetime as dt
import hashlib
import hmac
import json

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse

from api.errors import ApiError
from api.models import IdempotencyRecord
from billing import clock

RETENTION = dt.timedelta(hours=24)
MAX_KEY_LENGTH = 255


def fingerprint(method: str, path: str, params: dict) -> str:
    """Keyed, so a stored fingerprint cannot be used to guess low-entropy params such as card numbers."""
    canonical = json.dumps([method, path, params], sort_keys=True, default=str)
    return hmac.new(settings.SECRET_KEY.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def begin(caller, key: str, print_: str) -> IdempotencyRecord | HttpResponse:
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


def forget(record: IdempotencyRecord) -> None:
    """The request ended without a result worth keeping (it may simply be sent again)."""
    IdempotencyRecord.objects.filter(pk=record.pk).delete()
