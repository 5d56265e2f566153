"""Leaving for another origin after a form: the CSP's ``form-action 'self'`` makes browsers refuse a form's
redirect to another origin, so such a redirect goes to a same-origin page that continues there by GET."""

from django.core import signing
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

SALT = "portal.leave"
# The continue page's address is only ever followed at once, by the browser that posted the form.
MAX_AGE_SECONDS = 3600


def redirect_after_post(request: HttpRequest, url: str) -> HttpResponse:
    """303 to ``url`` when it is on this origin; otherwise 303 to the continue page, which opens ``url`` by GET
    (in the active language, with the portal session's brand)."""
    same_origin = url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    if not same_origin:
        portal = getattr(request, "portal", None)
        configuration_id = portal.configuration.pk if portal is not None else None
        payload = {"url": url, "locale": translation.get_language(), "configuration": configuration_id}
        url = f"{reverse('portal:leave')}?{urlencode({'to': signing.dumps(payload, salt=SALT)})}"
    return HttpResponseRedirect(url, status=303)


def destination(signed: str) -> dict | None:
    """The continue page's ``url``, ``locale`` and ``configuration``; ``None`` for a forged or stale address."""
    try:
        return signing.loads(signed, salt=SALT, max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:
        return None
