"""Hosted Checkout under /c/, no-code links under /l/ (also on a merchant's verified custom domain), and the portal's
"Start a new subscription"."""

from django.urls import path

from checkout import link_views, views

app_name = "checkout"

urlpatterns = [
    path("c/<str:session_id>", views.checkout_page, name="page"),
    path("c/<str:session_id>/return", views.checkout_return, name="return"),
    path("c/<str:session_id>/promotion-code", views.promotion_code, name="promotion_code"),
    path("c/<str:session_id>/done", views.checkout_done, name="done"),
    path("l/<str:slug>", link_views.link_visit, name="link"),
    path("p/start-subscription", link_views.start_subscription, name="start_subscription"),
]
