"""URL configuration: admin, hosted invoice pages, health check."""

from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz),
    path("", include("api.urls")),
    path("", include("portal.urls")),
]
