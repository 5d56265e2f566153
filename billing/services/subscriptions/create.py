"""Creating a subscription: its items, discount, first invoice and the first payment attempt."""

import datetime as dt
from dataclasses import dataclass, replace

from billing import audit, clock, pricing
from billing.audit import Actor
from billing.exceptions import CardDeclined, InvalidRequest
from billing.models import (
    Charge,
    Coupon,
    Customer,
    Invoice,
    InvoiceItem,
    PaymentMethod,
    Price,
    PromotionCode,
    Subscription,
    SubscriptionItem,
    TaxRate,
)
from billing.periods import next_anchor, period_end
from billing.services import invoices, payments
from billing.services.common import emit, lock, same_tenant, validate_metadata
from billing.services.door import service
from billing.services.subscriptions.discounts import attach_discount, resolve_discount
from billing.services.subscriptions.lines import (
    ItemSpec,
    active_discounts,
    item_amount,
    item_lines,
    period_lines,
    spend_once_discounts,
    validate_items,
)

MAX_TRIAL_DAYS = 730
PRORATION_BEHAVIORS = ("create_prorations", "always_invoice", "none")
ANCHOR_CONFIG_RANGES = {
    "day_of_month": (1, 31),
    "month": (1, 12),
    "hour": (0, 23),
    "minute": (0, 59),
    "second": (0, 59),
}


@dataclass(frozen=True)
class Start:
    """Where a new subscription's billing begins: ``start`` (its start_date, earlier when backdated), the
    ``anchor`` its full periods align to, the anchor's config and whether the time before the anchor is billed."""

    start: dt.datetime
    anchor: dt.datetime | None = None
    config: dict | None = None
    prorate: bool = True


def _check_arguments(customer, items, collection_method, days_until_due, default_payment_method) -> None:
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


def _trial_end(trial_end: dt.datetime | None, trial_period_days: int | None, now: dt.datetime) -> dt.datetime | None:
    if trial_period_days is not None:
        if not 1 <= int(trial_period_days) <= MAX_TRIAL_DAYS:
            raise InvalidRequest(
                f"Invalid trial_period_days: must be between 1 and {MAX_TRIAL_DAYS}.", param="trial_period_days"
            )
        trial_end = now + dt.timedelta(days=int(trial_period_days))
    if trial_end is not None and trial_end <= now:
        raise InvalidRequest("Invalid trial_end: must be in the future.", param="trial_end")
    return trial_end


def _check_anchor_config(config: dict, interval: str) -> dict:
    """Stripe's billing_cycle_anchor_config: day_of_month required, each part in its range, month/year prices only."""
    if "day_of_month" not in config:
        raise InvalidRequest(
            "Missing required param: billing_cycle_anchor_config[day_of_month].",
            param="billing_cycle_anchor_config[day_of_month]",
            code="parameter_missing",
        )
    for key, value in config.items():
        low, high = ANCHOR_CONFIG_RANGES[key]
        if value is not None and not low <= int(value) <= high:
            raise InvalidRequest(
                f"Invalid billing_cycle_anchor_config[{key}]: must be between {low} and {high}.",
                param=f"billing_cycle_anchor_config[{key}]",
            )
    if interval not in ("month", "year"):
        raise InvalidRequest(
            "billing_cycle_anchor_config is only valid with monthly and yearly price intervals.",
            param="billing_cycle_anchor_config",
        )
    return {key: None if config.get(key) is None else int(config[key]) for key in ANCHOR_CONFIG_RANGES}


