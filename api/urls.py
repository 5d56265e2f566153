"""The API's URLs, built from the registered operations."""

from django.urls import path, re_path

import api.resources  # noqa: F401  (registers the operations)
from api.openapi import openapi_view
from api.router import not_found_view
from api.router import urlpatterns as build

urlpatterns = [
    path("v1/openapi.json", openapi_view, name="openapi"),
    *build(),
    re_path(r"^v1/(?P<rest>.*)$", not_found_view),
]
