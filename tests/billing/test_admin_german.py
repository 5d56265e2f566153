"""The admin in German: every registered model's list, add and change page show no English left over.

Each page is fetched twice, with ``Accept-Language: en`` and ``de`` (LocaleMiddleware picks the admin's language
from it), and the visible labels (headings, field labels, column headers, filter titles, options, actions,
buttons) are compared: a label the same in both languages is English left untranslated, unless it is a word
German shares (ALLOWED) or data and technical tokens (ids, codes, amounts, names from the fixtures).
"""

import contextlib
import re
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django_countries import countries

from tests.factories.admin import populated_account

# Words German uses as they are (or proper names): the same label in both languages is right for these.
ALLOWED = {
    "ID",
    "Name",
    "Status",
    "Stripe",
    "Mollie",
    "Webhooks",
    "API",
    "URL",
    "Code",
    "Version",
    "System",
    "Starter",
    "Logo",
    "Hostname",
    "Token",
    "Secret",
    "Slug",
    "Checkout",
    "Test",
    "Live",
    "E-Mail",
    "Text",
    "Position",
    "Links",
    "—",
    "-",
    "Inter",  # a font
    "SEPA",
    "Gone",
    "Filter",
    "Maximum",
    "Minimum",
    "---------",
}
# Countries whose German name is their English one (Chile, Japan, …): options of the country pickers.
with translation.override("de"):
    ALLOWED |= {str(name) for _code, name in countries}
# Data and technical tokens: ids, redacted keys, tax id types (eu_vat), codes, event types, amounts, dates, e-mail addresses,
# fixture names. A raw value such as "send_invoice" is not one: it should have been a translated label.
DATA = re.compile(
    r".*(\d|@|\.|/|€|\$|:|…).*|[a-z]{2,3}_[a-z_]+|(Alpha|Beta|Pending credit)\b.*|[A-Z0-9]{3,}|[a-z]+(\.[a-z_]+)+|(card|eur|usd|month|year|visa)"
)
VISIBLE = {"h1", "h2", "h3", "label", "legend", "option", "button", "summary", "caption"}


class Labels(HTMLParser):
    """Texts of the elements that carry labels, plus thead column headers and submit buttons' values."""

    def __init__(self):
        super().__init__()
        self.stack, self.texts, self.in_thead, self.in_script = [], set(), False, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "thead":
            self.in_thead = True
        if tag in ("script", "style", "textarea"):
            self.in_script = True
        if tag == "input" and attrs.get("type") == "submit" and attrs.get("value"):
            self.texts.add(attrs["value"].strip())
        if tag in VISIBLE or (tag == "th" and self.in_thead):
            self.stack.append([tag, ""])

    def handle_endtag(self, tag):
        if tag == "thead":
            self.in_thead = False
        if tag in ("script", "style", "textarea"):
            self.in_script = False
        if self.stack and self.stack[-1][0] == tag:
            text = " ".join(self.stack.pop()[1].split()).rstrip(":").strip()
            if text:
                self.texts.add(text)

    def handle_data(self, data):
        if self.stack and not self.in_script:
            self.stack[-1][1] += data


def _labels(client, url, language):
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    if response.status_code == 403:
        return None  # no add page for read-only models
    assert response.status_code == 200, (url, response.status_code)
    assert response.headers.get("Content-Language") == language
    parser = Labels()
    parser.feed(response.content.decode())
    return parser.texts


def _untranslated(client, url):
    english, german = _labels(client, url, "en"), _labels(client, url, "de")
    if german is None:
        return []
    return sorted(text for text in german & english if text not in ALLOWED and not DATA.fullmatch(text))


@pytest.fixture
def superuser_client(client, db, django_user_model):
    tenant = populated_account("Alpha", staff_email="staff@alpha.example")
    user = tenant.staff
    user.is_superuser = True
    user.save()
    client.force_login(user)
    return client, tenant


def _pages():
    for model in admin.site._registry:
        if model._meta.app_label == "auth":
            continue  # Django's own, translated by Django
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        yield reverse(f"{name}_changelist")
        with contextlib.suppress(NoReverseMatch):
            yield reverse(f"{name}_add")
        row = model.objects.first()
        if row is not None:
            yield reverse(f"{name}_change", args=[row.pk])


def test_the_german_admin_has_no_english_left(superuser_client):
    client, _tenant = superuser_client
    found = {}
    pages = [reverse("admin:index"), *_pages()]
    client.raise_request_exception = False
    for url in pages:
        untranslated = _untranslated(client, url)
        if untranslated:
            found[url] = untranslated
    assert len(pages) > 60
    assert not found, "\n".join(f"{url}: {texts}" for url, texts in found.items())
