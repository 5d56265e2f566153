"""Pure checks for branding and custom domains: colours and their contrast, brand images, hostnames."""

import ipaddress
import re
from urllib.parse import urlsplit

import idna
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# WCAG 2.1 success criterion 1.4.3 (AA) for normal text.
MIN_CONTRAST = 4.5
MAX_IMAGE_BYTES = 512 * 1024
MAX_IMAGE_PIXELS = 4096 * 4096
IMAGE_KINDS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}

_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


# ---------------------------------------------------------------------------------------------- colours


def normalize_hex_color(value: str) -> str:
    """``#ABC``, ``abc`` or ``#aabbcc`` -> ``#aabbcc``; anything else raises ``ValidationError``."""
    match = _HEX.match((value or "").strip())
    if not match:
        raise ValidationError(
            _("Enter a colour as a hex code such as #4338ca."), code="invalid_color", params={"value": value}
        )
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return f"#{digits}"


def validate_hex_color(value: str) -> None:
    normalize_hex_color(value)


def relative_luminance(color: str) -> float:
    """WCAG 2.x relative luminance of an sRGB colour, 0 (black) to 1 (white)."""
    digits = normalize_hex_color(color)[1:]

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(digits[i : i + 2], 16)) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: str, second: str) -> float:
    """WCAG contrast ratio of two colours, from 1 (same) to 21 (black on white); order does not matter."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def readable_text_color(background: str) -> str:
    """Black or white, whichever is easier to read on ``background`` (button labels on the brand colour)."""
    return "#000000" if contrast_ratio(background, "#000000") >= contrast_ratio(background, "#ffffff") else "#ffffff"


# ---------------------------------------------------------------------------------------------- images


def validate_brand_image(file) -> str:
    """A PNG, JPEG or WebP of at most 512 KB that Pillow can read; returns ``png``, ``jpeg`` or ``webp``.

    The type comes from the file's content, never from its name or the browser's content type. SVG is
    refused: it can carry scripts and we do not sanitise it.
    """
    from PIL import Image, UnidentifiedImageError

    if getattr(file, "_committed", False):
        return ""  # a stored image (FieldFile) was checked when it was uploaded
    size = getattr(file, "size", None)
    if size is None:
        file.seek(0, 2)
        size = file.tell()
    if size > MAX_IMAGE_BYTES:
        raise ValidationError(
            _("The image is %(size)s KB; at most %(limit)s KB are allowed.")
            % {"size": (size + 1023) // 1024, "limit": MAX_IMAGE_BYTES // 1024},
            code="image_too_large",
        )
    file.seek(0)
    head = file.read(512)
    file.seek(0)
    if b"<svg" in head.lower() or head.lstrip().startswith(b"<"):
        raise ValidationError(
            _("SVG images are not accepted because they can contain scripts. Upload a PNG, JPEG or WebP file."),
            code="image_svg",
        )
    try:
        with Image.open(file) as image:
            kind = IMAGE_KINDS.get(image.format or "")
            width, height = image.size
            if kind is None:
                raise ValidationError(
                    _("Upload a PNG, JPEG or WebP image (this file is %(format)s).") % {"format": image.format},
                    code="image_type",
                )
            if width * height > MAX_IMAGE_PIXELS:
                raise ValidationError(
                    _("The image is %(width)s × %(height)s pixels; use at most 4096 × 4096.")
                    % {"width": width, "height": height},
                    code="image_dimensions",
                )
            image.verify()
    except ValidationError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationError(
            _("This file is not a readable image. Upload a PNG, JPEG or WebP file."), code="image_unreadable"
        )
    finally:
        file.seek(0)
    return kind


# ---------------------------------------------------------------------------------------------- hostnames


def own_hostname() -> str:
    return (urlsplit(settings.PORTAL_BASE_URL).hostname or "").lower()


def normalize_hostname(value: str) -> str:
    """A merchant's portal hostname in its ASCII (IDNA) form, e.g. ``billing.bücher.de`` -> ``billing.xn--bcher-kva.de``.

    Refuses IP addresses, wildcards, single labels, ports, paths and this service's own host.
    """
    host = (value or "").strip().lower().rstrip(".")
    if not host:
        raise ValidationError(_("Enter a hostname such as billing.example.com."), code="hostname_missing")
    if "*" in host:
        raise ValidationError(
            _("Wildcard domains are not supported: enter one hostname such as billing.example.com."),
            code="hostname_wildcard",
        )
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        raise ValidationError(
            _("An IP address cannot be a custom domain: enter a hostname such as billing.example.com."),
            code="hostname_ip",
        )
    if any(c in host for c in "/:@?#\\ "):
        raise ValidationError(
            _("Enter only the hostname, without scheme, port or path (for example billing.example.com)."),
            code="hostname_not_bare",
        )
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise ValidationError(_("%(host)s is not a valid domain name.") % {"host": value}, code="hostname_invalid")
    labels = ascii_host.split(".")
    if (
        len(ascii_host) > 253
        or not all(_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
        or labels[-1] == "localhost"
    ):
        raise ValidationError(_("%(host)s is not a valid domain name.") % {"host": value}, code="hostname_invalid")
    if len(labels) < 2:
        raise ValidationError(
            _("Enter a fully qualified domain name such as billing.example.com."), code="hostname_single_label"
        )
    ours = own_hostname()
    if ours and (ascii_host == ours or ascii_host.endswith(f".{ours}")):
        raise ValidationError(
            _("%(host)s belongs to this service; enter a domain of your own.") % {"host": value},
            code="hostname_ours",
        )
    return ascii_host


def display_hostname(ascii_host: str) -> str:
    """The Unicode form of a stored hostname, for people."""
    try:
        return idna.decode(ascii_host)
    except (idna.IDNAError, UnicodeError):
        return ascii_host
