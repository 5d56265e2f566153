"""Branding: the WCAG contrast function, colours, brand images and the branding service; custom text rendering."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import given
from hypothesis import strategies as st

from billing.audit import Actor
from billing.exceptions import InvalidRequest
from billing.models import AuditEntry
from configurations.models import Branding
from configurations.rendering import render_markdown
from configurations.services.branding import KEEP, branding_contrast_warning, branding_update
from configurations.validators import (
    contrast_ratio,
    normalize_hex_color,
    readable_text_color,
    relative_luminance,
    validate_brand_image,
)
from tests.configurations.conftest import image_bytes

ACTOR = Actor.system("test")
hex_colors = st.integers(min_value=0, max_value=0xFFFFFF).map(lambda n: f"#{n:06x}")

# ---------------------------------------------------------------------------------------------- contrast


def test_contrast_of_known_pairs():
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    # WebAIM's reference values: #767676 is the lightest grey that passes AA on white, #777777 fails.
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio("#4338ca", "#ffffff") == pytest.approx(7.90, abs=0.01)


def test_luminance_and_shorthand():
    assert relative_luminance("#fff") == pytest.approx(1.0)
    assert relative_luminance("000") == pytest.approx(0.0)
    assert normalize_hex_color(" #ABC ") == "#aabbcc"
    for bad in ("", "#12345", "red", "#gggggg", "#1234567"):
        with pytest.raises(ValidationError):
            normalize_hex_color(bad)


@given(hex_colors, hex_colors)
def test_contrast_is_symmetric_and_bounded(first, second):
    ratio = contrast_ratio(first, second)
    assert ratio == pytest.approx(contrast_ratio(second, first))
    assert 1.0 <= ratio <= 21.0 + 1e-9


@given(hex_colors)
def test_readable_text_color_is_the_better_of_black_and_white(background):
    chosen = readable_text_color(background)
    other = "#ffffff" if chosen == "#000000" else "#000000"
    assert contrast_ratio(background, chosen) >= contrast_ratio(background, other)
    # One of black and white always reaches at least 4.5:1 (the worst case is about 4.58:1).
    assert contrast_ratio(background, chosen) >= 4.5


# ---------------------------------------------------------------------------------------------- images


def upload(content: bytes, name: str = "logo.png", content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.mark.parametrize(("kind", "expected"), [("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp")])
def test_png_jpeg_and_webp_are_accepted(kind, expected):
    assert validate_brand_image(upload(image_bytes(kind))) == expected


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "logo.png"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "logo.svg"),
        (image_bytes("GIF"), "logo.gif"),
        (b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "broken.png"),
        (b"MZ\x90\x00 an executable", "logo.jpg"),
    ],
    ids=["svg-named-png", "svg", "gif", "truncated-png", "not-an-image"],
)
def test_other_files_are_refused_by_content_not_by_name(content, name):
    with pytest.raises(ValidationError):
        validate_brand_image(upload(content, name))


def test_images_over_512_kb_are_refused():
    big = image_bytes("PNG", size=(600, 600), noise=True)
    assert len(big) > 512 * 1024
    with pytest.raises(ValidationError) as error:
        validate_brand_image(upload(big))
    assert "512 KB" in error.value.messages[0]


# ---------------------------------------------------------------------------------------------- service


def test_branding_update_creates_then_changes_the_one_row(merchant):
    branding = branding_update(
        account=merchant,
        actor=ACTOR,
        business_name="Alpha Books",
        primary_color="#ABC",
        background_color="#ffffff",
        font="serif",
        icon=upload(image_bytes("PNG"), "../../etc/passwd.png"),
    )
    assert branding.primary_color == "#aabbcc" and branding.font == "serif"
    assert branding.icon.name.startswith("branding/icons/") and "passwd" not in branding.icon.name
    assert branding.icon.name.endswith(".png")
    first_icon = branding.icon.name
    again = branding_update(account=merchant, actor=ACTOR, primary_color="#4338ca", icon=KEEP, logo=None)
    assert again.pk == branding.pk and Branding.objects.count() == 1
    assert again.icon.name == first_icon and again.business_name == "Alpha Books"
    assert list(AuditEntry.objects.filter(object_type="branding").values_list("action", flat=True)) == [
        "branding.update",
        "branding.create",
    ]


def test_branding_update_refuses_bad_input_and_keeps_the_row(merchant):
    branding_update(account=merchant, actor=ACTOR, primary_color="#4338ca")
    with pytest.raises(InvalidRequest) as error:
        branding_update(account=merchant, actor=ACTOR, primary_color="blue")
    assert error.value.param == "primary_color"
    with pytest.raises(InvalidRequest) as error:
        branding_update(account=merchant, actor=ACTOR, logo=upload(b"<svg/>", "logo.svg", "image/svg+xml"))
    assert error.value.param == "logo"
    with pytest.raises(InvalidRequest) as error:
        branding_update(account=merchant, actor=ACTOR, font="comic-sans")
    assert error.value.param == "font"
    assert Branding.objects.get(account=merchant).primary_color == "#4338ca"


def test_contrast_warning(merchant):
    readable = branding_update(account=merchant, actor=ACTOR, primary_color="#4338ca", background_color="#ffffff")
    assert branding_contrast_warning(readable) is None and readable.has_enough_contrast
    faint = branding_update(account=merchant, actor=ACTOR, primary_color="#ffeb3b", background_color="#ffffff")
    warning = branding_contrast_warning(faint)
    assert warning and "4.5:1" in warning and "#ffeb3b" in warning
    assert faint.button_text_color == "#000000"


# ---------------------------------------------------------------------------------------------- custom text


def test_markdown_is_rendered_and_sanitised():
    html = render_markdown(
        "**Questions?** [Write to us](https://acme.example/help)\n\n"
        "<script>alert(1)</script><img src=x onerror=alert(1)>"
        "[bad](javascript:alert(1)) <a href='https://x.example' onclick='steal()'>x</a>"
    )
    assert "<strong>Questions?</strong>" in html
    assert 'href="https://acme.example/help"' in html and 'rel="noopener noreferrer nofollow"' in html
    for forbidden in ("<script", "alert(1)</", "onerror", "<img", "javascript:", "onclick"):
        assert forbidden not in html
    assert render_markdown("") == "" and render_markdown("   ") == ""
