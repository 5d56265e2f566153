"""Portal pages: add a payment method through the processor's hosted fields (also the payment_method_update deep
link), make one the default, remove one."""

from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from billing.exceptions import BillingError, DuplicatePaymentMethod, LastPaymentMethod, NotFound
from billing.models import Customer, PaymentMethod, SetupIntent
from billing.refusals import DECLINE_MESSAGES, billing_error_message
from billing.selectors import payment_method_get_for_customer
from billing.services.customers import customer_set_default_payment_method
from billing.services.payment_method_setups import (
    SETUP_INTENT_ID,
    payment_fields_for,
    payment_method_add_finish,
    payment_method_add_on_session,
)
from billing.services.payment_methods import payment_method_detach
from portal import selectors
from portal.access import Portal, client_ip, flow_exit, portal_view
from portal.forms.payment_methods import PaymentMethodForm
from portal.hosted_fields import allow_hosted_fields, hosted_fields_context, portal_origin
from portal.leave import redirect_after_post
from portal.services import portal_session_complete_flow
from portal.templatetags.portal_format import payment_method_label
from portal.views.common import brand_context, page, see_other

Status = SetupIntent.Status


def _flow_open(portal: Portal) -> bool:
    """This session is a payment_method_update deep link whose action has not happened yet."""
    return portal.in_flow and portal.flow["type"] == "payment_method_update" and not portal.session.flow_completed_at


def _next_path(request: HttpRequest) -> str:
    """``?next=``: a page of this portal (``/p/…``) to go to once the method is added; anything else is ignored."""
    value = request.GET.get("next", "")
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/p/") or ".." in parts.path or "\\" in value:
        return ""
    return value if value.isprintable() else ""


def _add_url(next_path: str) -> str:
    return reverse("portal:payment_method_add") + (f"?{urlencode({'next': next_path})}" if next_path else "")


def _return_url(request: HttpRequest, *, make_default: bool, next_path: str) -> str:
    """Where the customer comes back from their bank's page (the intent's id is filled in by the service)."""
    query = urlencode({"default": "1" if make_default else "0", **({"next": next_path} if next_path else {})})
    path = reverse("portal:payment_method_add_return")
    return f"{portal_origin(request)}{path}?setup_intent_id={SETUP_INTENT_ID}&{query}"


def _mandate_acceptance(request: HttpRequest) -> dict:
    """The customer accepts the SEPA mandate shown beside the IBAN field by confirming: online, from here."""
    return {"ip_address": client_ip(request), "user_agent": request.headers.get("User-Agent", "")[:500] or "unknown"}


@require_http_methods(["GET", "POST"])
@portal_view(feature="payment_method_update", flows=("payment_method_update",))
def add(request: HttpRequest) -> HttpResponse:
    portal = request.portal
    in_flow = _flow_open(portal)
    if portal.in_flow and not in_flow:
        return see_other(reverse("portal:flow_done"))
    next_path = _next_path(request)
    try:
        fields = payment_fields_for(portal.customer)
    except BillingError:
        return _unavailable(request, in_flow)
    form = PaymentMethodForm(request.POST if request.method == "POST" else None, types=fields.types)
    if request.method == "POST" and form.is_valid():
        make_default = form.cleaned_data["make_default"] or in_flow
        try:
            intent = payment_method_add_on_session(
                customer=portal.customer,
                actor=request.portal.actor,
                payment_method=form.cleaned_data["payment_method"],
                payment_method_type=form.cleaned_data["type"],
                return_url=_return_url(request, make_default=make_default, next_path=next_path),
                make_default=make_default,
                mandate_acceptance=_mandate_acceptance(request),
            )
        except BillingError as error:
            form.add_billing_error(error)
        else:
            if intent.status == Status.REQUIRES_ACTION and intent.next_action:
                return see_other(intent.next_action["redirect_to_url"]["url"])
            if intent.status in (Status.SUCCEEDED, Status.PROCESSING):
                return _added(request, portal, intent, in_flow=in_flow, next_path=next_path)
            form.add_error(
                None, gettext("We could not reach the payment provider. Nothing was saved; please try again.")
            )
    return _form_page(request, form, fields, in_flow=in_flow, next_path=next_path)


