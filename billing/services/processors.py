"""Payment processor settings of an account and mode: set them (validated, secrets encrypted), test the connection,
remove them, re-encrypt their secrets with the current key. Audit entries name what changed, never a secret."""

import logging
import re

from billing import audit, clock, crypto
from billing.audit import Actor
from billing.exceptions import BillingError, InvalidRequest, NotFound, StateConflict
from billing.gateways import build_gateway
from billing.models import Account, ProcessorAccount
from billing.services.common import lock, lock_account
from billing.services.door import service

logger = logging.getLogger(__name__)

Processor = ProcessorAccount.Processor
SECRET_NAMES = ProcessorAccount.SECRET_NAMES
PLAIN_NAMES = ("stripe_publishable_key", "mollie_profile_id")
# What each processor uses; the others' credentials are removed when an account switches to it.
FIELDS = {
    Processor.TEST: (),
    Processor.STRIPE: ("stripe_secret_key", "stripe_webhook_secret", "stripe_publishable_key"),
    Processor.MOLLIE: ("mollie_api_key", "mollie_profile_id"),
}
REQUIRED = {
    Processor.TEST: (),
    Processor.STRIPE: ("stripe_secret_key", "stripe_publishable_key"),
    Processor.MOLLIE: ("mollie_api_key",),
}
LABELS = {
    "stripe_secret_key": "Stripe secret key",
    "stripe_webhook_secret": "Stripe webhook signing secret",
    "stripe_publishable_key": "Stripe publishable key",
    "mollie_api_key": "Mollie API key",
    "mollie_profile_id": "Mollie profile ID",
}
MAX_LENGTH = 255
LAST_ERROR_MAX = 1000
KEY_CHARACTERS = re.compile(r"[A-Za-z0-9_]+")


def _mode(livemode: bool) -> str:
    return "live" if livemode else "test"


def _prefixes(name: str, mode: str) -> tuple[str, ...]:
    return {
        "stripe_secret_key": (f"sk_{mode}_", f"rk_{mode}_"),
        "stripe_publishable_key": (f"pk_{mode}_",),
        "stripe_webhook_secret": ("whsec_",),
        "mollie_api_key": (f"{mode}_",),
        "mollie_profile_id": ("pfl_",),
    }[name]


def check_format(name: str, value: str, *, livemode: bool) -> None:
    """Raise InvalidRequest (naming the expected prefix, never echoing the value) unless ``value`` looks like the
    credential ``name`` of the mode."""
    label, mode = LABELS[name], _mode(livemode)
    if len(value) > MAX_LENGTH or not KEY_CHARACTERS.fullmatch(value):
        raise InvalidRequest(
            f"Invalid {label}: copy it again from the processor's dashboard (letters, digits and underscores only).",
            param=name,
        )
    expected = _prefixes(name, mode)
    if value.startswith(expected):
        return
    other = _mode(not livemode)
    wanted = " or ".join(expected)
    if value.startswith(_prefixes(name, other)) and expected != _prefixes(name, other):
        raise InvalidRequest(
            f"This {label} is for {other} mode; in {mode} mode use one that starts with {wanted}.", param=name
        )
    raise InvalidRequest(f"Invalid {label}: it starts with {wanted}.", param=name)


def _stored(row: ProcessorAccount, name: str) -> bool:
    return row.has_secret(name) if name in SECRET_NAMES else bool(getattr(row, name))


def _assign(row: ProcessorAccount, name: str, value: str) -> bool:
    """Set ``name`` to ``value``; whether that changed it."""
    if name in SECRET_NAMES:
        if not value:
            changed = row.has_secret(name)
        else:
            try:
                changed = row.secret(name) != value
            except crypto.SecretUnreadable:
                changed = True  # entering the key again is how a merchant recovers from a lost encryption key
        if changed:
            row.set_secret(name, value)
        return changed
    if value == getattr(row, name):
        return False
    setattr(row, name, value)
    return True


def _apply(row: ProcessorAccount, processor: str, given: dict[str, str], *, livemode: bool) -> list[str]:
    """Validate and apply the settings to ``row``; the names of the fields that changed."""
    changed = []
    if row.processor != processor:
        row.processor = processor
        changed.append("processor")
    for name in (*SECRET_NAMES, *PLAIN_NAMES):
        if name not in FIELDS[processor]:
            # Credentials of a processor the account no longer uses are not kept.
            if _stored(row, name) and _assign(row, name, ""):
                changed.append(name)
            continue
        value = given.get(name)
        if value is None or (name in SECRET_NAMES and not value):
            continue  # not given, or a blank secret: keep what is stored
        if value:
            check_format(name, value, livemode=livemode)
        if _assign(row, name, value):
            changed.append(name)
    for name in REQUIRED[processor]:
        if not _stored(row, name):
            raise InvalidRequest(f"Enter the {LABELS[name]}.", param=name, code="parameter_missing")
    return changed


def _audit_changes(row: ProcessorAccount, changed: list[str]) -> dict:
    """What changed: new values of plain fields, only "set" or "removed" for secrets."""
    changes = {}
    for name in changed:
        if name in SECRET_NAMES:
            changes[name] = "set" if row.has_secret(name) else "removed"
        else:
            changes[name] = getattr(row, name)
    return changes


