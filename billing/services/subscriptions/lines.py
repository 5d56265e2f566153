"""What a subscription bills: item specs, the lines of a period, prorations, pending invoice items, discounts in
effect, the change scheduled for the period end and the next renewal invoice as it stands."""

import datetime as dt
from dataclasses import dataclass, field

from django.utils import formats

from billing import money, pricing
from billing.exceptions import InvalidRequest
from billing.models import Coupon, Customer, Discount, InvoiceItem, Price, Subscription, SubscriptionItem, TaxRate
from billing.periods import period_end
from billing.services.common import same_tenant
from billing.services.invoices import LineSpec, compute

MAX_ITEMS = 20
# Approximate lengths, only to tell which of two billing intervals is shorter.
INTERVAL_DAYS = {"day": 1, "week": 7, "month": 30.44, "year": 365.25}


@dataclass
class ItemSpec:
    price: Price
    quantity: int = 1
    tax_rates: list[TaxRate] = field(default_factory=list)


@dataclass
class ItemChange:
    """Change one item (``item`` set), add one (``item`` None) or delete one (``deleted``)."""

    item: SubscriptionItem | None = None
    price: Price | None = None
    quantity: int | None = None
    deleted: bool = False
    # The item's own details (None: unchanged): metadata merged as Stripe merges it, tax rates replaced.
    metadata: dict | str | None = None
    tax_rates: list[TaxRate] | None = None


def describe_item(price: Price, quantity: int) -> str:
    amount = money.format_amount(price.unit_amount or 0, price.currency)
    every = (
        price.recurring_interval
        if price.recurring_interval_count == 1
        else (f"{price.recurring_interval_count} {price.recurring_interval}s")
    )
    return f"{quantity} × {price.product.name} (at {amount} / {every})"


def _date(moment: dt.datetime) -> str:
    return formats.date_format(moment, "M j, Y")


def tax_rate_for(item_rates, default_rates) -> TaxRate | None:
    rates = list(item_rates) or list(default_rates)
    return rates[0] if rates else None


def item_amount(price: Price, quantity: int) -> int:
    return 0 if price.is_metered else (price.unit_amount or 0) * quantity


def interval_days(interval: tuple[str, int]) -> float:
    return INTERVAL_DAYS.get(interval[0], 30.44) * interval[1]


def validate_items(customer: Customer, specs: list[ItemSpec], *, currency: str | None = None) -> tuple[str, str, int]:
    """The currency and interval every item shares; refuses what Stripe refuses, naming the item's parameter."""
    if not specs:
        raise InvalidRequest("Missing required param: items.", param="items", code="parameter_missing")
    if len(specs) > MAX_ITEMS:
        raise InvalidRequest(f"A subscription can have at most {MAX_ITEMS} items.", param="items")
    seen = set()
    shape = None
    for i, spec in enumerate(specs):
        _validate_item(customer, spec, i, seen)
        this = (spec.price.currency, spec.price.recurring_interval, spec.price.recurring_interval_count)
        param = f"items[{i}][price]"
        if shape is None:
            shape = this
        elif this[0] != shape[0]:
            raise InvalidRequest("All prices on a subscription must have the same currency.", param=param)
        elif this[1:] != shape[1:]:
            raise InvalidRequest(
                "All prices on a subscription must have the same `recurring[interval]` and "
                "`recurring[interval_count]`.",
                param=param,
            )
    if currency and shape[0] != currency:
        raise InvalidRequest(
            f"The price's currency ({shape[0]}) does not match the subscription's currency ({currency}).",
            param="items[0][price]",
        )
    return shape


