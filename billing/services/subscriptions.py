"""Subscription services: create, change items with prorations, cancel and undo, pause collection,
and advancing a subscription through time (renewals, trial ends, scheduled cancellations)."""

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils import formats

from billing import audit, clock, money, pricing
from billing.audit import SYSTEM, Actor
from billing.exceptions import CardDeclined, InvalidRequest, PaymentMethodRequired, StateConflict
from billing.models import (
    Coupon,
    Customer,
    Discount,
    Invoice,
    InvoiceItem,
    PaymentMethod,
    Price,
    PromotionCode,
    Subscription,
    SubscriptionItem,
    TaxRate,
)
from billing.periods import add_months, period_end
from billing.services.common import emit, lock, render, same_tenant, validate_metadata
from billing.services.invoices import (
    LineSpec,
    attempt_payment_locked,
    compute,
    finalize_locked,
    invoice_create_draft,
    restore_applied_balance,
)

MAX_ITEMS = 20
RENEWAL_PREFETCH = ("items__price__product", "items__tax_rates", "default_tax_rates", "discounts__coupon")
MAX_CATCH_UP_PERIODS = 400
PRORATION_BEHAVIORS = ("create_prorations", "always_invoice", "none")
# Changes that wait for the end of the period when a caller (the portal's configuration) asks for it.
SCHEDULE_CONDITIONS = ("decreasing_item_amount", "shortening_interval")
PAYMENT_BEHAVIORS = ("allow_incomplete", "error_if_incomplete")
BILLING_CYCLE_ANCHORS = ("unchanged", "now")
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


@dataclass
class PreviewLine:
    """One line of a previewed invoice. ``description`` is the engine's English text; the structured fields let a
    page word the line in the reader's language."""

    description: str
    amount: int
    proration: bool
    price: Price | None = None
    quantity: int | None = None
    period_start: dt.datetime | None = None
    period_end: dt.datetime | None = None
    kind: str = ""  # "item", "unused" (proration credit), "remaining" (proration charge), "custom"


@dataclass
class ChangePreview:
    """What a change costs: due now (when invoiced now) and the next renewal invoice."""

    currency: str
    due_now: int
    due_now_lines: list[PreviewLine]
    proration_lines: list[PreviewLine]
    next_invoice_at: dt.datetime | None
    next_invoice_total: int
    next_invoice_lines: list[PreviewLine]
    # The invoice issued now (none: nothing is invoiced now): before discounts, the discount, and its total (a
    # negative total is credited to the customer's balance). ``due_now`` is what is charged after the balance.
    invoiced_now: bool = False
    due_now_subtotal: int = 0
    due_now_discount: int = 0
    due_now_total: int = 0
    next_invoice_subtotal: int = 0
    next_invoice_discount: int = 0
    # Set when the change waits for the end of the current period instead of applying now.
    scheduled_at: dt.datetime | None = None
    trial_ended: bool = False

    @property
    def due_now_tax(self) -> int:
        """Tax added on top of the prices now (tax included in a price is already in the subtotal)."""
        return self.due_now_total - self.due_now_subtotal + self.due_now_discount

    @property
    def due_now_credit(self) -> int:
        """What a negative invoice now credits to the customer's balance."""
        return max(-self.due_now_total, 0)

    @property
    def balance_applied(self) -> int:
        """The part of the invoice now that the customer's credit balance pays."""
        return max(self.due_now_total, 0) - self.due_now


class _DryRun(Exception):
    def __init__(self, preview: ChangePreview):
        self.preview = preview


# ---------------------------------------------------------------------------------------------- helpers


def _describe_item(price: Price, quantity: int) -> str:
    amount = money.format_amount(price.unit_amount or 0, price.currency)
    every = (
        price.recurring_interval
        if price.recurring_interval_count == 1
        else (f"{price.recurring_interval_count} {price.recurring_interval}s")
    )
    return f"{quantity} × {price.product.name} (at {amount} / {every})"


def _date(moment: dt.datetime) -> str:
    return formats.date_format(moment, "M j, Y")


def _tax_rate(item_rates, default_rates) -> TaxRate | None:
    rates = list(item_rates) or list(default_rates)
    return rates[0] if rates else None


def _item_amount(price: Price, quantity: int) -> int:
    return 0 if price.is_metered else (price.unit_amount or 0) * quantity


def _validate_items(customer: Customer, specs: list[ItemSpec], *, currency: str | None = None) -> tuple[str, str, int]:
    if not specs:
        raise InvalidRequest("Missing required param: items.", param="items", code="parameter_missing")
    if len(specs) > MAX_ITEMS:
        raise InvalidRequest(f"A subscription can have at most {MAX_ITEMS} items.", param="items")
    seen = set()
    shape = None
    for i, spec in enumerate(specs):
        param = f"items[{i}][price]"
        same_tenant(customer, spec.price)
        if not spec.price.active:
            raise InvalidRequest(f"The price specified is inactive: {spec.price.id}.", param=param)
        if not spec.price.is_recurring:
            raise InvalidRequest(
                "The price specified is set to `type=one_time` but this field only accepts prices with "
                "`type=recurring`.",
                param=param,
            )
        if spec.price.id in seen:
            raise InvalidRequest("Cannot add multiple subscription items with the same price.", param=param)
        seen.add(spec.price.id)
        if spec.quantity is None or int(spec.quantity) < (0 if spec.price.is_metered else 1):
            raise InvalidRequest("Invalid quantity: must be a positive integer.", param=f"items[{i}][quantity]")
        this = (spec.price.currency, spec.price.recurring_interval, spec.price.recurring_interval_count)
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
        for rate in spec.tax_rates:
            same_tenant(customer, rate)
    if currency and shape[0] != currency:
        raise InvalidRequest(
            f"The price's currency ({shape[0]}) does not match the subscription's currency ({currency}).",
            param="items[0][price]",
        )
    return shape


def _active_discounts(subscription: Subscription, moment: dt.datetime) -> list[Discount]:
    discounts = subscription.discounts.all()
    if "discounts" not in getattr(subscription, "_prefetched_objects_cache", {}):
        discounts = discounts.select_related("coupon")
    return [d for d in discounts if d.applies_at(moment)]


def _spend_once_discounts(discounts: list[Discount]) -> None:
    once = [d for d in discounts if d.coupon.duration == Coupon.Duration.ONCE]
    if once:
        Discount.objects.filter(pk__in=[d.pk for d in once]).update(used=True)
        for discount in once:
            discount.used = True


