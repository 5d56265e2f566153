"""Tenant scoping for the billing admin: rows, choices and forms limited to the staff user's accounts and to
the mode (test or live data) the user has chosen in the header."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import widgets
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from billing import money
from billing.admin_money import MoneyFormMixin
from billing.audit import Actor
from billing.exceptions import BillingError
from billing.models import Account, Membership
from billing.selectors import accounts_for_user

# The request attribute that carries a service's error into the second rendering of a change form.
SERVICE_ERROR_ATTR = "_billing_service_error"
# The session key holding the mode the admin shows (templates/admin/base_site.html reads it too).
LIVEMODE_SESSION_KEY = "billing_admin_livemode"

CURRENCY_CHOICES = [("", "---------")] + [(code, code.upper()) for code in sorted(money.SUPPORTED)]


def scope_to_user(queryset: models.QuerySet, user) -> models.QuerySet:
    """The rows of ``queryset`` that ``user`` may see.

    Superusers see everything. Everyone else sees the rows of their accounts; a model this function
    does not know how to scope yields nothing, so a new foreign key fails closed.
    """
    if user.is_superuser:
        return queryset
    model = queryset.model
    accounts = accounts_for_user(user).values("pk")
    if issubclass(model, Account):
        return queryset.filter(pk__in=accounts)
    if issubclass(model, get_user_model()):
        return queryset.filter(pk__in=Membership.objects.filter(account__in=accounts).values("user"))
    if has_account(model):
        return queryset.filter(account__in=accounts)
    return queryset.none()


def admin_livemode(request) -> bool:
    """The mode the admin shows this user: test data until they switch to live data in the header."""
    session = getattr(request, "session", None)
    return bool(session.get(LIVEMODE_SESSION_KEY, False)) if session is not None else False


def scope_to_mode(queryset: models.QuerySet, request) -> models.QuerySet:
    """The rows of ``queryset`` in the mode the admin shows; models without a mode are left as they are."""
    if has_livemode(queryset.model):
        return queryset.filter(livemode=admin_livemode(request))
    return queryset


@require_POST
def admin_mode_switch(request):
    """Store the chosen mode (``mode=live`` or ``mode=test``) in the session and go back to the page."""
    livemode = request.POST.get("mode") == "live"
    request.session[LIVEMODE_SESSION_KEY] = livemode
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("admin:index")
    if livemode and not accounts_for_user(request.user).filter(plan=Account.Plan.BILLING).exists():
        messages.info(request, _("Your accounts are on the Starter plan: live data needs the Billing plan."))
    return HttpResponseRedirect(target)


def has_account(model) -> bool:
    try:
        field = model._meta.get_field("account")
    except FieldDoesNotExist:
        return False
    return field.is_relation and field.related_model is Account


def has_livemode(model) -> bool:
    try:
        model._meta.get_field("livemode")
    except FieldDoesNotExist:
        return False
    return True


def mode_badge(livemode: bool):
    if livemode:
        return format_html('<span class="billing-mode billing-mode-live">{}</span>', _("Live"))
    return format_html('<span class="billing-mode billing-mode-test">{}</span>', _("Test"))


class ScopedForeignKeyRawIdWidget(widgets.ForeignKeyRawIdWidget):
    """Django's raw-id widget labels any id it is given; this one only ids the user may see."""

    def __init__(self, rel, admin_site, attrs=None, using=None, *, queryset):
        super().__init__(rel, admin_site, attrs, using)
        self.queryset = queryset

    def label_and_url_for_value(self, value):
        key = self.rel.get_related_field().name
        try:
            visible = self.queryset.filter(**{key: value}).exists()
        except (ValueError, ValidationError):
            return "", ""
        return super().label_and_url_for_value(value) if visible else ("", "")


