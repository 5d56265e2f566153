"""The operator's monthly fee report: free invoices, recurring and one-off volume, currencies, months; admin and CSV."""

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.urls import reverse_lazy

from billing.audit import Actor
from billing.fees import AccountFees, CurrencyFees, fee_report
from billing.models import Invoice
from billing.services.accounts import staff_user_add
from billing.services.invoices import LineSpec, invoice_create_draft, invoice_finalize, invoice_void
from tests.factories.billing import AccountFactory, CustomerFactory

ACTOR = Actor.system("test")
MARCH = dt.date(2026, 3, 1)
MARCH_START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
RECURRING = Invoice.BillingReason.SUBSCRIPTION_CYCLE
ONE_OFF = Invoice.BillingReason.MANUAL
FEE_REPORT = reverse_lazy("admin:billing_account_fee_report")
FEE_CSV = reverse_lazy("admin:billing_account_fee_report_csv")


@pytest.fixture(autouse=True)
def _rates(settings):
    settings.FEE_FREE_INVOICES_PER_MONTH = 25
    settings.FEE_RECURRING_RATE = "0.005"
    settings.FEE_ONE_OFF_RATE = "0.004"


@pytest.fixture
def merchant(db):
    return AccountFactory(name="Alpha")


def finalized(customer, *, at, total=1000, reason=RECURRING, currency="eur") -> Invoice:
    """An invoice of ``total`` finalized at ``at`` through the invoice services."""
    with time_machine.travel(at, tick=False):
        draft = invoice_create_draft(
            customer=customer,
            subscription=None,
            currency=currency,
            billing_reason=reason,
            period_start=at,
            period_end=at,
            lines=[LineSpec(description="Service", amount=total, period_start=at, period_end=at)],
            collection_method="send_invoice",
        )
        return invoice_finalize(invoice=draft, actor=ACTOR)


def free_invoices(customer, count=25, *, start=MARCH_START, total=1000):
    """``count`` invoices a minute apart from ``start``: the month's free ones."""
    return [finalized(customer, at=start + dt.timedelta(minutes=i), total=total) for i in range(count)]


def later(minutes: int) -> dt.datetime:
    """A moment in March after the free invoices."""
    return MARCH_START + dt.timedelta(days=10, minutes=minutes)


def live_customer(account, **kwargs):
    return CustomerFactory(account=account, livemode=True, **kwargs)


# ---------------------------------------------------------------------------------------------- the rules


def test_twenty_five_invoices_are_free(merchant):
    customer = live_customer(merchant)
    free_invoices(customer, total=100_000)
    assert fee_report(month=MARCH) == [AccountFees(account=merchant, invoices=25, free=25, currencies=[])]


def test_the_twenty_sixth_invoice_is_billed_and_the_first_ones_stay_free(merchant):
    customer = live_customer(merchant)
    # The free ones are the first 25 by finalization, however large; the 26th is small.
    free_invoices(customer, total=1_000_000)
    finalized(customer, at=later(0), total=10_000)
    [report] = fee_report(month=MARCH)
    assert (report.invoices, report.free, report.billable) == (26, 25, 1)
    assert report.currencies == [CurrencyFees(currency="eur", recurring_volume=10_000, one_off_volume=0, fee=50)]


def test_free_invoices_are_the_first_finalized_not_the_first_created(merchant):
    customer = live_customer(merchant)
    with time_machine.travel(MARCH_START, tick=False):
        big = invoice_create_draft(
            customer=customer,
            subscription=None,
            currency="eur",
            billing_reason=ONE_OFF,
            period_start=MARCH_START,
            period_end=MARCH_START,
            lines=[LineSpec(description="Setup", amount=50_000, period_start=MARCH_START, period_end=MARCH_START)],
            collection_method="send_invoice",
        )
    free_invoices(customer, start=MARCH_START + dt.timedelta(hours=1))
    with time_machine.travel(later(0), tick=False):
        invoice_finalize(invoice=big, actor=ACTOR)
    [report] = fee_report(month=MARCH)
    assert report.currencies == [CurrencyFees(currency="eur", recurring_volume=0, one_off_volume=50_000, fee=200)]