_Planned = tuple[SubscriptionItem | None, Price, int]  # (the item, or None for an item to add), price, quantity


def _current_plan(subscription: Subscription) -> list[_Planned]:
    items = subscription.items.all()
    if "items" not in getattr(subscription, "_prefetched_objects_cache", {}):
        items = items.select_related("price__product").prefetch_related("tax_rates")
    return [(item, item.price, item.quantity) for item in items]


def _period_lines(
    subscription: Subscription,
    start: dt.datetime,
    end: dt.datetime,
    *,
    trial: bool,
    plan: list[_Planned] | None = None,
) -> list[LineSpec]:
    """The lines billing a period for the subscription's items (or for ``plan``, the items it will have)."""
    defaults = list(subscription.default_tax_rates.all())
    lines = []
    for item, price, quantity in _current_plan(subscription) if plan is None else plan:
        amount = 0 if trial else _item_amount(price, quantity)
        description = f"Trial period for {price.product.name}" if trial else _describe_item(price, quantity)
        lines.append(
            LineSpec(
                description=description,
                amount=amount,
                quantity=quantity,
                period_start=start,
                period_end=end,
                price=price,
                subscription_item=item,
                tax_rate=_tax_rate(item.tax_rates.all() if item is not None else [], defaults),
            )
        )
    return lines


def _scheduled_plan(subscription: Subscription) -> list[_Planned] | None:
    """The items the subscription will have once its scheduled change applies (None: nothing is scheduled)."""
    stored = (subscription.scheduled_change or {}).get("items")
    if not stored:
        return None
    price_ids = [change["price"] for change in stored if change.get("price")]
    prices = {price.pk: price for price in Price.objects.filter(pk__in=price_ids).select_related("product")}
    plan = _current_plan(subscription)
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
    plan = _scheduled_plan(subscription)
    return None if plan is None else [ItemSpec(price, quantity) for _item, price, quantity in plan]


def _proration_line(
    label: str, price: Price, quantity: int, amount: int, at: dt.datetime, end: dt.datetime, rate: TaxRate | None
) -> LineSpec:
    """A credit ("Unused time on …") or charge ("Remaining time on …") for the rest of the period."""
    return LineSpec(
        description=f"{label} {_describe_item(price, quantity)} after {_date(at)}",
        amount=amount,
        quantity=quantity,
        period_start=at,
        period_end=end,
        price=price,
        proration=True,
        tax_rate=rate,
        type="invoiceitem",
    )


def _save_pending(subscription: Subscription, line: LineSpec) -> InvoiceItem:
    """Keep a proration for the subscription's next invoice."""
    return InvoiceItem.objects.create(
        account_id=subscription.account_id,
        livemode=subscription.livemode,
        customer_id=subscription.customer_id,
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


def _pending_lines(subscription: Subscription, *, for_update: bool = True) -> list[LineSpec]:
    items = InvoiceItem.objects.filter(subscription=subscription, invoice__isnull=True).select_related(
        "price", "tax_rate"
    )
    if for_update:
        items = items.select_for_update(of=("self",))
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
        )
        for ii in items
    ]


def _resolve_discount(
    customer: Customer, currency: str, coupon: Coupon | None, promotion_code: PromotionCode | None
) -> tuple[Coupon | None, PromotionCode | None]:
    now = clock.now()
    if promotion_code is not None:
        same_tenant(customer, promotion_code)
        promo = PromotionCode.objects.select_for_update(no_key=True).get(pk=promotion_code.pk)
        if not promo.active or (promo.expires_at and promo.expires_at <= now):
            raise InvalidRequest(f"This promotion code is not active: {promo.code}.", param="promotion_code")
        if promo.max_redemptions is not None and promo.times_redeemed >= promo.max_redemptions:
            raise InvalidRequest(f"This promotion code has been fully redeemed: {promo.code}.", param="promotion_code")
        if promo.customer_id and promo.customer_id != customer.id:
            raise InvalidRequest(
                f"This promotion code cannot be used by this customer: {promo.code}.", param="promotion_code"
            )
        if (
            promo.first_time_transaction
            and customer.invoices.filter(status=Invoice.Status.PAID, amount_paid__gt=0).exists()
        ):
            raise InvalidRequest("This promotion code is only valid for first-time customers.", param="promotion_code")
        promo.times_redeemed += 1
        promo.save(update_fields=["times_redeemed"])
        coupon = promo.coupon
        promotion_code = promo
    if coupon is None:
        return None, None
    same_tenant(customer, coupon)
    coupon = Coupon.objects.select_for_update(no_key=True).get(pk=coupon.pk)
    if not coupon.is_valid_at(now):
        raise InvalidRequest(f"Coupon expired or fully redeemed: {coupon.coupon_id}.", param="coupon")
    if coupon.amount_off is not None and coupon.currency != currency:
        raise InvalidRequest(
            f"The coupon's currency ({coupon.currency}) does not match the subscription's ({currency}).", param="coupon"
        )
    coupon.times_redeemed += 1
    coupon.save(update_fields=["times_redeemed"])
    return coupon, promotion_code


def _attach_discount(
    subscription: Subscription, coupon: Coupon, promotion_code: PromotionCode | None, *, start: dt.datetime
) -> Discount:
    end = add_months(start, coupon.duration_in_months) if coupon.duration == Coupon.Duration.REPEATING else None
    return Discount.objects.create(
        account_id=subscription.account_id,
        livemode=subscription.livemode,
        customer_id=subscription.customer_id,
        subscription=subscription,
        coupon=coupon,
        promotion_code=promotion_code,
        start=start,
        end=end,
    )


def _collect(subscription: Subscription, invoice: Invoice, *, paused: bool) -> None:
    """Advance a fresh draft the way the subscription's collection settings say."""
    if paused:
        behavior = subscription.pause_collection_behavior
        if behavior == Subscription.PauseBehavior.KEEP_AS_DRAFT:
            invoice.auto_advance = False
            invoice.save(update_fields=["auto_advance"])
            return
        finalize_locked(invoice)
        if invoice.status == Invoice.Status.OPEN:
            invoice.status = (
                Invoice.Status.VOID if behavior == Subscription.PauseBehavior.VOID else Invoice.Status.UNCOLLECTIBLE
            )
            stamp = "voided_at" if invoice.status == Invoice.Status.VOID else "marked_uncollectible_at"
            setattr(invoice, stamp, clock.now())
            invoice.save()
            if invoice.status == Invoice.Status.VOID:
                restore_applied_balance(invoice)
            emit("invoice.voided" if invoice.status == Invoice.Status.VOID else "invoice.marked_uncollectible", invoice)
        return
    finalize_locked(invoice)
    if (
        invoice.status == Invoice.Status.OPEN
        and invoice.collection_method == Subscription.CollectionMethod.CHARGE_AUTOMATICALLY
    ):
        attempt_payment_locked(invoice)


