"""The customer confirms a session on the hosted page: the customer (created or reused), then the subscription and
its first invoice's payment, the SetupIntent (setup mode, and a trial's payment method) or the PaymentIntent
(payment mode), confirmed on-session so the bank may ask for 3-D Secure; once that succeeded, the session
completes, once (the row is locked; a second submit, a second tab or a late processor answer find it complete)."""

from dataclasses import dataclass, field

from billing import clock
from billing.audit import Actor
from billing.exceptions import BillingError, CardDeclined, InvalidRequest, StateConflict
from billing.models import Coupon, Customer, Invoice, PaymentIntent, PaymentMethod, Price, PromotionCode, SetupIntent
from billing.services.common import lock
from billing.services.customers import customer_create
from billing.services.door import service
from billing.services.intents import (
    payment_intent_confirm,
    payment_intent_create,
    payment_intent_refresh,
    setup_intent_confirm,
    setup_intent_create,
    setup_intent_refresh,
)
from billing.services.intents.invoice_payments import invoice_intent, invoice_pay_on_session
from billing.services.payment_methods import payment_method_attach
from billing.services.subscriptions import ItemSpec, subscription_create
from checkout.models import CheckoutLineItem, CheckoutSession
from checkout.services.amounts import default_tax_rates, recompute
from checkout.services.create import record_event

Mode = CheckoutSession.Mode
COMPLETE, ACTION, PROCESSING, FAILED = "complete", "action", "processing", "failed"


@dataclass
class CustomerInput:
    """What the customer typed on the page (checked by its form)."""

    email: str = ""
    name: str = ""
    phone: str = ""
    address: dict | None = None
    tax_ids: list[dict] = field(default_factory=list)  # [{type, value}]
    terms_accepted: bool = False


@dataclass(frozen=True)
class Attempt:
    """Where a confirmation stands: ``complete`` (go to the success URL), ``processing`` (the bank answers later;
    the session is complete all the same), ``action`` (authenticate at ``redirect_to``), ``failed`` (``error``:
    the intent's ``last_payment_error``/``last_setup_error``, or ``{"code": …}`` of a refusal)."""

    status: str
    redirect_to: str = ""
    error: dict | None = None


def check_payable(session: CheckoutSession) -> None:
    """An expired or completed session takes no payment."""
    if session.status == CheckoutSession.Status.COMPLETE:
        raise StateConflict("This Checkout Session is already complete.", code="checkout_session_complete")
    if session.is_expired_at(clock.now()):
        raise StateConflict("This Checkout Session has expired.", code="checkout_session_expired")


def _set_quantities(session: CheckoutSession, quantities: dict[str, int]) -> None:
    """Adjustable quantities, within the bounds the merchant set; fixed ones stay as they are."""
    items = list(CheckoutLineItem.objects.filter(session=session).select_related("price__product"))
    changed = []
    for item in items:
        wanted = quantities.get(item.pk)
        rules = item.adjustable_quantity
        if wanted is None or wanted == item.quantity or not rules:
            continue
        if not rules["minimum"] <= wanted <= rules["maximum"] or wanted < 1:
            raise InvalidRequest("This quantity is not available.", param=f"quantity_{item.pk}")
        item.quantity = wanted
        changed.append(item)
    if changed:
        CheckoutLineItem.objects.bulk_update(changed, ["quantity"])
        recompute(session, items)


def _customer(session: CheckoutSession, details: CustomerInput, actor: Actor) -> Customer | None:
    if session.customer_id:
        return session.customer
    if session.mode == Mode.PAYMENT and session.customer_creation == "if_required":
        return None  # a guest payment, as Stripe's default for payment mode
    email = details.email or session.customer_email
    return customer_create(
        account=session.account,
        livemode=session.livemode,
        actor=actor,
        email=email,
        name=details.name,
        phone=details.phone,
        address=details.address,
        tax_id_data=details.tax_ids,
    )


