"""The pause page's form: the day payment collection resumes, within the merchant's longest pause."""

import datetime as dt

from django import forms
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from billing import clock
from billing.templatetags.billing_format import billing_date
from configurations.models import PortalConfiguration
from configurations.services.validation import MAX_PAUSE_DAYS
from portal.forms.cancel import StateForm


def today() -> dt.date:
    """Pauses are counted in whole days of UTC, the billing clock's time zone."""
    return clock.now().astimezone(dt.UTC).date()


def resume_moment(day: dt.date) -> dt.datetime:
    """Collection resumes at 00:00 UTC on the chosen day: a renewal falling on that day is collected again."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


class PauseForm(StateForm):
    resumes_on = forms.DateField(
        label=_("Resume payments on"),
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
        error_messages={"required": _("Choose the day payments resume.")},
    )
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, configuration: PortalConfiguration, **kwargs):
        super().__init__(*args, **kwargs)
        self.earliest = today() + dt.timedelta(days=1)
        self.max_days = configuration.pause_collection_max_duration_days or MAX_PAUSE_DAYS
        self.latest = today() + dt.timedelta(days=self.max_days)
        field = self.fields["resumes_on"]
        field.widget.attrs.update({"min": self.earliest.isoformat(), "max": self.latest.isoformat()})
        field.help_text = gettext("Choose a day between %(earliest)s and %(latest)s.") % {
            "earliest": billing_date(self.earliest),
            "latest": billing_date(self.latest),
        }

    def clean_resumes_on(self) -> dt.date:
        day = self.cleaned_data["resumes_on"]
        if day < self.earliest:
            raise forms.ValidationError(gettext("Choose a day after today."), code="too_early")
        if day > self.latest:
            message = ngettext(
                "Payments can be paused for at most %(days)d day. Choose a day until %(latest)s.",
                "Payments can be paused for at most %(days)d days. Choose a day until %(latest)s.",
                self.max_days,
            )
            raise forms.ValidationError(
                message % {"days": self.max_days, "latest": billing_date(self.latest)}, code="too_late"
            )
        return day

    @property
    def resumes_at(self) -> dt.datetime:
        return resume_moment(self.cleaned_data["resumes_on"])
