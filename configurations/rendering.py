"""Merchant-written Markdown -> safe HTML for the portal (custom text blocks)."""

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

# What custom text may use: paragraphs, emphasis, lists, links and small headings. No images (tracking
# pixels), no tables, no raw HTML beyond these tags, no styles, no scripts.
ALLOWED_TAGS = {"p", "br", "strong", "em", "b", "i", "ul", "ol", "li", "a", "h3", "h4", "blockquote", "code", "hr"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto", "tel"}


def render_markdown(source: str) -> SafeString:
    """Markdown with raw HTML stripped to the allowed tags; links open safely and carry no referrer."""
    if not (source or "").strip():
        return mark_safe("")  # noqa: S308  (empty string)
    html = markdown.markdown(source, extensions=["sane_lists"], output_format="html")
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return mark_safe(cleaned)  # noqa: S308  (sanitised by nh3 above)
