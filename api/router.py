"""Operations (method, path, params, handler) -> Django URL patterns; the request pipeline for each."""

import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError
from django.http import HttpResponse, JsonResponse
from django.urls import path as django_path
from django.views.decorators.csrf import csrf_exempt

from api import errors, expand, idempotency, ratelimit
from api.auth import Caller, authenticate
from api.encoding import MAX_BODY_BYTES, EncodingError, parse_body, parse_query
from api.params import Object
from billing import clock
from billing.events import API_VERSION
from billing.exceptions import BillingError
from billing.models import Customer, Invoice, Subscription
from billing.services.door import retryable

logger = logging.getLogger(__name__)
LOCK_TIMEOUT = errors.ApiError(
    "This object cannot be accessed right now because another API request is changing it. Retry in a moment.",
    status=409,
    type="invalid_request_error",
    code="lock_timeout",
)


@dataclass
class Operation:
    method: str
    path: str  # OpenAPI style: /v1/customers/{customer}
    handler: Callable
    params: Object
    response: str
    summary: str = ""
    tags: list[str] = field(default_factory=list)


@dataclass
class Context:
    caller: Caller
    request: object
    # A request that reads a test-clock customer (or its subscription or invoice) runs in the clock's time.
    clock_scope: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    in_clock_time: bool = False
    # Objects the handler has read (id -> instance): an expansion of their ids uses them instead of reading again.
    loaded: dict = field(default_factory=dict)

    @property
    def account(self):
        return self.caller.account

    @property
    def livemode(self) -> bool:
        return self.caller.livemode

    @property
    def actor(self):
        return self.caller.actor

    def scope(self, model):
        """Every read goes through here: rows of this account and mode only."""
        return model.objects.filter(account=self.account, livemode=self.livemode)

    def remember(self, objects) -> None:
        """Offer rows already read to the expansion (``expand[]``) of this response."""
        self.loaded.update((obj.pk, obj) for obj in objects)

    def get(self, model, object_id: str, label: str, *, param: str = "id", queryset=None):
        if queryset is None:
            queryset = self.scope(model)
            # A deleted object (Stripe's ``deleted: true``, e.g. a customer) no longer exists for the API.
            if any(f.name == "deleted" for f in model._meta.concrete_fields):
                queryset = queryset.filter(deleted=False)
        # A NUL character can never be part of an id (and PostgreSQL refuses it in queries).
        valid = isinstance(object_id, str) and "\x00" not in object_id
        obj = queryset.filter(pk=object_id).first() if valid else None
        if obj is None:
            raise errors.no_such(label, object_id, param=param)
        if not self.livemode:
            self._enter_clock_time(obj)
        return obj

    def _enter_clock_time(self, obj) -> None:
        """The rest of the request runs in the test clock's time of the customer ``obj`` is (or belongs to)."""
        if self.in_clock_time:
            return
        if not isinstance(obj, Customer | Subscription | Invoice) or not obj.test_clock_id:
            return  # subscriptions and invoices carry their customer's clock
        test_clock = obj.test_clock
        if not test_clock.deleted:
            self.clock_scope.enter_context(clock.simulated_at(test_clock.frozen_time))
            self.in_clock_time = True


OPERATIONS: list[Operation] = []


def operation(method: str, path: str, *, params: dict | None = None, response: str, summary: str = "", tags=()):
    def register(handler):
        OPERATIONS.append(Operation(method, path, handler, Object(params or {}), response, summary, list(tags)))
        return handler

    return register


def _not_found(request) -> JsonResponse:
    return errors.ApiError(f"Unrecognized request URL ({request.method}: {request.path}).", status=404).response()


FORM_ENCODED = "application/x-www-form-urlencoded"


def _too_large() -> errors.ApiError:
    return errors.ApiError(
        f"The request body is larger than the limit of {MAX_BODY_BYTES // 1024} KB.",
        status=413,
        code="request_too_large",
    )


