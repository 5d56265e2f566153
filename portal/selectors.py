"""What the portal reads for one customer: every query here is scoped to that customer."""

import datetime as dt
import functools
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import BooleanField, Prefetch, Q, prefetch_related_objects
from django.db.models.expressions import RawSQL

from billing import clock, statements
from billing.exceptions import NotFound
from billing.models import (
    Coupon,
    Customer,
    Discount,
    Invoice,
    InvoiceItem,
    Meter,
    PaymentMethod,
    Price,
    PromotionCode,
    Subscription,
    SubscriptionItem,
    TaxId,
    TaxRate,
)
from billing.periods import period_end
from billing.prefetch import mark_prefetched, mark_prefetched_by, mark_prefetched_empty, related_exists
from billing.selectors import invoices_with_refunds
from billing.services.payment_methods import currencies_needing_payment_method, detach_blocked_reason
from billing.services.subscriptions import ItemSpec, scheduled_items, upcoming_invoice
from billing.services.subscriptions.usage import usage_so_far
from configurations.models import PortalConfiguration, PortalConfigurationProduct

INVOICE_PAGE_SIZE = 10
# What a row of the invoice list (portal/partials/invoice_rows.html) shows: only these columns are read.
INVOICE_ROW_FIELDS = ("id", "hosted_token", "finalized_at", "number", "total", "currency", "status")


@dataclass
class SubscriptionRow:
    subscription: Subscription
    items: list[SubscriptionItem]
    next_invoice_at: dt.datetime | None = None
    next_invoice_amount: int | None = None
    # While payment collection is paused: the next invoice, which the pause keeps from being charged, and the
    # first renewal once payments resume (None: the pause has no end date).
    paused_invoice_at: dt.datetime | None = None
    resumed_invoice_at: dt.datetime | None = None
    badges: list[str] = field(default_factory=list)
    # Why the portal may not change the plan (a Subscription.portal_update_blocker code), "" when it may.
    update_blocker: str = ""
    # What the plan changes to at the end of the period, when a change waits for it.
    scheduled_items: list[ItemSpec] | None = None

    @property
    def title(self) -> str:
        return ", ".join(item.price.product.name for item in self.items)

    @property
    def scheduled_title(self) -> str:
        return ", ".join(spec.price.product.name for spec in self.scheduled_items or ())


@dataclass
class PaymentMethodRow:
    payment_method: PaymentMethod
    is_default: bool
    removal_blocked: str  # why the keep-one rule forbids removing it, or ""


@dataclass
class MeteredUsage:
    """A metered item's usage in the current period so far: units, what they amount to, and the meter's name."""

    quantity: int
    amount: int
    name: str


def metered_usage(subscription: Subscription) -> dict[str, MeteredUsage]:
    """The usage so far of each of the subscription's metered items (with a meter), by item id: one query for the
    usage, one for the meters' names; none when the subscription has no such item."""
    so_far = usage_so_far(subscription)
    if not so_far:
        return {}
    meter_ids = {item.price.meter_id for item in subscription.items.all() if item.pk in so_far}
    names = dict(Meter.objects.filter(pk__in=meter_ids).values_list("pk", "display_name"))
    return {
        item.pk: MeteredUsage(*so_far[item.pk], names.get(item.price.meter_id, ""))
        for item in subscription.items.all()
        if item.pk in so_far
    }


@dataclass
class InvoicePage:
    invoices: list[Invoice]
    next_after: str | None  # the cursor of the next (older) page, if there is one
    newer_before: str | None = None  # the cursor of the previous (newer) page, if there is one


