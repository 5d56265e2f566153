"""Request ids: every response carries ``Request-Id``; events and audit entries record it."""

from billing import context, ids


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = ids.generate("req")
        idempotency_key = request.headers.get("Idempotency-Key", "")[:255]
        with context.bound(request_id=request.request_id, idempotency_key=idempotency_key):
            response = self.get_response(request)
        response["Request-Id"] = request.request_id
        return response