def plan_start(
    *,
    items: list[ItemSpec],
    now: dt.datetime,
    trial_end: dt.datetime | None,
    billing_cycle_anchor: dt.datetime | None = None,
    billing_cycle_anchor_config: dict | None = None,
    backdate_start_date: dt.datetime | None = None,
    proration_behavior: str = "create_prorations",
) -> Start:
    """Check the start parameters as Stripe does (docs.stripe.com/billing/subscriptions/billing-cycle and
    /backdating) and say where billing begins. Refused: an anchor and an anchor config together, an anchor before
    now (or before the trial's end), an anchor after the next natural billing date and a backdate in the future. A
    backdate "can be combined with trials and the billing cycle anchor" (docs.stripe.com/api/subscriptions/create
    #create_subscription-backdate_start_date): the trial starts now and the backdated time is on the first invoice."""
    if proration_behavior not in PRORATION_BEHAVIORS:
        raise InvalidRequest(f"Invalid proration_behavior: {proration_behavior}", param="proration_behavior")
    price = items[0].price
    interval, count = price.recurring_interval, price.recurring_interval_count
    if billing_cycle_anchor is not None and billing_cycle_anchor_config is not None:
        raise InvalidRequest(
            "You may only specify one of these parameters: billing_cycle_anchor, billing_cycle_anchor_config.",
            param="billing_cycle_anchor_config",
        )
    if backdate_start_date is not None:
        backdate_start_date = clock.whole_seconds(backdate_start_date)
        if backdate_start_date >= now:
            raise InvalidRequest(
                "backdate_start_date must be in the past: it is the date the subscription is backdated to.",
                param="backdate_start_date",
            )
    base = trial_end or now
    config = None
    if billing_cycle_anchor_config is not None:
        config = _check_anchor_config(billing_cycle_anchor_config, interval)
        billing_cycle_anchor = next_anchor(base - dt.timedelta(seconds=1), **config)
    if billing_cycle_anchor is not None:
        billing_cycle_anchor = clock.whole_seconds(billing_cycle_anchor)
        natural = period_end(base, interval, count, 1)
        if billing_cycle_anchor < base or (trial_end is None and billing_cycle_anchor <= now):
            raise InvalidRequest(
                "billing_cycle_anchor cannot be earlier than the trial's end."
                if trial_end is not None
                else "billing_cycle_anchor must be in the future.",
                param="billing_cycle_anchor",
            )
        if billing_cycle_anchor > natural:
            raise InvalidRequest(
                f"billing_cycle_anchor cannot be later than next natural billing date ({clock.to_unix(natural)}) for "
                "plan",
                param="billing_cycle_anchor",
            )
        if billing_cycle_anchor == natural and config is None:
            billing_cycle_anchor = None  # the natural anchor: nothing to prorate
    return Start(
        start=backdate_start_date or now,
        anchor=billing_cycle_anchor,
        config=config,
        prorate=proration_behavior != "none",
    )


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
    cancel_at_period_end: bool = False,
    cancel_at: dt.datetime | None = None,
    payment_behavior: str = "allow_incomplete",
    payment_settings: dict | None = None,
    billing_cycle_anchor: dt.datetime | None = None,
    billing_cycle_anchor_config: dict | None = None,
    backdate_start_date: dt.datetime | None = None,
    proration_behavior: str = "create_prorations",
    discount_param: str | None = None,
    add_invoice_items: list[ItemSpec] = (),
    description: str = "",
) -> Subscription:
    """Create a subscription with its first invoice and (charge_automatically) pay it; ``add_invoice_items``
    (Stripe's): one-time prices billed once, on that first invoice (a set-up fee).

    The subscription is written ``incomplete`` with its open first invoice and a pending charge; the processor is
    asked after that commits and the answer makes it ``active`` (Stripe's events: created, then updated). A decline
    leaves it ``incomplete`` (Stripe's allow_incomplete); with ``payment_behavior="error_if_incomplete"`` the
    decline is then raised as ``CardDeclined`` (the incomplete subscription stays, as at Stripe). With
    ``default_incomplete`` the first payment waits for the customer to confirm the invoice's PaymentIntent.
    Anchors, anchor configs and backdating: see ``plan_start`` (what is refused) and ``stub_lines`` (what is billed).
    ``cancel_at`` ends the subscription then; inside the first period the first invoice bills only the time up to it
    (unless ``proration_behavior="none"``), in a later period that period's invoice does.
    """
    _check_payment_behavior(payment_behavior)
    validate_items(customer, items)
    _check_invoice_items(customer, items, add_invoice_items)
    _check_arguments(customer, items, collection_method, days_until_due, default_payment_method)
    now = clock.whole_seconds(clock.now())
    trial_end = clock.whole_seconds(_trial_end(trial_end, trial_period_days, now))
    start = plan_start(
        items=items,
        now=now,
        trial_end=trial_end,
        billing_cycle_anchor=billing_cycle_anchor,
        billing_cycle_anchor_config=billing_cycle_anchor_config,
        backdate_start_date=backdate_start_date,
        proration_behavior=proration_behavior,
    )
    subscription = _create(
        now=now,
        start=start,
        cancel_at=_check_cancel_at(cancel_at, cancel_at_period_end, now),
        customer=customer,
        items=items,
        actor=actor,
        default_payment_method=default_payment_method,
        trial_end=trial_end,
        collection_method=collection_method,
        days_until_due=days_until_due,
        coupon=coupon,
        promotion_code=promotion_code,
        default_tax_rates=list(default_tax_rates),
        metadata=validate_metadata(metadata),
        cancel_at_period_end=cancel_at_period_end,
        default_incomplete=payment_behavior == "default_incomplete",
        payment_settings={k: v for k, v in (payment_settings or {}).items() if k != "payment_method_options"},
        discount_param=discount_param,
        add_invoice_items=list(add_invoice_items),
        description=(description or "").strip()[:500],
    )
    if subscription.status == Subscription.Status.INCOMPLETE:
        subscription.refresh_from_db()  # the first payment's answer has been recorded since
    if payment_behavior == "error_if_incomplete" and subscription.status == Subscription.Status.INCOMPLETE:
        _raise_decline(subscription)
    return subscription


