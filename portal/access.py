"""The one place that decides what a portal request may touch: its session, its customer, its features."""

import functools
from dataclasses import dataclass

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_vary_headers

from billing.audit import Actor
from billing.models import Account, AuditEntry, Customer
from configurations.models import PortalConfiguration, PortalSession, digest
from configurations.sessions import ACT_AS_CUSTOMER
from portal import services
from portal.locale_selection import DEFAULT_LOCALE, supported_locale
from portal.views.common import page

COOKIE = "portal_session"
COOKIE_PATH = "/p/"

# Deep-link flows whose pages exist; a session carrying another flow opens the whole portal instead.
FLOW_PAGES = {
    "payment_method_update": "portal:payment_method_add",
    "subscription_cancel": "portal:subscription_cancel",
    "subscription_update": "portal:subscription_update",
    "subscription_update_confirm": "portal:subscription_update_confirm",
}

# Features a page may require, by the configuration flag that turns them on.
FEATURES = {
    "customer_update": "customer_update_enabled",
    "invoice_history": "invoice_history_enabled",
    "payment_method_update": "payment_method_update_enabled",
    "subscription_cancel": "subscription_cancel_enabled",
    "subscription_update": "subscription_update_enabled",
    "pause_collection": "pause_collection_enabled",
}


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def preview_refusal(request: HttpRequest) -> HttpResponse:
    """A staff preview shows the portal as the customer sees it but changes nothing: every write answers this page
    (the banner says why) instead of reaching the view."""
    return page(request, "portal/preview_refused.html", {"back_url": reverse("portal:overview")}, status=403)


@dataclass
class Portal:
    """What a portal view works with; attached to the request as ``request.portal``."""

    session: PortalSession

    @property
    def customer(self) -> Customer:
        return self.session.customer

    @property
    def configuration(self) -> PortalConfiguration:
        return self.session.configuration

    @property
    def account(self) -> Account:
        return self.session.account

    @property
    def return_url(self) -> str:
        return self.session.return_url

    @property
    def flow(self) -> dict | None:
        return self.session.flow

    @property
    def in_flow(self) -> bool:
        """A deep link hides the rest of the portal until its action is done (and afterwards too, unless the
        flow ends on the portal's homepage)."""
        if not self.flow or self.flow["type"] not in FLOW_PAGES:
            return False
        if self.session.flow_completed_at is None:
            return True
        return self.flow["after_completion"]["type"] != "portal_homepage"

    def enabled(self, feature: str) -> bool:
        return bool(getattr(self.configuration, FEATURES[feature]))

    @functools.cached_property
    def actor(self) -> Actor:
        """Who the audit log names for what is done here: the customer, or the staff member who chose to act as
        the customer (the entry recorded when they opened the session says who)."""
        if self.session.origin != PortalSession.Origin.STAFF:
            return Actor.customer(self.customer)
        opened = (
            AuditEntry.objects.filter(
                account_id=self.session.account_id,
                action=ACT_AS_CUSTOMER,
                object_type="portalsession",
                object_id=self.session.pk,
            )
            .values_list("actor_id", "actor_label")
            .first()
        )
        staff_id, staff_label = opened or ("", "staff")
        return Actor.staff_acting_as(staff_id=staff_id, staff_label=staff_label, customer=self.customer)


def client_ip(request: HttpRequest) -> str:
    """The browser's address: REMOTE_ADDR, or behind ``TRUSTED_PROXY_COUNT`` proxies the address the outermost
    one appended to X-Forwarded-For (entries further left are whatever the client chose to send)."""
    count = settings.TRUSTED_PROXY_COUNT
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if count > 0 and len(forwarded) >= count:
        return forwarded[-count]
    return request.META.get("REMOTE_ADDR", "")


def portal_locale(request: HttpRequest, session: PortalSession) -> str:
    """The session's locale when the merchant (or the customer, with the language switch) chose one, else the
    customer's preferences, else the browser's."""
    for candidate in (
        session.locale if session.locale != "auto" else None,
        *(session.customer.preferred_locales or ()),
    ):
        if locale := supported_locale(candidate):
            return locale
    return supported_locale(translation.get_language_from_request(request)) or DEFAULT_LOCALE


def private(response: HttpResponse) -> HttpResponse:
    """Portal pages show one customer's data: never cached, never sent as a referrer, never indexed."""
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    patch_vary_headers(response, ("HX-Request", "Cookie"))
    return response


def expired_response(request: HttpRequest, *, return_url: str = "", status: int = 401) -> HttpResponse:
    with translation.override(supported_locale(translation.get_language_from_request(request)) or DEFAULT_LOCALE):
        response = render(request, "portal/expired.html", {"return_url": return_url}, status=status)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return private(response)


def _ended_return_url(browser_key: str | None) -> str:
    """Where "Return" leads once a session has timed out: the merchant's page, if the cookie still names one."""
    if not browser_key:
        return ""
    ended = PortalSession.objects.filter(browser_key_digest=digest(browser_key)).values_list("return_url", flat=True)
    return ended.first() or ""


def flow_entry(portal: Portal) -> str:
    """The page a deep link opens on."""
    if portal.session.flow_completed_at is not None:
        return reverse("portal:flow_done")
    kind = portal.flow["type"]
    subscription = (portal.flow.get(kind) or {}).get("subscription")
    kwargs = {"subscription_id": subscription} if subscription else None
    return reverse(FLOW_PAGES[kind], kwargs=kwargs)


def flow_exit(portal: Portal) -> str:
    """Where a deep link goes once its action is done: Stripe's ``after_completion``."""
    after = portal.flow["after_completion"]
    if after["type"] == "hosted_confirmation":
        return reverse("portal:flow_done")
    if after["type"] == "redirect":
        return after["redirect"]["return_url"]
    return reverse("portal:overview")


def portal_view(*, feature: str | None = None, flows: tuple[str, ...] = ()):
    """Loads the browser's portal session (or shows "expired"), keeps it alive, enforces the custom domain, the
    configuration's features (disabled ones answer 404) and deep-link flows, and renders in the right language.

    ``flows``: the deep-link flow types this view is part of; in any other flow it redirects to the flow's page.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            browser_key = request.COOKIES.get(COOKIE)
            # ?locale= is the language switch: the session keeps the choice.
            session = services.portal_session_for_browser(
                browser_key=browser_key, locale=supported_locale(request.GET.get("locale"))
            )
            if session is None:
                return expired_response(request, return_url=_ended_return_url(browser_key))
            domain_account = getattr(request, "custom_domain_account", None)
            if domain_account is not None and domain_account.pk != session.account_id:
                raise Http404("No such page")
            portal = Portal(session)
            if feature is not None and not portal.enabled(feature):
                raise Http404("No such page")
            if portal.in_flow and portal.flow["type"] not in flows:
                return redirect(flow_entry(portal))
            request.portal = portal
            locale = portal_locale(request, session)
            with translation.override(locale):
                request.LANGUAGE_CODE = locale
                if session.read_only and request.method not in SAFE_METHODS:
                    response = preview_refusal(request)
                else:
                    response = view(request, *args, **kwargs)
                if hasattr(response, "render") and callable(response.render) and not response.is_rendered:
                    response.render()
            response["Content-Language"] = locale
            return private(response)

        return wrapper

    return decorate