# ---------------------------------------------------------------------------------------------- create


def subscription_create(
    *,
    customer: Customer,
    items: list[ItemSpec],
    actor: Actor,
    default_payment_method: PaymentMethod | None = None,
    trial_end: dt.datetime | None = None,
    trial_period_days: int | None = None,
    collection_method: str = Subscription.CollectionMethod.CHARGE_AUTOMATICALLY,
    days_until_due: int | None = None,
    coupon: Coupon | None = None,
    promotion_code: PromotionCode | None = None,
    default_tax_rates: list[TaxRate] = (),
    metadata: dict | None = None,
) -> Subscription:
    """Create a subscription, its first invoice and (charge_automatically) pay it.

    A declined first payment leaves the subscription ``incomplete`` (Stripe's allow_incomplete).
    """
    currency, interval, interval_count = _validate_items(customer, items)
    metadata = validate_metadata(metadata)
    if collection_method not in Subscription.CollectionMethod.values:
        raise InvalidRequest(f"Invalid collection_method: {collection_method}", param="collection_method")
    if collection_method == Subscription.CollectionMethod.SEND_INVOICE and days_until_due is None:
        raise InvalidRequest(
            "Missing required param: days_until_due.", param="days_until_due", code="parameter_missing"
        )
    if default_payment_method is not None:
        same_tenant(customer, default_payment_method)
        if default_payment_method.customer_id != customer.id:
            raise InvalidRequest(
                f"The customer does not have a payment method with the ID {default_payment_method.id}.",
                param="default_payment_method",
            )
    now = clock.now()
    if trial_period_days is not None:
        if not 1 <= int(trial_period_days) <= 730:
            raise InvalidRequest("Invalid trial_period_days: must be between 1 and 730.", param="trial_period_days")
        trial_end = now + dt.timedelta(days=int(trial_period_days))
    if trial_end is not None and trial_end <= now:
        raise InvalidRequest("Invalid trial_end: must be in the future.", param="trial_end")

    with transaction.atomic():
        customer = lock(Customer, customer.pk)
        if customer.currency and customer.currency != currency:
            raise InvalidRequest(
                f"You cannot combine currencies on a single customer. This customer has an active subscription, "
                f"invoice or balance in {customer.currency}, but the price is in {currency}.",
                param="items[0][price]",
            )
        if not customer.currency:
            customer.currency = currency
            customer.save(update_fields=["currency"])
        coupon, promotion_code = _resolve_discount(customer, currency, coupon, promotion_code)
        trialing = trial_end is not None
        anchor = trial_end if trialing else now
        subscription = Subscription.objects.create(
            account_id=customer.account_id,
            livemode=customer.livemode,
            customer=customer,
            status=Subscription.Status.TRIALING if trialing else Subscription.Status.INCOMPLETE,
            currency=currency,
            collection_method=collection_method,
            days_until_due=days_until_due if collection_method == Subscription.CollectionMethod.SEND_INVOICE else None,
            billing_cycle_anchor=anchor,
            current_period_start=now,
            current_period_end=trial_end if trialing else period_end(anchor, interval, interval_count, 1),
            period_index=0 if trialing else 1,
            trial_start=now if trialing else None,
            trial_end=trial_end,
            start_date=now,
            default_payment_method=default_payment_method,
            metadata=metadata,
        )
        subscription.default_tax_rates.set(default_tax_rates)
        for spec in items:
            item = SubscriptionItem.objects.create(
                account_id=subscription.account_id,
                livemode=subscription.livemode,
                subscription=subscription,
                price=spec.price,
                quantity=spec.quantity,
            )
            item.tax_rates.set(spec.tax_rates)
        if coupon is not None:
            _attach_discount(subscription, coupon, promotion_code, start=now)
        discounts = _active_discounts(subscription, now)
        invoice = invoice_create_draft(
            customer=customer,
            subscription=subscription,
            currency=currency,
            billing_reason=Invoice.BillingReason.SUBSCRIPTION_CREATE,
            period_start=now,
            period_end=subscription.current_period_end,
            lines=_period_lines(subscription, now, subscription.current_period_end, trial=trialing),
            coupons=[d.coupon for d in discounts],
            collection_method=collection_method,
            days_until_due=subscription.days_until_due,
        )
        if not trialing:
            _spend_once_discounts(discounts)
        finalize_locked(invoice)
        if (
            invoice.status == Invoice.Status.OPEN
            and collection_method == Subscription.CollectionMethod.CHARGE_AUTOMATICALLY
        ):
            attempt_payment_locked(invoice, settle_subscription=False)
        subscription.latest_invoice = invoice
        if not trialing:
            settled = (
                invoice.status == Invoice.Status.PAID or collection_method == Subscription.CollectionMethod.SEND_INVOICE
            )
            subscription.status = Subscription.Status.ACTIVE if settled else Subscription.Status.INCOMPLETE
        subscription.save(update_fields=["latest_invoice", "status"])
        emit("customer.subscription.created", subscription)
        audit.record(
            actor,
            "subscription.create",
            subscription,
            {"items": [s.price.id for s in items], "status": subscription.status},
        )
    return subscription


# ---------------------------------------------------------------------------------------------- change


def upcoming_invoice(subscription: Subscription) -> tuple[dt.datetime, list[LineSpec], pricing.Totals]:
    """The next renewal invoice as it stands now (no writes), with a scheduled change already applied."""
    start = subscription.current_period_end
    interval, count = subscription.interval()
    plan = _scheduled_plan(subscription)
    new_interval = (plan[0][1].recurring_interval, plan[0][1].recurring_interval_count) if plan else None
    if new_interval is not None and new_interval != (interval, count):
        end = period_end(start, new_interval[0], new_interval[1], 1)  # the new interval starts a new cycle
    else:
        end = period_end(subscription.billing_cycle_anchor, interval, count, subscription.period_index + 1)
    lines = _period_lines(subscription, start, end, trial=False, plan=plan) + _pending_lines(
        subscription, for_update=False
    )
    coupons = [d.coupon for d in _active_discounts(subscription, start)]
    return start, lines, compute(lines, coupons)


