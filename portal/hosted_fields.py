"""What a portal page needs to show the processor's hosted fields, where customers type card and bank details
(never into our pages): the test gateway's vault frames with their signed token, or Stripe's or Mollie's script
settings, and the Content-Security-Policy additions for them on that page alone."""

from csp.constants import SELF
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from billing.audit import Actor
from billing.gateways.vault import VaultGrant, origin, vault_fields_url, vault_origin, vault_token
from billing.models import AuditEntry
from billing.services.payment_method_setups import PaymentFields
from portal.access import Portal

STRIPE_JS = "https://js.stripe.com/v3"
MOLLIE_JS = "https://js.mollie.com/v1/mollie.js"
# The processors' published CSP requirements for their hosted fields.
PROCESSOR_CSP = {
    "stripe": {
        "script-src": ["https://js.stripe.com", "https://*.js.stripe.com"],
        "frame-src": ["https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"],
        "connect-src": [SELF, "https://api.stripe.com"],
    },
    "mollie": {
        "script-src": ["https://js.mollie.com"],
        "frame-src": ["https://js.mollie.com"],
        "connect-src": [SELF, "https://api.mollie.com"],
    },
}
# Mollie Components take a full locale; Stripe Elements take our language codes as they are.
MOLLIE_LOCALES = {"de": "de_DE", "en": "en_US", "fr": "fr_FR", "es": "es_ES", "it": "it_IT", "nl": "nl_NL"}


def portal_origin(request: HttpRequest) -> str:
    """This page's origin as the customer's browser sees it: the merchant's verified custom domain (the host
    CustomDomainMiddleware checked), else PORTAL_BASE_URL's. Never an unchecked header."""
    if getattr(request, "custom_domain_account", None) is not None:
        return f"{request.scheme}://{request.get_host()}".lower()
    return origin(settings.PORTAL_BASE_URL)


def hosted_fields_context(request: HttpRequest, portal: Portal, fields: PaymentFields, brand: dict) -> dict:
    return fields_context(
        request,
        account_id=portal.account.pk,
        livemode=portal.session.livemode,
        customer_id=portal.customer.pk,
        fields=fields,
        brand=brand,
        actor=portal.actor,
    )


def fields_context(
    request: HttpRequest,
    *,
    account_id: str,
    livemode: bool,
    customer_id: str,
    fields: PaymentFields,
    brand: dict,
    actor: Actor | None = None,
) -> dict:
    """The template context of the hosted fields for one page. ``customer_id`` may be empty (hosted Checkout,
    before the customer exists): the vault then makes payment methods of the account that belong to nobody yet."""
    hosted = fields.hosted
    locale = translation.get_language()
    if hosted.kind == "vault":
        colors = brand.get("brand_colors") or {}
        token = vault_token(
            VaultGrant(
                account_id=account_id,
                livemode=livemode,
                customer_id=customer_id,
                parent_origin=portal_origin(request),
                locale=locale,
                types=tuple(fields.types),
                business_name=brand.get("business_name", ""),
                accent=colors.get("accent", ""),
                font=colors.get("font", ""),
                **(
                    {"staff_id": actor.id, "staff_label": actor.label}
                    if actor is not None and actor.type == AuditEntry.ActorType.STAFF
                    else {}
                ),
            )
        )
        return {"vault_origin": vault_origin(), "vault_frames": [(k, vault_fields_url(token, k)) for k in fields.types]}
    if hosted.kind == "stripe":
        return {
            "stripe_js": STRIPE_JS,
            "publishable_key": hosted.publishable_key,
            "currency": fields.currency,
            "stripe_locale": locale,
        }
    return {
        "mollie_js": MOLLIE_JS,
        "profile_id": hosted.profile_id,
        "mollie_locale": MOLLIE_LOCALES.get(locale, "en_US"),
        "testmode": hosted.testmode,
    }


def allow_hosted_fields(response: HttpResponse, fields: PaymentFields | None) -> HttpResponse:
    """django-csp's @csp_update for this response: the processor's (or the vault's) frames and scripts, on the page
    that shows them and nowhere else."""
    if fields is None:
        return response
    if fields.hosted.kind == "vault":
        response._csp_update = {"frame-src": [vault_origin()]}
    else:
        response._csp_update = PROCESSOR_CSP[fields.hosted.kind]
    return response