class TenantModelForm(MoneyFormMixin, forms.ModelForm):
    """Every referenced row must be in the same account and mode; shows a service's error on the form."""

    service_error: BillingError | None = None
    # Service params that do not name a form field, e.g. {"invoice_settings[default_payment_method]": "..."}.
    param_fields: dict[str, str] = {}
    # The mode the admin shows (set per request by TenantScopedAdmin.get_form); new rows are created in it.
    admin_livemode: bool | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields.get("livemode")
        if field is not None and self.admin_livemode is not None and self.instance._state.adding:
            # A disabled field takes its initial value whatever is posted.
            field.disabled = True
            field.help_text = (
                _("Created as live data. Switch to test data at the top of the page to create test data.")
                if self.admin_livemode
                else _("Created as test data. Switch to live data at the top of the page to create live data.")
            )
            self.initial["livemode"] = self.admin_livemode

    def clean(self):
        cleaned = super().clean()
        self._check_same_tenant(cleaned)
        self._check_livemode_allowed(cleaned)
        if self.service_error is not None:
            self.add_error(self._field_for(self.service_error.param), self.service_error.localized)
        return cleaned

    def _anchor(self, cleaned) -> tuple | None:
        if isinstance(cleaned.get("account"), Account):
            return cleaned["account"].pk, bool(cleaned.get("livemode", getattr(self.instance, "livemode", False)))
        if getattr(self.instance, "account_id", None):
            return self.instance.account_id, self.instance.livemode
        return None

    def _check_same_tenant(self, cleaned) -> None:
        anchor = self._anchor(cleaned)
        for name, value in list(cleaned.items()):
            rows = list(value) if isinstance(value, models.QuerySet | list | tuple) else [value]
            for row in rows:
                if not isinstance(row, models.Model) or not hasattr(row, "account_id") or not has_livemode(row):
                    continue
                tenant = (row.account_id, row.livemode)
                if anchor is None:
                    anchor = tenant
                elif tenant != anchor:
                    self.add_error(name, _("Choose one from the same account and mode (test or live)."))
                    break

    def _check_livemode_allowed(self, cleaned) -> None:
        account = cleaned.get("account")
        if cleaned.get("livemode") and isinstance(account, Account) and not account.allows_livemode():
            self.add_error("livemode", _("Live mode needs the Billing plan; this account is on Starter."))

    def _field_for(self, param: str | None) -> str | None:
        if not param:
            return None
        candidates = (self.param_fields.get(param), param.replace("[", "_").replace("]", ""), param.split("[")[0])
        return next((name for name in candidates if name and name in self.fields), None)


