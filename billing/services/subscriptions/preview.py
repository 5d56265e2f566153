"""Invoice previews: the invoice a subscription change (or, without one, the next renewal) produces, found by running
the very services that make it in a transaction that is then rolled back. What the preview shows is what the
change then bills, to the minor unit, because it is the same code: nothing is computed twice.

The invoice is taken from the ``invoice.created`` event the services record when they build it (a draft, before
any payment), so a change that invoices now previews that invoice, and any other change previews the renewal that
follows it (the billing cycle is run at the period end, inside the same rolled-back transaction).
"""

from dataclasses import replace

from billing import clock, events, pricing
from billing.audit import Actor
from billing.exceptions import NotFound
from billing.models import Customer, Subscription
from billing.services.door import service
from billing.services.subscriptions.create import subscription_create
from billing.services.subscriptions.state import take
from billing.services.subscriptions.update import subscription_update


class _Rollback(Exception):
    """Carries the previewed invoice out of the transaction it undoes."""

    def __init__(self, invoice: dict):
        self.invoice = invoice


def no_upcoming(customer_id: str) -> NotFound:
    return NotFound(f"No upcoming invoices for customer: {customer_id}", param="customer", code="invoice_upcoming_none")


def subscription_invoice_preview(
    *, subscription: Subscription, actor: Actor, update: dict | None = None, invoice_items: list[dict] = ()
) -> dict:
    """The invoice (Stripe JSON, a draft) that ``subscription_update(subscription=…, **update)`` issues now, or else
    the subscription's next renewal invoice once the update is made, with ``invoice_items`` (``invoice_item_create``
    arguments) pending for it. Nothing is written. ``NotFound`` with code ``invoice_upcoming_none`` when no invoice
    follows (the subscription has ended, or ends before it renews)."""
    try:
        _preview_change(subscription.pk, actor, update or {}, list(invoice_items))
    except _Rollback as done:
        return done.invoice
    raise AssertionError("a preview always rolls back")  # pragma: no cover


def subscription_create_preview(*, customer: Customer, actor: Actor, create: dict) -> dict:
    """The first invoice of the subscription ``subscription_create(customer=…, **create)`` would start."""
    try:
        _preview_create(customer, actor, create)
    except _Rollback as done:
        return done.invoice
    raise AssertionError("a preview always rolls back")  # pragma: no cover


@service
def _preview_change(subscription_pk: str, actor: Actor, update: dict, invoice_items: list[dict]) -> None:
    from billing.services.invoice_items import invoice_item_create  # items build on subscriptions' lines

    subscription = take(subscription_pk, ended=None)
    if subscription.is_ended:
        raise no_upcoming(subscription.customer_id)
    balance = _balance(subscription.customer_id)
    for arguments in invoice_items:
        invoice_item_create(customer=subscription.customer, subscription=subscription, actor=actor, **arguments)
    mark = events.collected_count()
    if update.get("change_options") is not None:
        # The processor is never asked during a preview: a payment is not part of what the invoice shows.
        update = {**update, "change_options": replace(update["change_options"], payment_behavior="allow_incomplete")}
    if update:
        subscription_update(subscription=subscription, actor=actor, **update)
    invoice = _created_invoice(mark, subscription_pk)
    if invoice is None:
        invoice = _next_renewal(subscription_pk, mark)
    raise _Rollback(_with_balance(invoice, balance))


@service
def _preview_create(customer: Customer, actor: Actor, create: dict) -> None:
    balance = _balance(customer.pk)
    mark = events.collected_count()
    create = {**create, "payment_behavior": "default_incomplete"}
    subscription = subscription_create(customer=customer, actor=actor, **create)
    invoice = _created_invoice(mark, subscription.pk)
    if invoice is None:  # pragma: no cover - a new subscription always invoices (a trial's invoice is zero)
        raise no_upcoming(customer.pk)
    raise _Rollback(_with_balance(invoice, balance))


def _next_renewal(subscription_pk: str, mark: int) -> dict:
    """Run the billing cycle at the end of the current period and take the invoice it builds."""
    from billing.services.subscriptions.renew import catch_up_locked  # renew builds on this package's modules

    subscription = take(subscription_pk, ended=None)
    if not subscription.is_ended:
        moment = max(subscription.current_period_end, clock.now())
        with clock.frozen_at(moment):
            catch_up_locked(subscription)
    invoice = _created_invoice(mark, subscription_pk)
    if invoice is None:
        raise no_upcoming(subscription.customer_id)
    return invoice


def _created_invoice(mark: int, subscription_pk: str) -> dict | None:
    for event in events.collected_after(mark):
        if event.type == "invoice.created" and event.data_object.get("subscription") == subscription_pk:
            return event.data_object
    return None


def _balance(customer_id: str) -> int:
    return Customer.objects.values_list("balance", flat=True).get(pk=customer_id)


def _with_balance(invoice: dict, balance: int) -> dict:
    """What the customer's balance would pay of it, as finalizing applies it. ``balance`` is read before the change
    runs: the change itself finalizes the invoice inside the rolled-back transaction and takes the balance there, so
    reading it afterwards would show a credit already spent on this very invoice."""
    amount_due, _ending = pricing.apply_balance(invoice["total"], balance, invoice["currency"])
    return {
        **invoice,
        "starting_balance": balance,
        "ending_balance": None,
        "amount_due": amount_due,
        "amount_remaining": amount_due,
    }
