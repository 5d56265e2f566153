"""The Django admin for billing: every model, scoped to the staff user's accounts; writes go through services."""

import datetime as dt
import json
import re

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseBadRequest, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_countries import countries

from billing import clock, exports, money
from billing.admin_clocks import TestClockAdmin  # noqa: F401  (registered where it is defined)
from billing.admin_fees import fee_report_csv_view, fee_report_view
from billing.admin_money import MoneyField, MoneyFormMixin, format_major
from billing.admin_processors import ProcessorAccountAdmin  # noqa: F401  (registered where it is defined)
from billing.admin_scoping import (
    ReadOnlyTenantAdmin,
    ReadOnlyTenantInline,
    TenantModelForm,
    TenantScopedAdmin,
    TenantScopedMixin,
    admin_mode_switch,
    run_each,
    scope_to_user,
)
from billing.audit import Actor
from billing.exceptions import BillingError
from billing.models import (
    Account,
    ApiKey,
    AuditEntry,
    Charge,
    Coupon,
    Customer,
    Discount,
    Event,
    Invoice,
    InvoiceItem,
    InvoiceLineItem,
    Membership,
    PaymentMethod,
    Price,
    Product,
    PromotionCode,
    Refund,
    Subscription,
    SubscriptionItem,
    TaxId,
    TaxRate,
)
from billing.representations import hosted_invoice_url
from billing.services import accounts as account_services
from billing.services import coupons, customers, invoices, products, refunds, subscriptions, tax_ids, tax_rates

# ---------------------------------------------------------------------------------------------- helpers


def format_money(amount: int | None, currency: str) -> str:
    if amount is None:
        return "—"
    if not currency:
        return str(amount)
    return money.format_amount(amount, currency, translation.to_locale(translation.get_language() or "en"))


def money_display(field: str, description, *, currency: str = "currency"):
    @admin.display(description=description, ordering=field)
    def display(self, obj):
        return format_money(getattr(obj, field), getattr(obj, currency))

    return display


def pretty_json(value):
    if value is None:
        return "—"
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def adopt(obj, saved) -> None:
    """Point the instance the admin built at the row a service created, so inlines, the log and the
    redirect use the real primary key."""
    obj.pk = saved.pk
    obj.refresh_from_db()
    obj._state.adding = False


def replace_metadata(old: dict | None, new: dict | None) -> dict:
    """The admin edits metadata as a whole; the services merge, so removed keys are sent empty."""
    new = new or {}
    return {**{key: "" for key in (old or {}) if key not in new}, **new}


class ServiceWriteAdmin(TenantScopedAdmin):
    """Rows staff may add and edit: ``add_fields`` on the add form; on the change form
    ``change_fields``, of which only ``change_editable`` are editable (the rest is fixed at creation,
    as in Stripe). Saving calls ``create`` or ``update``, each one service call."""

    add_fields: tuple = ()
    change_fields: tuple = ()
    change_editable: tuple = ()
    # Most rows are archived (``active``) instead of deleted, as in Stripe; ``deletable`` ones define ``remove``.
    deletable = False

    def get_fields(self, request, obj=None):
        return self.change_fields if obj is not None else self.add_fields

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return tuple(name for name in self.change_fields if name not in self.change_editable)

    def has_delete_permission(self, request, obj=None):
        return self.deletable and super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        actor = Actor.staff(request.user)
        if not change:
            adopt(obj, self.create(request, form.cleaned_data, actor))
            return
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name in self.change_editable}
        if "metadata" in fields:
            fields["metadata"] = replace_metadata(form.initial.get("metadata"), fields["metadata"])
        if fields:
            self.update(obj, fields, actor)
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        self.remove(obj, Actor.staff(request.user))

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    def create(self, request, data: dict, actor: Actor):
        raise NotImplementedError

    def update(self, obj, fields: dict, actor: Actor):
        raise NotImplementedError

    def remove(self, obj, actor: Actor):
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------- accounts


class ApiKeyInline(ReadOnlyTenantInline):
    model = ApiKey
    fields = ("name", "redacted", "mode", "created", "last_used_at", "revoked_at")


ACCOUNT_EDITABLE = ("name", "plan", "invoice_prefix", "country", "default_currency")


