"""The admin of no-code Checkout links: a merchant picks prices and shares the link's URL; the list shows each
link's URL with a copy button and how many sessions it completed; links are deactivated, never deleted."""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.db.models import Count, OuterRef, Q, Subquery
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from billing.admin import adopt
from billing.admin_scoping import TenantModelForm, TenantScopedAdmin, TenantScopedMixin, run_each
from billing.audit import Actor
from billing.models import Price
from checkout.models import CheckoutLink, CheckoutLinkItem, CheckoutSession
from checkout.services.links import (
    OPTIONS,
    LinkItemSpec,
    checkout_link_create,
    checkout_link_set_active,
    checkout_link_update,
)
from configurations.models import CustomDomain


class PriceChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Price) -> str:
        return f"{obj.product.name} · {obj}"


class CheckoutLinkForm(TenantModelForm):
    param_fields = {"line_items": "name"}

    class Meta:
        model = CheckoutLink
        fields = ("account", "livemode", "active", *OPTIONS)


class LinkItemFormSet(BaseInlineFormSet):
    def filled_forms(self) -> list:
        return [
            form
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("price")
        ]

    def clean(self):
        super().clean()
        if not any(self.errors) and not self.filled_forms():
            raise forms.ValidationError(gettext("Pick at least one price."))


class CheckoutLinkItemInline(TenantScopedMixin, admin.TabularInline):
    model = CheckoutLinkItem
    formset = LinkItemFormSet
    fields = ("price", "quantity", "adjustable_quantity", "minimum", "maximum")
    extra = 1

    def get_extra(self, request, obj=None, **kwargs):
        return 3 if obj is None else 1

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "price":
            prices = self.scoped_choices(db_field, request, kwargs.get("using"))
            kwargs["queryset"] = prices.filter(active=True).select_related("product").order_by("product__name", "id")
            kwargs["form_class"] = PriceChoiceField
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def link_items(formset) -> list[LinkItemSpec]:
    return [
        LinkItemSpec(
            price=form.cleaned_data["price"],
            quantity=form.cleaned_data.get("quantity") or 1,
            adjustable_quantity=bool(form.cleaned_data.get("adjustable_quantity")),
            minimum=form.cleaned_data.get("minimum"),
            maximum=form.cleaned_data.get("maximum"),
        )
        for form in formset.filled_forms()
    ]


@admin.register(CheckoutLink)
class CheckoutLinkAdmin(TenantScopedAdmin):
    form = CheckoutLinkForm
    inlines = [CheckoutLinkItemInline]
    list_display = ("__str__", "share_link", "checkout_mode", "active", "completed_sessions")
    list_filter = ("active",)
    search_fields = ("id", "name")
    actions = ("deactivate", "reactivate")

    class Media:
        js = ("js/copy-link.js",)
        css = {"all": ("configurations/admin.css",)}

    def get_queryset(self, request):
        # One query for the list: each link's completed sessions and its account's verified domain (its URL's host).
        completed = Count("sessions", filter=Q(sessions__status=CheckoutSession.Status.COMPLETE))
        domain = CustomDomain.objects.filter(account=OuterRef("account"), verified_at__isnull=False).values("hostname")
        return super().get_queryset(request).annotate(completed_count=completed, verified_host=Subquery(domain[:1]))

    def get_fieldsets(self, request, obj=None):
        head = (
            ("account", "livemode", "name")
            if obj is None
            else ("id", "mode", "checkout_mode", "share_link", "name", "active")
        )
        return [
            (None, {"fields": head}),
            (
                _("Checkout"),
                {
                    "fields": (
                        "allow_promotion_codes",
                        "billing_address_collection",
                        "tax_id_collection",
                        "phone_number_collection",
                        "trial_period_days",
                        "after_completion_url",
                    )
                },
            ),
        ]

    def get_readonly_fields(self, request, obj=None):
        fixed = ("id", "mode", "checkout_mode", "share_link")
        return fixed if obj is None else (*fixed, "account", "livemode")

    def has_delete_permission(self, request, obj=None):
        # Shared links may sit in emails and on websites: they are deactivated (410 Gone), never deleted.
        return False

    # -- columns

    @admin.display(description=_("link"))
    def share_link(self, obj):
        if obj is None or not obj.pk:
            return "—"
        host = getattr(obj, "verified_host", None)
        url = f"{f'https://{host}' if host else settings.PORTAL_BASE_URL}{obj.path}"
        return format_html(
            '<span class="portal-copy"><input type="text" readonly id="checkout-link-{id}" value="{url}" size="24" '
            'aria-label="{label}"> <button type="button" class="button" data-copy-target="checkout-link-{id}" '
            'data-copied-label="{copied}">{copy}</button> <span class="portal-copy-status" role="status" '
            'aria-live="polite"></span></span>',
            id=obj.pk,
            url=url,
            label=gettext("Link of %(name)s") % {"name": obj},
            copy=gettext("Copy"),
            copied=gettext("Copied"),
        )

    @admin.display(description=_("type"), ordering="mode")
    def checkout_mode(self, obj):
        return gettext("Subscription") if obj.mode == CheckoutSession.Mode.SUBSCRIPTION else gettext("One-time payment")

    @admin.display(description=_("completed"), ordering="completed_count")
    def completed_sessions(self, obj):
        return getattr(obj, "completed_count", 0)

    # -- saving: one service call for the form and its prices

    def save_model(self, request, obj, form, change):
        """Nothing yet: ``save_related`` hands the form and the prices to the service in one call."""

    def save_related(self, request, form, formsets, change):
        item_formset = next((f for f in formsets if isinstance(f, LinkItemFormSet)), None)
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        options = {key: form.cleaned_data.get(key) for key in OPTIONS}
        options["name"] = options["name"] or ""
        options["after_completion_url"] = options["after_completion_url"] or ""
        actor = Actor.staff(request.user)
        if change:
            items = link_items(item_formset) if item_formset is not None and item_formset.has_changed() else None
            current = CheckoutLink.objects.get(pk=form.instance.pk)
            saved = checkout_link_update(link=current, actor=actor, items=items, **options)
            if form.cleaned_data.get("active") is not None and saved.active != form.cleaned_data["active"]:
                saved = checkout_link_set_active(link=saved, actor=actor, active=form.cleaned_data["active"])
        else:
            saved = checkout_link_create(
                account=form.cleaned_data["account"],
                livemode=form.cleaned_data["livemode"],
                actor=actor,
                items=link_items(item_formset) if item_formset is not None else [],
                **options,
            )
        adopt(form.instance, saved)

    def construct_change_message(self, request, form, formsets, add=False):
        return [{"added": {}}] if add else [{"changed": {"fields": form.changed_data}}]

    # -- actions

    @admin.action(description=_("Deactivate selected links"), permissions=["change"])
    def deactivate(self, request, queryset):
        self._set_active(request, queryset, False)

    @admin.action(description=_("Reactivate selected links"), permissions=["change"])
    def reactivate(self, request, queryset):
        self._set_active(request, queryset, True)

    def _set_active(self, request, queryset, active: bool) -> None:
        def done(count):
            if active:
                return ngettext("%(count)d link reactivated.", "%(count)d links reactivated.", count)
            return ngettext("%(count)d link deactivated.", "%(count)d links deactivated.", count)

        run_each(
            self,
            request,
            queryset,
            lambda link, actor: checkout_link_set_active(link=link, actor=actor, active=active),
            done,
        )