def subscriptions(customer: Customer, configuration: PortalConfiguration | None = None) -> list[SubscriptionRow]:
    """The customer's subscriptions that have not ended, with what their next invoice will be and, given the
    portal configuration, whether their plan may be changed."""
    if configuration is not None:
        plan_catalog(configuration)
    # One query for the subscriptions, which also tells which of the relations the next-invoice preview reads are
    # empty for all of them (often: no tax rates, discounts or pending items), so those are not asked for.
    loaded = statements.rows_where(
        Subscription,
        "customer",
        [customer.pk],
        ("created", "id"),
        related=("default_payment_method",),
        flags=tuple(_preview_probes().items()),
        excluding=(("status", tuple(Subscription.ENDED_STATUSES)),),
    )
    _read_preview_relations(loaded)
    rows = []
    for subscription in loaded:
        row = SubscriptionRow(subscription, list(subscription.items.all()))
        usage = metered_usage(subscription)
        for item in row.items:
            item.usage_so_far = usage.get(item.pk)
        if not subscription.cancel_at_period_end and subscription.cancel_at is None:
            row.next_invoice_at, _lines, totals = upcoming_invoice(subscription)
            row.next_invoice_amount = totals.total
            _during_pause(row)
        if configuration is not None:
            row.update_blocker = subscription.portal_update_blocker(configuration)
        if subscription.scheduled_change:
            row.scheduled_items = scheduled_items(subscription)
        rows.append(row)
    return rows


PREVIEW_PROBES = ("has_item_tax_rates", "has_default_tax_rates", "has_discounts", "has_pending_items")


@functools.cache
def _preview_probes() -> dict[str, RawSQL]:
    """An EXISTS per relation, over the tables the ORM names for them (``related_exists`` where the link is one
    column). Written out once per process: the same four as ``Exists(…filter(subscription=OuterRef("pk")))`` cost
    the page about a millisecond to resolve and compile on every request, as much as the rest of its query."""
    qn = connection.ops.quote_name
    outer = f"{qn(Subscription._meta.db_table)}.{qn(Subscription._meta.pk.column)}"

    def column(model, name: str) -> str:
        return f"{qn(model._meta.db_table)}.{qn(model._meta.get_field(name).column)}"

    def exists(model, link: str, *, join: str = "", where: str = "") -> RawSQL:
        # Only table and column names from the models, quoted: nothing here comes from a request.
        sql = f"EXISTS (SELECT 1 FROM {qn(model._meta.db_table)}{join} WHERE {link} = {outer}{where})"  # noqa: S608
        return RawSQL(sql, (), output_field=BooleanField())  # noqa: S611

    item_rates = SubscriptionItem.tax_rates.through
    item = item_rates._meta.get_field("subscriptionitem")
    return {
        "has_item_tax_rates": exists(
            item_rates,
            column(SubscriptionItem, "subscription"),
            join=f" INNER JOIN {qn(SubscriptionItem._meta.db_table)} ON "
            f"{column(SubscriptionItem, 'id')} = {qn(item_rates._meta.db_table)}.{qn(item.column)}",
        ),
        "has_default_tax_rates": related_exists(Subscription.default_tax_rates.through, "subscription", Subscription),
        "has_discounts": related_exists(Discount, "subscription", Subscription),
        "has_pending_items": exists(
            InvoiceItem, column(InvoiceItem, "subscription"), where=f" AND {column(InvoiceItem, 'invoice')} IS NULL"
        ),
    }


def _read_preview_relations(loaded: list[Subscription]) -> None:
    """What the next-invoice preview reads, fetched once for all the subscriptions (annotated with
    ``_preview_probes``): a relation that is empty for every one of them is marked empty instead of read."""
    if not loaded:
        return
    wanted = {probe: any(getattr(subscription, probe) for subscription in loaded) for probe in PREVIEW_PROBES}
    items = statements.rows_where(
        SubscriptionItem, "subscription", [sub.pk for sub in loaded], ("id",), related=("price", "price__product")
    )
    mark_prefetched_by(loaded, "items", SubscriptionItem, items, "subscription_id")
    if wanted["has_item_tax_rates"]:
        prefetch_related_objects(items, "tax_rates")
    lookups = []
    if wanted["has_default_tax_rates"]:
        lookups.append("default_tax_rates")
    if wanted["has_discounts"]:
        lookups.append(Prefetch("discounts", queryset=Discount.objects.select_related("coupon")))
    if wanted["has_pending_items"]:
        pending = InvoiceItem.objects.filter(invoice__isnull=True).select_related("price", "tax_rate")
        lookups.append(Prefetch("invoice_items", queryset=pending, to_attr="pending_items"))
    if lookups:
        prefetch_related_objects(loaded, *lookups)
    for subscription in loaded:
        if not wanted["has_item_tax_rates"]:
            for item in subscription.items.all():
                mark_prefetched_empty(item, "tax_rates", TaxRate)
        if not wanted["has_default_tax_rates"]:
            mark_prefetched_empty(subscription, "default_tax_rates", TaxRate)
        if not wanted["has_discounts"]:
            mark_prefetched_empty(subscription, "discounts", Discount)
        if not wanted["has_pending_items"]:
            subscription.pending_items = []