def _method(session: CheckoutSession, customer: Customer | None, payment_method_id: str) -> PaymentMethod:
    """What the hosted fields gave: a payment method of the session's account and mode, nobody's yet (or this
    customer's, from an earlier attempt)."""
    pm = PaymentMethod.objects.filter(pk=payment_method_id, account_id=session.account_id, livemode=session.livemode)
    pm = pm.first()
    if pm is None or (pm.customer_id and (customer is None or pm.customer_id != customer.pk)):
        raise InvalidRequest("No such payment method.", param="payment_method", code="resource_missing")
    if pm.type not in session.payment_method_types:
        raise InvalidRequest(f"Payment methods of type {pm.type} cannot be used here.", param="payment_method")
    return pm


def _details(session: CheckoutSession, customer: Customer | None, details: CustomerInput) -> dict:
    return {
        "email": (customer.email if customer else "") or details.email or session.customer_email,
        "name": details.name or (customer.name if customer else ""),
        "phone": details.phone,
        "address": details.address,
        "tax_ids": details.tax_ids,
    }


@service
def _prepare(*, session_id: str, details: CustomerInput, payment_method_id: str, quantities: dict, actor: Actor):
    session = lock(CheckoutSession, session_id)
    check_payable(session)
    terms = (session.consent_collection or {}).get("terms_of_service") == "required"
    if terms and not details.terms_accepted:
        raise InvalidRequest("Please accept the terms of service.", param="terms_of_service")
    if session.subscription_id is None and session.payment_intent_id is None:
        _set_quantities(session, quantities)
    customer = _customer(session, details, actor)
    pm = _method(session, customer, payment_method_id)
    actor = Actor.customer(customer) if customer else actor
    session.customer = customer
    session.customer_details = _details(session, customer, details)
    if terms:
        session.consent = {"promotions": None, "terms_of_service": "accepted"}
    session.payment_method = pm
    kind = _start(session, customer, pm, actor)
    session.save()
    return session, pm, kind


def _start(session: CheckoutSession, customer: Customer | None, pm: PaymentMethod, actor: Actor) -> str:
    """Write what this attempt confirms: ``invoice``, ``setup`` or ``payment``."""
    if session.mode == Mode.SUBSCRIPTION and not session.trial_period_days:
        if pm.customer_id is None:
            payment_method_attach(payment_method=pm, customer=customer, actor=actor)
        if session.subscription_id is None:
            _subscribe(session, customer, actor, trial=False)
        return "invoice"
    if session.mode in (Mode.SETUP, Mode.SUBSCRIPTION):
        session.setup_intent = setup_intent_create(
            account=session.account,
            livemode=session.livemode,
            actor=actor,
            customer=customer,
            payment_method=pm,
            payment_method_types=[pm.type],
            usage="off_session",
        )
        return "setup"
    intent = session.payment_intent
    if intent is None or intent.status not in (PaymentIntent.Status.REQUIRES_PAYMENT_METHOD,):
        session.payment_intent = payment_intent_create(
            account=session.account,
            livemode=session.livemode,
            actor=actor,
            amount=session.amount_total,
            currency=session.currency,
            customer=customer,
            payment_method_types=list(session.payment_method_types),
            description=f"Checkout Session {session.pk}",
            metadata=session.metadata,
        )
    return "payment"


def _subscribe(session: CheckoutSession, customer: Customer, actor: Actor, *, trial: bool, pm=None) -> None:
    data = session.subscription_data or {}
    items = [
        ItemSpec(price=item.price, quantity=item.quantity)
        for item in CheckoutLineItem.objects.filter(session=session).select_related("price__product")
    ]
    subscription = subscription_create(
        customer=customer,
        items=[spec for spec in items if spec.price.type == Price.Type.RECURRING],
        # One-time prices beside the recurring ones: set-up fees, on the first invoice only.
        add_invoice_items=[spec for spec in items if spec.price.type == Price.Type.ONE_TIME],
        actor=actor,
        default_payment_method=pm,
        trial_period_days=data.get("trial_period_days") if trial else None,
        coupon=None if session.promotion_code_id else session.coupon,
        promotion_code=session.promotion_code,
        default_tax_rates=default_tax_rates(session),
        metadata=data.get("metadata") or None,
        description=data.get("description") or "",
        payment_behavior="default_incomplete",
        payment_settings={"save_default_payment_method": "on_subscription"},
    )
    session.subscription = subscription
    session.invoice_id = subscription.latest_invoice_id


