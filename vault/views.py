"""The test gateway's hosted fields: the page the portal frames for card or bank details (``fields``), and the
endpoint the page's own script posts them to (``payment_methods``), which answers a payment method id. Both are
authorised by the signed token of ``billing.gateways.vault``: the page runs in a cross-site iframe, where the
portal's cookies are not sent, so there is no session and no CSRF cookie, and the token names the one origin that
may frame the page and receive its messages."""

import json
import re

from csp.constants import NONE, SELF
from csp.decorators import csp
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST, require_safe

from billing.audit import Actor
from billing.exceptions import BillingError, NotFound
from billing.gateways import gateway_for
from billing.gateways.vault import SALT, VaultGrant, vault_grant
from billing.models import Account, AuditEntry, Customer
from billing.refusals import billing_error_message
from billing.selectors import customer_get_for_account
from billing.services.payment_methods import payment_method_create
from vault.forms import FORMS

# The page's own policy (django-csp's per-view form): its script and style from its own origin, nothing inline,
# requests only to itself. ``frame-ancestors`` is replaced per response by the parent origin signed into the token.
POLICY = {
    "default-src": [NONE],
    "script-src": [SELF],
    "style-src": [SELF],
    "connect-src": [SELF],
    "img-src": [SELF, "data:"],
    "form-action": [SELF],
    "base-uri": [NONE],
    "frame-ancestors": [NONE],
}
# Attempts per token (a token is minted for one visit of the portal's page): enough for typing mistakes, not for
# trying out card numbers.
ATTEMPTS_PER_TOKEN = 20
COLOR = re.compile(r"^#[0-9a-fA-F]{3,8}$")
FONT = re.compile(r"^[\w\s,\"'\-]{1,200}$")


class Refused(Exception):
    def __init__(self, status: int, message: str, grant: VaultGrant | None = None):
        self.status, self.message, self.grant = status, message, grant


def _grant(token: str, kind: str | None) -> tuple[VaultGrant, str]:
    """The token's grant and the payment method type asked for (the token's first when none is)."""
    if not token:
        raise Refused(400, _("These payment fields were opened without their key. Please reload the page."))
    try:
        grant = vault_grant(token)
    except signing.SignatureExpired:
        raise Refused(403, _("This form has expired. Please reload the page."), _expired_grant(token))
    except signing.BadSignature:
        raise Refused(403, _("These payment fields could not be opened. Please reload the page."))
    kind = kind or grant.types[0]
    if kind not in grant.types:
        raise Refused(400, _("This payment method cannot be added here."), grant)
    return grant, kind


def _expired_grant(token: str) -> VaultGrant | None:
    """An expired token's grant (its signature holds): enough to tell the page that framed it, in its language."""
    try:
        data = signing.loads(token, salt=SALT)
        return VaultGrant(**(data | {"types": tuple(data["types"])}))
    except (signing.BadSignature, TypeError, KeyError):
        return None


def _actor(grant: VaultGrant, customer: Customer | None) -> Actor:
    """The staff member acting as the customer in the portal (the signed grant names them), else the customer."""
    if grant.staff_id:
        return Actor(AuditEntry.ActorType.STAFF, grant.staff_id, grant.staff_label)
    return Actor.customer(customer) if customer else Actor.system("checkout")


def _customer(grant: VaultGrant) -> Customer | None:
    """The token's customer (None for a hosted Checkout page whose customer does not exist yet), as long as the
    account's processor in that mode is the test gateway: the vault is its hosted fields and no other processor's."""
    try:
        hosted = gateway_for(grant.account_id, grant.livemode).hosted_fields(livemode=grant.livemode)
        customer = None
        if grant.customer_id:
            customer = customer_get_for_account(
                account_id=grant.account_id, livemode=grant.livemode, customer_id=grant.customer_id
            )
    except (BillingError, NotFound):
        hosted = None
    if hosted is None or hosted.kind != "vault":
        raise Refused(403, _("These payment fields are not available. Please reload the page."), grant)
    return customer


def _private(response: HttpResponse, grant: VaultGrant | None) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    if grant is not None:
        # What @csp_replace does, with the parent known only from the token: the portal's page, wherever it runs.
        response._csp_replace = {"frame-ancestors": [grant.parent_origin]}
        response["Content-Language"] = grant.locale
    return response


def _brand(grant: VaultGrant) -> dict:
    return {
        "accent": grant.accent if COLOR.match(grant.accent or "") else "",
        "font": grant.font if FONT.match(grant.font or "") else "",
    }


@require_safe
@xframe_options_exempt
@csp(POLICY)
def fields(request: HttpRequest) -> HttpResponse:
    token = request.GET.get("t", "")
    try:
        grant, kind = _grant(token, request.GET.get("type"))
        _customer(grant)
    except Refused as refusal:
        return _refused_page(request, refusal)
    context = {
        "grant": grant,
        "token": token,
        "kind": kind,
        "form": FORMS[kind](),
        "test_mode": not grant.livemode,
        **_brand(grant),
    }
    with translation.override(grant.locale):
        response = render(request, "vault/fields.html", context)
    return _private(response, grant)


def _refused_page(request: HttpRequest, refusal: Refused) -> HttpResponse:
    grant = refusal.grant
    locale = grant.locale if grant is not None else translation.get_language()
    with translation.override(locale):
        response = render(
            request,
            "vault/refused.html",
            {"message": refusal.message, "locale": locale, "grant": grant},
            status=refusal.status,
        )
    return _private(response, grant)


def _posted(request: HttpRequest) -> QueryDict | dict:
    """The fields, sent as JSON or as a form."""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            return {}
        return {key: value for key, value in data.items() if isinstance(value, str)} if isinstance(data, dict) else {}
    return request.POST


def _within_attempts(grant: VaultGrant) -> bool:
    key = f"vault:attempts:{grant.nonce}"
    cache.add(key, 0, timeout=60 * 60)
    try:
        return cache.incr(key) <= ATTEMPTS_PER_TOKEN
    except ValueError:  # expired between add and incr
        return True


@csrf_exempt  # a cross-site iframe has no CSRF cookie; the signed token authenticates the request
@require_POST
@sensitive_post_parameters("number", "expiry", "cvc", "iban")
@sensitive_variables()
@csp(POLICY)
def payment_methods(request: HttpRequest) -> HttpResponse:
    data = _posted(request)
    try:
        grant, kind = _grant(data.get("t", ""), data.get("type"))
        customer = _customer(grant)
        if not _within_attempts(grant):
            raise Refused(429, _("Too many attempts. Please reload the page and try again."), grant)
    except Refused as refusal:
        with translation.override(refusal.grant.locale if refusal.grant else translation.get_language()):
            return _private(JsonResponse({"errors": {"__all__": str(refusal.message)}}, status=refusal.status), None)
    with translation.override(grant.locale):
        form = FORMS[kind](data)
        if not form.is_valid():
            return _private(JsonResponse({"errors": form.field_errors()}, status=400), None)
        try:
            pm = payment_method_create(
                account=customer.account if customer else Account.objects.get(pk=grant.account_id),
                livemode=grant.livemode,
                actor=_actor(grant, customer),
                card=form.cleaned_data.get("card"),
                sepa=form.cleaned_data.get("sepa"),
                billing_details=form.cleaned_data["billing_details"],
            )
        except BillingError as error:
            field, message = billing_error_message(error)
            field = field if field in form.fields else "__all__"
            return _private(JsonResponse({"errors": {field: message}}, status=400), None)
    return _private(JsonResponse({"id": pm.id, "type": pm.type}), None)