def _during_pause(row: SubscriptionRow) -> None:
    """A renewal that falls inside a pause of payment collection is not charged: show it as such, and when the
    first renewal after the pause is due (counted in the current interval from the billing cycle anchor)."""
    subscription = row.subscription
    resumes_at = subscription.pause_collection_resumes_at
    if not subscription.pause_collection_behavior or row.next_invoice_at is None:
        return
    if resumes_at is not None and row.next_invoice_at >= resumes_at:
        return
    row.paused_invoice_at, row.next_invoice_at = row.next_invoice_at, None
    if resumes_at is None:
        return
    interval, count = subscription.interval()
    n = subscription.period_index + 1
    while (
        renewal := period_end(
            subscription.billing_cycle_anchor, interval, count, n, day_of_month=subscription.anchor_day
        )
    ) < resumes_at:
        n += 1
    row.resumed_invoice_at = renewal


def plan_catalog(configuration: PortalConfiguration) -> PortalConfiguration:
    """Loads what plan changes may choose from, the configuration's products with their prices, once per request:
    one query, over the links between the entries and their prices (an entry lists at least one price), marked
    as prefetched as ``prefetch_related("products__prices")`` would (entries by position, prices cheapest first)."""
    if "products" in getattr(configuration, "_prefetched_objects_cache", {}):
        return configuration
    links = statements.rows_where(
        PortalConfigurationProduct.prices.through,
        "portalconfigurationproduct__configuration",
        [configuration.pk],
        (),
        related=("portalconfigurationproduct", "price", "price__product"),
    )
    entries: dict[int, PortalConfigurationProduct] = {}
    prices: dict[int, list[Price]] = {}
    for link in links:
        entry = entries.setdefault(link.portalconfigurationproduct_id, link.portalconfigurationproduct)
        prices.setdefault(entry.pk, []).append(link.price)
    # Sorted here rather than by the query (entries as their Meta orders them, prices cheapest first, no amount last,
    # then by id): an ORDER BY over the joined tables costs more to build than these few rows take to sort.
    entries = dict(sorted(entries.items(), key=lambda pair: (pair[1].position, pair[0])))
    for rows in prices.values():
        rows.sort(key=lambda price: (price.unit_amount is None, price.unit_amount or 0, price.id))
    for entry in entries.values():
        PortalConfigurationProduct.configuration.field.set_cached_value(entry, configuration)
        first = prices[entry.pk][0]
        if first.product_id == entry.product_id:  # as validation wants it: an entry's prices are its product's
            PortalConfigurationProduct.product.field.set_cached_value(entry, first.product)
        mark_prefetched(entry, "prices", Price, prices[entry.pk])
    mark_prefetched(configuration, "products", PortalConfigurationProduct, list(entries.values()))
    return configuration


def payment_methods(
    customer: Customer, *, subscription_rows: list[SubscriptionRow] | None = None
) -> list[PaymentMethodRow]:
    """Newest first, each with whether the keep-one rule forbids removing it.

    ``subscription_rows``: the customer's subscriptions as ``subscriptions()`` just read them (every one that has
    not ended), which tell the currencies the rule keeps a method for without asking the database again."""
    methods = statements.rows_where(PaymentMethod, "customer", [customer.pk], ("-created", "-id"))
    loaded = None if subscription_rows is None else [row.subscription for row in subscription_rows]
    currencies = currencies_needing_payment_method(customer, loaded=loaded)
    rows = []
    for method in methods:
        remaining = [other for other in methods if other.pk != method.pk]
        rows.append(
            PaymentMethodRow(
                method,
                method.pk == customer.default_payment_method_id,
                detach_blocked_reason(method, remaining, currencies),
            )
        )
    rows.sort(key=lambda row: not row.is_default)  # the default first, the rest newest first
    return rows


def tax_ids(customer: Customer) -> list[TaxId]:
    """The customer's tax ids, oldest first."""
    return statements.rows_where(TaxId, "customer", [customer.pk], ("id",))


