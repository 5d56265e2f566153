"""Portal URLs: hosted invoice pages (the portal pages join them)."""

from django.urls import path

from portal.views import invoices

app_name = "portal"

urlpatterns = [
    path("i/<str:token>/", invoices.hosted_invoice, name="hosted_invoice"),
    path("i/<str:token>/pdf", invoices.hosted_invoice_pdf, name="hosted_invoice_pdf"),
]