def _check_processor(account: Account, livemode: bool, processor: str) -> None:
    if processor not in Processor.values:
        raise InvalidRequest("Choose a payment processor: test, stripe or mollie.", param="processor")
    if livemode and processor == Processor.TEST:
        raise InvalidRequest(
            "The test gateway never moves real money: choose Stripe or Mollie for live mode.", param="processor"
        )
    if livemode and not account.allows_livemode():
        raise InvalidRequest("Live mode needs the Billing plan; this account is on Starter.", param="livemode")


@service
def processor_account_set(
    *,
    account: Account,
    livemode: bool,
    processor: str,
    actor: Actor,
    stripe_secret_key: str | None = None,
    stripe_webhook_secret: str | None = None,
    stripe_publishable_key: str | None = None,
    mollie_api_key: str | None = None,
    mollie_profile_id: str | None = None,
) -> ProcessorAccount:
    """Create or change the account's processor for the mode. ``None`` or a blank secret keeps the stored value;
    a blank plain field clears it. Changed credentials are unverified until tested again."""
    _check_processor(account, livemode, processor)
    given = {
        name: (value or "").strip()
        for name, value in {
            "stripe_secret_key": stripe_secret_key,
            "stripe_webhook_secret": stripe_webhook_secret,
            "stripe_publishable_key": stripe_publishable_key,
            "mollie_api_key": mollie_api_key,
            "mollie_profile_id": mollie_profile_id,
        }.items()
        if value is not None
    }
    lock_account(account.pk)  # serialises the first set of an account and mode
    row = ProcessorAccount.objects.select_for_update(no_key=True).filter(account=account, livemode=livemode).first()
    creating = row is None
    if creating:
        row = ProcessorAccount(account=account, livemode=livemode)
    changed = _apply(row, processor, given, livemode=livemode)
    if not changed:
        return row
    row.updated = clock.now()
    row.verified_at = None
    row.last_error = ""
    if creating:
        row.created = row.updated
        row.save()
    else:
        columns = [ProcessorAccount.column(n) if n in SECRET_NAMES else n for n in changed]
        row.save(update_fields=[*columns, "updated", "verified_at", "last_error"])
    action = "processor_account.create" if creating else "processor_account.update"
    audit.record(actor, action, row, _audit_changes(row, changed))
    return row


def _scrub(message: str, secrets: dict[str, str]) -> str:
    for secret in secrets.values():
        if secret:
            message = message.replace(secret, "[redacted]")
    return message[:LAST_ERROR_MAX]


def connection_error(row: ProcessorAccount) -> str:
    """Ask the processor whether the row's credentials work: ``""`` if they do, else why not (without secrets).
    Runs outside any transaction: it waits on the processor."""
    try:
        gateway = build_gateway(row)
        check = getattr(gateway, "check_connection", None)
        if check is not None:  # the test gateway has nothing to connect to
            check()
    except ImportError:
        message = f"The {row.get_processor_display()} adapter is not available in this installation."
    except BillingError as error:
        message = error.message
    except Exception as error:  # an adapter's own failure is the answer the merchant needs to see
        logger.warning("Connection test of %s failed: %s", row, type(error).__name__)
        message = f"{type(error).__name__}: {error}"
    else:
        return ""
    return _scrub(message, row.secrets())


def processor_account_test(*, account: Account, livemode: bool, actor: Actor) -> ProcessorAccount:
    """Test the connection with the configured processor and record ``verified_at`` or ``last_error``.

    Not a door itself: the processor is asked first, outside any transaction, and the answer recorded by one."""
    row = ProcessorAccount.objects.filter(account=account, livemode=livemode).first()
    if row is None:
        raise NotFound(f"No payment processor is set up for {_mode(livemode)} mode on this account.", param="livemode")
    return _record_test(processor_account=row, error=connection_error(row), actor=actor)


@service
def _record_test(*, processor_account: ProcessorAccount, error: str, actor: Actor) -> ProcessorAccount:
    row = lock(ProcessorAccount, processor_account.pk)
    if row.cache_key() != processor_account.cache_key():
        raise StateConflict(
            "The processor settings changed while they were being tested. Test the connection again.",
            param="processor",
        )
    row.verified_at = None if error else clock.now()
    row.last_error = error
    row.save(update_fields=["verified_at", "last_error"])
    audit.record(actor, "processor_account.test", row, {"result": "failed" if error else "verified", "error": error})
    return row


@service
def processor_account_delete(*, processor_account: ProcessorAccount, actor: Actor) -> None:
    """Stop using the processor: test mode falls back to the test gateway; live payments stop until a processor is
    set again."""
    row = lock(ProcessorAccount, processor_account.pk)
    audit.record(actor, "processor_account.delete", row, {"processor": row.processor})
    row.delete()


@service
def processor_account_rotate_keys(*, processor_account_id: int, actor: Actor) -> bool:
    """Encrypt the row's secrets again with the first of ``BILLING_ENCRYPTION_KEYS``; whether any needed it."""
    row = lock(ProcessorAccount, processor_account_id)
    columns = [
        ProcessorAccount.column(name)
        for name in SECRET_NAMES
        if not crypto.is_current(getattr(row, ProcessorAccount.column(name)))
    ]
    if not columns:
        return False
    for column in columns:
        setattr(row, column, crypto.rotate(getattr(row, column)))
    row.save(update_fields=columns)
    changes = {column.removesuffix("_ciphertext"): "re-encrypted" for column in columns}
    audit.record(actor, "processor_account.rotate_keys", row, changes)
    return True
