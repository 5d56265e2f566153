"""The merchant admin for portal configurations, branding and custom domains; every write goes through the services."""

import base64
import re
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.forms.models import BaseInlineFormSet
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from billing.admin import adopt, format_money, replace_metadata
from billing.admin_scoping import SERVICE_ERROR_ATTR, TenantModelForm, TenantScopedAdmin, TenantScopedMixin
from billing.audit import Actor
from billing.exceptions import BillingError
from billing.models import Price
from billing.selectors import accounts_for_user
from configurations import validators
from configurations.admin_rules import MetadataRulesField, customer_group_field, customers_reached
from configurations.models import (
    DEFAULT_CANCELLATION_OPTIONS,
    Branding,
    CancellationOffer,
    CustomDomain,
    PortalConfiguration,
    PortalConfigurationProduct,
)
from configurations.rendering import render_markdown
from configurations.selectors import cancellation_offer_report
from configurations.services import validation
from configurations.services.branding import KEEP, branding_contrast_warning, branding_update
from configurations.services.custom_domains import custom_domain_remove, custom_domain_set, custom_domain_verify
from configurations.services.naming import interval_name, quoted
from configurations.services.portal_configurations import (
    configuration_create,
    configuration_make_default,
    configuration_update,
)

C = PortalConfiguration
PRODUCT_PARAM = re.compile(r"^features\[subscription_update\]\[products\]\[(\d+)\](?:\[(\w+)\])?")
OFFER_PARAM = re.compile(r"^features\[subscription_cancel\]\[offers\]\[(\d+)\](?:\[(\w+)\])?")
# Service params of an offer -> the inline's fields.
OFFER_FIELDS = {"days": "pause_days", "price": "price", "coupon": "coupon", "customer_group": "customer_metadata"}

# Service params -> form fields; the longest matching prefix wins.
PARAM_FIELDS = {
    "name": "name",
    "active": "active",
    "metadata": "metadata",
    "default_return_url": "default_return_url",
    "business_profile[headline]": "headline",
    "business_profile[privacy_policy_url]": "privacy_policy_url",
    "business_profile[terms_of_service_url]": "terms_of_service_url",
    "features[customer_update]": "customer_update_enabled",
    "features[customer_update][allowed_updates]": "customer_update_allowed_updates",
    "features[invoice_history]": "invoice_history_enabled",
    "features[payment_method_update]": "payment_method_update_enabled",
    "features[subscription_cancel]": "subscription_cancel_enabled",
    "features[subscription_cancel][mode]": "subscription_cancel_mode",
    "features[subscription_cancel][proration_behavior]": "subscription_cancel_proration_behavior",
    "features[subscription_cancel][cancellation_reason]": "cancellation_reason_enabled",
    "features[subscription_cancel][cancellation_reason][options]": "cancellation_reason_options",
    "features[subscription_update]": "subscription_update_enabled",
    "features[subscription_update][default_allowed_updates]": "subscription_update_default_allowed_updates",
    "features[subscription_update][proration_behavior]": "subscription_update_proration_behavior",
    "features[subscription_update][billing_cycle_anchor]": "subscription_update_billing_cycle_anchor",
    "features[subscription_update][schedule_at_period_end]": "schedule_at_period_end_conditions",
    "features[subscription_update][trial_update_behavior]": "trial_update_behavior",
    "features[subscription_update][transitions]": "subscription_update_transitions_mode",
    "features[subscription_update][transitions][mode]": "subscription_update_transitions_mode",
    "features[subscription_update][transitions][graph]": "subscription_update_transitions_graph",
    "features[pause_collection]": "pause_collection_enabled",
    "features[pause_collection][behavior]": "pause_collection_behavior",
    "features[pause_collection][max_duration_days]": "pause_collection_max_duration_days",
    "login_page": "login_page_enabled",
    "custom_text[overview]": "custom_text_overview",
    "custom_text[update]": "custom_text_update",
    "custom_text[cancel]": "custom_text_cancel",
    "custom_text[login]": "custom_text_login",
    "customer_group[metadata]": "customer_group_metadata",
    "customer_group[priority]": "customer_group_priority",
}
# The add form starts where Stripe's Dashboard does: the portal's everyday features on.
ADD_FORM_INITIAL = {
    "customer_update_enabled": True,
    "customer_update_allowed_updates": ["address", "email", "name", "phone"],
    "invoice_history_enabled": True,
    "payment_method_update_enabled": True,
    "subscription_cancel_enabled": True,
    "cancellation_reason_enabled": True,
    "cancellation_reason_options": DEFAULT_CANCELLATION_OPTIONS,
}
MARKDOWN_HELP = _("Markdown: **bold**, *italic*, lists and [links](https://example.com). HTML is removed.")


def field_for_param(param: str | None, fields) -> str | None:
    if not param:
        return None
    matches = [prefix for prefix in PARAM_FIELDS if param == prefix or param.startswith(f"{prefix}[")]
    for prefix in sorted(matches, key=len, reverse=True):
        if PARAM_FIELDS[prefix] in fields:
            return PARAM_FIELDS[prefix]
    return None