def _validate_item(customer: Customer, spec: ItemSpec, i: int, seen: set) -> None:
    param = f"items[{i}][price]"
    same_tenant(customer, spec.price)
    if not spec.price.active:
        raise InvalidRequest(f"The price specified is inactive: {spec.price.id}.", param=param)
    if not spec.price.is_recurring:
        raise InvalidRequest(
            "The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.",
            param=param,
        )
    if spec.price.id in seen:
        raise InvalidRequest("Cannot add multiple subscription items with the same price.", param=param)
    seen.add(spec.price.id)
    if spec.quantity is None or int(spec.quantity) < (0 if spec.price.is_metered else 1):
        raise InvalidRequest("Invalid quantity: must be a positive integer.", param=f"items[{i}][quantity]")
    for rate in spec.tax_rates:
        same_tenant(customer, rate)


def active_discounts(subscription: Subscription, moment: dt.datetime) -> list[Discount]:
    discounts = subscription.discounts.all()
    if "discounts" not in getattr(subscription, "_prefetched_objects_cache", {}):
        discounts = discounts.select_related("coupon")
    return [d for d in discounts if d.applies_at(moment)]


def spend_once_discounts(discounts: list[Discount]) -> None:
    once = [d for d in discounts if d.coupon.duration == Coupon.Duration.ONCE]
    if once:
        Discount.objects.filter(pk__in=[d.pk for d in once]).update(used=True)
        for discount in once:
            discount.used = True


Planned = tuple[SubscriptionItem | None, Price, int]  # (the item, or None for an item to add), price, quantity


def current_plan(subscription: Subscription) -> list[Planned]:
    items = subscription.items.all()
    if "items" not in getattr(subscription, "_prefetched_objects_cache", {}):
        items = items.select_related("price__product").prefetch_related("tax_rates")
    return [(item, item.price, item.quantity) for item in items]


def period_lines(
    subscription: Subscription,
    start: dt.datetime,
    end: dt.datetime,
    *,
    trial: bool,
    plan: list[Planned] | None = None,
) -> list[LineSpec]:
    """The lines billing a period for the subscription's items (or for ``plan``, the items it will have)."""
    defaults = list(subscription.default_tax_rates.all())
    lines = []
    for item, price, quantity in current_plan(subscription) if plan is None else plan:
        if price.meter_id:
            continue  # billed in arrears (``usage.usage_lines``)
        amount = 0 if trial else item_amount(price, quantity)
        description = f"Trial period for {price.product.name}" if trial else describe_item(price, quantity)
        lines.append(
            LineSpec(
                description=description,
                amount=amount,
                quantity=quantity,
                period_start=start,
                period_end=end,
                price=price,
                subscription_item=item,
                tax_rate=tax_rate_for(item.tax_rates.all() if item is not None else [], defaults),
            )
        )
    return lines


def scheduled_plan(subscription: Subscription) -> list[Planned] | None:
    """The items the subscription will have once its scheduled change applies (None: nothing is scheduled)."""
    stored = (subscription.scheduled_change or {}).get("items")
    if not stored:
        return None
    price_ids = [change["price"] for change in stored if change.get("price")]
    prices = {price.pk: price for price in Price.objects.filter(pk__in=price_ids).select_related("product")}
    plan = current_plan(subscription)
    for change in stored:
        price = prices.get(change.get("price"))
        position = next(
            (i for i, row in enumerate(plan) if row[0] is not None and row[0].pk == change.get("item")), None
        )
        if change.get("item") and position is None:
            continue  # the item is gone since: nothing left to change
        if position is None:
            if price is not None:
                plan.append((None, price, change.get("quantity") or 1))
        elif change.get("deleted"):
            plan.pop(position)
        else:
            item, old_price, old_quantity = plan[position]
            quantity = change.get("quantity")
            plan[position] = (item, price or old_price, old_quantity if quantity is None else quantity)
    return plan


def scheduled_items(subscription: Subscription) -> list[ItemSpec] | None:
    """What the subscription changes to at the end of its period, or None when no change is scheduled."""
    plan = scheduled_plan(subscription)
    return None if plan is None else [ItemSpec(price, quantity) for _item, price, quantity in plan]


