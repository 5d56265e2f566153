"""CSV exports for the back office: subscriptions as rows that spreadsheets open cleanly, streamed in chunks."""

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from itertools import islice

from django.db import connections
from django.db.models import F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from billing import money
from billing.models import Price, SubscriptionItem

HEADER = (
    "subscription_id",
    "customer_id",
    "customer_email",
    "customer_name",
    "status",
    "pause_collection_behavior",
    "pause_collection_resumes_at",
    "current_period_end",
    "price_ids",
    "amount",
    "currency",
    "created",
    # The cancellation offer ladder: the reason chosen in the survey and the offer types accepted / declined
    # (space-separated, in the order the customer answered them).
    "cancellation_feedback",
    "retention_offers_accepted",
    "retention_offers_declined",
)
DELIMITERS = {"comma": ",", "semicolon": ";"}
# Where cells are separated by ";", spreadsheets read "," as the decimal mark: amounts are written "149,00".
DECIMAL_COMMA_DELIMITER = ";"
# Spreadsheets read a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = frozenset(("=", "+", "-", "@", "\t", "\r"))
CHUNK_SIZE = 2_000
BUFFER_SIZE = 64 * 1024
BOM = "\ufeff"

_COLUMNS = (
    "id",
    "customer_id",
    "customer__email",
    "customer__name",
    "status",
    "pause_collection_behavior",
    "pause_collection_resumes_at",
    "current_period_end",
    "export_amount",
    "currency",
    "created",
    "cancellation_feedback",
    "retention",
)


def delimiter_named(name: str) -> str:
    """``"comma"`` -> ``","``, ``"semicolon"`` -> ``";"``; raises ``ValueError`` for anything else."""
    try:
        return DELIMITERS[name]
    except KeyError:
        raise ValueError(f"Unknown delimiter {name!r}: use one of {', '.join(DELIMITERS)}.") from None


def default_delimiter(language: str | None) -> str:
    """German, French, Spanish, Italian and Dutch spreadsheets read ``,`` as the decimal separator and expect ``;``
    between cells."""
    return ";" if (language or "").lower()[:2] in {"de", "fr", "es", "it", "nl"} else ","


def escape_cell(value: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula by prefixing ``'``."""
    return f"'{value}" if value[:1] in FORMULA_TRIGGERS else value


def iso_utc(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def major_units(amount: int | None, currency: str) -> str:
    """``1500, "eur"`` -> ``"15.00"``; ``500, "jpy"`` -> ``"500"``; ``1500, "kwd"`` -> ``"1.500"``."""
    return format(money.to_major(amount or 0, currency), "f")


def _amount_per_period() -> Coalesce:
    """The subscription's licensed items at list price for one period (before discounts and tax)."""
    items = (
        SubscriptionItem.objects.filter(subscription=OuterRef("pk"))
        .order_by()
        .values("subscription")
        .annotate(
            total=Sum(
                F("quantity") * F("price__unit_amount"),
                filter=Q(price__recurring_usage_type=Price.UsageType.LICENSED),
            )
        )
        .values("total")
    )
    return Coalesce(Subquery(items, output_field=IntegerField()), 0)


def _price_ids_subquery() -> Subquery:
    from django.contrib.postgres.aggregates import StringAgg

    items = (
        SubscriptionItem.objects.filter(subscription=OuterRef("pk"))
        .order_by()
        .values("subscription")
        .annotate(ids=StringAgg("price_id", delimiter=" ", order_by="id"))
        .values("ids")
    )
    return Subquery(items)


def _chunks(iterable: Iterable, size: int) -> Iterator[list]:
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _price_ids_for(subscription_ids: list[str], using: str) -> dict[str, str]:
    ids: dict[str, list[str]] = {}
    items = (
        SubscriptionItem.objects.using(using)
        .filter(subscription_id__in=subscription_ids)
        .order_by("subscription_id", "id")
        .values_list("subscription_id", "price_id")
    )
    for subscription_id, price_id in items:
        ids.setdefault(subscription_id, []).append(price_id)
    return {key: " ".join(value) for key, value in ids.items()}


def subscription_rows(queryset: QuerySet, *, chunk_size: int = CHUNK_SIZE) -> Iterator[tuple[str, ...]]:
    """The export's cells (``HEADER`` order) for every row of ``queryset``, in its order.

    One streamed query on PostgreSQL (price ids aggregated in a subquery); elsewhere one more query
    per chunk for the price ids. Memory stays constant in the number of rows."""
    queryset = queryset.annotate(export_amount=_amount_per_period())
    vendor = connections[queryset.db].vendor
    if vendor == "postgresql":
        rows = queryset.annotate(export_price_ids=_price_ids_subquery()).values_list(*_COLUMNS, "export_price_ids")
        for row in rows.iterator(chunk_size=chunk_size):
            yield _cells(row[:-1], row[-1] or "")
        return
    for chunk in _chunks(queryset.values_list(*_COLUMNS).iterator(chunk_size=chunk_size), chunk_size):
        price_ids = _price_ids_for([row[0] for row in chunk], queryset.db)
        for row in chunk:
            yield _cells(row, price_ids.get(row[0], ""))


def _cells(row: tuple, price_ids: str) -> tuple[str, ...]:
    (sub_id, customer_id, email, name, status, behavior, resumes_at, period_end, amount, currency, created) = row[:11]
    feedback, retention = row[11], row[12] or {}
    offers = retention.get("offers") or []
    return (
        sub_id,
        customer_id,
        email or "",
        name or "",
        status,
        behavior,
        iso_utc(resumes_at),
        iso_utc(period_end),
        price_ids,
        major_units(amount, currency),
        currency,
        iso_utc(created),
        feedback or "",
        " ".join(offer["type"] for offer in offers if offer.get("outcome") == "accepted"),
        " ".join(offer["type"] for offer in offers if offer.get("outcome") == "declined"),
    )


def csv_chunks(rows: Iterable[tuple[str, ...]], *, delimiter: str = ",") -> Iterator[str]:
    """The CSV text in pieces of about ``BUFFER_SIZE`` characters: a UTF-8 byte order mark (so Excel
    reads UTF-8), the header, then ``rows`` with every cell escaped against formula injection. With the ``;``
    delimiter the amount has a decimal comma ("149,00"), as the spreadsheets that expect ``;`` read it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    buffer.write(BOM)
    writer.writerow(HEADER)
    if delimiter == DECIMAL_COMMA_DELIMITER:
        rows = _with_decimal_comma(rows, HEADER.index("amount"))
    for row in rows:
        # escape_cell, inlined: this loop runs once per cell of the export.
        writer.writerow([f"'{cell}" if cell[:1] in FORMULA_TRIGGERS else cell for cell in row])
        if buffer.tell() >= BUFFER_SIZE:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _with_decimal_comma(rows: Iterable[tuple[str, ...]], column: int) -> Iterator[tuple[str, ...]]:
    for row in rows:
        yield (*row[:column], row[column].replace(".", ","), *row[column + 1 :])


def write_csv(rows: Iterable[tuple[str, ...]], out, *, delimiter: str = ",") -> int:
    """Write the CSV of ``rows`` to the text stream ``out``; returns the number of rows."""
    counted = 0

    def counting():
        nonlocal counted
        for row in rows:
            counted += 1
            yield row

    for chunk in csv_chunks(counting(), delimiter=delimiter):
        out.write(chunk)
    return counted