def test_recurring_and_one_off_volume_mixed_and_rounded_half_up_once(merchant):
    customer = live_customer(merchant)
    free_invoices(customer)
    finalized(customer, at=later(0), total=1_000, reason=Invoice.BillingReason.SUBSCRIPTION_CREATE)
    finalized(customer, at=later(1), total=1_100, reason=Invoice.BillingReason.SUBSCRIPTION_UPDATE)
    finalized(customer, at=later(2), total=2_000, reason=ONE_OFF)
    finalized(customer, at=later(3), total=500, reason=ONE_OFF)
    [report] = fee_report(month=MARCH)
    # 2 100 × 0.5 % = 10.5 and 2 500 × 0.4 % = 10: 20.5 cents, rounded half-up once to 21.
    assert report.currencies == [CurrencyFees(currency="eur", recurring_volume=2_100, one_off_volume=2_500, fee=21)]
    assert (report.invoices, report.free) == (29, 25)


def test_a_half_cent_rounds_up(merchant):
    customer = live_customer(merchant)
    free_invoices(customer)
    finalized(customer, at=later(0), total=2_100)  # 10.5 cents
    assert fee_report(month=MARCH)[0].currencies[0].fee == 11


def test_zero_decimal_currency_rounds_to_whole_yen_per_currency(merchant):
    customer = live_customer(merchant)
    free_invoices(customer)
    finalized(customer, at=later(0), total=1_300, currency="jpy")  # ¥1,300 × 0.5 % = ¥6.5
    finalized(customer, at=later(1), total=240, currency="jpy", reason=ONE_OFF)  # ¥0.96
    finalized(customer, at=later(2), total=10_000, currency="eur")
    [report] = fee_report(month=MARCH)
    assert report.currencies == [
        CurrencyFees(currency="eur", recurring_volume=10_000, one_off_volume=0, fee=50),
        CurrencyFees(currency="jpy", recurring_volume=1_300, one_off_volume=240, fee=7),  # ¥7.46 -> ¥7
    ]


def test_zero_and_negative_invoices_take_a_place_but_carry_no_volume(merchant):
    customer = live_customer(merchant)
    free_invoices(customer, count=24)
    finalized(customer, at=later(0), total=-5_000, reason=ONE_OFF)  # the 25th: free either way
    finalized(customer, at=later(1), total=0)
    finalized(customer, at=later(2), total=-700, reason=ONE_OFF)
    finalized(customer, at=later(3), total=4_000)
    [report] = fee_report(month=MARCH)
    assert (report.invoices, report.free) == (28, 25)
    assert report.currencies == [CurrencyFees(currency="eur", recurring_volume=4_000, one_off_volume=0, fee=20)]


def test_voided_invoices_still_count_and_drafts_do_not(merchant):
    customer = live_customer(merchant)
    free_invoices(customer)
    voided = finalized(customer, at=later(0), total=3_000)
    with time_machine.travel(later(5), tick=False):
        invoice_void(invoice=voided, actor=ACTOR)
        invoice_create_draft(
            customer=customer,
            subscription=None,
            currency="eur",
            billing_reason=RECURRING,
            period_start=later(5),
            period_end=later(5),
            lines=[LineSpec(description="Draft", amount=9_999, period_start=later(5), period_end=later(5))],
        )
    [report] = fee_report(month=MARCH)
    assert report.invoices == 26
    assert report.currencies == [CurrencyFees(currency="eur", recurring_volume=3_000, one_off_volume=0, fee=15)]


def test_test_mode_invoices_are_ignored(merchant):
    test_customer = CustomerFactory(account=merchant, livemode=False)
    free_invoices(test_customer, count=30, total=50_000)
    assert fee_report(month=MARCH) == []
    customer = live_customer(merchant)
    free_invoices(customer, count=26)
    [report] = fee_report(month=MARCH)
    assert (report.invoices, report.free) == (26, 25)
    assert report.currencies == [CurrencyFees(currency="eur", recurring_volume=1_000, one_off_volume=0, fee=5)]


