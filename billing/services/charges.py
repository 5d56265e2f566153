"""Changes merchants may make to a charge (its money moves only through payments and refunds)."""

from billing.audit import Actor
from billing.exceptions import InvalidRequest
from billing.models import Charge
from billing.services.common import lock, merge_metadata, render, save_changes
from billing.services.door import service


@service
def charge_update(
    *, charge: Charge, actor: Actor, description: str | None = None, metadata: dict | str | None = None
) -> Charge:
    """A charge's description and metadata (what Stripe lets merchants change)."""
    charge = lock(Charge, charge.pk)
    before = render(charge)
    if description is not None:
        if len(description) > 1000:
            raise InvalidRequest("Invalid description: must be at most 1000 characters.", param="description")
        charge.description = description
    if metadata is not None:
        charge.metadata = merge_metadata(charge.metadata, metadata)
    return save_changes(
        charge, before, ["description", "metadata"], actor=actor, action="charge.update", event="charge.updated"
    )
