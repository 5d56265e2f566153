"""Billing details: the customer updates what the configuration allows, and adds or removes tax ids."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from billing.audit import Actor
from billing.exceptions import BillingError, NotFound
from billing.selectors import tax_id_get_for_customer
from billing.services.customers import customer_update
from billing.services.tax_ids import tax_id_create, tax_id_delete
from configurations.models import PortalConfiguration
from portal.access import portal_view
from portal.forms.billing_details import BillingDetailsForm, TaxIdAddForm, TaxIdRemoveForm
from portal.views.common import page, see_other

TAX_ID = PortalConfiguration.AllowedUpdate.TAX_ID


@require_http_methods(["GET", "POST"])
@portal_view(feature="customer_update")
def edit(request: HttpRequest) -> HttpResponse:
    customer = request.portal.customer
    allowed = list(request.portal.configuration.customer_update_allowed_updates or [])
    if not allowed:
        raise Http404("No such page")
    action = request.POST.get("action") if request.method == "POST" else None
    details = BillingDetailsForm(
        request.POST if action == "save" else None, allowed=allowed, customer=customer, typed=request.GET
    )
    tax_id_form = TaxIdAddForm(request.POST if action == "add_tax_id" else None, customer=customer)
    tax_id_form = tax_id_form if TAX_ID in allowed else None
    actor = request.portal.actor
    try:
        if action == "save" and details.allowed and details.is_valid():
            if details.has_changed():
                customer_update(customer=customer, actor=actor, check_addresses=True, **details.changes())
            messages.success(request, _("Billing information updated."))
            return see_other(reverse("portal:overview"))
        if action == "add_tax_id" and tax_id_form is not None and tax_id_form.is_valid():
            valid = tax_id_form.cleaned_data["tax_id"]
            tax_id_create(customer=customer, type=valid.type, value=valid.value, actor=actor)
            messages.success(request, _("Tax ID added."))
            return see_other(reverse("portal:billing_details"))
        if action == "remove_tax_id" and tax_id_form is not None:
            _remove_tax_id(request, actor)
            return see_other(reverse("portal:billing_details"))
    except BillingError as error:
        (tax_id_form if action == "add_tax_id" else details).add_service_error(error)
    context = {"form": details, "tax_id_form": tax_id_form, "tax_ids": list(customer.tax_ids.all())}
    return page(request, "portal/billing_details.html", context)


def _remove_tax_id(request: HttpRequest, actor: Actor) -> None:
    form = TaxIdRemoveForm(request.POST)
    if not form.is_valid():
        raise Http404("No such tax ID")
    try:
        tax_id = tax_id_get_for_customer(customer=request.portal.customer, tax_id_id=form.cleaned_data["tax_id"])
        tax_id_delete(tax_id=tax_id, actor=actor)
    except NotFound:
        raise Http404("No such tax ID")
    messages.success(request, _("Tax ID removed."))