def test_months_are_calendar_months_in_utc(merchant):
    customer = live_customer(merchant)
    last_second_of_february = dt.datetime(2026, 2, 28, 23, 59, 59, tzinfo=dt.UTC)
    finalized(customer, at=last_second_of_february)
    free_invoices(customer, start=MARCH_START)  # the first one at 00:00:00 on March 1
    finalized(customer, at=dt.datetime(2026, 3, 31, 23, 59, 59, tzinfo=dt.UTC), total=2_000)
    finalized(customer, at=dt.datetime(2026, 4, 1, tzinfo=dt.UTC), total=7_000)

    [february] = fee_report(month=dt.date(2026, 2, 14))
    assert (february.invoices, february.currencies) == (1, [])
    [march] = fee_report(month=dt.date(2026, 3, 31))
    assert march.invoices == 26 and march.currencies[0].recurring_volume == 2_000
    [april] = fee_report(month=dt.date(2026, 4, 1))
    assert (april.invoices, april.free, april.currencies) == (1, 1, [])


def test_december_ends_at_new_year(merchant):
    customer = live_customer(merchant)
    finalized(customer, at=dt.datetime(2025, 12, 31, 23, 59, 59, tzinfo=dt.UTC))
    finalized(customer, at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert [r.invoices for r in fee_report(month=dt.date(2025, 12, 1))] == [1]
    assert [r.invoices for r in fee_report(month=dt.date(2026, 1, 1))] == [1]


def test_each_account_has_its_own_free_invoices(merchant):
    other = AccountFactory(name="Beta")
    free_invoices(live_customer(merchant), count=26)
    free_invoices(live_customer(other), count=3, total=99_999)
    alpha, beta = fee_report(month=MARCH)
    assert (alpha.account, alpha.invoices, alpha.currencies[0].fee) == (merchant, 26, 5)
    assert (beta.account, beta.invoices, beta.free, beta.currencies) == (other, 3, 3, [])
    assert fee_report(month=MARCH, accounts=[other]) == [beta]


def test_rates_and_free_count_come_from_settings(merchant, settings):
    settings.FEE_FREE_INVOICES_PER_MONTH = 1
    settings.FEE_RECURRING_RATE = "0.01"
    settings.FEE_ONE_OFF_RATE = "0.02"
    customer = live_customer(merchant)
    finalized(customer, at=later(0), total=50_000)
    finalized(customer, at=later(1), total=1_000)
    finalized(customer, at=later(2), total=1_000, reason=ONE_OFF)
    [report] = fee_report(month=MARCH)
    assert report.free == 1
    assert report.currencies[0] == CurrencyFees(currency="eur", recurring_volume=1_000, one_off_volume=1_000, fee=30)


def test_the_report_takes_the_same_few_queries_for_any_number_of_invoices(merchant, django_assert_num_queries):
    free_invoices(live_customer(merchant), count=27)
    free_invoices(live_customer(AccountFactory()), count=30)
    with django_assert_num_queries(3):
        assert len(fee_report(month=MARCH)) == 2


# ---------------------------------------------------------------------------------------------- admin and CSV


@pytest.fixture
def two_merchants(merchant):
    """Alpha: 27 invoices (two billable, EUR and JPY). Beta: 26 (one billable), with a name a spreadsheet would run."""
    other = AccountFactory(name="=Beta+1")
    alpha_customer = live_customer(merchant)
    free_invoices(alpha_customer)
    finalized(alpha_customer, at=later(0), total=123_450)
    finalized(alpha_customer, at=later(1), total=1_300, currency="jpy", reason=ONE_OFF)
    beta_customer = live_customer(other)
    free_invoices(beta_customer)
    finalized(beta_customer, at=later(0), total=99_900, reason=ONE_OFF)
    return merchant, other


def csv_table(response) -> list[dict]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def test_the_operator_sees_every_account_on_the_page_and_in_the_csv(admin_client, two_merchants):
    alpha, beta = two_merchants
    page = admin_client.get(FEE_REPORT, {"month": "2026-03"})
    assert page.status_code == 200
    html = page.content.decode()
    assert alpha.pk in html and beta.pk in html
    assert "€1,234.50" in html and "€6.17" in html  # 123 450 cents × 0.5 % = 617.25 cents
    assert "¥1,300" in html and "¥5" in html  # ¥1,300 × 0.4 % = ¥5.2
    assert "€4.00" in html  # 99 900 × 0.4 % = 399.6 cents
    assert f"{FEE_CSV}?month=2026-03" in html

    response = admin_client.get(FEE_CSV, {"month": "2026-03"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="fees-2026-03.csv"' in response["Content-Disposition"]
    rows = csv_table(response)
    # By account name ("=" sorts before "A"), then currency.
    assert [(r["account"], r["currency"], r["fee"]) for r in rows] == [
        (beta.pk, "eur", "4.00"),
        (alpha.pk, "eur", "6.17"),
        (alpha.pk, "jpy", "5"),
    ]
    first = rows[1]
    assert (first["month"], first["invoices"], first["free_invoices"], first["billable_invoices"]) == (
        "2026-03",
        "27",
        "25",
        "2",
    )
    assert (first["billable_recurring_volume"], first["billable_one_off_volume"]) == ("1234.50", "0.00")
    assert rows[0]["account_name"] == "'=Beta+1"  # never run as a formula


def test_merchant_staff_see_only_their_own_account(client, two_merchants):
    alpha, beta = two_merchants
    client.force_login(staff_user_add(account=alpha, email="staff@alpha.example"))
    page = client.get(FEE_REPORT, {"month": "2026-03"})
    assert page.status_code == 200
    assert [row.account for row in page.context["report"]] == [alpha]
    html = page.content.decode()
    assert alpha.pk in html and beta.pk not in html and "Beta" not in html
    rows = csv_table(client.get(FEE_CSV, {"month": "2026-03"}))
    assert {r["account"] for r in rows} == {alpha.pk}


def test_staff_of_no_account_see_an_empty_report(client, two_merchants, django_user_model):
    user = django_user_model.objects.create_user("nobody", "nobody@example.com", is_staff=True)
    client.force_login(user)
    page = client.get(FEE_REPORT, {"month": "2026-03"})
    assert page.context["report"] == [] and "No live invoices" in page.content.decode()
    assert csv_table(client.get(FEE_CSV, {"month": "2026-03"})) == []


def test_the_page_opens_on_the_current_month_and_takes_another(admin_client, two_merchants):
    with time_machine.travel(dt.datetime(2026, 3, 20, 12, tzinfo=dt.UTC)):
        page = admin_client.get(FEE_REPORT)
    assert page.context["month"] == MARCH and len(page.context["report"]) == 2
    assert 'type="month"' in page.content.decode() and 'value="2026-03"' in page.content.decode()
    february = admin_client.get(FEE_REPORT, {"month": "2026-02"})
    assert february.context["report"] == [] and "February 2026" in february.content.decode()


def test_a_month_that_is_not_one_is_a_form_error_not_a_crash(admin_client, db):
    page = admin_client.get(FEE_REPORT, {"month": "2026-13"})
    assert page.status_code == 200 and page.context["form"].errors
    assert admin_client.get(FEE_CSV, {"month": "march"}).status_code == 400


def test_every_invoice_free_is_shown_as_such(admin_client, merchant):
    free_invoices(live_customer(merchant), count=3)
    rows = csv_table(admin_client.get(FEE_CSV, {"month": "2026-03"}))
    assert [(r["invoices"], r["free_invoices"], r["currency"], r["fee"]) for r in rows] == [("3", "3", "", "0")]
    assert "Every invoice was free" in admin_client.get(FEE_REPORT, {"month": "2026-03"}).content.decode()


def test_the_report_is_reachable_from_the_header_and_the_account_list(admin_client, db):
    assert str(FEE_REPORT) in admin_client.get(reverse_lazy("admin:index")).content.decode()
    assert str(FEE_REPORT) in admin_client.get(reverse_lazy("admin:billing_account_changelist")).content.decode()


def test_the_report_speaks_german(admin_client, two_merchants):
    html = admin_client.get(FEE_REPORT, {"month": "2026-03"}, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Gebührenbericht" in html and "März 2026" in html and "1.234,50\xa0€" in html