def proration_line(
    label: str, price: Price, quantity: int, amount: int, at: dt.datetime, end: dt.datetime, rate: TaxRate | None
) -> LineSpec:
    """A credit ("Unused time on …") or charge ("Remaining time on …") for the rest of the period."""
    return LineSpec(
        description=f"{label} {describe_item(price, quantity)} after {_date(at)}",
        amount=amount,
        quantity=quantity,
        period_start=at,
        period_end=end,
        price=price,
        proration=True,
        tax_rate=rate,
        type="invoiceitem",
    )


def save_pending(subscription: Subscription, line: LineSpec) -> InvoiceItem:
    """Keep a proration for the subscription's next invoice."""
    return InvoiceItem.objects.create(
        account_id=subscription.account_id,
        livemode=subscription.livemode,
        customer_id=subscription.customer_id,
        test_clock_id=subscription.test_clock_id,
        subscription=subscription,
        price=line.price,
        description=line.description,
        amount=line.amount,
        currency=subscription.currency,
        quantity=line.quantity,
        proration=True,
        tax_rate=line.tax_rate,
        period_start=line.period_start,
        period_end=line.period_end,
    )


def pending_items_query(subscription_ids):
    return InvoiceItem.objects.filter(subscription_id__in=subscription_ids, invoice__isnull=True).select_related(
        "price", "tax_rate"
    )


def pending_lines(subscription: Subscription) -> list[LineSpec]:
    """The subscription's pending invoice items as lines. They change only under the subscription's lock, which
    the caller holds (a renewal batch may have read them before taking it, see ``renew``)."""
    items = getattr(subscription, "pending_items", None)
    if items is None:
        items = list(pending_items_query([subscription.pk]))
    return item_lines(items)


def customer_items_query(customer_id: str, currency: str):
    """The customer's pending invoice items that name no subscription: the next invoice made for the customer (a
    renewal, or one made by hand) picks them up."""
    return InvoiceItem.objects.filter(
        customer_id=customer_id, subscription__isnull=True, invoice__isnull=True, currency=currency
    ).select_related("price", "tax_rate")


def customer_lines(subscription: Subscription) -> list[LineSpec]:
    """The customer's own pending items (see ``customer_items_query``) as lines of the subscription's invoice. The
    caller holds the customer's lock; a renewal that found none when it claimed the rows has set ``customer_items``."""
    items = getattr(subscription, "customer_items", None)
    if items is None:
        items = list(customer_items_query(subscription.customer_id, subscription.currency))
    return item_lines(items)


def item_lines(items) -> list[LineSpec]:
    return [
        LineSpec(
            description=ii.description,
            amount=ii.amount,
            quantity=ii.quantity,
            period_start=ii.period_start,
            period_end=ii.period_end,
            price=ii.price,
            invoice_item=ii,
            proration=ii.proration,
            tax_rate=ii.tax_rate,
            type="invoiceitem",
            discountable=ii.discountable,
        )
        for ii in items
    ]


def upcoming_invoice(subscription: Subscription) -> tuple[dt.datetime, list[LineSpec], pricing.Totals]:
    """The next renewal invoice as it stands now (no writes), with a scheduled change already applied and the usage
    of the current period so far."""
    start = subscription.current_period_end
    interval, count = subscription.interval()
    plan = scheduled_plan(subscription)
    new_interval = (plan[0][1].recurring_interval, plan[0][1].recurring_interval_count) if plan else None
    if new_interval is not None and new_interval != (interval, count):
        end = period_end(start, new_interval[0], new_interval[1], 1)  # the new interval starts a new cycle
    else:
        end = period_end(
            subscription.billing_cycle_anchor,
            interval,
            count,
            subscription.period_index + 1,
            day_of_month=subscription.anchor_day,
        )
    from billing.services.subscriptions.usage import usage_lines  # usage builds on this module

    lines = period_lines(subscription, start, end, trial=False, plan=plan) + pending_lines(subscription)
    lines += usage_lines(subscription, subscription.current_period_start, start)
    coupons = [d.coupon for d in active_discounts(subscription, start)]
    return start, lines, compute(lines, coupons)
