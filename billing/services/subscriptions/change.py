"""Changing a subscription's items (price, quantity, added and removed items) with prorations, and the preview of a
change, which is a dry run of the very same steps."""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from billing import audit, clock, pricing
from billing.audit import Actor
from billing.exceptions import InvalidRequest, StateConflict
from billing.models import Coupon, Customer, Invoice, Price, PromotionCode, Subscription, SubscriptionItem
from billing.periods import period_end
from billing.services import invoices, payments
from billing.services.common import emit, merge_metadata, render, same_tenant
from billing.services.door import service
from billing.services.invoices import LineSpec
from billing.services.subscriptions import pending
from billing.services.subscriptions.discounts import attach_discount, resolve_discount
from billing.services.subscriptions.lines import (
    ItemChange,
    ItemSpec,
    active_discounts,
    interval_days,
    item_amount,
    pending_lines,
    period_lines,
    proration_line,
    save_pending,
    tax_rate_for,
    upcoming_invoice,
    validate_items,
)
from billing.services.subscriptions.state import take

PRORATION_BEHAVIORS = ("create_prorations", "always_invoice", "none")
# Changes that wait for the end of the period when a caller (the portal's configuration) asks for it.
SCHEDULE_CONDITIONS = ("decreasing_item_amount", "shortening_interval")
PAYMENT_BEHAVIORS = ("allow_incomplete", "error_if_incomplete", pending.PENDING_IF_INCOMPLETE)
BILLING_CYCLE_ANCHORS = ("unchanged", "now")


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
    # The invoice issued now (none: nothing is invoiced now): before discounts, the discount, and its total (a
    # negative total is credited to the customer's balance). ``due_now`` is what is charged after the balance.
    invoiced_now: bool = False
    due_now_subtotal: int = 0
    due_now_discount: int = 0
    due_now_total: int = 0
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


