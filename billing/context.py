"""Per-request context (request id, idempotency key) that events and audit entries carry."""

import contextlib
import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    idempotency_key: str = ""


_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar("billing_request", default=RequestContext())


def current() -> RequestContext:
    return _current.get()


@contextlib.contextmanager
def bound(*, request_id: str = "", idempotency_key: str = ""):
    token = _current.set(RequestContext(request_id=request_id, idempotency_key=idempotency_key))
    try:
        yield
    finally:
        _current.reset(token)