@admin.register(Account)
class AccountAdmin(TenantScopedAdmin):
    list_display = ("name", "id", "plan", "invoice_prefix", "created")
    list_filter = ("plan",)
    search_fields = ("name", "id")
    inlines = [ApiKeyInline]
    actions = ("create_test_key", "create_live_key")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "plan")
        return (
            "id",
            "name",
            "plan",
            "invoice_prefix",
            "country",
            "default_currency",
            "created",
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        fixed = ("id", "created")
        # The plan decides fees and live mode: the operator's decision, not the merchant's.
        return fixed if request.user.is_superuser else (*fixed, "plan")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "country":
            kwargs["widget"] = forms.Select(choices=[("", "—"), *countries])
            kwargs["label"] = _("Country")
            kwargs["help_text"] = _("Where the business is established; the API's account object shows it.")
        elif db_field.name == "default_currency":
            kwargs["label"] = _("Default currency")
            kwargs["help_text"] = _("The currency the business mainly bills in; the API's account object shows it.")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return False

    def has_create_key_permission(self, request):
        return request.user.has_perm("billing.add_apikey")

    def get_urls(self):
        # Any staff user reaches these (admin_view); the fee report shows only the user's accounts.
        wrap = self.admin_site.admin_view
        return [
            path("fees/", wrap(self.fee_report_page), name="billing_account_fee_report"),
            path("fees/csv/", wrap(self.fee_report_csv), name="billing_account_fee_report_csv"),
            path("mode/", wrap(admin_mode_switch), name="billing_admin_mode"),
            *super().get_urls(),
        ]

    def fee_report_page(self, request):
        return fee_report_view(self, request)

    def fee_report_csv(self, request):
        return fee_report_csv_view(self, request)

    def save_model(self, request, obj, form, change):
        if change:
            fields = {name: form.cleaned_data[name] for name in form.changed_data if name in ACCOUNT_EDITABLE}
            if fields:
                account_services.account_update(account=obj, actor=Actor.staff(request.user), **fields)
            obj.refresh_from_db()
            return
        account, test_secret, live_secret, _user = account_services.account_create(
            name=form.cleaned_data["name"], plan=form.cleaned_data["plan"], actor=Actor.staff(request.user)
        )
        adopt(obj, account)
        self._show_secret(request, account, test_secret)
        self._show_secret(request, account, live_secret)

    def _show_secret(self, request, account, secret: str) -> None:
        self.message_user(
            request,
            _("New secret key for %(account)s, shown only this once: %(secret)s")
            % {"account": account, "secret": secret},
            messages.WARNING,
        )

    def _create_keys(self, request, queryset, *, livemode: bool) -> None:
        for account in queryset:
            _key, secret = account_services.api_key_create(
                account=account, livemode=livemode, name=f"Created in the admin by {request.user.get_username()}"
            )
            self._show_secret(request, account, secret)

    @admin.action(description=_("Create a test secret key"), permissions=["create_key"])
    def create_test_key(self, request, queryset):
        self._create_keys(request, queryset, livemode=False)

    @admin.action(description=_("Create a live secret key"), permissions=["create_key"])
    def create_live_key(self, request, queryset):
        self._create_keys(request, queryset, livemode=True)


class MembershipAddForm(TenantModelForm):
    email = forms.EmailField(label=_("Staff user's email"))

    class Meta:
        model = Membership
        fields = ["account"]


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ("user", "account", "created")
    list_select_related = ("user", "account")
    search_fields = ("user__email", "user__username", "account__name", "account__id")

    def get_fields(self, request, obj=None):
        return ("account", "email") if obj is None else ("user", "account", "created")

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("user", "account", "created")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = MembershipAddForm
        return super().get_form(request, obj, change, **kwargs)

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        membership = account_services.membership_add(
            account=form.cleaned_data["account"], email=form.cleaned_data["email"], actor=Actor.staff(request.user)
        )
        adopt(obj, membership)

    def delete_model(self, request, obj):
        account_services.membership_delete(membership=obj, actor=Actor.staff(request.user))

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("account", "user"):
            self.delete_model(request, membership)


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyTenantAdmin):
    """Keys are created by ``api_key_create`` (the account's actions); only the redacted form is shown."""

    list_display = ("redacted", "name", "created", "last_used_at", "revoked_at", "mode")
    search_fields = ("redacted", "name")
    fields = ("redacted", "name", "account", "mode", "created", "last_used_at", "revoked_at")


# ---------------------------------------------------------------------------------------------- customers


