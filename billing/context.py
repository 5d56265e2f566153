"""Per-request context (request id, idempotency key) that events and audit entries carry."""

import contextlib
import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    idempotency_key: str = ""


_EMPTY = RequestContext()
_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("billing_request", default=None)


def current() -> RequestContext:
    return _current.get() or _EMPTY


@contextlib.contextmanager
def bound(*, request_id: str = "", idempotency_key: str = ""):
    token = _current.set(RequestContext(request_id=request_id, idempotency_key=idempotency_key))
    try:
        yield
    finally:
        _current.reset(token)
