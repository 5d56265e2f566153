"""The API's URLs, built from the registered operations."""

from django.urls import re_path

import api.resources  # noqa: F401  (registers the operations)
from api.router import not_found_view
from api.router import urlpatterns as build

urlpatterns = [*build(), re_path(r"^v1/(?P<rest>.*)$", not_found_view)]
