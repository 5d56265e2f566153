"""The admin's fee report (billing/fees.py) for a chosen month, as a page and as CSV; staff see their accounts only."""

import csv
import datetime as dt

from babel.dates import format_date
from django import forms
from django.http import HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing import clock, money
from billing.exports import escape_cell
from billing.fees import AccountFees, FeeRates, fee_report
from billing.selectors import accounts_for_user
from billing.templatetags.billing_format import active_locale

CSV_COLUMNS = (
    "month",
    "account",
    "account_name",
    "plan",
    "invoices",
    "free_invoices",
    "billable_invoices",
    "currency",
    "billable_recurring_volume",
    "billable_one_off_volume",
    "fee",
)


class MonthForm(forms.Form):
    month = forms.DateField(
        label=_("Month"),
        input_formats=["%Y-%m"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
        help_text=_("Calendar month in UTC, e.g. 2026-03."),
    )


def chosen_month(request) -> tuple[MonthForm, dt.date | None]:
    """The month asked for in ``?month=YYYY-MM`` (``None`` when it is not a month), else the current one."""
    if "month" not in request.GET:
        today = clock.now().date()
        return MonthForm(initial={"month": today}), today.replace(day=1)
    form = MonthForm(request.GET)
    return form, (form.cleaned_data["month"] if form.is_valid() else None)


def report_for(request, month: dt.date) -> list[AccountFees]:
    """Superusers (the operator) see every account; merchant staff their own accounts only."""
    user = request.user
    return fee_report(month=month, accounts=None if user.is_superuser else accounts_for_user(user))


def fee_report_view(model_admin, request):
    form, month = chosen_month(request)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": gettext("Fee report"),
        "form": form,
        "month": month,
        "month_label": format_date(month, "LLLL y", locale=active_locale()) if month else "",
        "report": report_for(request, month) if month else [],
        "rates": FeeRates.from_settings(),
    }
    return TemplateResponse(request, "admin/billing/fee_report.html", context)


def fee_report_csv_view(model_admin, request):
    _form, month = chosen_month(request)
    if month is None:
        return HttpResponseBadRequest(gettext("Choose a month as YYYY-MM."), content_type="text/plain; charset=utf-8")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="fees-{month:%Y-%m}.csv"'
    response.write("\ufeff")  # the BOM makes Excel read UTF-8
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for row in report_for(request, month):
        writer.writerows(csv_rows(row, month))
    return response


def csv_rows(row: AccountFees, month: dt.date) -> list[list[str]]:
    """One line per currency (one without a currency when every invoice was free); amounts in major units."""
    head = [f"{month:%Y-%m}", row.account.pk, escape_cell(row.account.name), row.account.plan]
    counts = [str(row.invoices), str(row.free), str(row.billable)]
    if not row.currencies:
        return [[*head, *counts, "", "0", "0", "0"]]
    return [
        [
            *head,
            *counts,
            line.currency,
            str(money.to_major(line.recurring_volume, line.currency)),
            str(money.to_major(line.one_off_volume, line.currency)),
            str(money.to_major(line.fee, line.currency)),
        ]
        for line in row.currencies
    ]
