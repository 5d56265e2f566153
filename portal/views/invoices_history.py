"""Invoice history: every finalized invoice, ten at a time; "Pay now" opens the pay page of an open one, where the
customer pays with a saved method of their choice (and confirms it with their bank when it asks: 3-D Secure)."""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from billing.exceptions import NotFound
from billing.models import Invoice
from portal import invoice_payment, selectors
from portal.access import portal_view
from portal.forms.invoices import InvoicePayForm
from portal.invoice_payment import ACTION, CLOSED, FAILED, PAID, PROCESSING, Outcome
from portal.leave import redirect_after_post
from portal.views.common import page, see_other
from portal.views.invoices import line_row

CURSOR_MAX_LENGTH = 40
# Where the pay page leads back to: the page "Pay now" was pressed on.
RETURN_TO = {"overview": "portal:overview", "history": "portal:invoice_history"}
# The pay page sums up the invoice; the hosted invoice page has every line.
SUMMARY_LINES = 5


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


def _invoice(request: HttpRequest, invoice_id: str) -> Invoice:
    try:
        return selectors.finalized_invoice(request.portal.customer, invoice_id)
    except NotFound:
        raise Http404("No such invoice")


def _return_to(request: HttpRequest) -> str:
    value = request.POST.get("return_to") or request.GET.get("return_to")
    return value if value in RETURN_TO else "overview"


def _pay_path(invoice_id: str, return_to: str, name: str = "portal:invoice_pay") -> str:
    path = reverse(name, kwargs={"invoice_id": invoice_id})
    return f"{path}?{urlencode({'return_to': return_to})}" if return_to != "overview" else path


@require_http_methods(["GET", "HEAD", "POST"])
@portal_view(feature="invoice_history")
def pay(request: HttpRequest, invoice_id: str) -> HttpResponse:
    invoice = _invoice(request, invoice_id)
    return_to = _return_to(request)
    if invoice.status != Invoice.Status.OPEN:
        return _finish(request, Outcome(CLOSED, invoice_payment.not_open()), invoice.pk, return_to)
    methods = selectors.methods_to_pay(invoice)
    # A "Pay now" button of a page loaded before the pay page existed posts no method: it opens the page.
    data = request.POST if request.method == "POST" and "payment_method" in request.POST else None
    form = InvoicePayForm(data, methods=methods)
    if form.is_bound and form.is_valid():
        back = request.build_absolute_uri(_pay_path(invoice.pk, return_to, "portal:invoice_pay_return"))
        outcome = invoice_payment.pay(
            request, invoice, form.cleaned_data["payment_method"], return_url=back, actor=request.portal.actor
        )
        return _finish(request, outcome, invoice.pk, return_to)
    lines = list(invoice.lines.all())
    context = {
        "invoice": invoice,
        "lines": [line_row(line) for line in lines[:SUMMARY_LINES]],
        "more_lines": max(len(lines) - SUMMARY_LINES, 0),
        "methods": methods,
        "chosen": _chosen(form, methods),
        "default_id": request.portal.customer.default_payment_method_id,
        "form": form,
        "return_to": return_to,
        "back_url": reverse(RETURN_TO[return_to]),
    }
    if request.portal.enabled("payment_method_update"):
        next_path = _pay_path(invoice.pk, return_to)
        context["add_url"] = f"{reverse('portal:payment_method_add')}?{urlencode({'next': next_path})}"
    return page(request, "portal/invoice_pay.html", context, status=400 if form.is_bound else 200)


def _chosen(form: InvoicePayForm, methods: list) -> str | None:
    """The method the customer picked before (if still theirs), else the default (listed first)."""
    value = form["payment_method"].value()
    return value if any(method.pk == value for method in methods) else (methods[0].pk if methods else None)


@require_safe
@portal_view(feature="invoice_history")
def pay_return(request: HttpRequest, invoice_id: str) -> HttpResponse:
    """Back from the bank's page (Stripe's ``return_url``): the invoice is paid, or the pay page says why not."""
    invoice = _invoice(request, invoice_id)
    return _finish(request, invoice_payment.outcome_after_return(invoice), invoice.pk, _return_to(request))


def _finish(request: HttpRequest, outcome: Outcome, invoice_id: str, return_to: str) -> HttpResponse:
    if outcome.status == ACTION:
        return redirect_after_post(request, outcome.redirect_to)
    if outcome.status == FAILED:
        messages.error(request, outcome.error)
        return see_other(_pay_path(invoice_id, return_to))
    if outcome.status == PAID:
        messages.success(request, _("Invoice paid."))
    elif outcome.status == PROCESSING:
        messages.info(
            request, _("Your payment is being processed. The invoice shows as paid once your bank confirms it.")
        )
    else:
        messages.info(request, outcome.error)
    return see_other(reverse(RETURN_TO[return_to]))
