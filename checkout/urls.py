"""Hosted Checkout under /c/ (also on a merchant's verified custom domain)."""

from django.urls import path

from checkout import views

app_name = "checkout"

urlpatterns = [
    path("c/<str:session_id>", views.checkout_page, name="page"),
    path("c/<str:session_id>/return", views.checkout_return, name="return"),
    path("c/<str:session_id>/promotion-code", views.promotion_code, name="promotion_code"),
]
