"""dj-stripe's webhook URL, as its documentation wires it."""

from django.urls import include, path

urlpatterns = [path("stripe/", include("djstripe.urls", namespace="djstripe"))]