class TenantScopedMixin:
    """For model admins and inlines: querysets, choices and raw-id labels limited to the user's accounts and
    to the mode the admin shows."""

    form = TenantModelForm

    def get_queryset(self, request):
        return scope_to_mode(scope_to_user(super().get_queryset(request), request.user), request)

    def scoped_choices(self, db_field, request, using=None) -> models.QuerySet:
        queryset = self.get_field_queryset(using, db_field, request)
        if queryset is None:
            queryset = db_field.remote_field.model._default_manager.using(using).all()
        return scope_to_mode(scope_to_user(queryset, request.user), request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs.setdefault("queryset", self.scoped_choices(db_field, request, kwargs.get("using")))
        if "widget" not in kwargs and db_field.name in self.raw_id_fields:
            kwargs["widget"] = ScopedForeignKeyRawIdWidget(
                db_field.remote_field, self.admin_site, using=kwargs.get("using"), queryset=kwargs["queryset"]
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs.setdefault("queryset", self.scoped_choices(db_field, request, kwargs.get("using")))
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "livemode":
            kwargs.setdefault("label", _("Live mode"))
            kwargs.setdefault("help_text", _("Leave unticked for test data."))
        elif isinstance(db_field, models.CharField) and db_field.name.endswith("currency") and db_field.max_length == 3:
            kwargs.setdefault("widget", forms.Select(choices=CURRENCY_CHOICES))
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description=_("mode"), ordering="livemode")
    def mode(self, obj):
        return mode_badge(obj.livemode)


class TenantScopedAdmin(TenantScopedMixin, admin.ModelAdmin):
    """A ModelAdmin that shows, offers and accepts only the rows of the staff user's accounts, in the mode
    (test or live data) chosen in the header.

    Tenant models get a "mode" column (test rows carry a badge), an account filter and, for users who
    see several accounts, an account column. New rows are created in the chosen mode; a row of the other
    mode is not opened but named with a hint to switch. A service's ``BillingError`` raised while saving
    is shown on the form instead of failing the request.
    """

    def _sees_several_accounts(self, request) -> bool:
        if not hasattr(request, "_billing_several_accounts"):
            request._billing_several_accounts = accounts_for_user(request.user)[:2].count() > 1
        return request._billing_several_accounts

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        if has_livemode(self.model) and "mode" not in columns:
            columns.append("mode")
        if has_account(self.model) and "account" not in columns and self._sees_several_accounts(request):
            columns.insert(len(columns) - 1, "account_name")
        return columns

    @admin.display(description=_("account"), ordering="account__name")
    def account_name(self, obj):
        # The name alone: "Name (acct_…)" would take a list's widest column.
        return obj.account.name

    def get_list_select_related(self, request):
        related = self.list_select_related
        # True and False (Django joins the columns' relations itself) already cover the account column.
        if isinstance(related, bool) or not has_account(self.model) or not self._sees_several_accounts(request):
            return related
        return (*related, "account")

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if has_account(self.model):
            filters.append(("account", admin.RelatedOnlyFieldListFilter))
        return filters

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        if has_account(self.model) and "account" not in initial:
            accounts = list(accounts_for_user(request.user)[:2])
            if len(accounts) == 1:
                initial["account"] = accounts[0].pk
        return initial

    def get_inline_instances(self, request, obj=None):
        inlines = super().get_inline_instances(request, obj)
        # Read-only inlines list what a saved row has; an add form has nothing to list.
        return inlines if obj is not None else [i for i in inlines if not isinstance(i, ReadOnlyTenantInline)]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.service_error = getattr(request, SERVICE_ERROR_ATTR, None)
        form.admin_livemode = admin_livemode(request)
        return form

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        """The change, history and delete views of a missing row. A row of the user's accounts that is in
        the other mode is named, with a hint to switch; anything else "does not exist", as in Django."""
        if not self._in_other_mode(request, object_id):
            return super()._get_obj_does_not_exist_redirect(request, opts, object_id)
        values = {"name": opts.verbose_name, "key": unquote(object_id)}
        message = (
            _("%(name)s “%(key)s” is test data, and you are viewing live data. Switch to test data to open it.")
            if admin_livemode(request)
            else _("%(name)s “%(key)s” is live data, and you are viewing test data. Switch to live data to open it.")
        )
        self.message_user(request, message % values, messages.WARNING)
        return HttpResponseRedirect(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist", current_app=self.admin_site.name)
        )

    def _in_other_mode(self, request, object_id) -> bool:
        if not has_livemode(self.model):
            return False
        rows = scope_to_user(self.model._default_manager.all(), request.user)
        try:
            key = self.model._meta.pk.to_python(unquote(object_id))
            return rows.filter(pk=key, livemode=not admin_livemode(request)).exists()
        except (ValidationError, ValueError):
            return False

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except BillingError as error:
            # The admin's transaction has rolled the write back; render the same POST again with the
            # service's message on the form (TenantModelForm.clean adds it).
            setattr(request, SERVICE_ERROR_ATTR, error)
            return super().changeform_view(request, object_id, form_url, extra_context)


class ReadOnlyTenantAdmin(TenantScopedAdmin):
    """Financial records: shown here, changed only by services through the admin actions."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_billing_action_permission(self, request):
        """Actions call services; they need the model's Django change permission."""
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)


class ReadOnlyTenantInline(TenantScopedMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)


def run_each(model_admin, request, queryset, call, done_message) -> None:
    """Call a service per selected row; a row the service refuses gets its message, the others proceed."""
    actor = Actor.staff(request.user)
    done = 0
    for obj in queryset:
        try:
            call(obj, actor)
        except BillingError as error:
            model_admin.message_user(request, f"{obj}: {error.localized}", messages.ERROR)
        else:
            done += 1
    if done:
        model_admin.message_user(request, done_message(done) % {"count": done}, messages.SUCCESS)