# API parameters as merchants know them: the token (``features[subscription_update][products]``) and the page's words.
API_PARAM = re.compile(
    r"\b(?:name|active|metadata|default_return_url|business_profile|features|login_page|custom_text|"
    r"customer_group|subscription_start)(?:\[\w*\])+"
)
MISSING_PARAM = re.compile(r"^Missing required param: ([^ ]+?)\.?$")
# The id the API's messages give beside a quoted name (“Basic” (prod_…), „Basic“ (prod_…)): the page names rows.
ID_BESIDE_NAME = re.compile(r"(?<=[”“»«\"]) \([A-Za-z0-9_-]+\)")


def param_label(param: str) -> str:
    """``features[subscription_update][products]`` -> “Plan changes: products and prices”."""
    if param.startswith(validation.PRODUCTS):
        return quoted(str(ProductInline.verbose_name_plural))
    if param.startswith(validation.OFFERS):
        return quoted(gettext("Cancellation offers"))
    name = field_for_param(param, PortalConfigurationForm.base_fields)
    if name is None:
        return param
    field = PortalConfigurationForm.base_fields[name]
    return quoted(str(field.label or PortalConfiguration._meta.get_field(name).verbose_name))


def merchant_wording(text: str) -> str:
    """A service message with its API parameters named as the admin page names them, and its products, prices and
    coupons by their names alone."""
    if match := MISSING_PARAM.match(text):
        return gettext("Fill in %(field)s.") % {"field": param_label(match.group(1))}
    return ID_BESIDE_NAME.sub("", API_PARAM.sub(lambda found: param_label(found.group(0)), text))


def message_once(request, text, level) -> None:
    """Adds the message unless the same one is already waiting to be shown (a save's warning, then the page it
    redirects to, would otherwise say it twice)."""
    storage = messages.get_messages(request)
    waiting = [str(message.message) for message in storage]
    storage.used = False
    if str(text) not in waiting:
        messages.add_message(request, level, text)


def _checkboxes(choices, label):
    return forms.MultipleChoiceField(choices=choices, widget=forms.CheckboxSelectMultiple, required=False, label=label)


def _formfield(db_field, **kwargs):
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


class PortalConfigurationForm(TenantModelForm):
    customer_update_allowed_updates = _checkboxes(C.AllowedUpdate.choices, _("details they may update"))
    cancellation_reason_options = _checkboxes(C.CancellationReason.choices, _("reasons offered"))
    subscription_update_default_allowed_updates = _checkboxes(C.SubscriptionUpdate.choices, _("changes allowed"))
    schedule_at_period_end_conditions = _checkboxes(
        C.ScheduleCondition.choices, _("schedule these changes at the end of the period")
    )
    customer_group_metadata = customer_group_field()

    class Meta:
        model = PortalConfiguration
        fields = "__all__"
        formfield_callback = _formfield
        widgets = {
            name: forms.Textarea(attrs={"rows": 4, "cols": 80})
            for name in ("custom_text_overview", "custom_text_update", "custom_text_cancel", "custom_text_login")
        }

    def _field_for(self, param):
        return field_for_param(param, self.fields)

    def clean(self):
        if self.service_error is not None:
            self.service_error = self.service_error.reworded(merchant_wording(self.service_error.localized))
        return super().clean()


def object_button_url(model_admin, slug: str, name: str, action):
    """A change page's button (``<object id>/<slug>/``, POST only, CSRF-checked): runs the admin action of the same
    name on that one row, so the button is audited and refused exactly as the action is, then returns to the page."""
    opts = model_admin.model._meta

    @require_POST
    def view(request, object_id):
        obj = model_admin.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404("No such object")
        if not model_admin.has_change_permission(request, obj):
            raise PermissionDenied
        action(request, model_admin.model.objects.filter(pk=obj.pk))
        return redirect(f"admin:{opts.app_label}_{opts.model_name}_change", quote(obj.pk))

    return path(
        f"<path:object_id>/{slug}/",
        model_admin.admin_site.admin_view(view),
        name=f"{opts.app_label}_{opts.model_name}_{name}",
    )


def ordered_product_forms(formset) -> list:
    """The inline's filled-in forms in the order the service sees them (by position, then as shown)."""
    kept = []
    for index, form in enumerate(formset.forms):
        data = getattr(form, "cleaned_data", None) or {}
        if not data or data.get("DELETE") or (form.instance.pk is None and not form.has_changed()):
            continue
        kept.append((data.get("position") or 0, index, form))
    return [form for _position, _index, form in sorted(kept, key=lambda item: item[:2])]


