"""Test clocks in the admin: the clocks, the customers on each, and advancing them (a form with the new time)."""

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from billing.admin_scoping import ReadOnlyTenantAdmin, ReadOnlyTenantInline, run_each
from billing.models import Customer, TestClock
from billing.services.test_clocks import clock_advance

PREVIEW_ROWS = 20


class AdvanceForm(forms.Form):
    frozen_time = forms.DateTimeField(
        label=_("Advance to"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_(
            "Later than the clock's time; at most two intervals of its shortest subscription ahead (two years "
            "without subscriptions). Renewals, trial ends and payment retries run up to this time."
        ),
    )

    def clean_frozen_time(self):
        moment = self.cleaned_data["frozen_time"]
        return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


class TestClockCustomerInline(ReadOnlyTenantInline):
    model = Customer
    fk_name = "test_clock"
    fields = ("id", "email", "name", "created", "deleted")
    verbose_name = _("customer on this clock")
    verbose_name_plural = _("customers on this clock")


@admin.register(TestClock)
class TestClockAdmin(ReadOnlyTenantAdmin):
    list_display = ("id", "name", "frozen_time", "status", "customer_count", "deletes_after", "deleted")
    list_filter = ("status", "deleted")
    search_fields = ("id", "name")
    fields = ("id", "name", "frozen_time", "status", "target_frozen_time", "created", "deletes_after", "deleted")
    inlines = (TestClockCustomerInline,)
    actions = ("advance",)

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    @admin.display(description=_("customers"))
    def customer_count(self, obj):
        return obj.customers.filter(deleted=False).count()

    @admin.action(description=_("Advance the clock…"), permissions=["billing_action"])
    def advance(self, request, queryset):
        """First the form (the new time); its submission advances each selected clock."""
        form = AdvanceForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            moment = form.cleaned_data["frozen_time"]
            run_each(
                self,
                request,
                queryset,
                lambda test_clock, actor: clock_advance(test_clock=test_clock, frozen_time=moment, actor=actor),
                lambda n: ngettext("Advancing %(count)d test clock.", "Advancing %(count)d test clocks.", n),
            )
            return None
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "title": _("Advance test clocks"),
            "opts": self.opts,
            "form": form,
            "count": queryset.count(),
            "preview": queryset[:PREVIEW_ROWS],
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "changelist_url": request.get_full_path(),
        }
        return TemplateResponse(request, "admin/billing/testclock/advance.html", context)
