"""What every portal page shows around its content: the merchant's brand, the way back, the legal links."""

import hashlib
import mimetypes

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from billing.models import Account
from configurations.models import Branding, PortalConfiguration
from configurations.rendering import render_markdown
from configurations.selectors import branding_for

BRAND_IMAGES = ("logo", "icon")


def _image_url(branding: Branding, kind: str) -> str:
    field = getattr(branding, kind)
    if not field:
        return ""
    version = hashlib.sha256(field.name.encode()).hexdigest()[:12]
    return reverse("portal:brand_image", kwargs={"account_id": branding.account_id, "kind": kind, "version": version})


def brand_colors(branding: Branding | None) -> dict | None:
    """The brand's colours and font for ``portal/partials/brand_style.html`` (custom properties in a nonce'd
    style element: the CSP allows no inline style attributes)."""
    if branding is None:
        return None
    return {
        "accent": branding.primary_color,
        "accent_contrast": branding.button_text_color,
        "page": branding.background_color,
        "font": branding.font_stack,
    }


def brand_context(account: Account, configuration: PortalConfiguration) -> dict:
    """Business name, images, colours and legal links; colours reach the CSS as custom properties."""
    branding = branding_for(account)
    business = branding.display_name if branding else account.name
    colors = brand_colors(branding)
    return {
        "business_name": business,
        "brand_colors": colors,
        "logo_url": _image_url(branding, "logo") if branding else "",
        "icon_url": _image_url(branding, "icon") if branding else "",
        "headline": configuration.headline,
        "terms_url": configuration.terms_of_service_url,
        "privacy_url": configuration.privacy_policy_url,
        "livemode": configuration.livemode,
    }


def custom_text(configuration: PortalConfiguration, section: str) -> str:
    return render_markdown(getattr(configuration, f"custom_text_{section}", "") or "")


def see_other(url: str) -> HttpResponse:
    """The answer to a POST that worked: 303, so reloading the next page does not post again."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def page(request: HttpRequest, template: str, context: dict | None = None, *, status: int = 200) -> HttpResponse:
    """Render a page of the signed-in portal (``request.portal`` set by ``portal_view``)."""
    portal = request.portal
    full = {
        "portal": portal,
        "customer": portal.customer,
        "return_url": portal.return_url,
        **brand_context(portal.account, portal.configuration),
        **(context or {}),
    }
    return render(request, template, full, status=status)


@require_safe
def brand_image(request: HttpRequest, account_id: str, kind: str, version: str) -> HttpResponse:
    """The merchant's logo or icon (public, like any logo); the version in the URL lets browsers cache it."""
    if kind not in BRAND_IMAGES:
        raise Http404("No such image")
    branding = Branding.objects.filter(account_id=account_id).first()
    field = getattr(branding, kind, None) if branding else None
    if not field:
        raise Http404("No such image")
    domain_account = getattr(request, "custom_domain_account", None)
    if domain_account is not None and domain_account.pk != account_id:
        raise Http404("No such image")
    try:
        handle = field.open("rb")
    except OSError:
        raise Http404("No such image")
    content_type = mimetypes.guess_type(field.name)[0] or "application/octet-stream"
    if not content_type.startswith("image/"):
        raise Http404("No such image")
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response