def _check_payment_behavior(payment_behavior: str) -> None:
    if payment_behavior == "pending_if_incomplete":
        raise InvalidRequest(
            "payment_behavior=pending_if_incomplete is only supported when updating a subscription; use "
            "allow_incomplete, default_incomplete or error_if_incomplete to create one.",
            param="payment_behavior",
        )


def _check_cancel_at(cancel_at: dt.datetime | None, cancel_at_period_end: bool, now: dt.datetime):
    if cancel_at is None:
        return None
    if cancel_at_period_end:
        raise InvalidRequest(
            "You may only specify one of these parameters: cancel_at, cancel_at_period_end.", param="cancel_at"
        )
    cancel_at = clock.whole_seconds(cancel_at)
    if cancel_at <= now:
        raise InvalidRequest("cancel_at must be in the future.", param="cancel_at")
    return cancel_at


def _raise_decline(subscription: Subscription) -> None:
    charge = Charge.objects.filter(invoice_id=subscription.latest_invoice_id).order_by("-id").first()
    raise CardDeclined(
        (charge.failure_message if charge else "") or "The subscription's first payment could not be completed.",
        decline_code=(charge.decline_code or None) if charge else None,
        charge_id=charge.id if charge else None,
    )


@service
def _create(*, customer: Customer, items: list[ItemSpec], actor: Actor, **options) -> Subscription:
    currency = items[0].price.currency
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
    coupon, promotion_code = resolve_discount(
        customer,
        currency,
        options["coupon"],
        options["promotion_code"],
        amount=sum(item_amount(spec.price, spec.quantity) for spec in items),
        param=options.get("discount_param"),
    )
    subscription = _insert(customer, items, options, currency)
    now = subscription.created
    if options["cancel_at"] is not None:
        subscription.cancel_at = options["cancel_at"]
        subscription.canceled_at = now
        subscription.cancellation_reason = Subscription.CancellationReason.CANCELLATION_REQUESTED
    if coupon is not None:
        attach_discount(subscription, coupon, promotion_code, start=now)
    invoice = _first_invoice(
        subscription,
        customer,
        wait_for_customer=options["default_incomplete"],
        prorate=options["start"].prorate,
        added=_add_invoice_items(subscription, options["add_invoice_items"]),
    )
    subscription.latest_invoice = invoice
    trialing = subscription.status == Subscription.Status.TRIALING
    if not trialing:
        settled = invoice.status == Invoice.Status.PAID or not invoices.charges_automatically(invoice)
        subscription.status = Subscription.Status.ACTIVE if settled else Subscription.Status.INCOMPLETE
    if options["cancel_at_period_end"]:
        subscription.cancel_at_period_end = True
        subscription.canceled_at = now
        subscription.cancellation_reason = Subscription.CancellationReason.CANCELLATION_REQUESTED
    subscription.save()
    emit("customer.subscription.created", subscription)
    audit.record(
        actor,
        "subscription.create",
        subscription,
        {"items": [s.price.id for s in items], "status": subscription.status},
    )
    return subscription


