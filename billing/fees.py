"""The hosting operator's monthly fee per account: free invoices, then a share of recurring and one-off volume.

Rules (DESIGN §10), per account and calendar month (UTC):

- Only live-mode invoices count, by the moment they were finalized (``finalized_at``). Finalizing is
  the event the fee is for, so an invoice voided or marked uncollectible later still counts, and a
  month's report never changes once the month is over.
- The first ``FEE_FREE_INVOICES_PER_MONTH`` invoices of the month, in the order they were finalized
  (ties broken by id), are free, whatever their currency or amount.
- Beyond them, an invoice's volume is its ``total`` when positive. A zero-total invoice (fully
  discounted, or a trial) and a negative one (a credit) move no money to the merchant, so their
  volume is 0; they still take a place in the count, because they were issued like any other.
- Recurring volume comes from subscription invoices (``billing_reason`` ``subscription_*``) and
  costs ``FEE_RECURRING_RATE``; everything else is one-off and costs ``FEE_ONE_OFF_RATE``.
- Volumes are kept per currency; each currency's fee is rounded half-up to its minor unit once
  (a zero-decimal currency such as JPY rounds to whole yen), never converted between currencies.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import BooleanField, Case, Count, F, Q, Sum, Value, When, Window
from django.db.models.functions import Greatest, RowNumber

from billing import money
from billing.models import Account, Invoice


@dataclass(frozen=True)
class CurrencyFees:
    """An account's billable volume and fee in one currency, in that currency's minor units."""

    currency: str
    recurring_volume: int
    one_off_volume: int
    fee: int


@dataclass(frozen=True)
class AccountFees:
    account: Account
    invoices: int
    free: int
    currencies: list[CurrencyFees] = field(default_factory=list)

    @property
    def billable(self) -> int:
        return self.invoices - self.free


@dataclass(frozen=True)
class FeeRates:
    free_invoices: int
    recurring: Decimal
    one_off: Decimal

    @classmethod
    def from_settings(cls) -> "FeeRates":
        return cls(
            free_invoices=int(settings.FEE_FREE_INVOICES_PER_MONTH),
            recurring=Decimal(str(settings.FEE_RECURRING_RATE)),
            one_off=Decimal(str(settings.FEE_ONE_OFF_RATE)),
        )

    @property
    def recurring_percent(self) -> Decimal:
        return self.recurring * 100

    @property
    def one_off_percent(self) -> Decimal:
        return self.one_off * 100

    def fee(self, *, recurring_volume: int, one_off_volume: int) -> int:
        return money.round_half_up(recurring_volume * self.recurring + one_off_volume * self.one_off)


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The calendar month containing ``month`` as a half-open UTC interval."""
    start = dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)
    end = dt.datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=dt.UTC)
    return start, end


def fee_report(*, month: dt.date, accounts: Iterable[Account] | None = None) -> list[AccountFees]:
    """Each account with live invoices finalized in ``month``, by account name; ``accounts=None`` means all.

    Two aggregate queries whatever the number of invoices: the count per account, and the billable
    volume per account, currency and kind over the invoices after each account's free ones.
    """
    rates = FeeRates.from_settings()
    start, end = month_bounds(month)
    invoices = Invoice.objects.filter(livemode=True, finalized_at__gte=start, finalized_at__lt=end)
    if accounts is not None:
        invoices = invoices.filter(account__in=accounts)

    counts = {
        row["account"]: row["invoices"]
        for row in invoices.order_by().values("account").annotate(invoices=Count("id")).values("account", "invoices")
    }
    if not counts:
        return []

    numbered = invoices.annotate(
        position=Window(RowNumber(), partition_by=[F("account")], order_by=[F("finalized_at").asc(), F("id").asc()])
    )
    beyond_free = numbered.filter(position__gt=rates.free_invoices).values("id")
    volumes = (
        Invoice.objects.filter(id__in=beyond_free)
        .annotate(
            recurring=Case(
                When(billing_reason__startswith="subscription", then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
        .order_by()
        .values("account", "currency")
        .annotate(
            recurring_volume=Sum(Greatest(F("total"), Value(0)), filter=Q(recurring=True), default=0),
            one_off_volume=Sum(Greatest(F("total"), Value(0)), filter=Q(recurring=False), default=0),
        )
        .values("account", "currency", "recurring_volume", "one_off_volume")
    )
    by_account: dict[str, list[CurrencyFees]] = {}
    for row in volumes:
        recurring, one_off = int(row["recurring_volume"]), int(row["one_off_volume"])
        by_account.setdefault(row["account"], []).append(
            CurrencyFees(
                currency=row["currency"],
                recurring_volume=recurring,
                one_off_volume=one_off,
                fee=rates.fee(recurring_volume=recurring, one_off_volume=one_off),
            )
        )

    return [
        AccountFees(
            account=account,
            invoices=counts[account.pk],
            free=min(counts[account.pk], rates.free_invoices),
            currencies=sorted(by_account.get(account.pk, []), key=lambda line: line.currency),
        )
        for account in Account.objects.filter(pk__in=counts).order_by("name", "id")
    ]
