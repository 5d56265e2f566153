"""Hosted invoice page and PDF, reached through the invoice's 256-bit token."""

from django.http import Http404, HttpResponse
from django.shortcuts import render

from billing.exceptions import NotFound
from billing.selectors import invoice_get_by_hosted_token


def _invoice(token: str):
    try:
        return invoice_get_by_hosted_token(token=token)
    except NotFound:
        raise Http404("No such invoice")


def hosted_invoice(request, token: str):
    invoice = _invoice(token)
    return render(request, "invoices/hosted.html", {"invoice": invoice})


def hosted_invoice_pdf(request, token: str):
    invoice = _invoice(token)
    return HttpResponse(b"", content_type="application/pdf")
