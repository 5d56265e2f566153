"""Payment gateways: the interface in ``base``; the default one from ``get_gateway()``, an account's configured
processor from ``gateway_for()``."""

import contextlib
import contextvars
import threading
from dataclasses import dataclass, field
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from billing.exceptions import ProcessorNotConfigured
from billing.gateways.base import CardInput, ChargeResult, Gateway, MethodDetails, SepaInput

__all__ = [
    "CardInput",
    "ChargeResult",
    "Gateway",
    "MethodDetails",
    "SepaInput",
    "build_gateway",
    "gateway_for",
    "gateway_spec",
    "get_gateway",
    "webhook_gateways",
]

# Adapters by dotted path, imported only when an account uses them.
TEST_GATEWAY = "billing.gateways.test.TestGateway"
STRIPE_GATEWAY = "billing.gateways.stripe.StripeGateway"
MOLLIE_GATEWAY = "billing.gateways.mollie.MollieGateway"

NOT_CONFIGURED = (
    "No payment processor is set up for live mode on this account. Add one in the admin under Payment processors."
)


@cache
def _load(path: str) -> Gateway:
    return import_string(path)()


def get_gateway() -> Gateway:
    return _load(settings.BILLING_GATEWAY)


@dataclass(frozen=True)
class GatewaySpec:
    """How to construct an account's gateway: the adapter class and its keyword arguments (which hold decrypted
    secrets, so they stay out of ``repr`` and with it out of tracebacks and logs)."""

    path: str
    kwargs: dict = field(default_factory=dict, repr=False)


def mollie_webhook_url(account_id: str) -> str:
    return f"{settings.PORTAL_BASE_URL}/processors/mollie/{account_id}/webhook"


def gateway_spec(row) -> GatewaySpec:
    """The adapter and arguments for a ``ProcessorAccount`` row, secrets decrypted. Pure: constructs nothing."""
    if row.processor == "stripe":
        kwargs = {
            "secret_key": row.secret("stripe_secret_key"),
            "webhook_secret": row.secret("stripe_webhook_secret"),
            "publishable_key": row.stripe_publishable_key,
        }
        return GatewaySpec(
            STRIPE_GATEWAY, kwargs | ({"api_base": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else {})
        )
    if row.processor == "mollie":
        return GatewaySpec(
            MOLLIE_GATEWAY,
            {
                "api_key": row.secret("mollie_api_key"),
                "profile_id": row.mollie_profile_id,
                "webhook_url": mollie_webhook_url(row.account_id),
                **({"api_endpoint": settings.MOLLIE_API_ENDPOINT} if settings.MOLLIE_API_ENDPOINT else {}),
            },
        )
    return GatewaySpec(TEST_GATEWAY)


def build_gateway(row) -> Gateway:
    """A new gateway for the row (the test gateway's one shared instance for the test processor)."""
    spec = gateway_spec(row)
    if not spec.kwargs:
        return _load(spec.path)
    return import_string(spec.path)(**spec.kwargs)


# (account id, livemode) -> (the row's cache key, the gateway built from it). One entry per configured account and
# mode; a changed row replaces its entry.
_built: dict[tuple[str, bool], tuple[tuple, Gateway]] = {}
_built_lock = threading.Lock()


def gateway_for(account_id: str, livemode: bool) -> Gateway:
    """The processor that takes ``account_id``'s payments in the mode.

    Costs one SELECT by the (account, livemode) unique index per call; the gateway itself (decrypting the secrets,
    building the processor's client) is built once per version of the row. No time-based cache skips the SELECT:
    a key replaced after a leak must stop being used by every worker at once, and the SELECT is small next to the
    processor call that follows it.
    """
    from billing.models import ProcessorAccount

    reused = _within.get()
    if reused is not None and (account_id, livemode) in reused:
        return reused[(account_id, livemode)]
    gateway = _look_up(ProcessorAccount, account_id, livemode)
    if reused is not None:
        reused[(account_id, livemode)] = gateway
    return gateway


@contextlib.contextmanager
def looked_up_once():
    """Within the block (one billing-cycle batch: seconds), each account's processor is looked up once."""
    token = _within.set({})
    try:
        yield
    finally:
        _within.reset(token)


_within: contextvars.ContextVar[dict | None] = contextvars.ContextVar("gateways_looked_up", default=None)


def _look_up(ProcessorAccount, account_id: str, livemode: bool) -> Gateway:
    try:
        row = ProcessorAccount.objects.get(account_id=account_id, livemode=livemode)
    except ProcessorAccount.DoesNotExist:
        # The installation's default (BILLING_GATEWAY) serves accounts without a row of their own; the built-in
        # test gateway never takes live payments, so live mode then needs the account's own processor.
        default = get_gateway()
        if livemode and not getattr(default, "takes_live_payments", True):
            raise ProcessorNotConfigured(NOT_CONFIGURED, param="livemode") from None
        return default
    return _built_for(row)


def _built_for(row) -> Gateway:
    """The gateway of a ``ProcessorAccount`` row, built once per version of the row."""
    key = row.cache_key()
    with _built_lock:
        cached = _built.get((row.account_id, row.livemode))
    if cached is not None and cached[0] == key:
        return cached[1]
    gateway = build_gateway(row)
    with _built_lock:
        _built[(row.account_id, row.livemode)] = (key, gateway)
    return gateway


def webhook_gateways(account_id: str, processor: str) -> list[tuple[bool, Gateway]]:
    """(livemode, gateway) for each of the account's modes whose configured processor is ``processor``, live mode
    first: a processor's webhook address names the account, not the mode, which the gateway that can verify the
    webhook tells. One SELECT; no fallback to the installation's default gateway."""
    from billing.models import ProcessorAccount

    rows = ProcessorAccount.objects.filter(account_id=account_id, processor=processor).order_by("-livemode")
    return [(row.livemode, _built_for(row)) for row in rows]


def forget_built_gateways() -> None:
    """Drop every cached gateway (tests; a process that wants its processor clients rebuilt)."""
    with _built_lock:
        _built.clear()
