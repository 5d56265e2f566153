"""PaymentIntents and SetupIntents. Each confirmation has the shape of ``billing.services.payments``: a first
transaction counts the attempt (and for a payment writes the pending charge whose idempotency key is the intent id
and attempt number), the processor is asked after it commits, and a second short transaction records the answer.
An answer that needs the customer (3-D Secure) leaves the intent ``requires_action`` with a page to go to; one that
needs the bank (SEPA) leaves it ``processing`` until the processor's webhook or a poll brings the outcome."""

from billing.services.intents.captures import payment_intent_cancel, payment_intent_capture
from billing.services.intents.payment_intents import (
    payment_intent_authenticate,
    payment_intent_confirm,
    payment_intent_create,
    payment_intent_refresh,
    payment_intent_update,
)
from billing.services.intents.setup_intents import (
    setup_intent_authenticate,
    setup_intent_cancel,
    setup_intent_confirm,
    setup_intent_create,
    setup_intent_refresh,
    setup_intent_update,
)

__all__ = [
    "payment_intent_authenticate",
    "payment_intent_cancel",
    "payment_intent_capture",
    "payment_intent_confirm",
    "payment_intent_create",
    "payment_intent_refresh",
    "payment_intent_update",
    "setup_intent_authenticate",
    "setup_intent_cancel",
    "setup_intent_confirm",
    "setup_intent_create",
    "setup_intent_refresh",
    "setup_intent_update",
]
