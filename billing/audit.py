"""Who did what: actors and audit entries written inside the caller's transaction."""

from dataclasses import dataclass

from billing import context, statements
from billing.models import Account, AuditEntry


@dataclass(frozen=True)
class Actor:
    type: str
    id: str = ""
    label: str = ""

    @classmethod
    def staff(cls, user) -> "Actor":
        return cls(AuditEntry.ActorType.STAFF, str(user.pk), user.get_username())

    @classmethod
    def api_key(cls, key) -> "Actor":
        return cls(AuditEntry.ActorType.API_KEY, str(key.pk), key.redacted)

    @classmethod
    def customer(cls, customer) -> "Actor":
        return cls(AuditEntry.ActorType.CUSTOMER, customer.id, customer.email or customer.id)

    @classmethod
    def staff_acting_as(cls, *, staff_id: str, staff_label: str, customer) -> "Actor":
        """A staff member who chose to act as ``customer`` in the portal: the staff member is the actor."""
        return cls(AuditEntry.ActorType.STAFF, staff_id, f"{staff_label} (acting as customer {customer.id})")

    @classmethod
    def system(cls, label: str = "billing cycle") -> "Actor":
        return cls(AuditEntry.ActorType.SYSTEM, "", label)


SYSTEM = Actor.system()


def record(actor: Actor, action: str, target, changes: dict | None = None) -> AuditEntry:
    """One audit entry about ``target``, in the caller's transaction; account and mode are the target's own
    (an account is its own account; rows without a mode are recorded as test data)."""
    account_id = target.pk if isinstance(target, Account) else target.account_id
    entry = AuditEntry(
        account_id=account_id,
        livemode=bool(getattr(target, "livemode", False)),
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        object_type=type(target).__name__.lower(),
        object_id=target.pk,
        changes=changes or {},
        request_id=context.current().request_id,
    )
    statements.insert(AuditEntry, [entry])  # nothing reads the entry's generated id back
    return entry
