"""Invoice history: every finalized invoice, ten at a time, and "Pay now" for the open ones."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST, require_safe

from billing.audit import Actor
from billing.exceptions import BillingError, CardDeclined, GatewayUnavailable, NotFound
from billing.models import Invoice, PaymentMethod
from billing.selectors import invoice_get_for_customer
from billing.services.invoices import invoice_pay
from portal import selectors
from portal.access import portal_view
from portal.views.common import page

CURSOR_MAX_LENGTH = 40
# Where "Pay now" returns to: the page it was pressed on.
RETURN_TO = {"overview": "portal:overview", "history": "portal:invoice_history"}


def _cursor(request: HttpRequest, name: str) -> str | None:
    value = request.GET.get(name, "")
    return value if 0 < len(value) <= CURSOR_MAX_LENGTH else None


@require_safe
@portal_view(feature="invoice_history")
def history(request: HttpRequest) -> HttpResponse:
    invoice_page = selectors.invoices(
        request.portal.customer, after=_cursor(request, "after"), before=_cursor(request, "before")
    )
    context = {"page": invoice_page, "pay_return": "history"}
    if request.htmx and not request.htmx.history_restore_request:
        # "Load more": only the rows, which replace the button's row at the end of the table.
        return render(request, "portal/partials/invoice_rows.html", context)
    return page(request, "portal/invoices.html", context)


@require_POST
@portal_view(feature="invoice_history")
def pay(request: HttpRequest, invoice_id: str) -> HttpResponse:
    customer = request.portal.customer
    try:
        invoice = invoice_get_for_customer(customer=customer, invoice_id=invoice_id)
    except NotFound:
        raise Http404("No such invoice")
    payment_method = customer.default_payment_method
    if invoice.status != Invoice.Status.OPEN:
        messages.info(request, _("This invoice is not open for payment."))
    elif payment_method is None or not payment_method.can_charge(invoice.currency):
        messages.error(request, _no_payment_method_message())
    else:
        try:
            invoice_pay(invoice=invoice, actor=Actor.customer(customer), payment_method=payment_method)
        except BillingError as error:
            messages.error(request, payment_error_message(error, payment_method))
        else:
            messages.success(request, _("Invoice paid."))
    response = redirect(RETURN_TO.get(request.POST.get("return_to"), "portal:overview"))
    response.status_code = 303
    return response


def _no_payment_method_message() -> str:
    return format_html(
        '{} <a href="{}">{}</a>',
        _("There is no default payment method that can pay this invoice."),
        reverse("portal:payment_method_add"),
        _("Add a payment method"),
    )


# Stripe's decline codes, as a customer should read them. Codes that would tell a fraudster too much
# (lost_card, stolen_card, fraudulent, …) read as a plain decline, as Stripe recommends.
DECLINE_MESSAGES = {
    "insufficient_funds": gettext_lazy("Your card has insufficient funds."),
    "expired_card": gettext_lazy("Your card has expired."),
    "incorrect_cvc": gettext_lazy("Your card's security code is incorrect."),
    "processing_error": gettext_lazy("An error occurred while processing your card. Please try again."),
    "card_velocity_exceeded": gettext_lazy("Your card has exceeded its limit. Please use another payment method."),
}


def payment_error_message(error: BillingError, payment_method: PaymentMethod) -> str:
    """The reason a payment failed, translated; never the gateway's English text."""
    if isinstance(error, GatewayUnavailable):
        return _("The payment could not be processed right now and nothing was charged. Please try again later.")
    if not isinstance(error, CardDeclined):
        return _("The invoice could not be paid. Please try again later.")
    if payment_method.type != PaymentMethod.Type.CARD:
        return _("Your bank declined the payment.")
    return str(DECLINE_MESSAGES.get(error.decline_code or "", _("Your card was declined.")))
