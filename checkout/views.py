"""The hosted Checkout page (``/c/<session>``): the order summary, what the session asks for, the processor's
hosted fields, and the customer's confirmation; back from the bank's page (3-D Secure); a promotion code."""

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from billing import clock
from billing.exceptions import BillingError, InvalidRequest, NotFound, StateConflict
from billing.gateways import gateway_for
from billing.services.payment_method_setups import PaymentFields
from checkout import selectors
from checkout.forms import CheckoutForm
from checkout.models import CheckoutSession
from checkout.page import brand, summary
from checkout.services.complete import ACTION, FAILED, Attempt, checkout_session_confirm, checkout_session_settle
from checkout.services.discounts import checkout_session_apply_promotion_code
from portal import invoice_payment
from portal.access import client_ip
from portal.hosted_fields import allow_hosted_fields, fields_context, portal_origin
from portal.leave import redirect_after_post
from portal.locale_selection import choose_locale, supported_locale


def _session(request: HttpRequest, session_id: str) -> CheckoutSession:
    try:
        return selectors.session_for_page(
            session_id=session_id, domain_account=getattr(request, "custom_domain_account", None)
        )
    except NotFound:
        raise Http404("No such checkout session")


def _locale(request: HttpRequest, session: CheckoutSession) -> str:
    return (
        supported_locale(request.GET.get("locale"))
        or supported_locale(session.locale)
        or choose_locale(request, session.customer)
    )


def _private(response: HttpResponse, locale: str) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "same-origin"
    response["Content-Language"] = locale
    return response


def _success(request: HttpRequest, session: CheckoutSession, locale: str) -> HttpResponse:
    # The success URL is the merchant's: a form's redirect there goes by our continue page (CSP form-action).
    url = session.success_url.replace("{CHECKOUT_SESSION_ID}", session.pk)
    return _private(redirect_after_post(request, url), locale)


def _fields(session: CheckoutSession) -> PaymentFields | None:
    try:
        gateway = gateway_for(session.account_id, session.livemode)
        hosted = gateway.hosted_fields(livemode=session.livemode)
    except BillingError:
        return None
    offered = gateway.payment_method_types(currency=session.currency or "eur", country="", livemode=session.livemode)
    types = [kind for kind in hosted.types if kind in offered and kind in session.payment_method_types]
    return PaymentFields(hosted, types, session.currency or "eur") if types else None


def _page(request, session, locale, *, form=None, error: str = "", promo_error: str = "", status: int = 200):
    if session.status == CheckoutSession.Status.EXPIRED or session.is_expired_at(clock.now()):
        return _private(render(request, "checkout/expired.html", brand(session), status=410), locale)
    line_items = selectors.line_items_of(session)
    fields = _fields(session)
    form = form or CheckoutForm(session=session, line_items=line_items, types=fields.types if fields else [])
    context = {
        **brand(session),
        **summary(session, line_items),
        "session": session,
        "form": form,
        "error": error,
        "promo_error": promo_error,
        "unavailable": fields is None,
        "hosted_kind": fields.hosted.kind if fields else "",
    }
    if fields is not None:
        context.update(
            fields_context(
                request,
                account_id=session.account_id,
                livemode=session.livemode,
                customer_id=session.customer_id or "",
                fields=fields,
                brand=context,
            )
        )
    return _private(allow_hosted_fields(render(request, "checkout/page.html", context, status=status), fields), locale)


def _mandate(request: HttpRequest, form: CheckoutForm) -> dict | None:
    if form.cleaned_data.get("type") != "sepa_debit":
        return None
    online = {"ip_address": client_ip(request) or "-", "user_agent": request.headers.get("User-Agent", "")[:500] or "-"}
    return {"customer_acceptance": {"type": "online", "online": online}}


