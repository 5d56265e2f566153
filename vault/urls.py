"""The vault's URLs: the whole URL configuration of VAULT_BASE_URL's host (see ``vault.middleware``), so there is
no namespace."""

from django.urls import path

from vault import views

urlpatterns = [
    path("vault/fields", views.fields, name="vault_fields"),
    path("vault/payment_methods", views.payment_methods, name="vault_payment_methods"),
]