def _line_kind(line) -> str:
    if line.price is None:
        return "custom"
    if line.proration:
        return "unused" if line.amount < 0 else "remaining"
    return "item"


def _preview_lines(lines) -> list[PreviewLine]:
    """Invoice lines (``LineSpec`` or stored ``InvoiceLineItem``) as preview lines."""
    return [
        PreviewLine(
            line.description,
            line.amount,
            line.proration,
            price=line.price,
            quantity=line.quantity,
            period_start=line.period_start,
            period_end=line.period_end,
            kind=_line_kind(line),
        )
        for line in lines
    ]


def subscription_version(subscription: Subscription) -> str:
    """A fingerprint of what a plan change starts from (status, period, items, discounts, a scheduled change).
    A page shows a preview with it; the change is applied only if it still matches, so a form sent twice (or
    after something else changed the subscription) changes nothing the second time."""
    items = sorted(
        SubscriptionItem.objects.filter(subscription_id=subscription.pk).values_list("id", "price_id", "quantity")
    )
    discounts = sorted(Discount.objects.filter(subscription_id=subscription.pk).values_list("id", flat=True))
    state = [
        subscription.status,
        int(subscription.current_period_end.timestamp()),
        subscription.scheduled_change,
        [list(item) for item in items],
        discounts,
    ]
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class _ChangeOptions:
    proration_behavior: str
    proration_date: dt.datetime | None
    schedule_conditions: tuple[str, ...]
    end_trial: bool
    restart_cycle: bool
    coupon: Coupon | None
    promotion_code: PromotionCode | None
    payment_behavior: str
    expected_version: str | None


def subscription_change_items(
    *,
    subscription: Subscription,
    changes: list[ItemChange],
    actor: Actor,
    proration_behavior: str = "create_prorations",
    proration_date: dt.datetime | None = None,
    dry_run: bool = False,
    schedule_at_period_end_conditions: Sequence[str] = (),
    end_trial: bool = False,
    billing_cycle_anchor: str = "unchanged",
    coupon: Coupon | None = None,
    promotion_code: PromotionCode | None = None,
    payment_behavior: str = "allow_incomplete",
    expected_version: str | None = None,
) -> Subscription | ChangePreview:
    """Change prices or quantities. With ``dry_run`` the very same steps run and are rolled back,
    returning what the customer would pay now and at the next renewal.

    ``schedule_at_period_end_conditions``: a change that meets one of them (``decreasing_item_amount``: the items
    cost less per period; ``shortening_interval``: the billing interval gets shorter) is not applied now but kept
    in ``scheduled_change`` and applied when the period renews, without prorations. A trialing subscription ends
    its trial now and is invoiced for a full period of the new items with ``end_trial``; otherwise the trial goes
    on with the new items. ``billing_cycle_anchor="now"`` restarts the billing period now (a new interval always
    does). ``coupon``/``promotion_code`` add a discount. ``payment_behavior="error_if_incomplete"``: when the
    invoice issued now cannot be paid, nothing changes and the decline is raised. ``expected_version``: the
    :func:`subscription_version` the caller previewed; if the subscription changed since (or the same request
    comes twice), ``StateConflict`` with code ``subscription_changed`` is raised and nothing changes.
    """
    if proration_behavior not in PRORATION_BEHAVIORS:
        raise InvalidRequest(f"Invalid proration_behavior: {proration_behavior}", param="proration_behavior")
    unknown = sorted(set(schedule_at_period_end_conditions) - set(SCHEDULE_CONDITIONS))
    if unknown:
        raise InvalidRequest(f"Invalid schedule condition: {unknown[0]}", param="schedule_at_period_end")
    if billing_cycle_anchor not in BILLING_CYCLE_ANCHORS:
        raise InvalidRequest(f"Invalid billing_cycle_anchor: {billing_cycle_anchor}", param="billing_cycle_anchor")
    if payment_behavior not in PAYMENT_BEHAVIORS:
        raise InvalidRequest(f"Invalid payment_behavior: {payment_behavior}", param="payment_behavior")
    options = _ChangeOptions(
        proration_behavior=proration_behavior,
        proration_date=proration_date,
        schedule_conditions=tuple(schedule_at_period_end_conditions),
        end_trial=end_trial,
        restart_cycle=billing_cycle_anchor == "now",
        coupon=coupon,
        promotion_code=promotion_code,
        payment_behavior=payment_behavior,
        expected_version=expected_version,
    )
    try:
        with transaction.atomic():
            return _change_items(subscription, changes, actor, options, dry_run)
    except _DryRun as rollback:
        return rollback.preview


def _planned_items(
    subscription: Subscription, current: dict[str, SubscriptionItem], changes: list[ItemChange]
) -> tuple[dict[str, tuple[Price, int]], list[tuple[Price, int]]]:
    """The item set after ``changes``: existing items by id (dropped when deleted) and the items to add."""
    plan: dict[str, tuple[Price, int]] = {pk: (item.price, item.quantity) for pk, item in current.items()}
    added: list[tuple[Price, int]] = []
    for i, change in enumerate(changes):
        if change.item is not None and change.item.id not in current:
            raise InvalidRequest(f"No such subscription item: '{change.item.id}'", param=f"items[{i}][id]")
        if change.price is not None:
            same_tenant(subscription, change.price)
        if change.item is None:
            if change.deleted or change.price is None:
                raise InvalidRequest(f"Missing required param: items[{i}][price].", param=f"items[{i}][price]")
            added.append((change.price, 1 if change.quantity is None else change.quantity))
        elif change.deleted:
            plan.pop(change.item.id)
        else:
            price, quantity = plan[change.item.id]
            plan[change.item.id] = (change.price or price, quantity if change.quantity is None else change.quantity)
    return plan, added


def _interval_days(interval: tuple[str, int]) -> float:
    return INTERVAL_DAYS.get(interval[0], 30.44) * interval[1]


def _waits_for_period_end(
    conditions: tuple[str, ...],
    current: dict[str, SubscriptionItem],
    specs: list[ItemSpec],
    old_interval: tuple[str, int],
    new_interval: tuple[str, int],
) -> bool:
    """Whether the change is a downgrade that ``conditions`` move to the end of the period."""
    if "shortening_interval" in conditions and _interval_days(new_interval) < _interval_days(old_interval):
        return True
    if "decreasing_item_amount" in conditions:
        old = sum(_item_amount(item.price, item.quantity) for item in current.values())
        return sum(_item_amount(spec.price, spec.quantity) for spec in specs) < old
    return False