def _form_page(request: HttpRequest, form: PaymentMethodForm, fields, *, in_flow: bool, next_path: str):
    portal = request.portal
    context = {
        "form": form,
        "in_flow": in_flow,
        "hosted_kind": fields.hosted.kind,
        "form_action": _add_url(next_path),
        **hosted_fields_context(request, portal, fields, brand_context(portal.account, portal.configuration)),
    }
    response = page(request, "portal/payment_methods/add.html", context, status=400 if form.errors else 200)
    return allow_hosted_fields(response, fields)


def _unavailable(request: HttpRequest, in_flow: bool) -> HttpResponse:
    """No processor can take this mode's payment methods (a live account without one): say so, show no fields."""
    context = {"unavailable": True, "in_flow": in_flow}
    return page(request, "portal/payment_methods/add.html", context, status=400 if request.method == "POST" else 200)


def _added(request: HttpRequest, portal: Portal, intent: SetupIntent, *, in_flow: bool, next_path: str):
    if in_flow:
        portal_session_complete_flow(session=portal.session)
        return redirect_after_post(request, flow_exit(portal))
    if intent.status == Status.PROCESSING:
        messages.info(request, gettext("Your bank is confirming the payment method; it appears here once it has."))
    else:
        messages.success(request, gettext("Payment method added."))
    return see_other(next_path or reverse("portal:overview"))


@require_safe
@portal_view(feature="payment_method_update", flows=("payment_method_update",))
def add_return(request: HttpRequest) -> HttpResponse:
    """Back from the bank's page (3-D Secure, Mollie's checkout): the setup's outcome."""
    portal = request.portal
    in_flow = _flow_open(portal)
    if portal.in_flow and not in_flow:
        return see_other(reverse("portal:flow_done"))
    try:
        intent = payment_method_add_finish(
            customer=portal.customer,
            actor=request.portal.actor,
            setup_intent_id=request.GET.get("setup_intent_id", ""),
            make_default=request.GET.get("default") == "1" or in_flow,
        )
    except NotFound:
        raise Http404("No such setup")
    except DuplicatePaymentMethod as error:
        messages.error(request, billing_error_message(error)[1])
        return see_other(_add_url(_next_path(request)))
    next_path = _next_path(request)
    if intent.status in (Status.SUCCEEDED, Status.PROCESSING):
        return _added(request, portal, intent, in_flow=in_flow, next_path=next_path)
    messages.error(request, _setup_failure(intent))
    return see_other(_add_url(next_path))


def _setup_failure(intent: SetupIntent) -> str:
    """Why the method was not added, in the customer's language (never the processor's English)."""
    error = intent.last_setup_error or {}
    if intent.status == Status.REQUIRES_ACTION or error.get("code", "").endswith("authentication_failure"):
        return gettext(
            "Your bank did not confirm this payment method, so it was not added. Please try again or use another one."
        )
    code = error.get("decline_code") or error.get("code") or ""
    return str(DECLINE_MESSAGES.get(code, DECLINE_MESSAGES["generic_decline"]))


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
    customer_set_default_payment_method(customer=customer, payment_method=payment_method, actor=request.portal.actor)
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
            payment_method_detach(payment_method=payment_method, actor=request.portal.actor)
        except LastPaymentMethod:
            blocked = True
        else:
            messages.success(request, _removed_message(payment_method, customer))
            return see_other(reverse("portal:overview"))
    context = {"row": row, "payment_method": payment_method, "blocked": blocked, "replacement": replacement}
    return page(request, "portal/payment_methods/remove.html", context, status=409 if request.method == "POST" else 200)