def checkout_session_confirm(
    *,
    session: CheckoutSession,
    details: CustomerInput,
    payment_method_id: str,
    return_url: str,
    quantities: dict[str, int] | None = None,
    mandate_data: dict | None = None,
    actor: Actor | None = None,
) -> Attempt:
    """Confirm ``session`` with the payment method the hosted fields gave. Raises StateConflict for an expired or
    completed session and InvalidRequest for what the customer must correct; a decline is an Attempt ``failed``
    (the session stays open for another try)."""
    actor = actor or Actor.system("checkout")
    try:
        session, pm, kind = _prepare(
            session_id=session.pk,
            details=details,
            payment_method_id=payment_method_id,
            quantities=quantities or {},
            actor=actor,
        )
    except CardDeclined as declined:  # the processor refused the card as it was attached: nothing was written
        return Attempt(FAILED, error={"code": declined.code, "decline_code": declined.decline_code})
    actor = Actor.customer(session.customer) if session.customer else actor
    try:
        if kind == "invoice":
            invoice = Invoice.objects.get(pk=session.invoice_id)
            if invoice.status == Invoice.Status.OPEN and invoice.amount_remaining > 0:
                invoice_pay_on_session(
                    invoice=invoice, payment_method=pm, return_url=return_url, mandate_data=mandate_data
                )
        elif kind == "setup":
            setup_intent_confirm(
                intent=session.setup_intent,
                actor=actor,
                return_url=return_url,
                mandate_data=mandate_data,
                raise_on_failure=False,
            )
        else:
            payment_intent_confirm(
                intent=session.payment_intent,
                actor=actor,
                payment_method=pm,
                off_session=False,
                return_url=return_url,
                mandate_data=mandate_data,
                raise_on_failure=False,
            )
    except StateConflict as error:  # another tab's payment of this session is under way or done
        outcome = checkout_session_settle(session=session)
        return outcome if outcome.status != FAILED else Attempt(FAILED, error={"code": error.code})
    except BillingError as error:
        return Attempt(FAILED, error={"code": error.code})
    return checkout_session_settle(session=session)


def _intent_of(session: CheckoutSession):
    if session.setup_intent_id:
        return SetupIntent.objects.get(pk=session.setup_intent_id)
    if session.payment_intent_id:
        return PaymentIntent.objects.get(pk=session.payment_intent_id)
    if session.invoice_id:
        return invoice_intent(Invoice.objects.get(pk=session.invoice_id))
    return None


def _state(session: CheckoutSession, intent) -> str:
    if session.mode == Mode.SUBSCRIPTION and not session.trial_period_days and session.invoice_id:
        invoice = Invoice.objects.get(pk=session.invoice_id)
        if invoice.status == Invoice.Status.PAID:
            return COMPLETE
    if intent is None:
        return FAILED
    if intent.status in ("succeeded", "requires_capture"):
        return COMPLETE
    if intent.status == "processing":
        return PROCESSING
    if intent.status == "requires_action" and intent.next_action:
        return ACTION
    return FAILED