def _stored_change(changes: list[ItemChange]) -> dict:
    return {
        "items": [
            {
                "item": change.item.id if change.item is not None else None,
                "price": change.price.id if change.price is not None else None,
                "quantity": change.quantity,
                "deleted": change.deleted,
            }
            for change in changes
        ]
    }


def _change_items(subscription, changes, actor, options: _ChangeOptions, dry_run):
    subscription = lock(Subscription, subscription.pk)
    if options.expected_version is not None and subscription_version(subscription) != options.expected_version:
        raise StateConflict(
            "This subscription has changed since the change was previewed; preview the change again.",
            param="subscription",
            code="subscription_changed",
        )
    if subscription.is_ended:
        raise StateConflict("A canceled subscription can no longer be updated.", param="subscription")
    now = clock.now()
    at = options.proration_date or now
    if not subscription.current_period_start <= at <= subscription.current_period_end:
        raise InvalidRequest("proration_date must fall within the current billing period.", param="proration_date")
    before = render(subscription)
    current = {
        item.id: item for item in subscription.items.select_related("price__product").prefetch_related("tax_rates")
    }
    plan, added = _planned_items(subscription, current, changes)
    specs = [ItemSpec(price, quantity) for price, quantity in [*plan.values(), *added]]
    _validate_items(subscription.customer, specs, currency=subscription.currency)
    old_interval = subscription.interval()
    new_interval = (specs[0].price.recurring_interval, specs[0].price.recurring_interval_count)
    trialing = subscription.status == Subscription.Status.TRIALING
    coupon, promotion_code = _resolve_discount(
        subscription.customer, subscription.currency, options.coupon, options.promotion_code
    )
    if coupon is not None:
        _attach_discount(subscription, coupon, promotion_code, start=now)

    invoice, prorations, scheduled_at = None, [], None
    trial_ended = trialing and options.end_trial
    if not trialing and _waits_for_period_end(options.schedule_conditions, current, specs, old_interval, new_interval):
        scheduled_at = subscription.current_period_end
        subscription.scheduled_change = _stored_change(changes)
        subscription.save(update_fields=["scheduled_change"])
    else:
        invoice, prorations = _apply_now(subscription, current, plan, added, at, options, old_interval, new_interval)

    if dry_run:
        raise _DryRun(_change_preview(subscription, invoice, prorations, scheduled_at, trial_ended))

    if invoice is not None:
        subscription.latest_invoice = invoice
        subscription.save(update_fields=["latest_invoice"])
        _collect(subscription, invoice, paused=False)
        if options.payment_behavior == "error_if_incomplete" and invoice.status == Invoice.Status.OPEN:
            raise _payment_error(invoice)
    subscription.refresh_from_db()
    if scheduled_at is None or render(subscription) != before:
        emit("customer.subscription.updated", subscription, before=before)
    audit.record(
        actor,
        "subscription.schedule_change" if scheduled_at else "subscription.change_items",
        subscription,
        {
            "items": [[s.price.id, s.quantity] for s in specs],
            "proration_behavior": options.proration_behavior,
            **({"scheduled_at": scheduled_at.isoformat()} if scheduled_at else {}),
            **({"coupon": coupon.coupon_id} if coupon else {}),
            **({"trial_ended": True} if trial_ended else {}),
        },
    )
    return subscription


def _apply_now(subscription, current, plan, added, at, options: _ChangeOptions, old_interval, new_interval):
    """Credit and charge the rest of the period as the options say, write the new item set and, when the period
    restarts (new interval, ``billing_cycle_anchor=now``, a trial that ends), invoice the new period now."""
    trialing = subscription.status == Subscription.Status.TRIALING
    restart = options.end_trial if trialing else old_interval != new_interval or options.restart_cycle
    start, end = subscription.current_period_start, subscription.current_period_end
    defaults = list(subscription.default_tax_rates.all())

    # What the change credits and charges for the rest of the current period (a trial costs nothing).
    prorations: list[LineSpec] = []
    if not trialing and options.proration_behavior != "none":
        for pk, item in current.items():
            new = plan.get(pk)
            if new is not None and (new[0].pk, new[1]) == (item.price_id, item.quantity) and not restart:
                continue
            rate = _tax_rate(item.tax_rates.all(), defaults)
            credit = pricing.prorate(_item_amount(item.price, item.quantity), start, end, at)
            if credit:
                prorations.append(_proration_line("Unused time on", item.price, item.quantity, -credit, at, end, rate))
            if new is not None and not restart:
                charge = pricing.prorate(_item_amount(new[0], new[1]), start, end, at)
                if charge:
                    prorations.append(_proration_line("Remaining time on", new[0], new[1], charge, at, end, rate))
        if not restart:
            for price, quantity in added:
                charge = pricing.prorate(_item_amount(price, quantity), start, end, at)
                if charge:
                    rate = _tax_rate([], defaults)
                    prorations.append(_proration_line("Remaining time on", price, quantity, charge, at, end, rate))

    # Apply the new item set; it replaces any change that was waiting for the period end.
    for pk, item in current.items():
        if pk not in plan:
            item.delete()
        elif (plan[pk][0].pk, plan[pk][1]) != (item.price_id, item.quantity):
            item.price, item.quantity = plan[pk]
            item.save(update_fields=["price", "quantity"])
    for price, quantity in added:
        SubscriptionItem.objects.create(
            account_id=subscription.account_id,
            livemode=subscription.livemode,
            subscription=subscription,
            price=price,
            quantity=quantity,
        )
    subscription.scheduled_change = None

    if restart:
        # A new period starts now and is invoiced at once (Stripe resets the anchor).
        if trialing:
            subscription.status = Subscription.Status.ACTIVE
            subscription.trial_end = at
        subscription.billing_cycle_anchor = at
        subscription.period_index = 1
        subscription.current_period_start = at
        subscription.current_period_end = period_end(at, new_interval[0], new_interval[1], 1)
        subscription.save(
            update_fields=[
                "status",
                "trial_end",
                "billing_cycle_anchor",
                "period_index",
                "current_period_start",
                "current_period_end",
                "scheduled_change",
            ]
        )
        lines = prorations + _period_lines(subscription, at, subscription.current_period_end, trial=False)
        return _invoice_now(subscription, lines), prorations
    subscription.save(update_fields=["scheduled_change"])
    if prorations and options.proration_behavior == "always_invoice":
        return _invoice_now(subscription, prorations), prorations
    if prorations and options.proration_behavior == "create_prorations":
        for line in prorations:
            _save_pending(subscription, line)
    return None, prorations


