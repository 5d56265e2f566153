"""Tax rate services: create and update; the percentage and inclusiveness of a rate never change."""

from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from django_countries import countries

from billing.audit import Actor
from billing.exceptions import InvalidRequest
from billing.models import Account, TaxRate
from billing.services.common import (
    clean_decimal,
    clean_text,
    lock,
    merge_metadata,
    record_created,
    render,
    save_changes,
    validate_metadata,
)
from billing.services.door import service


def _country(value: str, *, param: str = "country") -> str:
    value = (value or "").strip().upper()
    if value and value not in dict(countries):
        raise InvalidRequest(f"Invalid {param}: {value} is not an ISO 3166-1 alpha-2 country code.", param=param)
    return value


@service
def tax_rate_create(
    *,
    account: Account,
    livemode: bool,
    actor: Actor,
    display_name: str,
    percentage,
    inclusive: bool,
    country: str = "",
    jurisdiction: str = "",
    description: str = "",
    active: bool = True,
    metadata: dict | None = None,
) -> TaxRate:
    percentage = clean_decimal(percentage, param="percentage", places=4)
    if not Decimal(0) <= percentage <= Decimal(100):
        raise InvalidRequest(_("Invalid percentage: must be between 0 and 100."), param="percentage")
    if not (display_name or "").strip():
        raise InvalidRequest("Missing required param: display_name.", param="display_name", code="parameter_missing")
    display_name = clean_text(display_name, param="display_name", max_length=50)
    rate = TaxRate.objects.create(
        account=account,
        livemode=livemode,
        display_name=display_name,
        percentage=percentage,
        inclusive=bool(inclusive),
        active=active,
        country=_country(country),
        jurisdiction=clean_text(jurisdiction, param="jurisdiction", max_length=50),
        description=clean_text(description, param="description", max_length=500),
        metadata=validate_metadata(metadata),
    )
    return record_created(rate, actor, "tax_rate.create", "tax_rate.created")


@service
def tax_rate_update(
    *,
    tax_rate: TaxRate,
    actor: Actor,
    display_name: str | None = None,
    description: str | None = None,
    active: bool | None = None,
    country: str | None = None,
    jurisdiction: str | None = None,
    metadata: dict | str | None = None,
) -> TaxRate:
    """``percentage`` and ``inclusive`` are immutable, as in Stripe: invoices already reference the rate."""
    changes = {}
    if display_name is not None:
        changes["display_name"] = clean_text(display_name, param="display_name", max_length=50, required=True)
    if description is not None:
        changes["description"] = clean_text(description, param="description", max_length=500)
    if country is not None:
        changes["country"] = _country(country)
    if jurisdiction is not None:
        changes["jurisdiction"] = clean_text(jurisdiction, param="jurisdiction", max_length=50)
    if active is not None:
        changes["active"] = active
    tax_rate = lock(TaxRate, tax_rate.pk)
    before = render(tax_rate)
    for key, value in changes.items():
        setattr(tax_rate, key, value)
    if metadata is not None:
        tax_rate.metadata = merge_metadata(tax_rate.metadata, metadata)
    fields = ["display_name", "description", "country", "jurisdiction", "active", "metadata"]
    return save_changes(tax_rate, before, fields, actor=actor, action="tax_rate.update", event="tax_rate.updated")