def checkout_session_settle(*, session: CheckoutSession, refresh: bool = False) -> Attempt:
    """Where the session's payment stands, completing the session once it succeeded (or is with the bank). With
    ``refresh``, an intent still waiting for authentication is asked of the processor (the customer is back from
    the bank's page)."""
    session = CheckoutSession.objects.get(pk=session.pk)
    if session.status == CheckoutSession.Status.COMPLETE:
        return Attempt(COMPLETE)
    intent = _intent_of(session)
    if refresh and intent is not None and intent.status == "requires_action":
        refreshed = setup_intent_refresh if isinstance(intent, SetupIntent) else payment_intent_refresh
        intent = refreshed(intent=intent)
    state = _state(session, intent)
    if state in (COMPLETE, PROCESSING):
        checkout_session_complete(session_id=session.pk)
        return Attempt(state)
    if state == ACTION:
        return Attempt(ACTION, redirect_to=intent.next_action["redirect_to_url"]["url"])
    error = getattr(intent, "last_payment_error", None) or getattr(intent, "last_setup_error", None)
    return Attempt(FAILED, error=error or {"code": "not_confirmed"})


def _payment_status(session: CheckoutSession) -> str:
    Paid = CheckoutSession.PaymentStatus
    if session.mode == Mode.SETUP or session.trial_period_days:
        return Paid.NO_PAYMENT_REQUIRED
    if session.mode == Mode.SUBSCRIPTION:
        paid = Invoice.objects.filter(pk=session.invoice_id, status=Invoice.Status.PAID).exists()
    else:
        paid = PaymentIntent.objects.filter(pk=session.payment_intent_id, status="succeeded").exists()
    return Paid.PAID if paid else Paid.UNPAID


@service
def checkout_session_complete(*, session_id: str) -> CheckoutSession:
    """Complete the session, once: the row is locked and a completed session is left as it is. A trial's
    subscription is created here, with the payment method its SetupIntent saved."""
    session = lock(CheckoutSession, session_id)
    if session.status == CheckoutSession.Status.COMPLETE:
        return session
    if session.mode == Mode.SUBSCRIPTION and session.subscription_id is None:
        pm = SetupIntent.objects.get(pk=session.setup_intent_id).payment_method
        _subscribe(session, session.customer, Actor.customer(session.customer), trial=True, pm=pm)
    if session.mode == Mode.PAYMENT:
        _count_redemption(session)
    session.status = CheckoutSession.Status.COMPLETE
    session.completed_at = clock.now()
    session.payment_status = _payment_status(session)
    session.save()
    record_event("checkout.session.completed", session)
    return session


def _count_redemption(session: CheckoutSession) -> None:
    """A payment's discount is redeemed when the session completes, which happens once (a subscription's is
    redeemed by the subscription). The payment has been made at the discounted amount: it is counted, not checked
    again."""
    if session.promotion_code_id:
        promo = PromotionCode.objects.select_for_update(no_key=True).get(pk=session.promotion_code_id)
        promo.times_redeemed += 1
        promo.save(update_fields=["times_redeemed"])
    coupon_id = session.promotion_code.coupon_id if session.promotion_code_id else session.coupon_id
    if coupon_id:
        coupon = Coupon.objects.select_for_update(no_key=True).get(pk=coupon_id)
        coupon.times_redeemed += 1
        coupon.save(update_fields=["times_redeemed"])


@service
def checkout_session_async_outcome(*, session_id: str) -> CheckoutSession:
    """A completed session whose delayed payment (SEPA) the bank has answered since: paid, or failed."""
    session = lock(CheckoutSession, session_id)
    if session.status != CheckoutSession.Status.COMPLETE or session.payment_status != "unpaid":
        return session
    if session.async_payment_failed_at is not None:
        return session
    if _payment_status(session) == CheckoutSession.PaymentStatus.PAID:
        session.payment_status = CheckoutSession.PaymentStatus.PAID
        session.save(update_fields=["payment_status"])
        record_event("checkout.session.async_payment_succeeded", session)
    elif _state(session, _intent_of(session)) == FAILED:
        session.async_payment_failed_at = clock.now()
        session.save(update_fields=["async_payment_failed_at"])
        record_event("checkout.session.async_payment_failed", session)
    return session