def dispatch(request, op: Operation, kwargs: dict) -> HttpResponse:
    record = None
    try:
        caller = authenticate(request)
        ratelimit.check(caller)
        if op.method in ("GET", "DELETE"):
            raw = parse_query(request.META.get("QUERY_STRING", ""))
        else:
            raw = parse_body(_body(request))
        params = op.params.parse(raw, "")
        key = request.headers.get("Idempotency-Key") if op.method == "POST" else None
        if key:
            claimed = idempotency.begin(
                caller, key, idempotency.fingerprint(op.method, request.path, raw), response_object=op.response
            )
            if isinstance(claimed, HttpResponse):
                return claimed
            record = claimed
        ctx = Context(caller=caller, request=request)
        with ctx.clock_scope:
            body = op.handler(ctx, params, **kwargs)
        if isinstance(body, HttpResponse):
            response = body
        else:
            version = request.headers.get("Stripe-Version")
            expand.legacy_invoice_fields(body, version, caller)
            body = expand.apply(body, params.get("expand") or [], caller, ctx.loaded)
            expand.legacy_invoice_fields(body, version, caller)  # invoices the expansion brought in
            response = JsonResponse(body)
    except errors.ApiError as error:
        response = error.response()
    except RequestDataTooBig:
        response = _too_large().response()
    except EncodingError as error:
        response = errors.ApiError(error.message, param=error.param, code="parameter_invalid_string").response()
    except BillingError as error:
        response = errors.from_domain(error).response()
    except OperationalError as error:
        if not retryable(error):
            logger.exception("API %s %s failed", request.method, request.path)
            response = errors.ApiError("An unknown error occurred.", status=500, type="api_error").response()
        else:  # still deadlocked after the service's own retry: nothing was written, the client may retry
            logger.warning("API %s %s: %s", request.method, request.path, error.__cause__.__class__.__name__)
            response = LOCK_TIMEOUT.response()
            if record is not None:
                idempotency.forget(record)  # Stripe keeps no result for a concurrent-conflict 409
                record = None
    except Exception:
        logger.exception("API %s %s failed", request.method, request.path)
        response = errors.ApiError("An unknown error occurred.", status=500, type="api_error").response()
    if record is not None:
        idempotency.finish(record, response, getattr(request, "request_id", ""))
    response["Stripe-Version"] = request.headers.get("Stripe-Version") or API_VERSION
    return response


def _body(request) -> bytes:
    """The raw body, refused before it is read when its declared length is over the limit, and refused as Stripe
    does when it is not form-encoded (a JSON or multipart body would otherwise read as nonsense parameters)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        raise _too_large()
    body = request.body
    content_type = request.META.get("CONTENT_TYPE", "")
    if body and content_type.partition(";")[0].strip().lower() != FORM_ENCODED:
        raise errors.ApiError(
            f"Invalid request: unsupported Content-Type {content_type}. "
            f"Send the parameters form-encoded ({FORM_ENCODED})."
        )
    return body


def _view(ops: dict[str, Operation]):
    @csrf_exempt
    def view(request, **kwargs):
        op = ops.get(request.method)
        return dispatch(request, op, kwargs) if op else _not_found(request)

    return view


def urlpatterns() -> list:
    by_path: dict[str, dict[str, Operation]] = defaultdict(dict)
    for op in OPERATIONS:
        by_path[op.path][op.method] = op
    patterns = []
    # Literal paths before parameterised ones (/v1/subscriptions/search before /v1/subscriptions/{id}).
    for path, ops in sorted(by_path.items(), key=lambda item: ("{" in item[0], item[0])):
        route = path.lstrip("/").replace("{", "<str:").replace("}", ">")
        patterns.append(django_path(route, _view(ops)))
    return patterns


@csrf_exempt
def not_found_view(request, rest: str = ""):
    """Any other URL under /v1/, whatever the method: Stripe's JSON 404 (a POST never meets the CSRF check)."""
    return _not_found(request)
