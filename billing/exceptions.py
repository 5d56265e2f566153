"""Typed domain errors with a message people can act on and, for the API, the offending param."""


class BillingError(Exception):
    """Base class: ``message`` for people, ``param`` for the API, ``code`` for machines."""

    code = "invalid_request"
    http_status = 400

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class InvalidRequest(BillingError):
    code = "parameter_invalid"


class NotFound(BillingError):
    code = "resource_missing"
    http_status = 404


class StateConflict(BillingError):
    """The object is not in a state that allows the operation."""

    code = "invalid_state"


class PaymentMethodRequired(BillingError):
    code = "payment_method_required"


class LastPaymentMethod(BillingError):
    code = "last_payment_method"


class DuplicatePaymentMethod(BillingError):
    """The customer already has this card or bank account (same type and fingerprint). Stripe's API attaches
    duplicates; the customer-facing pages refuse them."""

    code = "payment_method_duplicate"

    def __init__(self, message: str, *, existing_type: str):
        super().__init__(message, param="payment_method")
        self.existing_type = existing_type


class CardDeclined(BillingError):
    """A payment attempt was declined; carries Stripe's decline code."""

    code = "card_declined"
    http_status = 402

    def __init__(
        self,
        message: str,
        *,
        decline_code: str | None = None,
        charge_id: str | None = None,
        param=None,
        code: str | None = None,
        intent: dict | None = None,
    ):
        super().__init__(message, param=param, code=code)
        self.decline_code = decline_code
        self.charge_id = charge_id
        # The PaymentIntent or SetupIntent (as Stripe's JSON) whose confirmation failed: Stripe's error carries it.
        self.intent = intent


class GatewayUnavailable(BillingError):
    """The payment gateway could not be reached or refused the request; nothing was charged."""

    code = "gateway_unavailable"
    http_status = 502


class LiveModeNotAllowed(BillingError):
    code = "livemode_not_allowed"
    http_status = 403


class ProcessorNotConfigured(BillingError):
    """The account has no payment processor for the mode (live mode needs one; test mode falls back to the test
    gateway)."""

    code = "processor_not_configured"
    http_status = 400
