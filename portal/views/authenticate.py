"""The test gateway's 3-D Secure page: where ``next_action.redirect_to_url`` sends the customer of a test-mode
PaymentIntent or SetupIntent. It plays the issuer's part ("Complete" or "Fail") and then goes back to the
intent's ``return_url`` with Stripe's query parameters. Real processors send customers to their own page."""

from urllib.parse import urlencode, urlsplit, urlunsplit

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.http import require_http_methods

from billing.exceptions import NotFound
from billing.selectors import intent_get_by_client_secret
from billing.services.intents import payment_intent_authenticate, setup_intent_authenticate
from configurations.selectors import branding_for
from portal import access
from portal.leave import redirect_after_post
from portal.locale_selection import choose_locale

OUTCOMES = {"complete": True, "fail": False}


def _return_url(intent, *, succeeded: bool) -> str:
    """Stripe's redirect back: ``payment_intent``, ``payment_intent_client_secret`` and ``redirect_status``."""
    kind = "payment_intent" if intent.id.startswith("pi_") else "setup_intent"
    parts = urlsplit(intent.return_url)
    extra = urlencode(
        {
            kind: intent.id,
            f"{kind}_client_secret": intent.client_secret,
            "redirect_status": "succeeded" if succeeded else "failed",
        }
    )
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


@require_http_methods(["GET", "POST"])
def authenticate(request: HttpRequest, intent_id: str) -> HttpResponse:
    secret = request.POST.get("client_secret") if request.method == "POST" else request.GET.get("client_secret")
    try:
        intent = intent_get_by_client_secret(intent_id=intent_id, client_secret=secret or "")
    except NotFound:
        raise Http404("No such payment")
    if intent.livemode:
        raise Http404("Live payments authenticate with the processor")
    locale = choose_locale(request, intent.customer)
    done = None
    if request.method == "POST" and request.POST.get("outcome") in OUTCOMES:
        succeeded = OUTCOMES[request.POST["outcome"]]
        if intent.id.startswith("pi_"):
            intent = payment_intent_authenticate(intent=intent, succeeded=succeeded)
        else:
            intent = setup_intent_authenticate(intent=intent, succeeded=succeeded)
        done = intent.status in ("succeeded", "processing", "requires_capture")
        if intent.return_url:
            with translation.override(locale):
                return access.private(redirect_after_post(request, _return_url(intent, succeeded=done)))
    branding = branding_for(intent.account)
    context = {
        "intent": intent,
        "is_payment": intent.id.startswith("pi_"),
        "business_name": branding.display_name if branding else intent.account.name,
        "waiting": intent.status == "requires_action",
        "done": done,
        "client_secret": intent.client_secret,
    }
    with translation.override(locale):
        request.LANGUAGE_CODE = locale
        response = render(request, "portal/authenticate.html", context)
    response["Content-Language"] = locale
    return access.private(response)
