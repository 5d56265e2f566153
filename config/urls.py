"""URL configuration: admin, hosted invoice pages, the payment processors' webhooks, health check."""

from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

admin.site.site_header = _("Billing portal administration")
admin.site.site_title = _("Billing portal administration")
admin.site.index_title = _("Merchant back office")


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz),
    path("", include("api.urls")),
    path("", include("webhooks.urls")),
    path("", include("portal.urls")),
    path("", include("checkout.urls")),
]