class TaxIdInlineForm(TenantModelForm):
    """New tax ids are typed in; saved ones are fixed (Stripe's tax ids are immutable: delete and add instead)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            for field in self.fields.values():
                field.disabled = True


class TaxIdInline(TenantScopedMixin, admin.TabularInline):
    model = TaxId
    form = TaxIdInlineForm
    fields = ("type", "value", "country")
    readonly_fields = ("country",)
    extra = 0


class PaymentMethodInline(ReadOnlyTenantInline):
    model = PaymentMethod
    fk_name = "customer"
    fields = ("id", "type", "card_brand", "last4", "expiry", "mode")

    @admin.display(description=_("last 4"))
    def last4(self, obj):
        return obj.last4

    @admin.display(description=_("expires"))
    def expiry(self, obj):
        return f"{obj.card_exp_month:02d}/{obj.card_exp_year}" if obj.card_exp_month else "—"


@admin.register(Customer)
class CustomerAdmin(ServiceWriteAdmin):
    list_display = ("id", "email", "name", "balance_display", "mode", "deleted_marker")
    search_fields = ("id", "email", "name")
    inlines = [TaxIdInline, PaymentMethodInline]
    add_fields = (
        "account",
        "livemode",
        "email",
        "name",
        "phone",
        "description",
        "address",
        "shipping",
        "preferred_locales",
        "metadata",
    )
    change_editable = (*customers.UPDATABLE, "default_payment_method")
    change_fields = (
        "id",
        "account",
        "mode",
        "email",
        "name",
        "phone",
        "description",
        "address",
        "shipping",
        "preferred_locales",
        "default_payment_method",
        "balance_display",
        "currency",
        "created",
        "metadata",
        "deleted_marker",
    )

    balance_display = money_display("balance", _("balance"))

    @admin.display(description=_("deleted"), boolean=True, ordering="deleted")
    def deleted_marker(self, obj):
        return obj.deleted

    def has_change_permission(self, request, obj=None):
        # A deleted customer is kept for the records only (as in Stripe, it cannot be changed).
        return super().has_change_permission(request, obj) and not (obj is not None and obj.deleted)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None and "default_payment_method" in form.base_fields:
            form.base_fields["default_payment_method"] = forms.ModelChoiceField(
                queryset=scope_to_user(PaymentMethod.objects.filter(customer=obj), request.user),
                required=False,
                label=_("Default payment method"),
            )
        form.param_fields = {"invoice_settings[default_payment_method]": "default_payment_method"}
        return form

    def create(self, request, data, actor):
        fields = {key: data[key] for key in customers.UPDATABLE if key in data}
        return customers.customer_create(account=data["account"], livemode=data["livemode"], actor=actor, **fields)

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        actor = Actor.staff(request.user)
        data = form.cleaned_data
        fields = {key: data[key] for key in form.changed_data if key in customers.UPDATABLE}
        if "metadata" in fields:
            fields["metadata"] = replace_metadata(form.initial.get("metadata"), data["metadata"])
        if "default_payment_method" in form.changed_data:
            fields["default_payment_method"] = data["default_payment_method"]
        if fields:
            customers.customer_update(customer=obj, actor=actor, **fields)
        obj.refresh_from_db()

    def save_formset(self, request, form, formset, change):
        if formset.model is not TaxId:
            return super().save_formset(request, form, formset, change)
        # Deleted rows through tax_id_delete, new ones through tax_id_create (which checks the value); both emit
        # customer.tax_id.* events. The formset's lists feed the admin's change message.
        actor = Actor.staff(request.user)
        deleted = [f.instance for f in formset.deleted_forms if f.instance.pk is not None]
        added = [f for f in formset.extra_forms if f.has_changed() and f not in formset.deleted_forms]
        for tax_id in deleted:
            tax_ids.tax_id_delete(tax_id=tax_id, actor=actor)
        formset.new_objects = [
            tax_ids.tax_id_create(
                customer=form.instance, type=f.cleaned_data["type"], value=f.cleaned_data["value"], actor=actor
            )
            for f in added
        ]
        formset.changed_objects, formset.deleted_objects = [], deleted


@admin.register(TaxId)
class TaxIdAdmin(ServiceWriteAdmin):
    list_display = ("value", "type", "customer", "country", "mode")
    list_select_related = ("customer",)
    search_fields = ("id", "value", "customer__email", "customer__id")
    raw_id_fields = ("customer",)
    # The country follows from the value; a saved tax id is fixed (Stripe's are immutable: delete and add instead).
    add_fields = ("customer", "type", "value")
    change_fields = ("id", "customer", "account", "mode", "type", "value", "country", "created")
    deletable = True

    def create(self, request, data, actor):
        return tax_ids.tax_id_create(customer=data["customer"], type=data["type"], value=data["value"], actor=actor)

    def remove(self, obj, actor):
        tax_ids.tax_id_delete(tax_id=obj, actor=actor)


@admin.register(PaymentMethod)
class PaymentMethodAdmin(ReadOnlyTenantAdmin):
    """Only brand, last 4, expiry, country and fingerprint exist; no card number is ever stored."""

    list_display = ("id", "customer", "type", "card_brand", "last4", "expiry", "mode")
    list_select_related = ("customer",)
    list_filter = ("type",)
    search_fields = ("id", "customer__email", "customer__id", "card_last4", "sepa_last4")
    # gateway_reference is left out: it is the handle that charges the method.
    fields = (
        "id",
        "customer",
        "account",
        "mode",
        "type",
        "card_brand",
        "last4",
        "expiry",
        "card_funding",
        "country",
        "fingerprint",
        "sepa_bank_code",
        "billing_details",
        "created",
        "metadata",
    )

    @admin.display(description=_("last 4"))
    def last4(self, obj):
        return obj.last4

    @admin.display(description=_("expires"))
    def expiry(self, obj):
        return f"{obj.card_exp_month:02d}/{obj.card_exp_year}" if obj.card_exp_month else "—"


# ---------------------------------------------------------------------------------------------- catalogue


class PriceInline(ReadOnlyTenantInline):
    model = Price
    fields = ("id", "nickname", "amount_display", "recurring_interval", "recurring_interval_count", "active", "mode")

    amount_display = money_display("unit_amount", _("amount"))


@admin.register(Product)
class ProductAdmin(ServiceWriteAdmin):
    list_display = ("name", "id", "active", "created", "mode")
    list_filter = ("active",)
    search_fields = ("id", "name")
    inlines = [PriceInline]
    add_fields = ("account", "livemode", "name", "description", "active", "metadata")
    change_fields = ("id", "account", "mode", "name", "description", "active", "created", "updated", "metadata")
    change_editable = ("name", "description", "active", "metadata")

    def create(self, request, data, actor):
        return products.product_create(
            account=data["account"],
            livemode=data["livemode"],
            actor=actor,
            name=data["name"],
            description=data["description"],
            active=data["active"],
            metadata=data["metadata"],
        )

    def update(self, obj, fields, actor):
        return products.product_update(product=obj, actor=actor, **fields)


@admin.register(Price)
class PriceAdmin(ServiceWriteAdmin):
    list_display = ("id", "product", "amount_display", "recurring_interval", "active", "mode")
    list_select_related = ("product",)
    list_filter = ("active", "type", "currency")
    search_fields = ("id", "nickname", "lookup_key", "product__name", "product__id")
    autocomplete_fields = ("product",)
    add_fields = (
        "product",
        "currency",
        "unit_amount",
        "recurring_interval",
        "recurring_interval_count",
        "recurring_usage_type",
        "tax_behavior",
        "nickname",
        "lookup_key",
        "active",
        "metadata",
    )
    change_fields = (
        "id",
        "product",
        "account",
        "mode",
        "amount_display",
        "type",
        "recurring_interval",
        "recurring_interval_count",
        "recurring_usage_type",
        "tax_behavior",
        "nickname",
        "lookup_key",
        "active",
        "created",
        "metadata",
    )
    change_editable = ("nickname", "lookup_key", "active", "metadata")

    amount_display = money_display("unit_amount", _("amount"))

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "unit_amount":
            return MoneyField(label=_("amount"), currency_field="currency", required=True)
        if db_field.name == "recurring_interval":
            kwargs["help_text"] = _("Leave empty for a one-time price.")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def create(self, request, data, actor):
        return products.price_create(
            product=data["product"],
            actor=actor,
            currency=data["currency"],
            unit_amount=data["unit_amount"],
            interval=data["recurring_interval"] or None,
            interval_count=data["recurring_interval_count"],
            usage_type=data["recurring_usage_type"],
            tax_behavior=data["tax_behavior"],
            nickname=data["nickname"],
            lookup_key=data["lookup_key"],
            active=data["active"],
            metadata=data["metadata"],
        )

    def update(self, obj, fields, actor):
        return products.price_update(price=obj, actor=actor, **fields)


@admin.register(TaxRate)
class TaxRateAdmin(ServiceWriteAdmin):
    list_display = ("display_name", "id", "percentage", "inclusive", "country", "active", "mode")
    list_filter = ("active", "inclusive")
    search_fields = ("id", "display_name", "jurisdiction")
    add_fields = (
        "account",
        "livemode",
        "display_name",
        "description",
        "percentage",
        "inclusive",
        "country",
        "jurisdiction",
        "metadata",
    )
    change_fields = (
        "id",
        "account",
        "mode",
        "display_name",
        "description",
        "percentage",
        "inclusive",
        "active",
        "country",
        "jurisdiction",
        "created",
        "metadata",
    )
    change_editable = ("display_name", "description", "active", "country", "jurisdiction", "metadata")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "percentage":
            kwargs.update(min_value=0, max_value=100)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def create(self, request, data, actor):
        return tax_rates.tax_rate_create(
            account=data["account"],
            livemode=data["livemode"],
            actor=actor,
            display_name=data["display_name"],
            percentage=data["percentage"],
            inclusive=data["inclusive"],
            country=data["country"],
            jurisdiction=data["jurisdiction"],
            description=data["description"],
            metadata=data["metadata"],
        )

    def update(self, obj, fields, actor):
        return tax_rates.tax_rate_update(tax_rate=obj, actor=actor, **fields)


class CouponForm(TenantModelForm):
    def clean(self):
        cleaned = super().clean()
        if "percent_off" in self.fields and (cleaned.get("percent_off") is None) == (cleaned.get("amount_off") is None):
            self.add_error("percent_off", _("Give either a percentage or an amount off, not both."))
        return cleaned


@admin.register(Coupon)
class CouponAdmin(ServiceWriteAdmin):
    form = CouponForm
    list_display = ("coupon_id", "name", "off", "duration", "times_redeemed", "redeem_by", "mode")
    list_filter = ("duration",)
    search_fields = ("coupon_id", "name")
    add_fields = (
        "account",
        "livemode",
        "coupon_id",
        "name",
        "percent_off",
        "amount_off",
        "currency",
        "duration",
        "duration_in_months",
        "max_redemptions",
        "redeem_by",
        "metadata",
    )
    change_fields = (
        "coupon_id",
        "account",
        "mode",
        "name",
        "off",
        "duration",
        "duration_in_months",
        "max_redemptions",
        "times_redeemed",
        "redeem_by",
        "created",
        "metadata",
    )
    change_editable = ("name", "metadata")

    @admin.display(description=_("off"))
    def off(self, obj):
        if obj.percent_off is not None:
            return f"{obj.percent_off.normalize():f} %"
        return format_money(obj.amount_off, obj.currency)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "amount_off":
            return MoneyField(label=_("amount off"), currency_field="currency", minimum=1, required=False)
        if db_field.name == "coupon_id":
            kwargs["help_text"] = _("The ID your API calls and customers use, e.g. SUMMER25.")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def create(self, request, data, actor):
        return coupons.coupon_create(
            account=data["account"],
            livemode=data["livemode"],
            actor=actor,
            coupon_id=data["coupon_id"],
            name=data["name"],
            percent_off=data["percent_off"],
            amount_off=data["amount_off"],
            currency=data["currency"],
            duration=data["duration"],
            duration_in_months=data["duration_in_months"],
            max_redemptions=data["max_redemptions"],
            redeem_by=data["redeem_by"],
            metadata=data["metadata"],
        )

    def update(self, obj, fields, actor):
        return coupons.coupon_update(coupon=obj, actor=actor, **fields)


@admin.register(PromotionCode)
class PromotionCodeAdmin(ServiceWriteAdmin):
    list_display = ("code", "coupon", "active", "times_redeemed", "expires_at", "mode")
    list_select_related = ("coupon",)
    list_filter = ("active",)
    search_fields = ("code", "id", "coupon__coupon_id")
    autocomplete_fields = ("coupon", "customer")
    add_fields = (
        "coupon",
        "code",
        "customer",
        "max_redemptions",
        "expires_at",
        "first_time_transaction",
        "minimum_amount",
        "minimum_amount_currency",
        "metadata",
    )
    change_fields = (
        "id",
        "code",
        "coupon",
        "account",
        "mode",
        "active",
        "customer",
        "max_redemptions",
        "times_redeemed",
        "expires_at",
        "first_time_transaction",
        "minimum_amount_display",
        "created",
        "metadata",
    )
    change_editable = ("active", "metadata")

    minimum_amount_display = money_display("minimum_amount", _("minimum amount"), currency="minimum_amount_currency")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "minimum_amount":
            return MoneyField(label=_("minimum amount"), currency_field="minimum_amount_currency", required=False)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def create(self, request, data, actor):
        return coupons.promotion_code_create(
            coupon=data["coupon"],
            actor=actor,
            code=data["code"],
            max_redemptions=data["max_redemptions"],
            expires_at=data["expires_at"],
            customer=data["customer"],
            first_time_transaction=data["first_time_transaction"],
            minimum_amount=data["minimum_amount"],
            minimum_amount_currency=data["minimum_amount_currency"],
            metadata=data["metadata"],
        )

    def update(self, obj, fields, actor):
        return coupons.promotion_code_update(promotion_code=obj, actor=actor, **fields)


@admin.register(Discount)
class DiscountAdmin(ReadOnlyTenantAdmin):
    list_display = ("id", "coupon", "customer", "subscription", "start", "end", "used", "mode")
    list_select_related = ("coupon", "customer", "subscription")
    search_fields = ("id", "customer__email", "customer__id", "subscription__id", "coupon__coupon_id")
    fields = ("id", "customer", "subscription", "coupon", "promotion_code", "account", "mode", "start", "end", "used")


# ---------------------------------------------------------------------------------------------- subscriptions


class SubscriptionItemInline(ReadOnlyTenantInline):
    model = SubscriptionItem
    fields = ("id", "price", "quantity", "tax_rates", "mode")


class DiscountInline(ReadOnlyTenantInline):
    model = Discount
    fields = ("id", "coupon", "promotion_code", "start", "end", "used")


RESUMES_SOON = dt.timedelta(days=7)
PAUSE_BEHAVIOR_LABELS = {
    Subscription.PauseBehavior.KEEP_AS_DRAFT: _("Keep invoices as drafts"),
    Subscription.PauseBehavior.MARK_UNCOLLECTIBLE: _("Mark invoices uncollectible"),
    Subscription.PauseBehavior.VOID: _("Void invoices"),
}
# Rows listed on the pause form; the form still applies to every selected row.
PAUSE_PREVIEW_ROWS = 20
EXPORT_DELIMITER_PARAM = "delimiter"


class CollectionStatusFilter(admin.SimpleListFilter):
    """Collecting, or paused (how, until when), through the QuerySet methods the API's search uses."""

    title = _("collection status")
    parameter_name = "collection"

    def lookups(self, request, model_admin):
        return [
            ("collecting", _("Collecting")),
            ("paused", _("Paused")),
            *(
                (str(behavior), _("Paused: %(behavior)s") % {"behavior": label})
                for behavior, label in PAUSE_BEHAVIOR_LABELS.items()
            ),
            ("resumes_soon", _("Resumes within 7 days")),
            ("no_resume_date", _("Paused without a resume date")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "collecting":
            return queryset.collecting()
        if value == "paused":
            return queryset.collection_paused()
        if value in Subscription.PauseBehavior.values:
            return queryset.collection_paused(value)
        if value == "resumes_soon":
            return queryset.collection_resuming_by(clock.now() + RESUMES_SOON)
        if value == "no_resume_date":
            return queryset.collection_paused_indefinitely()
        return queryset


class PauseCollectionForm(forms.Form):
    behavior = forms.ChoiceField(
        label=_("While collection is paused"),
        choices=list(PAUSE_BEHAVIOR_LABELS.items()),
        initial=Subscription.PauseBehavior.KEEP_AS_DRAFT,
        widget=forms.RadioSelect,
    )
    resumes_at = forms.DateTimeField(
        label=_("Resume automatically at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["resumes_at"].help_text = _(
            "Optional; time zone %(zone)s. Leave empty to keep collection paused until someone resumes it."
        ) % {"zone": timezone.get_current_timezone_name()}

    def clean_resumes_at(self):
        resumes_at = self.cleaned_data["resumes_at"]
        if resumes_at is not None and resumes_at <= clock.now():
            raise forms.ValidationError(_("The resume date must be in the future."))
        return resumes_at


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyTenantAdmin):
    # current_period_end is on the change page: the list keeps to what fits beside the filters at 1400 px.
    list_display = (
        "id",
        "customer_email",
        "customer_name",
        "status",
        "pause_behavior",
        "resumes_at",
        "mode",
    )
    list_select_related = ("customer",)
    list_filter = ("status", CollectionStatusFilter, "cancel_at_period_end")
    search_fields = ("id", "customer__email", "customer__name", "customer__id")
    date_hierarchy = "created"
    inlines = [SubscriptionItemInline, DiscountInline]
    actions = ("cancel_at_period_end", "cancel_now", "undo_cancellation", "pause_collection", "resume_collection")
    fields = (
        "id",
        "customer",
        "account",
        "mode",
        "status",
        "collection_method",
        "days_until_due",
        "start_date",
        "billing_cycle_anchor",
        "current_period_start",
        "current_period_end",
        "trial_start",
        "trial_end",
        "cancel_at_period_end",
        "cancel_at",
        "canceled_at",
        "ended_at",
        "cancellation_reason",
        "cancellation_feedback",
        "cancellation_comment",
        "pause_collection_behavior",
        "pause_collection_resumes_at",
        "default_payment_method",
        "default_tax_rates",
        "latest_invoice",
        "created",
        "metadata",
    )

    @admin.display(description=_("customer email"), ordering="customer__email")
    def customer_email(self, obj):
        return obj.customer.email

    @admin.display(description=_("customer name"), ordering="customer__name")
    def customer_name(self, obj):
        return obj.customer.name

    @admin.display(description=_("collection paused"), ordering="pause_collection_behavior")
    def pause_behavior(self, obj):
        return PAUSE_BEHAVIOR_LABELS.get(obj.pause_collection_behavior)

    @admin.display(description=_("resumes at"), ordering="pause_collection_resumes_at")
    def resumes_at(self, obj):
        return obj.pause_collection_resumes_at

    def get_urls(self):
        export = path(
            "export.csv",
            self.admin_site.admin_view(self.export_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_export",
        )
        return [export, *super().get_urls()]

    def export_view(self, request):
        """The changelist as CSV: the changelist itself applies its filters, search and ordering."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        request.GET = request.GET.copy()
        choice = request.GET.pop(EXPORT_DELIMITER_PARAM, [""])[-1]
        try:
            delimiter = (
                exports.delimiter_named(choice) if choice else exports.default_delimiter(translation.get_language())
            )
        except ValueError as error:
            return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(f"{reverse('admin:billing_subscription_changelist')}?{ERROR_FLAG}=1")
        response = StreamingHttpResponse(
            exports.subscription_csv(changelist.queryset, delimiter=delimiter), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="subscriptions-{clock.now():%Y%m%d-%H%M%S}.csv"'
        return response

    @admin.action(description=_("Cancel at period end"), permissions=["billing_action"])
    def cancel_at_period_end(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            lambda sub, actor: subscriptions.subscription_cancel(subscription=sub, actor=actor, at_period_end=True),
            lambda n: ngettext(
                "%(count)d subscription will cancel at the end of its period.",
                "%(count)d subscriptions will cancel at the end of their periods.",
                n,
            ),
        )

    @admin.action(description=_("Cancel immediately"), permissions=["billing_action"])
    def cancel_now(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            lambda sub, actor: subscriptions.subscription_cancel(subscription=sub, actor=actor, at_period_end=False),
            lambda n: ngettext("Canceled %(count)d subscription.", "Canceled %(count)d subscriptions.", n),
        )

    @admin.action(description=_("Don't cancel (undo a scheduled cancellation)"), permissions=["billing_action"])
    def undo_cancellation(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            lambda sub, actor: subscriptions.subscription_reactivate(subscription=sub, actor=actor),
            lambda n: ngettext("%(count)d subscription will renew.", "%(count)d subscriptions will renew.", n),
        )

    @admin.action(description=_("Pause payment collection…"), permissions=["billing_action"])
    def pause_collection(self, request, queryset):
        """First the form (behaviour, optional resume date); its submission pauses each selected row."""
        form = PauseCollectionForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            behavior, resumes_at = form.cleaned_data["behavior"], form.cleaned_data["resumes_at"]
            run_each(
                self,
                request,
                queryset,
                lambda sub, actor: subscriptions.subscription_pause_collection(
                    subscription=sub, actor=actor, behavior=behavior, resumes_at=resumes_at
                ),
                lambda n: ngettext(
                    "Paused payment collection for %(count)d subscription.",
                    "Paused payment collection for %(count)d subscriptions.",
                    n,
                ),
            )
            return None
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "title": _("Pause payment collection"),
            "opts": self.opts,
            "form": form,
            "count": queryset.count(),
            "preview": queryset.select_related("customer")[:PAUSE_PREVIEW_ROWS],
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "changelist_url": request.get_full_path(),
        }
        return TemplateResponse(request, "admin/billing/subscription/pause_collection.html", context)

    @admin.action(description=_("Resume payment collection"), permissions=["billing_action"])
    def resume_collection(self, request, queryset):
        paused = queryset.collection_paused()
        skipped = queryset.count() - paused.count()
        if skipped:
            self.message_user(
                request,
                ngettext("%(count)d subscription was not paused.", "%(count)d subscriptions were not paused.", skipped)
                % {"count": skipped},
                messages.WARNING,
            )
        run_each(
            self,
            request,
            paused,
            lambda sub, actor: subscriptions.subscription_resume_collection(subscription=sub, actor=actor),
            lambda n: ngettext(
                "Resumed payment collection for %(count)d subscription.",
                "Resumed payment collection for %(count)d subscriptions.",
                n,
            ),
        )


@admin.register(SubscriptionItem)
class SubscriptionItemAdmin(ReadOnlyTenantAdmin):
    list_display = ("id", "subscription", "price", "quantity", "mode")
    list_select_related = ("subscription", "price__product")
    search_fields = ("id", "subscription__id", "price__id")
    fields = ("id", "subscription", "account", "mode", "price", "quantity", "tax_rates", "created", "metadata")


# ---------------------------------------------------------------------------------------------- invoices


class InvoiceLineItemInline(ReadOnlyTenantInline):
    model = InvoiceLineItem
    fields = (
        "description",
        "quantity",
        "amount_display",
        "discount_display",
        "tax_display",
        "proration",
        "period_start",
        "period_end",
    )

    amount_display = money_display("amount", _("amount"))
    discount_display = money_display("discount_amount", _("discount"))
    tax_display = money_display("tax_amount", _("tax"))


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyTenantAdmin):
    list_display = ("id", "number", "customer", "status", "total_display", "created", "mode")
    list_select_related = ("customer",)
    list_filter = ("status", "billing_reason", "collection_method")
    search_fields = ("id", "number", "customer__email", "customer__name", "customer__id")
    date_hierarchy = "created"
    inlines = [InvoiceLineItemInline]
    actions = ("finalize", "void", "mark_uncollectible")
    fields = (
        "id",
        "number",
        "hosted_page",
        "customer",
        "subscription",
        "account",
        "mode",
        "status",
        "billing_reason",
        "collection_method",
        "auto_advance",
        "period_start",
        "period_end",
        "due_date",
        "subtotal_display",
        "discount_display",
        "tax_display",
        "total_display",
        "starting_balance_display",
        "ending_balance_display",
        "amount_due_display",
        "amount_paid_display",
        "amount_remaining_display",
        "attempt_count",
        "next_payment_attempt",
        "default_payment_method",
        "finalized_at",
        "paid_at",
        "voided_at",
        "marked_uncollectible_at",
        "customer_name",
        "customer_email",
        "customer_address",
        "created",
        "metadata",
    )

    subtotal_display = money_display("subtotal", _("subtotal"))
    discount_display = money_display("total_discount", _("discount"))
    tax_display = money_display("tax", _("tax"))
    total_display = money_display("total", _("total"))
    starting_balance_display = money_display("starting_balance", _("starting balance"))
    ending_balance_display = money_display("ending_balance", _("ending balance"))
    amount_due_display = money_display("amount_due", _("amount due"))
    amount_paid_display = money_display("amount_paid", _("amount paid"))
    amount_remaining_display = money_display("amount_remaining", _("amount remaining"))

    @admin.display(description=_("hosted invoice page"))
    def hosted_page(self, obj):
        if not obj.is_finalized:
            return _("Drafts have no hosted page.")
        url = hosted_invoice_url(obj)
        return format_html('<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>', url, url)

    @admin.action(description=_("Finalize"), permissions=["billing_action"])
    def finalize(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            lambda invoice, actor: invoices.invoice_finalize(invoice=invoice, actor=actor),
            lambda n: ngettext("Finalized %(count)d invoice.", "Finalized %(count)d invoices.", n),
        )

    @admin.action(description=_("Void"), permissions=["billing_action"])
    def void(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            lambda invoice, actor: invoices.invoice_void(invoice=invoice, actor=actor),
            lambda n: ngettext("Voided %(count)d invoice.", "Voided %(count)d invoices.", n),
        )

    @admin.action(description=_("Mark uncollectible"), permissions=["billing_action"])
    def mark_uncollectible(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            lambda invoice, actor: invoices.invoice_mark_uncollectible(invoice=invoice, actor=actor),
            lambda n: ngettext(
                "Marked %(count)d invoice uncollectible.", "Marked %(count)d invoices uncollectible.", n
            ),
        )


@admin.register(InvoiceItem)
class InvoiceItemAdmin(ReadOnlyTenantAdmin):
    list_display = ("id", "customer", "description", "amount_display", "proration", "invoice", "mode")
    list_select_related = ("customer", "invoice")
    list_filter = ("proration",)
    search_fields = ("id", "description", "customer__email", "customer__id")
    fields = (
        "id",
        "customer",
        "subscription",
        "invoice",
        "account",
        "mode",
        "description",
        "amount_display",
        "quantity",
        "proration",
        "price",
        "tax_rate",
        "period_start",
        "period_end",
        "created",
    )

    amount_display = money_display("amount", _("amount"))


@admin.register(InvoiceLineItem)
class InvoiceLineItemAdmin(ReadOnlyTenantAdmin):
    list_display = ("id", "invoice", "description", "amount_display", "proration", "mode")
    list_select_related = ("invoice",)
    list_filter = ("type", "proration")
    search_fields = ("id", "description", "invoice__id", "invoice__number")
    fields = (
        "id",
        "invoice",
        "account",
        "mode",
        "type",
        "description",
        "quantity",
        "amount_display",
        "discount_display",
        "tax_display",
        "taxable_amount",
        "tax_rate",
        "tax_inclusive",
        "proration",
        "price",
        "subscription",
        "subscription_item",
        "invoice_item",
        "period_start",
        "period_end",
    )

    amount_display = money_display("amount", _("amount"))
    discount_display = money_display("discount_amount", _("discount"))
    tax_display = money_display("tax_amount", _("tax"))


REFUND_REASON_CHOICES = [
    ("", _("No reason given")),
    (Refund.Reason.REQUESTED_BY_CUSTOMER, _("Requested by the customer")),
    (Refund.Reason.DUPLICATE, _("Duplicate payment")),
    (Refund.Reason.FRAUDULENT, _("Fraudulent payment")),
]


REFUND_STATUS_LABELS = {
    Refund.Status.PENDING: _("Pending"),
    Refund.Status.REQUIRES_ACTION: _("Requires action"),
    Refund.Status.SUCCEEDED: _("Succeeded"),
    Refund.Status.FAILED: _("Failed"),
    Refund.Status.CANCELED: _("Canceled"),
}


class RefundForm(MoneyFormMixin, forms.Form):
    """The amount in the charge's currency as people write it (12.50), at most what is left to refund."""

    reason = forms.ChoiceField(label=_("Reason"), choices=REFUND_REASON_CHOICES, required=False)
    note = forms.CharField(
        label=_("Note"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        help_text=_("Why you refund: kept in the audit log."),
    )

    def __init__(self, *args, charge: Charge, **kwargs):
        self.charge = charge
        self.left = charge.amount - charge.amount_refunded
        self.base_fields = {
            "amount": MoneyField(label=_("Amount"), currency=charge.currency, minimum=1),
            **type(self).base_fields,
        }
        super().__init__(*args, **kwargs)
        self.fields["amount"].initial = format_major(self.left, charge.currency)
        self.fields["amount"].help_text = _("At most %(left)s, what is left to refund.") % {
            "left": format_money(self.left, charge.currency)
        }

    def clean(self):
        cleaned = super().clean()
        if isinstance(cleaned.get("amount"), int) and cleaned["amount"] > self.left:
            self.add_error(
                "amount",
                _("At most %(left)s is left to refund.") % {"left": format_money(self.left, self.charge.currency)},
            )
        return cleaned


@admin.register(Charge)
class ChargeAdmin(ReadOnlyTenantAdmin):
    list_display = ("id", "customer", "amount_display", "refunded_display", "status", "failure_code", "created", "mode")
    list_select_related = ("customer",)
    list_filter = ("status",)
    search_fields = ("id", "customer__email", "customer__id", "invoice__id", "invoice__number")
    date_hierarchy = "created"
    actions = ("refund",)
    fields = (
        "id",
        "customer",
        "invoice",
        "account",
        "mode",
        "amount_display",
        "refunded_display",
        "refund_link",
        "refund_list",
        "status",
        "payment_method",
        "failure_code",
        "failure_message",
        "decline_code",
        "gateway_reference",
        "created",
    )

    amount_display = money_display("amount", _("amount"))
    refunded_display = money_display("amount_refunded", _("amount refunded"))

    def get_urls(self):
        refund = path(
            "<path:object_id>/refund/",
            self.admin_site.admin_view(self.refund_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_refund",
        )
        return [refund, *super().get_urls()]

    @admin.display(description=_("refund"))
    def refund_link(self, obj):
        if obj.status != Charge.Status.SUCCEEDED or obj.amount_refunded >= obj.amount:
            return "—"
        url = reverse("admin:billing_charge_refund", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Refund…"))

    @admin.display(description=_("refunds"))
    def refund_list(self, obj):
        rows = [
            (
                reverse("admin:billing_refund_change", args=[refund.pk]),
                refund.pk,
                format_money(refund.amount, refund.currency),
                REFUND_STATUS_LABELS.get(refund.status, refund.status),
            )
            for refund in obj.refunds.order_by("-id")
        ]
        if not rows:
            return "—"
        return format_html("<ul>{}</ul>", format_html_join("", '<li><a href="{}">{}</a> · {} · {}</li>', rows))

    @admin.action(description=_("Refund…"), permissions=["billing_action"])
    def refund(self, request, queryset):
        """One charge at a time: the form asks how much, why and a note for the audit log."""
        if queryset.count() != 1:
            self.message_user(request, _("Choose exactly one charge to refund."), messages.WARNING)
            return None
        return self._refund_page(request, queryset.get(), from_changelist=True)

    def refund_view(self, request, object_id):
        if not self.has_billing_action_permission(request):
            raise PermissionDenied
        charge = self.get_queryset(request).filter(pk=object_id).first()
        if charge is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        return self._refund_page(request, charge, from_changelist=False)

    def _refund_page(self, request, charge: Charge, *, from_changelist: bool):
        form = RefundForm(request.POST if "apply" in request.POST else None, charge=charge)
        if form.is_valid():
            try:
                refund = refunds.refund_create(
                    charge=charge,
                    amount=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                    note=form.cleaned_data["note"],
                    actor=Actor.staff(request.user),
                )
            except BillingError as error:
                form.add_error(None, error.localized)
            else:
                refund.refresh_from_db()
                self.message_user(
                    request,
                    _("Refund %(refund)s of %(amount)s: %(status)s.")
                    % {
                        "refund": refund.pk,
                        "amount": format_money(refund.amount, refund.currency),
                        "status": REFUND_STATUS_LABELS.get(refund.status, refund.status),
                    },
                    messages.SUCCESS if refund.status != Refund.Status.FAILED else messages.ERROR,
                )
                return HttpResponseRedirect(reverse("admin:billing_charge_change", args=[charge.pk]))
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "title": _("Refund charge %(charge)s") % {"charge": charge.pk},
            "opts": self.opts,
            "form": form,
            "charge": charge,
            "amount": format_money(charge.amount, charge.currency),
            "refunded": format_money(charge.amount_refunded, charge.currency),
            "from_changelist": from_changelist,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "changelist_url": reverse("admin:billing_charge_changelist"),
        }
        return TemplateResponse(request, "admin/billing/charge/refund.html", context)


@admin.register(Refund)
class RefundAdmin(ReadOnlyTenantAdmin):
    list_display = ("id", "charge", "amount_display", "status", "reason", "created", "mode")
    list_select_related = ("charge",)
    list_filter = ("status", "reason")
    search_fields = ("id", "charge__id", "charge__customer__email", "charge__customer__id")
    date_hierarchy = "created"
    fields = (
        "id",
        "charge",
        "payment_intent",
        "account",
        "mode",
        "amount_display",
        "status",
        "reason",
        "failure_reason",
        "description",
        "processor_reference",
        "created",
        "metadata",
    )

    amount_display = money_display("amount", _("amount"))


# ---------------------------------------------------------------------------------------------- events and audit


# Stripe-style ids: a lowercase prefix, an underscore, letters and digits (sub_…, in_…, cus_…, pi_…, evt_…).
OBJECT_ID = re.compile(r"[a-z]+(_[a-z]+)?_[A-Za-z0-9]+")


@admin.register(Event)
class EventAdmin(ReadOnlyTenantAdmin):
    list_display = ("id", "type", "object_id", "created", "fanned_out_at", "mode")
    list_filter = ("type",)
    search_fields = ("id", "type", "request_id")
    search_help_text = _(
        "An event id, the id of the object it carries (sub_…, in_…, cus_…, pi_…), a type or a request id."
    )
    date_hierarchy = "created"
    fields = (
        "id",
        "type",
        "object_id",
        "account",
        "mode",
        "api_version",
        "created",
        "request_id",
        "idempotency_key",
        "fanned_out_at",
        "data",
        "previous",
    )

    def get_search_results(self, request, queryset, search_term):
        # An id is looked up exactly, through the indexes on the event's id and on the id of the object it carries.
        term = search_term.strip()
        if OBJECT_ID.fullmatch(term):
            return queryset.filter(Q(pk=term) | Q(object_id=term)), False
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if term:
            # Merchant-chosen ids (a coupon's "SUMMER25") do not look like ours.
            results = results | queryset.filter(object_id=term)
        return results, may_have_duplicates

    @admin.display(description=_("data.object"))
    def data(self, obj):
        return pretty_json(obj.data_object)

    @admin.display(description=_("previous attributes"))
    def previous(self, obj):
        return pretty_json(obj.previous_attributes)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyTenantAdmin):
    list_display = ("created", "action", "object_type", "object_id", "actor_type", "actor_label", "mode")
    list_filter = ("actor_type", "object_type")
    search_fields = ("object_id", "action", "actor_label", "request_id")
    date_hierarchy = "created"
    fields = (
        "created",
        "account",
        "mode",
        "actor_type",
        "actor_id",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "request_id",
        "change_details",
    )

    @admin.display(description=_("changes"))
    def change_details(self, obj):
        return pretty_json(obj.changes)
