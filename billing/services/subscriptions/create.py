"""Creating a subscription: its items, discount, first invoice and the first payment attempt."""

import datetime as dt

from billing import audit, clock
from billing.audit import Actor
from billing.exceptions import CardDeclined, InvalidRequest
from billing.models import (
    Charge,
    Coupon,
    Customer,
    Invoice,
    PaymentMethod,
    PromotionCode,
    Subscription,
    SubscriptionItem,
    TaxRate,
)
from billing.periods import period_end
from billing.services import invoices, payments
from billing.services.common import emit, lock, same_tenant, validate_metadata
from billing.services.door import service
from billing.services.subscriptions.discounts import attach_discount, resolve_discount
from billing.services.subscriptions.lines import (
    ItemSpec,
    active_discounts,
    period_lines,
    spend_once_discounts,
    validate_items,
)

MAX_TRIAL_DAYS = 730


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
    payment_behavior: str = "allow_incomplete",
    payment_settings: dict | None = None,
) -> Subscription:
    """Create a subscription with its first invoice and (charge_automatically) pay it.

    The subscription is written ``incomplete`` with its open first invoice and a pending charge; the processor is
    asked after that commits and the answer makes it ``active`` (Stripe's events: created, then updated). A decline
    leaves it ``incomplete`` (Stripe's allow_incomplete); with ``payment_behavior="error_if_incomplete"`` the
    decline is then raised as ``CardDeclined`` (the incomplete subscription stays, as at Stripe). With
    ``default_incomplete`` the first payment waits for the customer to confirm the invoice's PaymentIntent.
    """
    if payment_behavior == "pending_if_incomplete":
        raise InvalidRequest(
            "payment_behavior=pending_if_incomplete is only supported when updating a subscription; use "
            "allow_incomplete, default_incomplete or error_if_incomplete to create one.",
            param="payment_behavior",
        )
    validate_items(customer, items)
    _check_arguments(customer, items, collection_method, days_until_due, default_payment_method)
    trial_end = _trial_end(trial_end, trial_period_days, clock.now())
    subscription = _create(
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
    )
    if subscription.status == Subscription.Status.INCOMPLETE:
        subscription.refresh_from_db()  # the first payment's answer has been recorded since
    if payment_behavior == "error_if_incomplete" and subscription.status == Subscription.Status.INCOMPLETE:
        charge = Charge.objects.filter(invoice_id=subscription.latest_invoice_id).order_by("-id").first()
        raise CardDeclined(
            (charge.failure_message if charge else "") or "The subscription's first payment could not be completed.",
            decline_code=(charge.decline_code or None) if charge else None,
            charge_id=charge.id if charge else None,
        )
    return subscription


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
    coupon, promotion_code = resolve_discount(customer, currency, options["coupon"], options["promotion_code"])
    subscription = _insert(customer, items, options, currency)
    now = subscription.start_date
    if coupon is not None:
        attach_discount(subscription, coupon, promotion_code, start=now)
    invoice = _first_invoice(subscription, customer, wait_for_customer=options["default_incomplete"])
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
    now = clock.now()
    trial_end = options["trial_end"]
    trialing = trial_end is not None
    anchor = trial_end if trialing else now
    price = items[0].price
    send_invoice = options["collection_method"] == Subscription.CollectionMethod.SEND_INVOICE
    subscription = Subscription.objects.create(
        account_id=customer.account_id,
        livemode=customer.livemode,
        created=now,
        customer=customer,
        status=Subscription.Status.TRIALING if trialing else Subscription.Status.INCOMPLETE,
        currency=currency,
        collection_method=options["collection_method"],
        days_until_due=options["days_until_due"] if send_invoice else None,
        billing_cycle_anchor=anchor,
        current_period_start=now,
        current_period_end=trial_end
        if trialing
        else period_end(anchor, price.recurring_interval, price.recurring_interval_count, 1),
        period_index=0 if trialing else 1,
        trial_start=now if trialing else None,
        trial_end=trial_end,
        start_date=now,
        default_payment_method=options["default_payment_method"],
        payment_settings=options["payment_settings"],
        metadata=options["metadata"],
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


def _first_invoice(subscription: Subscription, customer: Customer, *, wait_for_customer: bool = False) -> Invoice:
    """The first invoice (a zero-amount one for a trial), finalized; a charge is started when it is due. With
    ``wait_for_customer`` (Stripe's ``default_incomplete``) nothing is charged: the invoice's PaymentIntent waits
    for the customer to confirm it (its client secret is the invoice's ``confirmation_secret``)."""
    now = subscription.start_date
    trialing = subscription.status == Subscription.Status.TRIALING
    discounts = active_discounts(subscription, now)
    invoice = invoices.invoice_build(
        customer=customer,
        subscription=subscription,
        currency=subscription.currency,
        billing_reason=Invoice.BillingReason.SUBSCRIPTION_CREATE,
        period_start=now,
        period_end=subscription.current_period_end,
        lines=period_lines(subscription, now, subscription.current_period_end, trial=trialing),
        coupons=[d.coupon for d in discounts],
        collection_method=subscription.collection_method,
        days_until_due=subscription.days_until_due,
    )
    if not trialing:
        spend_once_discounts(discounts)
    invoices.finalize_built(invoice, customer)
    if invoices.charges_automatically(invoice):
        if wait_for_customer:
            invoice = invoices.invoice_write(invoice)
            payments.payment_prepare(invoice)
            return invoice
        payments.payment_start(invoice)
    return invoices.invoice_write(invoice)