def _insert(customer: Customer, items: list[ItemSpec], options: dict, currency: str) -> Subscription:
    # The moment the start was planned at: a second turning over since then must not leave a one-second stub period
    # between that plan's start and this row's first period.
    now = options["now"]
    start: Start = options["start"]
    trial_end = options["trial_end"]
    trialing = trial_end is not None
    price = items[0].price
    interval, count = price.recurring_interval, price.recurring_interval_count
    config = dict(start.config or {})
    if start.anchor is not None:
        # Full periods begin at the anchor; the time before it is the first (stub) period, or follows the trial.
        anchor, index = start.anchor, 0
        period_start = now if trialing else start.start
        period_end_ = trial_end if trialing else start.anchor
        if trialing:
            config["stub"] = "prorate" if start.prorate else "none"
    else:
        anchor = trial_end if trialing else now
        index = 0 if trialing else 1
        period_start = now
        period_end_ = trial_end if trialing else period_end(anchor, interval, count, 1, day_of_month=None)
    send_invoice = options["collection_method"] == Subscription.CollectionMethod.SEND_INVOICE
    subscription = Subscription.objects.create(
        account_id=customer.account_id,
        livemode=customer.livemode,
        created=now,
        customer=customer,
        test_clock_id=customer.test_clock_id,
        status=Subscription.Status.TRIALING if trialing else Subscription.Status.INCOMPLETE,
        currency=currency,
        collection_method=options["collection_method"],
        days_until_due=options["days_until_due"] if send_invoice else None,
        billing_cycle_anchor=anchor,
        billing_cycle_anchor_config=config or None,
        current_period_start=period_start,
        current_period_end=period_end_,
        period_index=index,
        trial_start=now if trialing else None,
        trial_end=trial_end,
        start_date=start.start,
        default_payment_method=options["default_payment_method"],
        payment_settings=options["payment_settings"],
        metadata=options["metadata"],
        description=options["description"],
    )
    subscription.default_tax_rates.set(options["default_tax_rates"])
    for spec in items:
        item = SubscriptionItem.objects.create(
            account_id=subscription.account_id,
            livemode=subscription.livemode,
            subscription=subscription,
            price=spec.price,
            quantity=spec.quantity,
        )
        if spec.tax_rates:
            item.tax_rates.set(spec.tax_rates)
    return subscription


def stub_lines(subscription: Subscription, start: dt.datetime, end: dt.datetime, *, prorate: bool) -> list:
    """The lines billing ``start``..``end``, a time shorter than a period (before an anchor, or backdated): each
    item's amount by Stripe's rule (``pricing.span_amount``), or nothing with ``proration_behavior=none``."""
    interval, count = subscription.interval()
    return [
        replace(
            line, amount=pricing.span_amount(line.amount, start, end, interval, count) if prorate else 0, proration=True
        )  # fmt: skip
        for line in period_lines(subscription, start, end, trial=False)
    ]


def period_until_cancel(subscription: Subscription, start: dt.datetime, end: dt.datetime) -> list:
    """The period's lines; a ``cancel_at`` inside the period bills only the time up to it: the full amount less the
    unused time's proration (docs.stripe.com/api/subscriptions/create#create_subscription-cancel_at: "If set to a date
    before the current period ends, this will cause a proration if prorations have been enabled"; "If set during a
    future period, this will always cause a proration for that period")."""
    lines = period_lines(subscription, start, end, trial=False)
    cancel_at = subscription.cancel_at
    if cancel_at is None or not start < cancel_at < end:
        return lines
    return [
        replace(line, amount=line.amount - pricing.prorate(line.amount, start, end, cancel_at), proration=True)
        for line in lines
    ]


