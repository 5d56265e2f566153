"""The portal's home: subscriptions, payment methods, billing details and recent invoices on one page."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from portal import selectors
from portal.access import portal_view
from portal.views.common import custom_text, page
from portal.views.invoices import address_lines


@require_safe
@portal_view()
def overview(request: HttpRequest) -> HttpResponse:
    portal = request.portal
    customer = portal.customer
    subscriptions = selectors.subscriptions(
        customer, portal.configuration if portal.enabled("subscription_update") else None
    )
    context = {
        "subscriptions": subscriptions,
        "subscription_start": not subscriptions and selectors.subscription_start_offered(portal.configuration),
        "custom_text": custom_text(portal.configuration, "overview"),
        "billing_address_lines": address_lines(customer.address),
        "tax_ids": selectors.tax_ids(customer),
    }
    if portal.enabled("payment_method_update"):
        context["payment_methods"] = selectors.payment_methods(customer, subscription_rows=subscriptions)
    if portal.enabled("invoice_history"):
        context["invoice_page"] = selectors.invoices(customer)
    return page(request, "portal/overview.html", context)


@require_safe
@portal_view(
    flows=("payment_method_update", "subscription_cancel", "subscription_update", "subscription_update_confirm")
)
def flow_done(request: HttpRequest) -> HttpResponse:
    """Where a finished deep-link flow lands when it asked for the hosted confirmation."""
    after = request.portal.flow["after_completion"] if request.portal.flow else {"type": "portal_homepage"}
    message = (after.get("hosted_confirmation") or {}).get("custom_message") or ""
    return page(request, "portal/flow_done.html", {"custom_message": message})
