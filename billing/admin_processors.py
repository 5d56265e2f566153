"""The admin's payment processor settings: secrets are typed in and never shown back; saving, testing the connection
and removing call the services in billing/services/processors.py."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from billing.admin_scoping import TenantModelForm, TenantScopedAdmin
from billing.audit import Actor
from billing.exceptions import BillingError
from billing.models import ProcessorAccount
from billing.services import processors

# Secret fields: label and the hint shown while none is stored.
SECRET_FIELDS = {
    "stripe_secret_key": (
        _("Stripe secret key"),
        _("Starts with sk_test_ (or rk_test_ for a restricted key) in test mode, sk_live_ or rk_live_ in live mode."),
    ),
    "stripe_webhook_secret": (
        _("Stripe webhook signing secret"),
        _("Starts with whsec_. Stripe shows it on the page of the webhook endpoint."),
    ),
    "mollie_api_key": (_("Mollie API key"), _("Starts with test_ in test mode, live_ in live mode.")),
}
SECRET_KEPT = _("Saved. Leave blank to keep the current key.")
CREDENTIALS = (*SECRET_FIELDS, "stripe_publishable_key", "mollie_profile_id")


def secret_field() -> forms.CharField:
    # render_value=False: a stored secret never travels back to the browser, not even masked.
    return forms.CharField(
        required=False, strip=True, widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})
    )


class ProcessorAccountForm(TenantModelForm):
    stripe_secret_key = secret_field()
    stripe_webhook_secret = secret_field()
    mollie_api_key = secret_field()

    class Meta:
        model = ProcessorAccount
        fields = ["account", "livemode", "processor", *CREDENTIALS]
        help_texts = {
            "stripe_publishable_key": _("Starts with pk_test_ in test mode, pk_live_ in live mode."),
            "mollie_profile_id": _("Starts with pfl_. Mollie's hosted card fields need it."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = self.instance.pk is not None
        for name, (label, hint) in SECRET_FIELDS.items():
            field = self.fields[name]
            field.label = label
            field.help_text = SECRET_KEPT if stored and self.instance.has_secret(name) else hint
        live = self.instance.livemode if stored else bool(self.admin_livemode)
        if live and "processor" in self.fields:
            # The test gateway never moves real money; the service refuses it too.
            field = self.fields["processor"]
            field.choices = [choice for choice in field.choices if choice[0] != ProcessorAccount.Processor.TEST]


@admin.register(ProcessorAccount)
class ProcessorAccountAdmin(TenantScopedAdmin):
    form = ProcessorAccountForm
    list_display = ("__str__", "processor", "verified_at", "last_error", "updated")
    list_filter = ("processor",)
    actions = ("test_connection",)

    def get_fieldsets(self, request, obj=None):
        head = ("account", "livemode", "processor") if obj is None else ("account", "mode", "processor")
        fieldsets = [
            (None, {"fields": head}),
            ("Stripe", {"fields": ("stripe_secret_key", "stripe_publishable_key", "stripe_webhook_secret")}),
            ("Mollie", {"fields": ("mollie_api_key", "mollie_profile_id")}),
        ]
        if obj is not None:
            fieldsets.append((_("Connection"), {"fields": ("verified_at", "last_error", "updated")}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("account", "mode", "verified_at", "last_error", "updated")

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        row = processors.processor_account_set(
            account=obj.account if change else data["account"],
            livemode=obj.livemode if change else bool(data.get("livemode")),
            processor=data["processor"],
            actor=Actor.staff(request.user),
            **{name: data.get(name, "") for name in CREDENTIALS},
        )
        obj.pk = row.pk
        obj.refresh_from_db()
        obj._state.adding = False

    def delete_model(self, request, obj):
        processors.processor_account_delete(processor_account=obj, actor=Actor.staff(request.user))

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        test = path(
            "<path:object_id>/test-connection/",
            wrap(self.test_connection_view),
            name="billing_processoraccount_test_connection",
        )
        return [test, *super().get_urls()]

    def test_connection_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, unquote(object_id))  # None for rows of other accounts or the other mode
        if obj is None:
            raise Http404
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        self._test(request, obj)
        return HttpResponseRedirect(reverse("admin:billing_processoraccount_change", args=[quote(obj.pk)]))

    @admin.action(description=_("Test connection"), permissions=["change"])
    def test_connection(self, request, queryset):
        for obj in queryset:
            self._test(request, obj)

    def _test(self, request, obj) -> None:
        try:
            row = processors.processor_account_test(
                account=obj.account, livemode=obj.livemode, actor=Actor.staff(request.user)
            )
        except BillingError as error:
            self.message_user(request, f"{obj}: {error.localized}", messages.ERROR)
            return
        values = {"processor": row, "error": row.last_error}
        if row.last_error:
            self.message_user(request, _("%(processor)s: the connection failed: %(error)s") % values, messages.ERROR)
        else:
            self.message_user(request, _("%(processor)s: the connection works.") % values, messages.SUCCESS)