def _first_lines(subscription: Subscription, now: dt.datetime, trialing: bool, prorate: bool) -> list:
    start, end = subscription.current_period_start, subscription.current_period_end
    if trialing:
        # "the first invoice will contain a proration for the timespan between the start date and the current
        # time" (backdate_start_date), then the trial's zero lines.
        backdated = subscription.start_date < start
        elapsed = stub_lines(subscription, subscription.start_date, start, prorate=prorate) if backdated else []
        return elapsed + period_lines(subscription, start, end, trial=True)
    cancel_at = subscription.cancel_at
    if subscription.period_index == 0:  # a stub period up to the anchor (possibly backdated)
        if prorate and cancel_at is not None and start < cancel_at < end:
            end = cancel_at  # ends before the anchor: only the time up to cancel_at
        return stub_lines(subscription, start, end, prorate=prorate)
    lines = []
    if subscription.start_date < start:  # backdated, anchored now: the elapsed time, then a full period
        lines += stub_lines(subscription, subscription.start_date, start, prorate=prorate)
    if not prorate:
        return lines + period_lines(subscription, start, end, trial=False)
    return lines + period_until_cancel(subscription, start, end)


def _check_invoice_items(customer: Customer, items: list[ItemSpec], added: list[ItemSpec]) -> None:
    for i, spec in enumerate(added):
        param = f"add_invoice_items[{i}][price]"
        same_tenant(customer, spec.price)
        if spec.price.type != Price.Type.ONE_TIME or not spec.price.active:
            raise InvalidRequest("add_invoice_items takes active one-time prices only.", param=param)
        if spec.price.currency != items[0].price.currency:
            raise InvalidRequest("add_invoice_items must be in the subscription's currency.", param=param)
        if not 1 <= spec.quantity <= 999_999:
            raise InvalidRequest("Invalid quantity: must be at least 1.", param=f"add_invoice_items[{i}][quantity]")


def _add_invoice_items(subscription: Subscription, added: list[ItemSpec]) -> list[InvoiceItem]:
    """The pending invoice items of ``add_invoice_items``, which the first invoice takes at once."""
    rows = []
    for spec in added:
        item = InvoiceItem.objects.create(
            account_id=subscription.account_id,
            livemode=subscription.livemode,
            customer_id=subscription.customer_id,
            test_clock_id=subscription.test_clock_id,
            subscription=subscription,
            price=spec.price,
            description=spec.price.product.name[:500],
            amount=item_amount(spec.price, spec.quantity),
            currency=subscription.currency,
            quantity=spec.quantity,
            period_start=subscription.created,
            period_end=subscription.created,
        )
        emit("invoiceitem.created", item)
        rows.append(item)
    return rows


def _first_invoice(
    subscription: Subscription,
    customer: Customer,
    *,
    wait_for_customer: bool = False,
    prorate: bool = True,
    added: list[InvoiceItem] = (),
) -> Invoice:
    """The first invoice (a zero-amount one for a trial), finalized; a charge is started when it is due. With
    ``wait_for_customer`` (Stripe's ``default_incomplete``) nothing is charged: the invoice's PaymentIntent waits
    for the customer to confirm it (its client secret is the invoice's ``confirmation_secret``)."""
    now = subscription.created
    trialing = subscription.status == Subscription.Status.TRIALING
    discounts = active_discounts(subscription, now)
    invoice = invoices.invoice_build(
        customer=customer,
        subscription=subscription,
        currency=subscription.currency,
        billing_reason=Invoice.BillingReason.SUBSCRIPTION_CREATE,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
        lines=_first_lines(subscription, now, trialing, prorate) + item_lines(added),
        discounts=discounts,
        collection_method=subscription.collection_method,
        days_until_due=subscription.days_until_due,
    )
    if not trialing or invoice.subtotal:  # a trial's invoice spends a once coupon only on backdated time
        spend_once_discounts(discounts)
    invoices.finalize_built(invoice, customer)
    if invoices.charges_automatically(invoice):
        if wait_for_customer:
            invoice = invoices.invoice_write(invoice)
            payments.payment_prepare(invoice)
            return invoice
        payments.payment_start(invoice)
    return invoices.invoice_write(invoice)
