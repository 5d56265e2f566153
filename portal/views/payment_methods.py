"""Portal pages: add a payment method (also the payment_method_update deep link), make one the default, remove one."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from billing.audit import Actor
from billing.exceptions import BillingError, LastPaymentMethod, NotFound
from billing.models import Customer, PaymentMethod
from billing.selectors import payment_method_get_for_customer
from billing.services.customers import customer_set_default_payment_method
from billing.services.payment_methods import (
    currencies_needing_payment_method,
    payment_method_add,
    payment_method_detach,
)
from portal import selectors
from portal.access import Portal, flow_exit, portal_view
from portal.forms.payment_methods import PaymentMethodForm
from portal.services import portal_session_complete_flow
from portal.templatetags.portal_format import payment_method_label
from portal.views.common import page, see_other


def _flow_open(portal: Portal) -> bool:
    """This session is a payment_method_update deep link whose action has not happened yet."""
    return portal.in_flow and portal.flow["type"] == "payment_method_update" and not portal.session.flow_completed_at


@sensitive_post_parameters("number", "cvc", "iban")
@sensitive_variables()
@require_http_methods(["GET", "POST"])
@portal_view(feature="payment_method_update", flows=("payment_method_update",))
def add(request: HttpRequest) -> HttpResponse:
    portal = request.portal
    in_flow = _flow_open(portal)
    if portal.in_flow and not in_flow:
        return see_other(reverse("portal:flow_done"))
    currencies = currencies_needing_payment_method(portal.customer)
    form = PaymentMethodForm(request.POST if request.method == "POST" else None, currencies=currencies)
    if request.method == "POST" and form.is_valid():
        new = form.cleaned_data["payment_method"]
        try:
            payment_method_add(
                customer=portal.customer,
                livemode=portal.session.livemode,
                actor=Actor.customer(portal.customer),
                card=new.card,
                sepa=new.sepa,
                billing_details=new.billing_details,
                make_default=new.make_default or in_flow,
            )
        except BillingError as error:
            form.add_billing_error(error)
        else:
            if in_flow:
                portal_session_complete_flow(session=portal.session)
                return see_other(flow_exit(portal))
            messages.success(request, gettext("Payment method added."))
            return see_other(reverse("portal:overview"))
    context = {"form": form, "in_flow": in_flow, "test_mode": not portal.session.livemode}
    return page(request, "portal/payment_methods/add.html", context, status=400 if form.errors else 200)


def _owned(customer: Customer, payment_method_id: str) -> PaymentMethod:
    """The customer's own payment method; anyone else's id is simply not found."""
    try:
        return payment_method_get_for_customer(customer=customer, payment_method_id=payment_method_id)
    except NotFound:
        raise Http404("No such payment method")


def _default_message(payment_method: PaymentMethod) -> str:
    return gettext("%(label)s is now your default payment method.") % {"label": payment_method_label(payment_method)}


@require_POST
@portal_view(feature="payment_method_update")
def make_default(request: HttpRequest, payment_method_id: str) -> HttpResponse:
    customer = request.portal.customer
    payment_method = _owned(customer, payment_method_id)
    customer_set_default_payment_method(
        customer=customer, payment_method=payment_method, actor=Actor.customer(customer)
    )
    messages.success(request, _default_message(payment_method))
    return see_other(reverse("portal:overview"))


def _removed_message(removed: PaymentMethod, customer: Customer) -> str:
    """Removing the default makes the newest remaining method the default: say which."""
    message = gettext("%(label)s has been removed.") % {"label": payment_method_label(removed)}
    previous_default = customer.default_payment_method_id
    customer.refresh_from_db(fields=["default_payment_method"])
    if previous_default == removed.pk and customer.default_payment_method is not None:
        message += " " + _default_message(customer.default_payment_method)
    return message


@require_http_methods(["GET", "POST"])
@portal_view(feature="payment_method_update")
def remove(request: HttpRequest, payment_method_id: str) -> HttpResponse:
    customer = request.portal.customer
    payment_method = _owned(customer, payment_method_id)
    rows = selectors.payment_methods(customer)
    row = next(row for row in rows if row.payment_method.pk == payment_method.pk)
    # The service replaces a removed default with the newest other method (rows after the default are newest first).
    others = [other.payment_method for other in rows if other is not row]
    replacement = others[0] if row.is_default and others else None
    blocked = bool(row.removal_blocked)
    if request.method == "POST":
        try:
            payment_method_detach(payment_method=payment_method, actor=Actor.customer(customer))
        except LastPaymentMethod:
            blocked = True
        else:
            messages.success(request, _removed_message(payment_method, customer))
            return see_other(reverse("portal:overview"))
    context = {"row": row, "payment_method": payment_method, "blocked": blocked, "replacement": replacement}
    return page(request, "portal/payment_methods/remove.html", context, status=409 if request.method == "POST" else 200)
