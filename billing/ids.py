"""Stripe-style prefixed identifiers: a time-ordered head and at least 80 random bits."""

import secrets
import threading
import time

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"  # sorts the same in every collation
TIME_CHARS = 9  # milliseconds since the epoch, base 36: good until the year 5138
RANDOM_CHARS = 16  # 36**16 is about 2**82.7

PREFIXES = {
    "account": "acct",
    "customer": "cus",
    "product": "prod",
    "price": "price",
    "subscription": "sub",
    "subscription_item": "si",
    "invoice": "in",
    "invoice_line_item": "il",
    "invoice_item": "ii",
    "payment_method": "pm",
    "charge": "ch",
    "payment_intent": "pi",
    "setup_intent": "seti",
    "mandate": "mandate",
    "refund": "re",
    "event": "evt",
    "webhook_endpoint": "we",
    "portal_configuration": "bpc",
    "portal_session": "bps",
    "cancellation_offer": "bco",
    "promotion_code": "promo",
    "tax_rate": "txr",
    "tax_id": "txi",
    "customer_balance_transaction": "cbtxn",
    "discount": "di",
    "request": "req",
    "test_clock": "clock",
    "meter": "mtr",
}


def _base36(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rest = divmod(number, 36)
        chars.append(ALPHABET[rest])
    return "".join(reversed(chars))


_lock = threading.Lock()
_last = (0, 0)
_RANDOM_SPACE = 36**RANDOM_CHARS


def _next_parts() -> tuple[int, int]:
    """Milliseconds and random bits, strictly increasing within the process (like monotonic ULIDs):
    ids made in the same millisecond keep their creation order."""
    global _last
    with _lock:
        now_ms = int(time.time() * 1000)
        last_ms, last_random = _last
        if now_ms <= last_ms:
            now_ms, random_part = last_ms, last_random + 1 + secrets.randbelow(1 << 40)
            if random_part >= _RANDOM_SPACE:
                now_ms, random_part = last_ms + 1, secrets.randbelow(_RANDOM_SPACE // 2)
        else:
            random_part = secrets.randbelow(_RANDOM_SPACE // 2)
        _last = (now_ms, random_part)
        return now_ms, random_part


def generate(prefix: str) -> str:
    """A new id such as ``cus_0mh3k2x9a4f8q1z7c6v5b2n0p``; ordering ids orders creation."""
    now_ms, random_part = _next_parts()
    return f"{prefix}_{_base36(now_ms, TIME_CHARS)}{_base36(random_part, RANDOM_CHARS)}"


def _make_generator(kind: str, prefix: str):
    def make() -> str:
        return generate(prefix)

    make.__name__ = make.__qualname__ = f"generate_{kind}_id"
    make.__module__ = __name__
    return make


# Module-level generators (generate_customer_id, ...) so migrations can reference them by name.
for _kind, _prefix in PREFIXES.items():
    globals()[f"generate_{_kind}_id"] = _make_generator(_kind, _prefix)


def factory(kind: str):
    """The id generator for a model field default, e.g. ``default=ids.factory("customer")``."""
    return globals()[f"generate_{kind}_id"]


def new_token() -> str:
    """A 256-bit URL-safe secret for links and sessions."""
    return secrets.token_urlsafe(32)
