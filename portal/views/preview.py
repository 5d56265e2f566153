"""Staff preview: open the portal with a given configuration as a customer of its account and mode."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from billing.audit import Actor
from billing.exceptions import BillingError
from billing.models import Customer
from billing.selectors import accounts_for_user
from configurations.admin import live_links_missing, merchant_wording
from configurations.models import PortalConfiguration, PortalSession
from configurations.sessions import portal_session_create

CHOICES_SHOWN = 100
# The name of the submit button that opens a session whose clicks are real (the other opens a read-only preview).
ACT_AS = "act_as_customer"


class PreviewForm(forms.Form):
    customer = forms.ChoiceField(label=gettext_lazy("Customer"), required=False)
    lookup = forms.CharField(
        label=gettext_lazy("…or a customer id or email"), required=False, max_length=254, strip=True
    )

    confirm_act_as = forms.BooleanField(
        label=gettext_lazy("I understand that as the customer my clicks really change their account."),
        required=False,
    )

    def __init__(self, *args, customers, **kwargs):
        super().__init__(*args, **kwargs)
        self.customers = customers
        newest = customers.order_by("-created", "-id")[:CHOICES_SHOWN]
        self.fields["customer"].choices = [(c.pk, f"{c.email or '—'} · {c.name or '—'} ({c.pk})") for c in newest]

    def clean(self):
        cleaned = super().clean()
        lookup = cleaned.get("lookup")
        if lookup:
            found = self.customers.filter(Q(pk=lookup) | Q(email__iexact=lookup)).order_by("-created").first()
        else:
            found = self.customers.filter(pk=cleaned.get("customer")).first()
        if found is None:
            raise forms.ValidationError(_("No such customer in this account and mode."))
        cleaned["found"] = found
        cleaned["act_as"] = ACT_AS in self.data
        if cleaned["act_as"] and not cleaned.get("confirm_act_as"):
            self.add_error(
                "confirm_act_as", _("Confirm that you want to act as the customer, or open the read-only preview.")
            )
        return cleaned


def preview_error(configuration: PortalConfiguration, error: BillingError) -> str:
    """Why the portal cannot open, in the words of the configuration's page rather than the API's."""
    missing = live_links_missing(configuration) if configuration.livemode else ""
    if error.param == "configuration" and missing:
        return _(
            "The live portal cannot open yet: this configuration lacks %(missing)s. Add them under “Business "
            "profile” on this page and save."
        ) % {"missing": missing}
    return merchant_wording(error.localized)


@require_http_methods(["GET", "POST"])
@staff_member_required
def preview(request: HttpRequest, configuration_id: str) -> HttpResponse:
    configuration = PortalConfiguration.objects.filter(
        pk=configuration_id, account__in=accounts_for_user(request.user)
    ).first()
    if configuration is None:
        raise Http404("No such configuration")
    back = reverse("admin:configurations_portalconfiguration_change", args=[configuration.pk])
    customers = Customer.objects.filter(
        account_id=configuration.account_id, livemode=configuration.livemode, deleted=False
    )
    form = PreviewForm(request.POST or None, customers=customers)
    if request.method == "POST" and form.is_valid():
        try:
            _session, url = portal_session_create(
                customer=form.cleaned_data["found"],
                actor=Actor.staff(request.user),
                configuration=configuration,
                return_url=request.build_absolute_uri(back),
                origin=PortalSession.Origin.STAFF if form.cleaned_data["act_as"] else PortalSession.Origin.PREVIEW,
            )
        except BillingError as error:
            messages.error(request, preview_error(configuration, error))
            return redirect(back)
        # The path only: the preview opens on the host the staff member is using.
        return redirect("/" + url.split("://", 1)[1].split("/", 1)[1])
    context = {
        **admin.site.each_context(request),
        "title": _("Preview the portal"),
        "configuration": configuration,
        "form": form,
        "back": back,
        "has_customers": customers.exists(),
        "act_as": ACT_AS,
    }
    return render(request, "admin/configurations/portalconfiguration/preview.html", context)
