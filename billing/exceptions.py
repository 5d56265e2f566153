"""Typed domain errors with a message people can act on and, for the API, the offending param."""

import copy

from django.utils import translation
from django.utils.functional import Promise, lazy


def _render(text, params: dict | None) -> str:
    """``text`` (lazy texts in the active language) with its ``%(name)s`` placeholders filled from ``params``."""
    text = str(text)
    if params is None:
        return text
    return text % {name: str(value) if isinstance(value, Promise) else value for name, value in params.items()}


_lazy_render = lazy(_render, str)


def lazy_text(text, params: dict | None = None) -> Promise:
    """``text`` (marked with ``gettext_lazy``) with its placeholders filled from ``params``, rendered when read: a
    message built before it is raised (``invalid(param, lazy_text(...))``) stays English in ``BillingError.message``
    and reads in the reader's language in ``localized``, as one given with ``params``."""
    return _lazy_render(text, params)


class BillingError(Exception):
    """Base class: ``message`` for people, ``param`` for the API, ``code`` for machines.

    ``message`` is English, as Stripe's API answers whatever the language. A message marked for translation
    (``gettext_lazy``, its placeholders in ``params``, lazy values among them rendered in the same language) is also
    shown in the reader's language where people read it, in the admin: ``localized``."""

    code = "invalid_request"
    http_status = 400

    def __init__(self, message, *, param: str | None = None, code: str | None = None, params: dict | None = None):
        if isinstance(message, Promise):
            with translation.override("en"):
                english = _render(message, params)
        else:
            english = message if params is None else _render(message, params)
        super().__init__(english)
        self.message = english
        self._text, self._params = message, params
        self.param = param
        if code is not None:
            self.code = code

    @property
    def localized(self) -> str:
        """The message in the active language (English when it is not marked for translation)."""
        if not isinstance(self._text, Promise):
            return self.message
        return _render(self._text, self._params)

    def reworded(self, text: str) -> "BillingError":
        """A copy saying ``text`` instead, in every language (a page that names the params its own way)."""
        error = copy.copy(self)
        error.message = error._text = text
        error._params = None
        return error


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

    def __init__(self, message, *, existing_type: str):
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
