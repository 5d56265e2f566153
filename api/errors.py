"""Stripe's error object and the mapping from domain errors to it."""

from django.http import JsonResponse

from billing.exceptions import BillingError, CardDeclined, LiveModeNotAllowed, NotFound


class ApiError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        extra: dict | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.extra = extra or {}

    def body(self, request_id: str = "") -> dict:
        error = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://docs.stripe.com/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        if request_id:
            error["request_log_url"] = None
        error.update(self.extra)
        return {"error": error}

    def response(self, request_id: str = "") -> JsonResponse:
        response = JsonResponse(self.body(request_id), status=self.status)
        if self.status == 429:
            response["Stripe-Should-Retry"] = "false"
        return response


def missing(param: str) -> ApiError:
    return ApiError(f"Missing required param: {param}.", code="parameter_missing", param=param)


def unknown(param: str) -> ApiError:
    return ApiError(f"Received unknown parameter: {param}", code="parameter_unknown", param=param)


def invalid(param: str, message: str, code: str = "parameter_invalid_string") -> ApiError:
    return ApiError(message, code=code, param=param)


def no_such(kind: str, object_id: str, param: str = "id") -> ApiError:
    return ApiError(f"No such {kind}: '{object_id}'", status=404, code="resource_missing", param=param)


def from_domain(error: BillingError) -> ApiError:
    if isinstance(error, CardDeclined):
        extra = {"decline_code": error.decline_code} if error.decline_code else {}
        if error.charge_id:
            extra["charge"] = error.charge_id
        if error.intent:
            extra[error.intent["object"]] = error.intent
        # Stripe reports expired cards and wrong CVCs under their own codes, other declines as card_declined.
        code = error.decline_code if error.decline_code in ("expired_card", "incorrect_cvc") else "card_declined"
        if error.code not in (CardDeclined.code, "card_declined"):
            code = error.code  # authentication_required, payment_intent_authentication_failure, …
        return ApiError(error.message, status=402, type="card_error", code=code, param=error.param, extra=extra)
    if isinstance(error, NotFound):
        return ApiError(error.message, status=404, code=error.code, param=error.param)
    if isinstance(error, LiveModeNotAllowed):
        return ApiError(error.message, status=403, code=error.code, param=error.param)
    return ApiError(error.message, status=error.http_status, code=error.code, param=error.param)
