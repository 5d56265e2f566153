"""Addresses the payment processors post their webhooks to (``billing.gateways.mollie_webhook_url`` builds
Mollie's)."""

from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("processors/<slug:processor>/<str:account_id>/webhook", views.processor_webhook, name="processor_webhook"),
]