class ConfigurationRowInline(TenantScopedMixin, admin.TabularInline):
    """Rows of a configuration: scoped through it, and shown the service's refusal when it names their parameter."""

    service_error_param = ""

    def get_queryset(self, request):
        # The rows have no account of their own: they are scoped through their configuration.
        queryset = admin.TabularInline.get_queryset(self, request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(configuration__account__in=accounts_for_user(request.user))

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        error = getattr(request, SERVICE_ERROR_ATTR, None)
        formset.service_error = (
            error if error is not None and (error.param or "").startswith(self.service_error_param) else None
        )
        return formset


class ProductFormSet(BaseInlineFormSet):
    """Shows a service error about ``features[subscription_update][products][N]`` on the N-th product."""

    service_error: BillingError | None = None

    def clean(self):
        super().clean()
        error = self.service_error
        if error is None or not (error.param or "").startswith(validation.PRODUCTS):
            return
        match = PRODUCT_PARAM.match(error.param)
        forms_in_order = ordered_product_forms(self)
        if match and int(match.group(1)) < len(forms_in_order):
            field = match.group(2)
            field = "adjustable_quantity_enabled" if field == "adjustable_quantity" else field
            form = forms_in_order[int(match.group(1))]
            form.add_error(field if field in form.fields else None, merchant_wording(error.localized))
        else:
            raise ValidationError(merchant_wording(error.localized))


class PricesOfProductSelect(forms.SelectMultiple):
    """The price picker of a product row: each option knows its product (``data-product``); the row's product's
    prices are shown, the others hidden (``configurations/price-picker.js`` follows a change of product)."""

    product_id: str | None = None

    class Media:
        js = ("configurations/price-picker.js",)

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        price = getattr(value, "instance", None)
        if price is not None:
            option["attrs"]["data-product"] = price.product_id
            if self.product_id and price.product_id != self.product_id:
                option["attrs"]["hidden"] = True
        return option


def price_option_label(price: Price) -> str:
    label = f"{format_money(price.unit_amount, price.currency)} {interval_name(price.recurring_interval)}"
    return f"{price.product.name}: {label}" + (f" ({price.nickname})" if price.nickname else "")


class ProductRowForm(forms.ModelForm):
    class Meta:
        model = PortalConfigurationProduct
        fields = (
            "position",
            "product",
            "prices",
            "adjustable_quantity_enabled",
            "adjustable_quantity_minimum",
            "adjustable_quantity_maximum",
            "add_on",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        prices = self.fields.get("prices")
        if prices is not None:
            prices.label_from_instance = price_option_label
            bound = self.data.get(self.add_prefix("product")) if self.is_bound else None
            picker = getattr(prices.widget, "widget", prices.widget)  # inside the admin's related-field wrapper
            picker.product_id = bound or self.instance.product_id


class ProductInline(ConfigurationRowInline):
    model = PortalConfigurationProduct
    form = ProductRowForm
    formset = ProductFormSet
    autocomplete_fields = ("product",)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "prices":
            kwargs["widget"] = PricesOfProductSelect(attrs={"size": 4})
            queryset = self.scoped_choices(db_field, request, kwargs.get("using"))
            # Every price stays a valid choice: the service explains why another product's price cannot be offered.
            kwargs["queryset"] = queryset.select_related("product").order_by("product__name", "unit_amount", "id")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    fields = ProductRowForm.Meta.fields
    extra = 1
    max_num = validation.MAX_PRODUCTS
    verbose_name = _("product customers may switch to")
    verbose_name_plural = _("Plan changes: products and prices")
    service_error_param = validation.PRODUCTS


class OfferForm(forms.ModelForm):
    reasons = _checkboxes(C.CancellationReason.choices, _("only for these reasons"))
    # Declared (not derived from the model's callable default) so an untouched extra row counts as unchanged.
    customer_metadata = MetadataRulesField(label=_("only for customers with this metadata"), required=False)

    class Meta:
        model = CancellationOffer
        fields = ("position", "type", "pause_days", "price", "coupon", "customer_metadata", "reasons")


class OfferFormSet(BaseInlineFormSet):
    """Shows a service error about ``features[subscription_cancel][offers][N]`` on the N-th offer."""

    service_error: BillingError | None = None

    def clean(self):
        super().clean()
        error = self.service_error
        if error is None or not (error.param or "").startswith(validation.OFFERS):
            return
        match = OFFER_PARAM.match(error.param)
        forms_in_order = ordered_product_forms(self)
        if match and int(match.group(1)) < len(forms_in_order):
            field = OFFER_FIELDS.get(match.group(2) or "", match.group(2))
            form = forms_in_order[int(match.group(1))]
            form.add_error(field if field in form.fields else None, merchant_wording(error.localized))
        else:
            raise ValidationError(merchant_wording(error.localized))


class CancellationOfferInline(ConfigurationRowInline):
    model = CancellationOffer
    form = OfferForm
    formset = OfferFormSet
    autocomplete_fields = ("price", "coupon")
    fields = ("position", "type", "pause_days", "price", "coupon", "customer_metadata", "reasons")
    extra = 1
    max_num = validation.MAX_OFFERS
    verbose_name = _("cancellation offer")
    verbose_name_plural = _("Cancellation offers (shown in this order when a customer starts to cancel)")
    service_error_param = validation.OFFERS


def offer_data(formset) -> list[dict]:
    entries = []
    for form in ordered_product_forms(formset):
        cleaned = form.cleaned_data
        kind = cleaned.get("type") or ""
        entry = {"type": kind, "reasons": list(cleaned.get("reasons") or []) or ""}
        if kind == CancellationOffer.Type.PAUSE or cleaned.get("pause_days"):
            entry["days"] = cleaned.get("pause_days") or ""
        if kind == CancellationOffer.Type.SWITCH or cleaned.get("price"):
            entry["price"] = cleaned["price"].pk if cleaned.get("price") else ""
        if kind == CancellationOffer.Type.COUPON or cleaned.get("coupon"):
            entry["coupon"] = cleaned["coupon"].coupon_id if cleaned.get("coupon") else ""
        entry["customer_group"] = {"metadata": cleaned.get("customer_metadata") or ""}
        entries.append(entry)
    return entries


def configuration_data(
    cleaned: dict, *, products: list | None, old_metadata: dict | None, offers: list | None = None
) -> dict:
    """The admin form as the service's Stripe-shaped parameters (the whole configuration; ``""`` clears)."""

    def listed(values):
        return list(values) if values else ""

    data = {
        "name": cleaned.get("name") or "",
        "active": cleaned.get("active", True),
        "default_return_url": cleaned.get("default_return_url") or "",
        "business_profile": {
            "headline": cleaned.get("headline") or "",
            "privacy_policy_url": cleaned.get("privacy_policy_url") or "",
            "terms_of_service_url": cleaned.get("terms_of_service_url") or "",
        },
        "features": {
            "customer_update": {
                "enabled": cleaned.get("customer_update_enabled", False),
                "allowed_updates": listed(cleaned.get("customer_update_allowed_updates")),
            },
            "invoice_history": {"enabled": cleaned.get("invoice_history_enabled", False)},
            "payment_method_update": {"enabled": cleaned.get("payment_method_update_enabled", False)},
            "subscription_cancel": {
                "enabled": cleaned.get("subscription_cancel_enabled", False),
                "mode": cleaned.get("subscription_cancel_mode") or C.CancelMode.AT_PERIOD_END,
                "proration_behavior": cleaned.get("subscription_cancel_proration_behavior") or C.ProrationBehavior.NONE,
                "cancellation_reason": {
                    "enabled": cleaned.get("cancellation_reason_enabled", False),
                    "options": listed(cleaned.get("cancellation_reason_options")),
                },
            },
            "subscription_update": {
                "enabled": cleaned.get("subscription_update_enabled", False),
                "default_allowed_updates": listed(cleaned.get("subscription_update_default_allowed_updates")),
                "proration_behavior": cleaned.get("subscription_update_proration_behavior") or C.ProrationBehavior.NONE,
                "billing_cycle_anchor": cleaned.get("subscription_update_billing_cycle_anchor") or "",
                "schedule_at_period_end": {
                    "conditions": listed(
                        [{"type": value} for value in cleaned.get("schedule_at_period_end_conditions") or []]
                    )
                },
                "trial_update_behavior": cleaned.get("trial_update_behavior") or C.TrialUpdateBehavior.END_TRIAL,
                "transitions": {
                    "mode": cleaned.get("subscription_update_transitions_mode") or C.TransitionMode.ANY,
                    "graph": cleaned.get("subscription_update_transitions_graph") or "",
                },
            },
            "pause_collection": {
                "enabled": cleaned.get("pause_collection_enabled", False),
                "behavior": cleaned.get("pause_collection_behavior") or C.PauseBehavior.VOID,
                "max_duration_days": cleaned.get("pause_collection_max_duration_days") or "",
            },
        },
        "login_page": {"enabled": cleaned.get("login_page_enabled", False)},
        "metadata": _metadata_update(old_metadata, cleaned.get("metadata")),
        "custom_text": {
            section: cleaned.get(f"custom_text_{section}") or "" for section in validation.CUSTOM_TEXT_SECTIONS
        },
        "customer_group": {
            "metadata": cleaned.get("customer_group_metadata") or "",
            "priority": cleaned.get("customer_group_priority") or 0,
        },
        "subscription_start": {"checkout_link": getattr(cleaned.get("subscription_start_link"), "pk", "")},
    }
    if products is not None:
        data["features"]["subscription_update"]["products"] = products
    if offers is not None:
        data["features"]["subscription_cancel"]["offers"] = offers or ""
    return data


def _metadata_update(old: dict | None, new) -> dict | str:
    """The admin edits metadata as a whole; the service merges, so removed keys are sent empty."""
    if not new:
        return ""
    return replace_metadata(old, new) if isinstance(new, dict) else new


def product_data(formset) -> list[dict]:
    entries = []
    for form in ordered_product_forms(formset):
        cleaned = form.cleaned_data
        product = cleaned.get("product")
        maximum = cleaned.get("adjustable_quantity_maximum")
        entries.append(
            {
                "product": product.pk if product else "",
                "prices": [price.pk for price in (cleaned.get("prices") or [])],
                "adjustable_quantity": {
                    "enabled": bool(cleaned.get("adjustable_quantity_enabled")),
                    "minimum": cleaned.get("adjustable_quantity_minimum") or 0,
                    "maximum": maximum if maximum is not None else "",
                },
                "add_on": bool(cleaned.get("add_on")),
            }
        )
    return entries


def live_links_missing(configuration: PortalConfiguration) -> str:
    """The links a live configuration needs and this one lacks, as a phrase ("" when none is missing)."""
    labels = {
        "default_return_url": gettext("a default return URL"),
        "terms_of_service_url": gettext("a terms of service link"),
        "privacy_policy_url": gettext("a privacy policy link"),
    }
    return ", ".join(labels[name] for name in configuration.missing_live_links())


@admin.register(PortalConfiguration)
class PortalConfigurationAdmin(TenantScopedAdmin):
    form = PortalConfigurationForm
    inlines = [ProductInline, CancellationOfferInline]
    change_form_template = "admin/configurations/portalconfiguration/change_form.html"
    list_display = ("__str__", "id", "is_default", "active", "login_page_enabled", "updated")
    list_filter = ("active", "is_default")
    search_fields = ("id", "name")
    actions = ("make_default",)
    readonly_fields = (
        "id",
        "mode",
        "is_default",
        "created",
        "updated",
        "login_link",
        "custom_text_preview",
        "offer_report",
    )

    class Media:
        js = ("js/copy-link.js",)
        css = {"all": ("configurations/admin.css",)}

    def get_fieldsets(self, request, obj=None):
        head = (
            ("account", "livemode", "name", "active")
            if obj is None
            else (
                "id",
                "mode",
                "name",
                "active",
                "is_default",
                "created",
                "updated",
            )
        )
        return [
            (None, {"fields": head}),
            (
                _("Business profile"),
                {"fields": ("headline", "privacy_policy_url", "terms_of_service_url", "default_return_url")},
            ),
            (_("Customer information"), {"fields": ("customer_update_enabled", "customer_update_allowed_updates")}),
            (_("Payment methods"), {"fields": ("payment_method_update_enabled",)}),
            (_("Invoices"), {"fields": ("invoice_history_enabled",)}),
            (
                _("Cancellation"),
                {
                    "fields": (
                        "subscription_cancel_enabled",
                        "subscription_cancel_mode",
                        "subscription_cancel_proration_behavior",
                        "cancellation_reason_enabled",
                        "cancellation_reason_options",
                        *(("offer_report",) if obj is not None else ()),
                    )
                },
            ),
            (
                _("Plan changes"),
                {
                    "classes": ("portal-plan-changes",),
                    "description": _("Customers switch between the prices of the products listed below (at most 10)."),
                    "fields": (
                        "subscription_update_enabled",
                        "subscription_update_default_allowed_updates",
                        "subscription_update_proration_behavior",
                        "subscription_update_billing_cycle_anchor",
                        "schedule_at_period_end_conditions",
                        "trial_update_behavior",
                        "subscription_update_transitions_mode",
                        "subscription_update_transitions_graph",
                    ),
                },
            ),
            (
                _("Pause payments"),
                {
                    "description": _(
                        "Beyond Stripe: customers pause payment collection of a subscription themselves and resume it."
                    ),
                    "fields": (
                        "pause_collection_enabled",
                        "pause_collection_behavior",
                        "pause_collection_max_duration_days",
                    ),
                },
            ),
            (
                _("Custom text"),
                {
                    "description": MARKDOWN_HELP,
                    "fields": (
                        "custom_text_overview",
                        "custom_text_update",
                        "custom_text_cancel",
                        "custom_text_login",
                        *(("custom_text_preview",) if obj is not None else ()),
                    ),
                },
            ),
            (
                _("New subscriptions"),
                {
                    "description": _(
                        "Beyond Stripe: customers without a subscription start one on a Checkout page opened from "
                        "one of your Checkout links (subscription links that are active)."
                    ),
                    "fields": ("subscription_start_link",),
                },
            ),
            (
                _("Customer group"),
                {
                    "description": _(
                        "Sessions created without a configuration use the active configuration whose metadata all "
                        "appear in the customer's metadata (highest priority first), otherwise the default."
                    ),
                    "fields": (
                        "customer_group_metadata",
                        "customer_group_priority",
                        *(("customers_in_group",) if obj is not None else ()),
                    ),
                },
            ),
            (
                _("Login link"),
                {
                    "description": _(
                        "A link you can share: customers enter their email address and receive a link to the portal."
                    ),
                    "fields": ("login_page_enabled", *(("login_link",) if obj is not None else ())),
                },
            ),
            (_("Metadata"), {"fields": ("metadata",)}),
        ]

    def get_readonly_fields(self, request, obj=None):
        fixed = ("id", "mode", "is_default", "created", "updated", "login_link", "custom_text_preview", "offer_report")
        fixed = (*fixed, "customers_in_group")
        return fixed if obj is None else (*fixed, "account", "livemode")

    def get_changeform_initial_data(self, request):
        return {**ADD_FORM_INITIAL, **super().get_changeform_initial_data(request)}

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.URLField):
            kwargs.setdefault("assume_scheme", "https")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "subscription_start_link":
            choices = self.scoped_choices(db_field, request, kwargs.get("using"))
            kwargs["queryset"] = choices.filter(active=True, mode="subscription")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        # Errors about the products are shown on the products (ProductInline), not on the main form; without
        # the inline (no permission) the main form keeps them, so the refused save is never retried.
        error = form.service_error
        inlines = self.get_inline_instances(request, obj)
        if (
            error is not None
            and (error.param or "").startswith(validation.PRODUCTS)
            and any(isinstance(inline, ProductInline) for inline in inlines)
        ):
            form.service_error = None
        if (
            error is not None
            and (error.param or "").startswith(validation.OFFERS)
            and any(isinstance(inline, CancellationOfferInline) for inline in inlines)
        ):
            form.service_error = None
        return form

    # -- saving: one service call for the form and its products

    def save_model(self, request, obj, form, change):
        """Nothing yet: ``save_related`` hands the form and the products to the service in one call."""

    def save_related(self, request, form, formsets, change):
        product_formset = next((f for f in formsets if isinstance(f, ProductFormSet)), None)
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        products = (
            product_data(product_formset) if product_formset is not None and product_formset.has_changed() else None
        )
        offer_formset = next((f for f in formsets if isinstance(f, OfferFormSet)), None)
        offers = offer_data(offer_formset) if offer_formset is not None and offer_formset.has_changed() else None
        actor = Actor.staff(request.user)
        obj = form.instance
        if change:
            current = PortalConfiguration.objects.get(pk=obj.pk)
            data = configuration_data(
                form.cleaned_data, products=products, old_metadata=current.metadata, offers=offers
            )
            saved = configuration_update(configuration=current, actor=actor, data=data)
        else:
            data = configuration_data(form.cleaned_data, products=products, old_metadata=None, offers=offers)
            saved = configuration_create(
                account=form.cleaned_data["account"], livemode=form.cleaned_data["livemode"], actor=actor, data=data
            )
        adopt(obj, saved)
        self._warn_about_live_links(request, saved)

    def construct_change_message(self, request, form, formsets, add=False):
        return [{"added": {}}] if add else [{"changed": {"fields": form.changed_data}}]

    # -- pages

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "GET":
            obj = self.get_object(request, unquote(object_id))
            if obj is not None:
                self._warn_about_live_links(request, obj)
        return super().change_view(request, object_id, form_url, extra_context)

    def _warn_about_live_links(self, request, configuration: PortalConfiguration) -> None:
        missing = live_links_missing(configuration)
        if not missing:
            return
        if configuration.livemode:
            text = gettext("This live configuration lacks %(missing)s. Live portal sessions need them.")
            message_once(request, text % {"missing": missing}, messages.WARNING)
        else:
            text = gettext(
                "Test mode works without them, but a live configuration needs %(missing)s (under “Business "
                "profile”): add them before you use these settings in live mode."
            )
            message_once(request, text % {"missing": missing}, messages.INFO)

    @admin.display(description=_("login link"))
    def login_link(self, obj):
        url = obj.login_page_url if obj else None
        if not url:
            return gettext(
                "Off. Tick “login link” and save to create a link; switching it off makes the old link stop working."
            )
        return format_html(
            '<span class="portal-copy"><input type="text" readonly id="portal-login-link-{id}" value="{url}" size="70" '
            'aria-label="{label}"> <button type="button" class="button" data-copy-target="portal-login-link-{id}" '
            'data-copied-label="{copied}">{copy}</button> <span class="portal-copy-status" role="status" '
            'aria-live="polite"></span></span>',
            id=obj.pk,
            url=url,
            label=gettext("Login link"),
            copy=gettext("Copy"),
            copied=gettext("Copied"),
        )

    @admin.display(description=_("preview"))
    def custom_text_preview(self, obj):
        sections = [
            (gettext("Overview page"), obj.custom_text_overview),
            (gettext("Plan change page"), obj.custom_text_update),
            (gettext("Cancellation page"), obj.custom_text_cancel),
            (gettext("Login page"), obj.custom_text_login),
        ]
        shown = [(title, render_markdown(text)) for title, text in sections if text]
        if not shown:
            return "—"
        return format_html_join("", '<div class="portal-custom-text"><strong>{}</strong>{}</div>', shown)

    @admin.display(description=_("customers in this group"))
    def customers_in_group(self, obj):
        reach = customers_reached(obj) if obj is not None and obj.pk else None
        if reach is None:
            return gettext(
                "No rule: customers get this configuration only when a session names it (or as the default)."
            )
        if not obj.active:
            return gettext("Inactive: no customer gets this configuration until it is active again.")
        if reach.count == 0:
            return gettext("No customer matches this rule (or a rule of higher priority takes them first).")
        if reach.more:
            summary = gettext(
                "More than %(count)d customers get this configuration when a session names none, as the portal "
                "resolves it:"
            ) % {"count": reach.count}
        else:
            summary = ngettext(
                "%(count)d customer gets this configuration when a session names none, as the portal resolves it:",
                "%(count)d customers get this configuration when a session names none, as the portal resolves it:",
                reach.count,
            ) % {"count": reach.count}
        names = format_html_join(
            "",
            '<li><a href="{}">{}</a></li>',
            (
                (reverse("admin:billing_customer_change", args=[quote(c.pk)]), c.email or c.name or c.pk)
                for c in reach.named
            ),
        )
        return format_html('<p>{}</p><ul class="portal-group-customers">{}</ul>', summary, names)

    @admin.display(description=_("cancellation offers report"))
    def offer_report(self, obj):
        rows = cancellation_offer_report(obj) if obj is not None and obj.pk else []
        if not rows:
            return gettext("No cancellation offers yet.")
        head = format_html(
            "<thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>",
            gettext("Offer"),
            gettext("Shown"),
            gettext("Accepted"),
            gettext("Declined"),
            gettext("Canceled anyway"),
        )
        body = format_html_join(
            "",
            '<tr data-offer="{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            ((row.offer.id, row.label, row.shown, row.accepted, row.declined, row.canceled_anyway) for row in rows),
        )
        note = gettext("Canceled anyway: accepted the offer, and the subscription was canceled later.")
        return format_html(
            '<table class="portal-offer-report">{}<tbody>{}</tbody></table><p class="help">{}</p>', head, body, note
        )

    # -- actions

    @admin.action(description=_("Make default"), permissions=["change"])
    def make_default(self, request, queryset):
        selected = list(queryset[:2])
        if len(selected) != 1:
            self.message_user(
                request, gettext("Select exactly one configuration to make it the default."), messages.ERROR
            )
            return
        try:
            configuration = configuration_make_default(configuration=selected[0], actor=Actor.staff(request.user))
        except BillingError as error:
            self.message_user(request, f"{selected[0]}: {error.localized}", messages.ERROR)
            return
        mode = gettext("live") if configuration.livemode else gettext("test")
        self.message_user(
            request,
            gettext("%(configuration)s is now the default %(mode)s configuration.")
            % {"configuration": configuration, "mode": mode},
            messages.SUCCESS,
        )

    def has_delete_permission(self, request, obj=None):
        # Stripe has no delete: configurations are deactivated instead.
        return False

    def get_urls(self):
        button = object_button_url(self, "make-default", "make_default", self.make_default)
        return [button, *super().get_urls()]


# ---------------------------------------------------------------------------------------------- branding


class AccountModelForm(TenantModelForm):
    """For rows of an account that serve both modes (branding, domain): there is no livemode to compare."""

    def _anchor(self, cleaned):
        return None


class BrandingForm(AccountModelForm):
    class Meta:
        model = Branding
        fields = ("account", "business_name", "icon", "logo", "primary_color", "background_color", "font")
        widgets = {
            "primary_color": forms.TextInput(attrs={"type": "color"}),
            "background_color": forms.TextInput(attrs={"type": "color"}),
            "icon": forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
            "logo": forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
        }


def _image_argument(form, name):
    if name not in form.changed_data:
        return KEEP
    value = form.cleaned_data.get(name)
    return value if value and hasattr(value, "content_type") else None


@admin.register(Branding)
class BrandingAdmin(TenantScopedAdmin):
    form = BrandingForm
    list_display = ("__str__", "account", "primary_color", "background_color", "contrast", "font")
    list_select_related = ("account",)
    readonly_fields = ("contrast", "icon_preview", "logo_preview", "updated")

    def get_fields(self, request, obj=None):
        fields = ["account", "business_name", "icon", "logo", "primary_color", "background_color", "font"]
        if obj is not None:
            fields = ["account", "business_name", "icon", "icon_preview", "logo", "logo_preview"]
            fields += ["primary_color", "background_color", "contrast", "font", "updated"]
        return fields

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "account") if obj is not None else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("contrast"))
    def contrast(self, obj):
        ratio = obj.contrast_ratio
        verdict = gettext("meets WCAG AA") if ratio >= validators.MIN_CONTRAST else gettext("below WCAG AA (4.5:1)")
        return f"{ratio:.2f}:1 ({verdict})"

    def _preview(self, field):
        if not field:
            return "—"
        try:
            with field.open("rb") as handle:
                content = handle.read(validators.MAX_IMAGE_BYTES + 1)
        except OSError:
            return "—"
        kind = {b"\x89PNG": "png", b"\xff\xd8\xff": "jpeg", b"RIFF": "webp"}
        mime = next((f"image/{k}" for magic, k in kind.items() if content.startswith(magic)), None)
        if mime is None:
            return "—"
        # A data: URL (allowed by the CSP's img-src) needs no media server in front of the admin.
        return format_html('<img src="data:{};base64,{}" alt="" height="48">', mime, base64.b64encode(content).decode())

    @admin.display(description=_("icon preview"))
    def icon_preview(self, obj):
        return self._preview(obj.icon)

    @admin.display(description=_("logo preview"))
    def logo_preview(self, obj):
        return self._preview(obj.logo)

    def save_model(self, request, obj, form, change):
        account = obj.account if change else form.cleaned_data["account"]
        branding = branding_update(
            account=account,
            actor=Actor.staff(request.user),
            business_name=form.cleaned_data.get("business_name", ""),
            primary_color=form.cleaned_data["primary_color"],
            background_color=form.cleaned_data["background_color"],
            font=form.cleaned_data["font"],
            icon=_image_argument(form, "icon"),
            logo=_image_argument(form, "logo"),
        )
        adopt(obj, branding)
        warning = branding_contrast_warning(branding)
        if warning:
            message_once(request, warning, messages.WARNING)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "GET":
            obj = self.get_object(request, unquote(object_id))
            warning = branding_contrast_warning(obj) if obj is not None else None
            if warning:
                message_once(request, warning, messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)