def _change_preview(
    subscription: Subscription,
    invoice: Invoice | None,
    prorations: list[LineSpec],
    scheduled_at: dt.datetime | None,
    trial_ended: bool,
) -> ChangePreview:
    next_at, next_lines, next_totals = upcoming_invoice(subscription)
    preview = ChangePreview(
        currency=subscription.currency,
        due_now=0,
        due_now_lines=[],
        proration_lines=_preview_lines(prorations),
        next_invoice_at=None if subscription.cancel_at_period_end else next_at,
        next_invoice_total=next_totals.total,
        next_invoice_lines=_preview_lines(next_lines),
        next_invoice_subtotal=next_totals.subtotal,
        next_invoice_discount=next_totals.total_discount,
        scheduled_at=scheduled_at,
        trial_ended=trial_ended,
    )
    if invoice is not None:
        balance = Customer.objects.values_list("balance", flat=True).get(pk=subscription.customer_id)
        preview.invoiced_now = True
        preview.due_now = pricing.apply_balance(invoice.total, balance)[0]
        preview.due_now_lines = _preview_lines(invoice.lines.all())
        preview.due_now_subtotal = invoice.subtotal
        preview.due_now_discount = invoice.total_discount
        preview.due_now_total = invoice.total
    return preview


def _payment_error(invoice: Invoice):
    code, decline_code, message = getattr(invoice, "last_failure", ("card_declined", "", "Your card was declined."))
    if code == "payment_method_required":
        return PaymentMethodRequired(message, param="payment_method")
    return CardDeclined(message, decline_code=decline_code or None)


def _invoice_now(subscription: Subscription, lines: list[LineSpec]) -> Invoice:
    lines = lines + _pending_lines(subscription)
    discounts = _active_discounts(subscription, clock.now())
    return invoice_create_draft(
        customer=subscription.customer,
        subscription=subscription,
        currency=subscription.currency,
        billing_reason=Invoice.BillingReason.SUBSCRIPTION_UPDATE,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
        lines=lines,
        coupons=[d.coupon for d in discounts],
        collection_method=subscription.collection_method,
        days_until_due=subscription.days_until_due,
    )


# ---------------------------------------------------------------------------------------------- cancel


def subscription_cancel(
    *,
    subscription: Subscription,
    actor: Actor,
    at_period_end: bool,
    feedback: str = "",
    comment: str = "",
    prorate: bool = False,
    invoice_now: bool = False,
) -> Subscription:
    """Cancel now (``customer.subscription.deleted``) or at the period end (an update, undoable)."""
    if feedback and feedback not in Subscription.CancellationFeedback.values:
        raise InvalidRequest(
            f"Invalid cancellation_details[feedback]: {feedback}", param="cancellation_details[feedback]"
        )
    if len(comment or "") > 5000:
        raise InvalidRequest(
            "cancellation_details[comment] must be at most 5000 characters.", param="cancellation_details[comment]"
        )
    with transaction.atomic():
        subscription = lock(Subscription, subscription.pk)
        if subscription.is_ended:
            raise StateConflict("This subscription is already canceled.", param="subscription")
        before = render(subscription)
        now = clock.now()
        subscription.canceled_at = now
        subscription.cancellation_feedback = feedback or ""
        subscription.cancellation_comment = comment or ""
        subscription.cancellation_reason = Subscription.CancellationReason.CANCELLATION_REQUESTED
        if at_period_end:
            subscription.cancel_at_period_end = True
            subscription.save()
            emit("customer.subscription.updated", subscription, before=before)
        else:
            if prorate and subscription.status != Subscription.Status.TRIALING:
                _credit_unused_time(subscription, now)
            _end_locked(subscription, at=now, before=before)
            if invoice_now:
                lines = _pending_lines(subscription)
                if lines:
                    invoice = _invoice_now(subscription, [])
                    subscription.latest_invoice = invoice
                    subscription.save(update_fields=["latest_invoice"])
                    _collect(subscription, invoice, paused=False)
        audit.record(
            actor,
            "subscription.cancel",
            subscription,
            {"at_period_end": at_period_end, "feedback": feedback, "comment": comment, "prorate": prorate},
        )
    return subscription


def _credit_unused_time(subscription: Subscription, at: dt.datetime) -> None:
    defaults = list(subscription.default_tax_rates.all())
    start, end = subscription.current_period_start, subscription.current_period_end
    for item in subscription.items.select_related("price__product").prefetch_related("tax_rates"):
        credit = pricing.prorate(_item_amount(item.price, item.quantity), start, end, at)
        if credit:
            rate = _tax_rate(item.tax_rates.all(), defaults)
            _save_pending(
                subscription, _proration_line("Unused time on", item.price, item.quantity, -credit, at, end, rate)
            )


def _end_locked(subscription: Subscription, *, at: dt.datetime, before: dict | None = None) -> None:
    before = before or render(subscription)
    subscription.status = Subscription.Status.CANCELED
    subscription.ended_at = at
    subscription.canceled_at = subscription.canceled_at or at
    subscription.cancel_at_period_end = False
    subscription.cancel_at = None
    subscription.pause_collection_behavior = ""
    subscription.pause_collection_resumes_at = None
    subscription.scheduled_change = None
    if not subscription.cancellation_reason:
        subscription.cancellation_reason = Subscription.CancellationReason.CANCELLATION_REQUESTED
    subscription.save()
    emit("customer.subscription.deleted", subscription, before=before)


def subscription_reactivate(*, subscription: Subscription, actor: Actor) -> Subscription:
    """Undo a pending cancellation ("Don't cancel")."""
    with transaction.atomic():
        subscription = lock(Subscription, subscription.pk)
        if subscription.is_ended:
            raise StateConflict("A canceled subscription cannot be renewed; create a new one.", param="subscription")
        if not subscription.cancellation_pending:
            raise StateConflict("This subscription is not scheduled to cancel.", param="cancel_at_period_end")
        before = render(subscription)
        subscription.cancel_at_period_end = False
        subscription.cancel_at = None
        subscription.canceled_at = None
        subscription.cancellation_comment = ""
        subscription.cancellation_feedback = ""
        subscription.cancellation_reason = ""
        subscription.save()
        emit("customer.subscription.updated", subscription, before=before)
        audit.record(actor, "subscription.reactivate", subscription)
    return subscription


