"""Entering the portal: a session URL's token becomes a browser cookie, and the address bar loses the token."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_safe

from portal import access, services


def start_browser_session(response: HttpResponse, redeemed: services.Redeemed) -> HttpResponse:
    response.set_cookie(
        access.COOKIE,
        redeemed.browser_key,
        path=access.COOKIE_PATH,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return access.private(response)


@require_safe
def redeem(request: HttpRequest, token: str) -> HttpResponse:
    # Link previewers (chat apps, mail scanners) send HEAD first: it must not use up the single-use link.
    if request.method == "HEAD":
        return access.private(HttpResponse())
    # On a merchant's custom domain only that merchant's sessions exist: another's token is not even used up.
    domain_account = getattr(request, "custom_domain_account", None)
    try:
        redeemed = services.portal_session_redeem(token=token, account=domain_account)
    except services.LinkExpired as expired:
        return access.expired_response(request, return_url=expired.return_url, status=410 if expired.session else 404)
    # 303 to a token-free address: the token leaves the address bar, the history and any Referer.
    response = redirect(reverse("portal:overview"))
    response.status_code = 303
    return start_browser_session(response, redeemed)