def invoices(
    customer: Customer, *, after: str | None = None, before: str | None = None, limit: int = INVOICE_PAGE_SIZE
) -> InvoicePage:
    """Finalized invoices, newest first, ``limit`` at a time: older than the cursor ``after`` or newer than the
    cursor ``before`` (invoice ids, which order by creation), each with what of it was refunded, and only the
    columns a row of the list shows (``INVOICE_ROW_FIELDS``). Two queries whatever the page."""
    queryset = invoices_with_refunds(Invoice.objects.finalized().filter(customer=customer).only(*INVOICE_ROW_FIELDS))
    if before and not after:
        newer = list(queryset.filter(id__gt=before).order_by("id")[: limit + 1])
        page = newer[:limit][::-1]
        if page:
            has_older = queryset.filter(id__lt=page[-1].id).exists()
            return InvoicePage(page, page[-1].id if has_older else None, page[0].id if len(newer) > limit else None)
        # nothing newer than the cursor: the newest page
    older = queryset.order_by("-id")
    if after:
        older = older.filter(id__lt=after)
    page = list(older[: limit + 1])
    has_more = len(page) > limit
    page = page[:limit]
    if after and not page:
        return invoices(customer, limit=limit)  # a cursor past the end: the newest page
    has_newer = bool(after) and queryset.filter(id__gt=page[0].id).exists()
    return InvoicePage(page, page[-1].id if has_more and page else None, page[0].id if has_newer else None)


def finalized_invoice(customer: Customer, invoice_id: str) -> Invoice:
    """One of the customer's finalized invoices with its lines; someone else's, a draft or a missing one raise
    NotFound alike."""
    queryset = (
        Invoice.objects.finalized()
        .filter(customer=customer)
        .select_related("customer")
        .prefetch_related("lines__price__product")
    )
    try:
        return queryset.get(pk=invoice_id)
    except Invoice.DoesNotExist:
        raise NotFound("No such invoice.")


def methods_to_pay(invoice: Invoice) -> list[PaymentMethod]:
    """The customer's saved methods that may pay the invoice (its currency: SEPA Direct Debit only euros; the types
    its subscription's payment_settings allow), the default first, the rest newest first. One query (and the
    subscription's, when the invoice has one)."""
    methods = PaymentMethod.objects.filter(customer_id=invoice.customer_id).order_by("-created", "-id")
    default = invoice.customer.default_payment_method_id
    payable = [method for method in methods if invoice.can_be_paid_with(method)]
    return sorted(payable, key=lambda method: method.pk != default)


def _promotion_codes(customer: Customer):
    """Active, unexpired promotion codes of the customer's account that this customer may use."""
    return PromotionCode.objects.filter(
        Q(customer__isnull=True) | Q(customer=customer),
        Q(expires_at__isnull=True) | Q(expires_at__gt=clock.now()),
        account_id=customer.account_id,
        livemode=customer.livemode,
        active=True,
    )


def promotion_codes_offered(customer: Customer) -> bool:
    return _promotion_codes(customer).exists()


def promotion_code_for_customer(customer: Customer, code: str) -> PromotionCode | None:
    """The promotion code a customer typed (codes are not case-sensitive), or None."""
    return _promotion_codes(customer).filter(code__iexact=code.strip()).select_related("coupon").first()


def flow_discount(
    customer: Customer, *, coupon_id: str | None, promotion_code_id: str | None
) -> tuple[Coupon | None, PromotionCode | None]:
    """The coupon or promotion code a subscription_update_confirm link carries, from the customer's account."""
    tenant = {"account_id": customer.account_id, "livemode": customer.livemode}
    coupon = Coupon.objects.filter(coupon_id=coupon_id, **tenant).first() if coupon_id else None
    promotion = PromotionCode.objects.filter(pk=promotion_code_id, **tenant).first() if promotion_code_id else None
    return coupon, promotion


def subscription_start_offered(configuration: PortalConfiguration) -> bool:
    """Whether the configuration's Checkout link for new subscriptions (an extension) is there and active."""
    if not configuration.subscription_start_link_id:
        return False
    link = configuration.subscription_start_link
    return link.active and (link.account_id, link.livemode) == (configuration.account_id, configuration.livemode)