def subscription_apply_coupon(*, subscription: Subscription, actor: Actor, coupon: Coupon) -> Subscription:
    """Give the subscription ``coupon`` from now on (a retention offer accepted in the portal). Like Stripe's
    ``coupon`` on a subscription update it replaces the discount in effect; spent and ended discounts stay."""
    with transaction.atomic():
        subscription = lock(Subscription, subscription.pk)
        if subscription.is_ended:
            raise StateConflict("A canceled subscription can no longer be updated.", param="subscription")
        before = render(subscription)
        now = clock.now()
        coupon, _promotion_code = _resolve_discount(subscription.customer, subscription.currency, coupon, None)
        replaced = subscription.discounts.filter(used=False).exclude(end__lte=now)
        replaced_ids = list(replaced.values_list("id", flat=True))
        replaced.delete()
        discount = _attach_discount(subscription, coupon, None, start=now)
        emit("customer.subscription.updated", subscription, before=before)
        audit.record(
            actor,
            "subscription.apply_coupon",
            subscription,
            {"coupon": coupon.coupon_id, "discount": discount.id, "replaced_discounts": replaced_ids},
        )
    return subscription


# ---------------------------------------------------------------------------------------------- fields


_UNCHANGED = object()


def subscription_update_fields(
    *,
    subscription: Subscription,
    actor: Actor,
    default_payment_method=_UNCHANGED,
    metadata=_UNCHANGED,
    default_tax_rates=_UNCHANGED,
    cancel_at=_UNCHANGED,
    cancellation_details=_UNCHANGED,
) -> Subscription:
    """Plain field changes: default payment method, metadata (merged), default tax rates,
    ``cancel_at`` (a moment or None) and cancellation details."""
    from billing.services.common import merge_metadata

    with transaction.atomic():
        subscription = lock(Subscription, subscription.pk)
        if subscription.is_ended:
            raise StateConflict("A canceled subscription can no longer be updated.", param="subscription")
        before = render(subscription)
        changed = []
        if default_payment_method is not _UNCHANGED:
            if default_payment_method is not None:
                same_tenant(subscription, default_payment_method)
                if default_payment_method.customer_id != subscription.customer_id:
                    raise InvalidRequest(
                        f"The customer does not have a payment method with the ID {default_payment_method.id}.",
                        param="default_payment_method",
                    )
            subscription.default_payment_method = default_payment_method
            changed.append("default_payment_method")
        if metadata is not _UNCHANGED:
            subscription.metadata = merge_metadata(subscription.metadata, metadata)
            changed.append("metadata")
        if cancel_at is not _UNCHANGED:
            if cancel_at is not None and cancel_at <= clock.now():
                raise InvalidRequest("cancel_at must be in the future.", param="cancel_at")
            subscription.cancel_at = cancel_at
            subscription.canceled_at = clock.now() if cancel_at else None
            if cancel_at:
                subscription.cancellation_reason = Subscription.CancellationReason.CANCELLATION_REQUESTED
            changed += ["cancel_at", "canceled_at", "cancellation_reason"]
        if cancellation_details is not _UNCHANGED:
            feedback = cancellation_details.get("feedback", subscription.cancellation_feedback)
            if feedback and feedback not in Subscription.CancellationFeedback.values:
                raise InvalidRequest(
                    f"Invalid cancellation_details[feedback]: {feedback}", param="cancellation_details[feedback]"
                )
            subscription.cancellation_feedback = feedback
            subscription.cancellation_comment = cancellation_details.get("comment", subscription.cancellation_comment)
            changed += ["cancellation_feedback", "cancellation_comment"]
        if changed:
            subscription.save(update_fields=changed)
        if default_tax_rates is not _UNCHANGED:
            for rate in default_tax_rates:
                same_tenant(subscription, rate)
            subscription.default_tax_rates.set(default_tax_rates)
        after = render(subscription)
        if after != before:
            emit("customer.subscription.updated", subscription, before=before)
            audit.record(
                actor, "subscription.update", subscription, {k: after[k] for k in after if after[k] != before.get(k)}
            )
    return subscription


# ---------------------------------------------------------------------------------------------- pause


def subscription_pause_collection(
    *, subscription: Subscription, actor: Actor, behavior: str, resumes_at: dt.datetime | None = None
) -> Subscription:
    """Set or change ``pause_collection``; the status stays what it is."""
    if behavior not in Subscription.PauseBehavior.values:
        raise InvalidRequest(
            "Invalid pause_collection[behavior]: must be one of keep_as_draft, mark_uncollectible or void.",
            param="pause_collection[behavior]",
        )
    if resumes_at is not None and resumes_at <= clock.now():
        raise InvalidRequest(
            "pause_collection[resumes_at] must be in the future.", param="pause_collection[resumes_at]"
        )
    with transaction.atomic():
        subscription = lock(Subscription, subscription.pk)
        if subscription.is_ended:
            raise StateConflict(
                "Payment collection cannot be paused on a canceled subscription.", param="pause_collection"
            )
        before = render(subscription)
        subscription.pause_collection_behavior = behavior
        subscription.pause_collection_resumes_at = resumes_at
        subscription.save(update_fields=["pause_collection_behavior", "pause_collection_resumes_at"])
        if before["pause_collection"] != subscription.pause_collection:
            emit("customer.subscription.updated", subscription, before=before)
        audit.record(
            actor, "subscription.pause_collection", subscription, {"pause_collection": subscription.pause_collection}
        )
    return subscription


def subscription_resume_collection(*, subscription: Subscription, actor: Actor) -> Subscription:
    with transaction.atomic():
        subscription = lock(Subscription, subscription.pk)
        _resume_locked(subscription, actor)
    return subscription


def _resume_locked(subscription: Subscription, actor: Actor) -> None:
    if not subscription.collection_paused:
        return
    before = render(subscription)
    subscription.pause_collection_behavior = ""
    subscription.pause_collection_resumes_at = None
    subscription.save(update_fields=["pause_collection_behavior", "pause_collection_resumes_at"])
    emit("customer.subscription.updated", subscription, before=before)
    audit.record(actor, "subscription.resume_collection", subscription, {"pause_collection": None})