@dataclass(frozen=True)
class ChangeOptions:
    proration_behavior: str = "create_prorations"
    proration_date: dt.datetime | None = None
    schedule_conditions: tuple[str, ...] = ()
    end_trial: bool = False
    restart_cycle: bool = False
    coupon: Coupon | None = None
    promotion_code: PromotionCode | None = None
    payment_behavior: str = "allow_incomplete"
    discount_param: str | None = None  # the parameter that carried the coupon or promotion code, for its errors

    @classmethod
    def checked(
        cls,
        *,
        proration_behavior: str,
        proration_date: dt.datetime | None,
        schedule_at_period_end_conditions: Sequence[str],
        end_trial: bool,
        billing_cycle_anchor: str,
        coupon: Coupon | None,
        promotion_code: PromotionCode | None,
        payment_behavior: str,
        discount_param: str | None = None,
    ) -> "ChangeOptions":
        if proration_behavior not in PRORATION_BEHAVIORS:
            raise InvalidRequest(f"Invalid proration_behavior: {proration_behavior}", param="proration_behavior")
        unknown = sorted(set(schedule_at_period_end_conditions) - set(SCHEDULE_CONDITIONS))
        if unknown:
            raise InvalidRequest(f"Invalid schedule condition: {unknown[0]}", param="schedule_at_period_end")
        if billing_cycle_anchor not in BILLING_CYCLE_ANCHORS:
            raise InvalidRequest(f"Invalid billing_cycle_anchor: {billing_cycle_anchor}", param="billing_cycle_anchor")
        if payment_behavior not in PAYMENT_BEHAVIORS:
            raise InvalidRequest(f"Invalid payment_behavior: {payment_behavior}", param="payment_behavior")
        return cls(
            proration_behavior=proration_behavior,
            proration_date=proration_date,
            schedule_conditions=tuple(schedule_at_period_end_conditions),
            end_trial=end_trial,
            restart_cycle=billing_cycle_anchor == "now",
            coupon=coupon,
            promotion_code=promotion_code,
            payment_behavior=payment_behavior,
            discount_param=discount_param,
        )


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
    invoice issued now cannot be paid, nothing changes and the decline is raised (the processor is asked inside
    the transaction for this one case); ``"pending_if_incomplete"``: a change that invoices now waits for that
    invoice to be paid (see ``billing.services.subscriptions.pending``). ``expected_version``: the
    ``subscription_version`` the caller previewed; if the subscription changed since (or the same request comes
    twice), ``StateConflict`` with code ``subscription_changed`` is raised and nothing changes.
    """
    options = ChangeOptions.checked(
        proration_behavior=proration_behavior,
        proration_date=proration_date,
        schedule_at_period_end_conditions=schedule_at_period_end_conditions,
        end_trial=end_trial,
        billing_cycle_anchor=billing_cycle_anchor,
        coupon=coupon,
        promotion_code=promotion_code,
        payment_behavior=payment_behavior,
    )
    try:
        return _change_items_door(subscription, changes, actor, options, dry_run, expected_version)
    except _DryRun as rollback:
        return rollback.preview


@service
def _change_items_door(subscription, changes, actor, options: ChangeOptions, dry_run, expected_version):
    from billing.services.subscriptions.renew import catch_up_locked  # renew builds on this module

    subscription = take(subscription, expected_version=expected_version)
    if catch_up_locked(subscription):
        subscription.refresh_from_db()
    return change_items_locked(subscription, changes, actor, options, dry_run=dry_run)


def change_items_locked(
    subscription: Subscription, changes: list[ItemChange], actor: Actor, options: ChangeOptions, *, dry_run=False
) -> Subscription:
    """The change on a subscription the caller has locked (``subscription_update`` composes it with other fields)."""
    now = clock.now()
    at = options.proration_date or now
    if not subscription.current_period_start <= at <= subscription.current_period_end:
        if options.proration_date is None:
            raise StateConflict(
                "This subscription's billing period has ended and it cannot be renewed yet; change it once it is.",
                param="subscription",
            )
        raise InvalidRequest("proration_date must fall within the current billing period.", param="proration_date")
    if options.payment_behavior == pending.PENDING_IF_INCOMPLETE:
        pending.check_supported(subscription)
    before = render(subscription)
    pending.discard_locked(subscription)  # a new change replaces the one waiting for its payment
    current = {
        item.id: item for item in subscription.items.select_related("price__product").prefetch_related("tax_rates")
    }
    plan, added = _planned_items(subscription, current, changes)
    specs = [ItemSpec(price, quantity) for price, quantity in [*plan.values(), *added]]
    validate_items(subscription.customer, specs, currency=subscription.currency)
    old_interval = subscription.interval()
    new_interval = (specs[0].price.recurring_interval, specs[0].price.recurring_interval_count)
    trialing = subscription.status == Subscription.Status.TRIALING
    coupon, promotion_code = resolve_discount(
        subscription.customer,
        subscription.currency,
        options.coupon,
        options.promotion_code,
        amount=sum(item_amount(spec.price, spec.quantity) for spec in specs),
        param=options.discount_param,
    )
    if coupon is not None:
        attach_discount(subscription, coupon, promotion_code, start=now)

    invoice, prorations, scheduled_at = None, [], None
    trial_ended = trialing and options.end_trial
    if not trialing and _waits_for_period_end(options.schedule_conditions, current, specs, old_interval, new_interval):
        scheduled_at = subscription.current_period_end
        subscription.scheduled_change = _stored_change(changes)
        subscription.save(update_fields=["scheduled_change"])
    else:
        invoice, prorations = _apply_now(subscription, current, plan, added, at, options, old_interval, new_interval)
    if getattr(invoice, "waiting_update", None) is None:
        _write_item_details(subscription, current, changes)
    if dry_run:
        raise _DryRun(_change_preview(subscription, invoice, prorations, scheduled_at, trial_ended))
    waiting = getattr(invoice, "waiting_update", None)
    if waiting is not None:
        pending.collect_pending(subscription, invoice, waiting, before)
    elif invoice is not None:
        collect_now(subscription, invoice, options)
    subscription.refresh_from_db()
    # A pending update's event comes with its payment's answer (see ``pending``).
    if subscription.pending_update is None and (scheduled_at is None or render(subscription) != before):
        emit("customer.subscription.updated", subscription, before=before)
    action = "subscription.schedule_change" if scheduled_at else "subscription.change_items"
    audit.record(
        actor,
        "subscription.pending_update" if subscription.pending_update else action,
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


def _write_item_details(subscription: Subscription, current: dict[str, SubscriptionItem], changes) -> None:
    """Metadata and tax rates of the items the changes name, and of the items they add (matched by price)."""
    added = None
    for change in changes:
        if change.deleted or (change.metadata is None and change.tax_rates is None):
            continue
        item = current.get(change.item.id) if change.item is not None else None
        if item is None:
            if added is None:
                added = {item.price_id: item for item in subscription.items.exclude(pk__in=list(current))}
            item = added.get(change.price.pk)
        if item is None:
            continue  # waits for the period end with the rest of the change
        if change.metadata is not None:
            item.metadata = merge_metadata(item.metadata, change.metadata)
            item.save(update_fields=["metadata"])
        for rate in change.tax_rates or []:
            same_tenant(subscription, rate)
        if change.tax_rates is not None:
            item.tax_rates.set(change.tax_rates)
    if added is not None or any(c.metadata is not None or c.tax_rates is not None for c in changes):
        subscription._prefetched_objects_cache = {}


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
    if current and not plan and not added:
        raise InvalidRequest(
            "A subscription must have at least one item. To cancel a subscription, use DELETE /v1/subscriptions/{id}.",
            param="items",
        )
    return plan, added


def _waits_for_period_end(
    conditions: tuple[str, ...],
    current: dict[str, SubscriptionItem],
    specs: list[ItemSpec],
    old_interval: tuple[str, int],
    new_interval: tuple[str, int],
) -> bool:
    """Whether the change is a downgrade that ``conditions`` move to the end of the period."""
    if "shortening_interval" in conditions and interval_days(new_interval) < interval_days(old_interval):
        return True
    if "decreasing_item_amount" in conditions:
        old = sum(item_amount(item.price, item.quantity) for item in current.values())
        return sum(item_amount(spec.price, spec.quantity) for spec in specs) < old
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


def _prorations(subscription, current, plan, added, at, options: ChangeOptions, restart: bool) -> list[LineSpec]:
    """What the change credits and charges for the rest of the current period (a trial costs nothing)."""
    if subscription.status == Subscription.Status.TRIALING or options.proration_behavior == "none":
        return []
    start, end = subscription.current_period_start, subscription.current_period_end
    defaults = list(subscription.default_tax_rates.all())
    lines: list[LineSpec] = []
    for pk, item in current.items():
        new = plan.get(pk)
        if new is not None and (new[0].pk, new[1]) == (item.price_id, item.quantity) and not restart:
            continue
        rate = tax_rate_for(item.tax_rates.all(), defaults)
        credit = pricing.prorate(item_amount(item.price, item.quantity), start, end, at)
        if credit:
            lines.append(proration_line("Unused time on", item.price, item.quantity, -credit, at, end, rate))
        if new is not None and not restart:
            charge = pricing.prorate(item_amount(new[0], new[1]), start, end, at)
            if charge:
                lines.append(proration_line("Remaining time on", new[0], new[1], charge, at, end, rate))
    if not restart:
        for price, quantity in added:
            charge = pricing.prorate(item_amount(price, quantity), start, end, at)
            if charge:
                rate = tax_rate_for([], defaults)
                lines.append(proration_line("Remaining time on", price, quantity, charge, at, end, rate))
    return lines


def _write_items(subscription, current, plan, added) -> None:
    """Apply the new item set; it replaces any change that was waiting for the period end."""
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


def _apply_now(subscription, current, plan, added, at, options: ChangeOptions, old_interval, new_interval):
    """Credit and charge the rest of the period as the options say, write the new item set and, when the period
    restarts (new interval, ``billing_cycle_anchor=now``, a trial that ends), invoice the new period now. Returns
    the invoice built now (in memory, not stored yet) or None, and the proration lines."""
    trialing = subscription.status == Subscription.Status.TRIALING
    restart = options.end_trial if trialing else old_interval != new_interval or options.restart_cycle
    prorations = _prorations(subscription, current, plan, added, at, options, restart)
    invoices_now = restart or (prorations and options.proration_behavior == "always_invoice")
    if invoices_now and options.payment_behavior == pending.PENDING_IF_INCOMPLETE:
        future = [(current[pk], price, quantity) for pk, (price, quantity) in plan.items()]
        future += [(None, price, quantity) for price, quantity in added]
        return _invoice_pending(subscription, future, prorations, at, restart, trialing, new_interval), prorations
    _write_items(subscription, current, plan, added)
    if restart:
        # A new period starts now and is invoiced at once (Stripe resets the anchor).
        _restart_period(subscription, at, new_interval, trialing)
        subscription.save()
        lines = prorations + period_lines(subscription, at, subscription.current_period_end, trial=False)
        return invoice_now(subscription, lines), prorations
    subscription.save(update_fields=["scheduled_change"])
    if prorations and options.proration_behavior == "always_invoice":
        return invoice_now(subscription, prorations), prorations
    if prorations and options.proration_behavior == "create_prorations":
        for line in prorations:
            save_pending(subscription, line)
    return None, prorations


def _restart_period(subscription: Subscription, at: dt.datetime, new_interval, trialing: bool) -> None:
    if trialing:
        subscription.status = Subscription.Status.ACTIVE
        subscription.trial_end = at
    at = clock.whole_seconds(at)
    subscription.billing_cycle_anchor = at
    subscription.billing_cycle_anchor_config = None
    subscription.period_index = 1
    subscription.current_period_start = at
    subscription.current_period_end = period_end(at, new_interval[0], new_interval[1], 1)


# What a restarted period changes on the subscription.
RESTART_FIELDS = (
    "status",
    "trial_end",
    "billing_cycle_anchor",
    "billing_cycle_anchor_config",
    "period_index",
    "current_period_start",
    "current_period_end",
)


def _invoice_pending(subscription, future, prorations, at, restart, trialing, new_interval) -> Invoice:
    """``pending_if_incomplete``: the change's invoice, built for the items (and period) as they will be while the
    subscription keeps its own; the update to store rides on the invoice (``invoice.waiting_update``)."""
    kept = {name: getattr(subscription, name) for name in RESTART_FIELDS}
    lines = prorations
    if restart:
        _restart_period(subscription, at, new_interval, trialing)
        lines = prorations + period_lines(subscription, at, subscription.current_period_end, trial=False, plan=future)
    invoice = invoice_now(subscription, lines)
    invoice.waiting_update = pending.target(subscription, future, restart=restart, trial_ended=restart and trialing)
    for name, value in kept.items():
        setattr(subscription, name, value)
    return invoice


def invoice_now(subscription: Subscription, lines: list[LineSpec]) -> Invoice:
    lines = lines + pending_lines(subscription)
    discounts = active_discounts(subscription, clock.now())
    return invoices.invoice_build(
        customer=subscription.customer,
        subscription=subscription,
        currency=subscription.currency,
        billing_reason=Invoice.BillingReason.SUBSCRIPTION_UPDATE,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
        lines=lines,
        discounts=discounts,
        collection_method=subscription.collection_method,
        days_until_due=subscription.days_until_due,
    )


def collect_now(subscription: Subscription, invoice: Invoice, options: ChangeOptions) -> None:
    """Finalize the invoice issued by the change and start its payment (after the commit), or, for
    ``error_if_incomplete``, ask the processor now and let a decline undo the whole change."""
    customer = subscription.customer
    if options.payment_behavior == "error_if_incomplete" and invoice.collection_method == "charge_automatically":
        # The processor is asked before the invoice is numbered, so no counter is held during the call.
        invoices.finalize_built(invoice, customer, before_numbering=payments.charge_inline)
        invoices.invoice_write(invoice)
        payments.record_inline(invoice)
    else:
        invoices.finalize_built(invoice, customer)
        if invoices.charges_automatically(invoice):
            payments.payment_start(invoice)
        invoices.invoice_write(invoice)
    subscription.latest_invoice = invoice
    subscription.save(update_fields=["latest_invoice"])


def _change_preview(
    subscription: Subscription,
    invoice: Invoice | None,
    prorations: list[LineSpec],
    scheduled_at: dt.datetime | None,
    trial_ended: bool,
) -> ChangePreview:
    next_at, _next_lines, next_totals = upcoming_invoice(subscription)
    preview = ChangePreview(
        currency=subscription.currency,
        due_now=0,
        due_now_lines=[],
        proration_lines=_preview_lines(prorations),
        next_invoice_at=None if subscription.cancel_at_period_end else next_at,
        next_invoice_total=next_totals.total,
        scheduled_at=scheduled_at,
        trial_ended=trial_ended,
    )
    if invoice is not None:
        balance = Customer.objects.values_list("balance", flat=True).get(pk=subscription.customer_id)
        preview.invoiced_now = True
        preview.due_now = pricing.apply_balance(invoice.total, balance, invoice.currency)[0]
        preview.due_now_lines = _preview_lines(invoice.lines.all())
        preview.due_now_subtotal = invoice.subtotal
        preview.due_now_discount = invoice.total_discount
        preview.due_now_total = invoice.total
    return preview


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
