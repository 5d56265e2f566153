"""Tax id services: add a customer's tax id (checked against its type's format) and remove it."""

from django.utils.translation import gettext_lazy as _

from billing import audit, events
from billing.audit import Actor
from billing.exceptions import InvalidRequest, NotFound
from billing.models import Customer, TaxId
from billing.services.common import emit, no_such, render
from billing.services.door import service
from billing.tax_ids import validate

MAX_TAX_IDS_PER_CUSTOMER = 25


@service
def tax_id_create(*, customer: Customer, type: str, value: str, actor: Actor) -> TaxId:
    """Normalises and checks the value (``TaxIdInvalid`` names the expected format), then adds it to the customer."""
    valid = validate(type=type, value=value)
    # Locking the customer serialises concurrent adds, so the duplicate and limit checks hold.
    customer = Customer.objects.select_for_update(no_key=True).filter(pk=customer.pk, deleted=False).first()
    if customer is None:
        raise NotFound(_("No such customer."), param="customer")
    existing = TaxId.objects.filter(customer=customer)
    if existing.filter(type=valid.type, value=valid.value).exists():
        raise InvalidRequest(
            _("The customer already has the tax id %(value)s."),
            params={"value": valid.value},
            param="value",
            code="tax_id_already_exists",
        )
    if existing.count() >= MAX_TAX_IDS_PER_CUSTOMER:
        raise InvalidRequest(
            _("A customer can have at most %(max)s tax ids."),
            params={"max": MAX_TAX_IDS_PER_CUSTOMER},
            param="value",
            code="tax_id_limit",
        )
    tax_id = TaxId.objects.create(
        account_id=customer.account_id,
        livemode=customer.livemode,
        customer=customer,
        type=valid.type,
        value=valid.value,
        country=valid.country,
    )
    emit("customer.tax_id.created", tax_id)
    audit.record(actor, "tax_id.create", tax_id, {"customer": customer.pk, "type": tax_id.type, "value": tax_id.value})
    return tax_id


@service
def tax_id_delete(*, tax_id: TaxId, actor: Actor) -> dict:
    """Removes the tax id; answers (and sends in ``customer.tax_id.deleted``) the object as it was."""
    locked = TaxId.objects.select_for_update(no_key=True).filter(pk=tax_id.pk).first()
    if locked is None:
        raise no_such("tax id", tax_id.pk, param="id")
    data = render(locked)
    audit.record(
        actor, "tax_id.delete", locked, {"customer": locked.customer_id, "type": locked.type, "value": locked.value}
    )
    locked.delete()
    events.record(type="customer.tax_id.deleted", obj=locked, data=data)
    return data