# ---------------------------------------------------------------------------------------------- time


def _renew_locked(subscription: Subscription) -> Invoice:
    """Start the next period and bill it (the renewal invoice, or the first one after a trial)."""
    # Items, rates and discounts do not change during a renewal: load them once for every render.
    prefetch_related_objects([subscription], *RENEWAL_PREFETCH)
    before = render(subscription)
    if subscription.scheduled_change:
        _apply_scheduled_change_locked(subscription)
    interval, count = subscription.interval()
    start = subscription.current_period_end
    subscription.period_index += 1
    subscription.current_period_start = start
    subscription.current_period_end = period_end(
        subscription.billing_cycle_anchor, interval, count, subscription.period_index
    )
    if subscription.status == Subscription.Status.TRIALING:
        subscription.status = Subscription.Status.ACTIVE
    discounts = _active_discounts(subscription, start)
    lines = _period_lines(subscription, start, subscription.current_period_end, trial=False) + _pending_lines(
        subscription
    )
    invoice = invoice_create_draft(
        customer=subscription.customer,
        subscription=subscription,
        currency=subscription.currency,
        billing_reason=Invoice.BillingReason.SUBSCRIPTION_CYCLE,
        period_start=start,
        period_end=subscription.current_period_end,
        lines=lines,
        coupons=[d.coupon for d in discounts],
        collection_method=subscription.collection_method,
        days_until_due=subscription.days_until_due,
    )
    _spend_once_discounts(discounts)
    subscription.latest_invoice = invoice
    subscription.save()
    emit("customer.subscription.updated", subscription, before=before)
    if subscription.status == Subscription.Status.UNPAID:
        invoice.auto_advance = False  # Stripe leaves renewals of unpaid subscriptions as drafts
        invoice.save(update_fields=["auto_advance"])
    else:
        _collect(subscription, invoice, paused=subscription.collection_paused)
    audit.record(SYSTEM, "subscription.renew", subscription, {"invoice": invoice.id, "invoice_status": invoice.status})
    return invoice


def _apply_scheduled_change_locked(subscription: Subscription) -> None:
    """At the period end, the change that waited for it: the new items bill from the period that starts now (a new
    interval starts a new cycle there)."""
    plan = _scheduled_plan(subscription) or []
    old_interval = subscription.interval()
    kept = {item.pk for item, _price, _quantity in plan if item is not None}
    for item in subscription.items.all():
        if item.pk not in kept:
            item.delete()
    for item, price, quantity in plan:
        if item is None:
            SubscriptionItem.objects.create(
                account_id=subscription.account_id,
                livemode=subscription.livemode,
                subscription=subscription,
                price=price,
                quantity=quantity,
            )
        elif (item.price_id, item.quantity) != (price.pk, quantity):
            item.price, item.quantity = price, quantity
            item.save(update_fields=["price", "quantity"])
    applied = subscription.scheduled_change
    subscription.scheduled_change = None
    subscription._prefetched_objects_cache.pop("items", None)
    prefetch_related_objects([subscription], "items__price__product", "items__tax_rates")
    if subscription.interval() != old_interval:
        subscription.billing_cycle_anchor = subscription.current_period_end
        subscription.period_index = 0
    subscription.save(update_fields=["scheduled_change", "billing_cycle_anchor", "period_index"])
    audit.record(SYSTEM, "subscription.apply_scheduled_change", subscription, applied)


def subscription_cancel_scheduled_change(*, subscription: Subscription, actor: Actor) -> Subscription:
    """Keep the current items: drop the change that was waiting for the period end (nothing to do without one)."""
    with transaction.atomic():
        subscription = lock(Subscription, subscription.pk)
        if not subscription.scheduled_change:
            return subscription
        dropped = subscription.scheduled_change
        subscription.scheduled_change = None
        subscription.save(update_fields=["scheduled_change"])
        audit.record(actor, "subscription.cancel_scheduled_change", subscription, {"scheduled_change": dropped})
    return subscription


def subscription_advance(*, subscription_id: str) -> int:
    """Bring one subscription up to ``clock.now()``: automatic resume, scheduled cancellation,
    renewals (catching up missed periods in order), expiry of unpaid first invoices.
    Idempotent: a second call for the same moment finds nothing to do. Returns the number of steps."""
    steps = 0
    with transaction.atomic():
        subscription = lock(Subscription, subscription_id)
        now = clock.now()
        for _ in range(MAX_CATCH_UP_PERIODS):
            if subscription.is_ended:
                break
            resumes_at = subscription.pause_collection_resumes_at
            if resumes_at and resumes_at <= now and resumes_at <= subscription.current_period_end:
                _resume_locked(subscription, Actor.system("automatic resume"))
            elif (
                subscription.cancel_at
                and subscription.cancel_at <= now
                and subscription.cancel_at <= subscription.current_period_end
            ):
                _end_locked(subscription, at=subscription.cancel_at)
                audit.record(SYSTEM, "subscription.end", subscription)
            elif subscription.current_period_end <= now and subscription.status == Subscription.Status.INCOMPLETE:
                break
            elif subscription.current_period_end <= now and subscription.cancel_at_period_end:
                _end_locked(subscription, at=subscription.current_period_end)
                audit.record(SYSTEM, "subscription.end", subscription)
            elif subscription.current_period_end <= now:
                _renew_locked(subscription)
            else:
                break
            steps += 1
        expiry = dt.timedelta(hours=settings.BILLING_INCOMPLETE_EXPIRY_HOURS)
        if subscription.status == Subscription.Status.INCOMPLETE and subscription.created + expiry <= now:
            _expire_incomplete(subscription)
            steps += 1
    return steps


def _expire_incomplete(subscription: Subscription) -> None:
    before = render(subscription)
    subscription.status = Subscription.Status.INCOMPLETE_EXPIRED
    subscription.ended_at = clock.now()
    subscription.save(update_fields=["status", "ended_at"])
    for invoice in Invoice.objects.select_for_update(no_key=True).filter(
        subscription=subscription, status=Invoice.Status.OPEN
    ):
        invoice.status = Invoice.Status.VOID
        invoice.voided_at = clock.now()
        invoice.next_payment_attempt = None
        invoice.save()
        emit("invoice.voided", invoice)
    emit("customer.subscription.updated", subscription, before=before)
    audit.record(SYSTEM, "subscription.expire", subscription)
