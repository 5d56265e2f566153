"""The same-origin page that continues to another origin by GET after a form (see ``portal.leave``)."""

from urllib.parse import urlsplit

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.http import require_safe

from configurations.models import PortalConfiguration
from portal import access, leave
from portal.locale_selection import choose_locale, supported_locale
from portal.views.common import brand_context


@require_safe
def continue_page(request: HttpRequest) -> HttpResponse:
    target = leave.destination(request.GET.get("to", ""))
    if target is None:
        raise Http404("No such page")
    context = {"url": target["url"], "site": urlsplit(target["url"]).netloc}
    configuration = (
        PortalConfiguration.objects.select_related("account").filter(pk=target["configuration"]).first()
        if target.get("configuration")
        else None
    )
    if configuration is not None:
        context.update(brand_context(configuration.account, configuration))
    locale = supported_locale(target.get("locale")) or choose_locale(request, None)
    with translation.override(locale):
        request.LANGUAGE_CODE = locale
        response = render(request, "portal/leave.html", context)
    response["Content-Language"] = locale
    return access.private(response)
