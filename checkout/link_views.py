"""No-code Checkout links: ``/l/<slug>`` starts a session from the link on every visit; the portal's "Start a new
subscription" (``/p/start-subscription``) starts one for the signed-in customer from the configuration's link."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import get_language, gettext
from django.views.decorators.http import require_POST, require_safe

from billing.audit import Actor
from billing.exceptions import BillingError, NotFound
from checkout import selectors
from checkout.models import CheckoutLink
from checkout.page import account_brand
from checkout.services.links import checkout_session_create_from_link, link_visit_allowed
from portal.access import client_ip, portal_view
from portal.hosted_fields import portal_origin
from portal.locale_selection import choose_locale, supported_locale
from portal.views.common import see_other

VISITOR = Actor.system("checkout link")


def _private(response: HttpResponse, locale: str) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Content-Language"] = locale
    return response


def _unavailable(request: HttpRequest, link: CheckoutLink, locale: str, *, status: int) -> HttpResponse:
    context = {**account_brand(link.account, link.livemode), "busy": status == 429}
    response = render(request, "checkout/link_unavailable.html", context, status=status)
    if status == 429:
        response["Retry-After"] = "600"
    return _private(response, locale)


@require_safe
def link_visit(request: HttpRequest, slug: str) -> HttpResponse:
    """Each visit is a new session at the server's prices (303 to its page). HEAD, as link previews send it, only
    says whether the link works: it creates nothing."""
    try:
        link = selectors.link_for_visit(slug=slug, domain_account=getattr(request, "custom_domain_account", None))
    except NotFound:
        raise Http404("No such checkout link")
    locale = choose_locale(request, None)
    with translation.override(locale):
        if not link.active:
            return _unavailable(request, link, locale, status=410)
        if request.method == "HEAD":
            return _private(HttpResponse(status=200), locale)
        if not link_visit_allowed(client_ip(request)):
            return _unavailable(request, link, locale, status=429)
        try:
            session = checkout_session_create_from_link(
                link=link,
                actor=VISITOR,
                base_url=portal_origin(request),
                # Only a language the link's URL asks for (?locale=de) is kept; otherwise the page follows the browser.
                locale=supported_locale(request.GET.get("locale")) or "",
            )
        except BillingError:
            # A price of the link was archived since: the link cannot sell what it lists.
            return _unavailable(request, link, locale, status=410)
        page = reverse("checkout:page", kwargs={"session_id": session.pk})
        return _private(HttpResponseRedirect(page, status=303), locale)


@require_POST
@portal_view()
def start_subscription(request: HttpRequest) -> HttpResponse:
    """The portal's "Start a new subscription": a session for this customer from the configuration's link, then
    its page on this same origin (the portal's CSP lets forms lead only there)."""
    portal = request.portal
    overview = f"{portal_origin(request)}{reverse('portal:overview')}"
    link = selectors.subscription_start_link(customer=portal.customer, configuration=portal.configuration)
    if link is None:
        messages.error(request, gettext("Starting a new subscription is not available at the moment."))
        return see_other(reverse("portal:overview"))
    try:
        session = checkout_session_create_from_link(
            link=link,
            actor=Actor.customer(portal.customer),
            base_url=portal_origin(request),
            customer=portal.customer,
            success_url=overview,
            cancel_url=overview,
            locale=get_language(),
        )
    except BillingError:
        messages.error(request, gettext("Starting a new subscription is not available at the moment."))
        return see_other(reverse("portal:overview"))
    return see_other(reverse("checkout:page", kwargs={"session_id": session.pk}))
