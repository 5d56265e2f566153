"""The no-code login page: an email form sends a single-use link; the link's page confirms it with a POST."""

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from configurations.models import PortalConfiguration
from configurations.selectors import configuration_for_login_token
from portal import access, services
from portal.locale_selection import choose_locale, supported_locale
from portal.views.common import brand_context, custom_text
from portal.views.session import start_browser_session

LINK_MINUTES = int(services.LOGIN_LINK_TTL.total_seconds() // 60)


class LoginForm(forms.Form):
    email = forms.EmailField(label=_("Email address"), max_length=254)


def _configuration(request: HttpRequest, token: str) -> PortalConfiguration:
    """The login page's configuration; on a custom domain, only that merchant's."""
    configuration = configuration_for_login_token(token=token)
    domain_account = getattr(request, "custom_domain_account", None)
    if configuration is None or (domain_account is not None and domain_account.pk != configuration.account_id):
        raise Http404("No such login page")
    return configuration


def _render(request: HttpRequest, template: str, context: dict, *, locale: str, status: int = 200) -> HttpResponse:
    with translation.override(locale):
        request.LANGUAGE_CODE = locale
        response = render(request, template, context, status=status)
    response["Content-Language"] = locale
    return access.private(response)


def _expired(request: HttpRequest, expired: services.LinkExpired, *, status: int) -> HttpResponse:
    """The friendly expired page; for a real login link it leads back to its login page for a new one."""
    context = {"return_url": expired.return_url}
    configuration = expired.configuration
    if configuration is not None and configuration.login_page_enabled and configuration.active:
        context.update(brand_context(configuration.account, configuration))
        context["login_url"] = reverse("portal:login", kwargs={"token": configuration.login_page_token})
    return _render(request, "portal/expired.html", context, locale=choose_locale(request, None), status=status)


@require_http_methods(["GET", "POST"])
def login_page(request: HttpRequest, token: str) -> HttpResponse:
    configuration = _configuration(request, token)
    locale = choose_locale(request, None)
    chosen = supported_locale(request.GET.get("locale"))
    status = 200
    form = LoginForm(request.POST) if request.method == "POST" else LoginForm()
    if request.method == "POST":
        if form.is_valid():
            try:
                services.login_link_request(
                    configuration=configuration,
                    email=form.cleaned_data["email"],
                    client_ip=access.client_ip(request),
                    locale=locale,
                )
            except services.TooManyAttempts:
                form.add_error(None, _("Too many attempts. Please wait a few minutes and try again."))
                status = 429
            else:
                # The same answer whether or not the address belongs to a customer.
                query = urlencode({"sent": "1", **({"locale": chosen} if chosen else {})})
                response = redirect(f"{request.path}?{query}")
                response.status_code = 303
                return access.private(response)
        else:
            status = 400
    context = {
        **brand_context(configuration.account, configuration),
        "form": form,
        "sent": request.method == "GET" and request.GET.get("sent") == "1",
        "minutes": LINK_MINUTES,
        "custom_text": custom_text(configuration, "login"),
        "form_action": f"{request.path}?{urlencode({'locale': chosen})}" if chosen else request.path,
        "language_switch": True,
    }
    return _render(request, "portal/login.html", context, locale=locale, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET and HEAD only show a button (mail scanners and link previewers follow links); the POST uses the link
    and opens the portal."""
    domain_account = getattr(request, "custom_domain_account", None)
    try:
        if request.method == "POST":
            redeemed = services.login_link_redeem(token=token, account=domain_account)
        else:
            link = services.login_link_check(token=token, account=domain_account)
    except services.LinkExpired as expired:
        return _expired(request, expired, status=410 if expired.configuration else 404)
    if request.method == "POST":
        response = redirect(reverse("portal:overview"))
        response.status_code = 303
        return start_browser_session(response, redeemed)
    context = {
        **brand_context(link.configuration.account, link.configuration),
        "customer_email": link.customer.email,
        # Customers sharing an address tell their accounts apart by name.
        "customer_name": link.customer.name,
    }
    return _render(request, "portal/login_link.html", context, locale=choose_locale(request, link.customer))