# ---------------------------------------------------------------------------------------------- custom domains


class CustomDomainForm(AccountModelForm):
    class Meta:
        model = CustomDomain
        fields = ("account", "hostname")

    def validate_unique(self):
        # The service decides on the normalised hostname (Unicode and ASCII spellings are the same domain).
        pass


def cname_target() -> str:
    """Where the custom domain's CNAME points: this service's own host, as customers reach it today."""
    return urlsplit(settings.PORTAL_BASE_URL).hostname or ""


def copy_field(element_id: str, value: str):
    """A read-only value with a copy button (``js/copy-link.js``)."""
    return format_html(
        '<span class="portal-copy"><input type="text" readonly id="{id}" value="{value}" size="{size}" '
        'aria-label="{value}"> <button type="button" class="button" data-copy-target="{id}" '
        'data-copied-label="{copied}">{copy}</button> <span class="portal-copy-status" role="status" '
        'aria-live="polite"></span></span>',
        id=element_id,
        value=value,
        size=min(max(len(value), 12), 34),
        copy=gettext("Copy"),
        copied=gettext("Copied"),
    )


@admin.register(CustomDomain)
class CustomDomainAdmin(TenantScopedAdmin):
    form = CustomDomainForm
    change_form_template = "admin/configurations/customdomain/change_form.html"

    class Media:
        js = ("js/copy-link.js",)
        css = {"all": ("configurations/admin.css",)}

    list_display = ("__str__", "account", "status", "verified_at", "last_checked_at")
    list_select_related = ("account",)
    search_fields = ("hostname",)
    actions = ("verify_now",)
    readonly_fields = ("status", "dns_record", "verified_at", "last_checked_at", "last_error")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("account", "hostname")
        return ("account", "hostname", "status", "dns_record", "verified_at", "last_checked_at", "last_error")

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "account") if obj is not None else ()

    @admin.display(description=_("status"))
    def status(self, obj):
        return (
            gettext("Verified: the portal is served on this domain.")
            if obj.is_verified
            else gettext("Not verified: the portal is not served on this domain yet.")
        )

    @admin.display(description=_("DNS records to create"))
    def dns_record(self, obj):
        rows = [
            ("CNAME", obj.hostname, cname_target(), gettext("sends your customers' browsers to this service")),
            (
                "TXT",
                obj.record_name,
                obj.record_value,
                gettext("proves that the domain is yours (checked by “Verify now”)"),
            ),
        ]
        body = format_html_join(
            "",
            '<tr><td><strong>{}</strong><div class="portal-dns-why">{}</div></td><td>{}</td><td>{}</td></tr>',
            (
                (
                    kind,
                    why,
                    copy_field(f"dns-{kind.lower()}-name", name),
                    copy_field(f"dns-{kind.lower()}-value", value),
                )
                for kind, name, value, why in rows
            ),
        )
        return format_html(
            '<p>{}</p><table class="portal-dns-records"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr>'
            '</thead><tbody>{}</tbody></table><p class="help portal-dns-note">{}</p>',
            gettext("Create these two records at your DNS provider, then choose “Verify now”:"),
            gettext("Type"),
            gettext("Name"),
            gettext("Value"),
            body,
            gettext(
                "DNS changes can take up to an hour to show. Until the TXT record is found, the portal is not "
                "served on this domain."
            ),
        )

    def get_urls(self):
        return [object_button_url(self, "verify", "verify", self.verify_now), *super().get_urls()]

    def save_model(self, request, obj, form, change):
        account = obj.account if change else form.cleaned_data["account"]
        domain = custom_domain_set(
            account=account, hostname=form.cleaned_data["hostname"], actor=Actor.staff(request.user)
        )
        adopt(obj, domain)

    def delete_model(self, request, obj):
        custom_domain_remove(account=obj.account, actor=Actor.staff(request.user))

    def delete_queryset(self, request, queryset):
        for domain in queryset.select_related("account"):
            self.delete_model(request, domain)

    @admin.action(description=_("Verify now"), permissions=["change"])
    def verify_now(self, request, queryset):
        verified = 0
        for domain in queryset.select_related("account"):
            try:
                domain = custom_domain_verify(domain=domain, actor=Actor.staff(request.user))
            except BillingError as error:
                self.message_user(request, f"{domain}: {error.localized}", messages.ERROR)
                continue
            if domain.is_verified:
                verified += 1
            else:
                self.message_user(request, f"{domain}: {domain.last_error}", messages.WARNING)
        if verified:
            self.message_user(
                request,
                ngettext("%(count)d domain is verified.", "%(count)d domains are verified.", verified)
                % {"count": verified},
                messages.SUCCESS,
            )
