"""Branding services: the account's name, colours, font, icon and logo in the portal."""

import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from billing import audit, clock
from billing.audit import Actor
from billing.exceptions import InvalidRequest
from billing.models import Account
from billing.services.common import lock_account
from configurations import validators
from configurations.models import Branding
from configurations.services.params import invalid, too_long

KEEP = object()


def _store_image(branding: Branding, field_name: str, upload, param: str) -> None:
    """``KEEP`` leaves the image, ``None`` removes it, a file replaces it (named by us, never by the uploader)."""
    if upload is KEEP:
        return
    old = getattr(branding, field_name)
    old_name = old.name if old else ""
    if upload is None or upload is False:
        setattr(branding, field_name, "")
    else:
        try:
            kind = validators.validate_brand_image(upload)
        except ValidationError as error:
            raise InvalidRequest(" ".join(error.messages), param=param)
        name = f"{branding.account_id}-{secrets.token_hex(8)}.{'jpg' if kind == 'jpeg' else kind}"
        getattr(branding, field_name).save(name, upload, save=False)
    if old_name and old_name != getattr(branding, field_name).name:
        storage = old.storage
        transaction.on_commit(lambda: storage.delete(old_name))


def branding_update(
    *,
    account: Account,
    actor: Actor,
    business_name: str | None = None,
    primary_color: str | None = None,
    background_color: str | None = None,
    font: str | None = None,
    icon=KEEP,
    logo=KEEP,
) -> Branding:
    """Create or change the account's branding; ``None`` leaves a text field as it is."""
    changes: dict[str, Any] = {}
    if business_name is not None:
        business_name = business_name.strip()
        if len(business_name) > 100:
            raise too_long("business_name", 100)
        changes["business_name"] = business_name
    for name, value in (("primary_color", primary_color), ("background_color", background_color)):
        if value is not None:
            try:
                changes[name] = validators.normalize_hex_color(value)
            except ValidationError as error:
                raise InvalidRequest(" ".join(error.messages), param=name)
    if font is not None:
        if font not in Branding.Font.values:
            raise invalid(
                "font", _("Invalid font: must be one of %(choices)s.") % {"choices": ", ".join(Branding.Font.values)}
            )
        changes["font"] = font
    with transaction.atomic():
        lock_account(account.pk)
        branding = Branding.objects.select_for_update(no_key=True).filter(account=account).first()
        creating = branding is None
        if creating:
            branding = Branding(account=account)
        for name, value in changes.items():
            setattr(branding, name, value)
        _store_image(branding, "icon", icon, "icon")
        _store_image(branding, "logo", logo, "logo")
        branding.updated = clock.now()
        branding.save()
        audit.record(
            actor,
            "branding.create" if creating else "branding.update",
            branding,
            {
                **changes,
                **({"icon": branding.icon.name} if icon is not KEEP else {}),
                **({"logo": branding.logo.name} if logo is not KEEP else {}),
            },
        )
        return branding


def branding_contrast_warning(branding: Branding) -> str | None:
    """A sentence for the merchant when the brand colour is hard to read on the background (WCAG AA: 4.5:1)."""
    if branding.has_enough_contrast:
        return None
    return _(
        "The brand colour %(primary)s on the background %(background)s has a contrast ratio of %(ratio)s:1; "
        "WCAG AA asks for at least 4.5:1. Links and buttons may be hard to read."
    ) % {
        "primary": branding.primary_color,
        "background": branding.background_color,
        "ratio": f"{branding.contrast_ratio:.2f}",
    }