def _answer(request, session, locale, attempt: Attempt, form=None) -> HttpResponse:
    if attempt.status == ACTION:
        return _private(redirect_after_post(request, attempt.redirect_to), locale)
    if attempt.status != FAILED:
        return _success(request, selectors.session_for_page(session_id=session.pk), locale)
    code = (attempt.error or {}).get("code")
    if code in ("invoice_not_payable", "payment_intent_unexpected_state", "invalid_state"):
        message = gettext("A payment for this order is already under way. Please wait a moment and reload.")
    else:
        message = invoice_payment.failure_message(attempt.error)
    return _page(request, session, locale, form=form, error=message, status=402)


@require_http_methods(["GET", "POST"])
def checkout_page(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _session(request, session_id)
    locale = _locale(request, session)
    with translation.override(locale):
        if session.status == CheckoutSession.Status.COMPLETE:
            return _success(request, session, locale)
        if request.method == "GET":
            return _page(request, session, locale)
        return _confirm(request, session, locale)


def _confirm(request: HttpRequest, session: CheckoutSession, locale: str) -> HttpResponse:
    line_items = selectors.line_items_of(session)
    fields = _fields(session)
    form = CheckoutForm(request.POST, session=session, line_items=line_items, types=fields.types if fields else [])
    if fields is None or not form.is_valid():
        return _page(request, session, locale, form=form, status=400)
    return_url = f"{portal_origin(request)}{reverse('checkout:return', kwargs={'session_id': session.pk})}"
    try:
        attempt = checkout_session_confirm(
            session=session,
            details=form.customer_input(),
            payment_method_id=form.cleaned_data["payment_method"],
            quantities=form.quantities(),
            return_url=return_url,
            mandate_data=_mandate(request, form),
        )
    except StateConflict as error:
        if error.code == "checkout_session_complete":
            return _success(request, session, locale)
        return _page(request, selectors.session_for_page(session_id=session.pk), locale)
    except BillingError as error:
        form.add_billing_error(error)
        return _page(request, session, locale, form=form, status=400)
    return _answer(request, session, locale, attempt, form=form)


@require_safe
def checkout_return(request: HttpRequest, session_id: str) -> HttpResponse:
    """Back from the bank's page: the session completes, or the page says why not (and takes another card)."""
    session = _session(request, session_id)
    locale = _locale(request, session)
    with translation.override(locale):
        attempt = checkout_session_settle(session=session, refresh=True)
        if attempt.status == FAILED and not (attempt.error or {}).get("decline_code"):
            attempt = Attempt(FAILED, error={"code": "authentication_required"})
        return _answer(request, selectors.session_for_page(session_id=session.pk), locale, attempt)


@require_POST
def promotion_code(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _session(request, session_id)
    locale = _locale(request, session)
    with translation.override(locale):
        code = "" if request.POST.get("remove") else request.POST.get("promotion_code", "")[:64]
        try:
            session = checkout_session_apply_promotion_code(session=session, code=code)
        except StateConflict:
            return _page(request, session, locale)
        except InvalidRequest:
            return _page(request, session, locale, promo_error=gettext("This code is not valid."), status=400)
        page_url = reverse("checkout:page", kwargs={"session_id": session.pk})
        return _private(HttpResponseRedirect(page_url, status=303), locale)


@require_safe
def checkout_done(request: HttpRequest, session_id: str) -> HttpResponse:
    """Our thank-you page, the success URL of a link's session when its merchant gave none."""
    session = _session(request, session_id)
    locale = _locale(request, session)
    with translation.override(locale):
        if session.status != CheckoutSession.Status.COMPLETE:
            page_url = reverse("checkout:page", kwargs={"session_id": session.pk})
            return _private(HttpResponseRedirect(page_url, status=303), locale)
        context = {
            **brand(session),
            **summary(session, selectors.line_items_of(session)),
            "session": session,
            "email": (session.customer_details or {}).get("email") or session.customer_email,
            "cancel_url": "",
        }
        return _private(render(request, "checkout/done.html", context), locale)
