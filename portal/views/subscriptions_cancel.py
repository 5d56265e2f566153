"""Portal pages: cancel a subscription (reasons survey, the configuration's cancellation offer ladder, the retention
offer of a deep link, "Don't cancel"; also the subscription_cancel deep link) and pause or resume its payment
collection."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST

from billing.exceptions import BillingError, NotFound, StateConflict
from billing.models import Subscription
from billing.selectors import subscription_get_for_customer
from billing.services.subscriptions import (
    subscription_apply_coupon,
    subscription_cancel,
    subscription_offer_accept,
    subscription_offer_decline,
    subscription_pause_collection,
    subscription_reactivate,
    subscription_resume_collection,
)
from billing.templatetags.billing_format import billing_date, money
from configurations.models import CancellationOffer
from portal.access import Portal, flow_entry, flow_exit, portal_view
from portal.cancellation_offers import LadderOffer, ladder_for
from portal.forms.cancel import CancelForm, RetentionOffer, StateForm, subscription_state
from portal.forms.pause import PauseForm
from portal.forms.subscriptions import Selection
from portal.leave import redirect_after_post
from portal.services import portal_session_complete_flow
from portal.views.common import custom_text, page, see_other
from portal.views.subscriptions_update import plan_change


def _owned(portal: Portal, subscription_id: str) -> Subscription:
    """The customer's own subscription; anyone else's id is simply not found."""
    try:
        return subscription_get_for_customer(customer=portal.customer, subscription_id=subscription_id)
    except NotFound:
        raise Http404("No such subscription")


def _about(subscription: Subscription) -> dict:
    """What every cancel and pause page shows: the subscription and its products."""
    return {"subscription": subscription, "items": list(subscription.items.select_related("price__product"))}


def cancel_blocker(subscription: Subscription) -> str:
    """Why the cancel page shows a sentence instead of the form, or "" when the customer may cancel."""
    if subscription.is_ended:
        return "ended"
    if subscription.cancellation_pending:
        return "pending"
    if subscription.scheduled_change:
        return "scheduled_change"
    return ""


def _outcome(subscription: Subscription) -> str:
    if subscription.is_ended:
        return gettext("Your subscription has been canceled.")
    return gettext("Your subscription will end on %(date)s.") % {"date": billing_date(subscription.current_period_end)}


def _leaves_portal(portal: Portal) -> bool:
    """A deep link that ends on the merchant's site: notes for the next portal page would only linger."""
    return portal.in_flow and portal.flow["after_completion"]["type"] == "redirect"


def _done(request: HttpRequest, subscription: Subscription, outcome: str) -> HttpResponse:
    """After an action: outside a deep link the cancel page shows where the subscription stands; a deep link is
    complete and goes where its ``after_completion`` says."""
    portal = request.portal
    if not portal.in_flow:
        if outcome:
            messages.success(request, outcome)
        return see_other(reverse("portal:subscription_cancel", args=[subscription.pk]))
    if outcome and not _leaves_portal(portal):
        messages.success(request, outcome)
    portal_session_complete_flow(session=portal.session)
    return redirect_after_post(request, flow_exit(portal))


def _cancel(
    request: HttpRequest, subscription: Subscription, form: CancelForm, declined_offers: list | None = None
) -> HttpResponse:
    configuration = request.portal.configuration
    immediately = configuration.subscription_cancel_mode == configuration.CancelMode.IMMEDIATELY
    prorate = immediately and configuration.subscription_cancel_proration_behavior == "create_prorations"
    previous_invoice = subscription.latest_invoice_id
    current = subscription_cancel(
        subscription=subscription,
        actor=request.portal.actor,
        at_period_end=not immediately,
        feedback=form.feedback,
        comment=form.comment,
        prorate=prorate,
        # The credit for the unused time is invoiced at once, so it lands on the customer's balance for their
        # future invoices instead of waiting for a renewal that will not come.
        invoice_now=prorate,
        expected_version=form.expected_version,
        declined_offers=declined_offers,
    )
    credit = current.latest_invoice if current.latest_invoice_id != previous_invoice else None
    if credit is not None and credit.total < 0 and not _leaves_portal(request.portal):
        messages.info(
            request,
            gettext("A credit of %(amount)s for the unused time has been added to your balance for future invoices.")
            % {"amount": money(-credit.total, credit.currency)},
        )
    return _done(request, current, _outcome(current) if request.portal.in_flow else "")


def _accept_offer(request: HttpRequest, subscription: Subscription, offer: RetentionOffer, form: StateForm):
    form.is_valid()
    subscription_apply_coupon(
        subscription=subscription,
        actor=request.portal.actor,
        coupon=offer.coupon,
        expected_version=form.expected_version,
    )
    message = gettext("Offer accepted: %(terms)s. Your subscription continues.") % {"terms": offer.terms}
    return _done(request, subscription, message)


def _submit(request: HttpRequest, subscription: Subscription, form: CancelForm, offer: RetentionOffer | None):
    """Accept the offer or cancel; ``None``, with the form's errors set, when nothing happened."""
    accepting = request.POST.get("action") == "accept_offer"
    if accepting and offer is None and request.portal.session.flow_completed_at:
        return see_other(reverse("portal:overview"))  # the offer was accepted already (the form came twice)
    try:
        if accepting and offer is not None:
            return _accept_offer(request, subscription, offer, form)
        if not accepting and form.is_valid():
            return _cancel(request, subscription, form)
    except BillingError as error:
        if error.code == "subscription_changed":
            # The form came twice, or the subscription changed meanwhile: show where it stands now.
            if accepting:
                return see_other(reverse("portal:overview"))
            return see_other(reverse("portal:subscription_cancel", args=[subscription.pk]))
        if not accepting:
            form.add_error(None, gettext("Your subscription could not be canceled. Please try again."))
            return None
    if accepting:
        form.add_error(None, gettext("This offer is no longer available."))
    return None


def _offer_step(request: HttpRequest, subscription: Subscription, form: CancelForm, context: dict, offer: LadderOffer):
    """One offer of the ladder, with "Cancel subscription" beside it: one click from here cancels."""
    context.update(form=form, ladder_offer=offer, state=subscription_state(subscription))
    return page(request, "portal/subscriptions/cancel_offer.html", context)


def _accept_ladder_offer(
    request: HttpRequest, subscription: Subscription, form: CancelForm, offer: LadderOffer
) -> HttpResponse:
    """Carry the offer out through the service behind the portal's own pause, plan change or retention coupon."""
    portal = request.portal
    configuration = portal.configuration
    if offer.type == CancellationOffer.Type.PAUSE:
        action = {"pause_behavior": configuration.pause_collection_behavior, "pause_resumes_at": offer.resumes_at}
    elif offer.type == CancellationOffer.Type.SWITCH:
        item = offer.item
        action = {"change": plan_change(portal, subscription, Selection(offer.offer.price, item.quantity, item=item))}
    else:
        action = {"coupon": offer.offer.coupon}
    current = subscription_offer_accept(
        subscription=subscription,
        actor=request.portal.actor,
        decision=offer.decision,
        reason=form.feedback,
        expected_version=form.expected_version,
        **action,
    )
    if offer.type == CancellationOffer.Type.PAUSE:
        message = gettext("Payments paused until %(date)s.") % {"date": billing_date(offer.resumes_on)}
    elif offer.type == CancellationOffer.Type.SWITCH and current.scheduled_change:
        message = gettext("Your plan will change on %(date)s.") % {"date": billing_date(current.current_period_end)}
    elif offer.type == CancellationOffer.Type.SWITCH:
        message = gettext("Your plan has been updated.")
    else:
        message = gettext("Offer accepted: %(terms)s. Your subscription continues.") % {
            "terms": offer.coupon_offer.terms
        }
    if portal.in_flow:
        return _done(request, current, message)
    messages.success(request, message)
    return see_other(reverse("portal:overview"))


def _ladder_submit(request: HttpRequest, subscription: Subscription, form: CancelForm, context: dict):
    """The cancel form and the ladder's steps: the first click on "Cancel subscription" shows the first offer that
    applies (if any); each offer can be accepted, declined (the next one follows) or skipped by cancelling at once."""
    if not form.is_valid():
        return None
    portal = request.portal
    action = request.POST.get("action") or "cancel"
    offer_id = request.POST.get("offer") or ""
    ladder = ladder_for(
        configuration=portal.configuration, subscription=subscription, customer=portal.customer, reason=form.feedback
    )
    shown = ladder.find(offer_id) if offer_id else None
    try:
        if action == "cancel":
            if not offer_id and ladder.offers:
                return _offer_step(request, subscription, form, context, ladder.offers[0])
            declined = [shown.decision] if shown else ([] if ladder.configured else None)
            return _cancel(request, subscription, form, declined_offers=declined)
        if shown is None:
            form.add_error(None, gettext("This offer is no longer available."))
            return None
        if action == "accept_ladder_offer":
            return _accept_ladder_offer(request, subscription, form, shown)
        subscription = subscription_offer_decline(
            subscription=subscription,
            actor=request.portal.actor,
            decision=shown.decision,
            reason=form.feedback,
        )
    except BillingError as error:
        if error.code in ("subscription_changed", "offer_answered"):
            return see_other(reverse("portal:subscription_cancel", args=[subscription.pk]))
        form.add_error(None, gettext("This offer is no longer available."))
        return None
    if following := ladder.after(shown.id):
        return _offer_step(request, subscription, form, context, following)
    # Every offer answered: the cancel form again, as the customer filled it in, for the subscription as it is now.
    state = subscription_state(subscription)
    fresh = CancelForm(configuration=portal.configuration, initial={**form.cleaned_data, "state": state})
    context.update(form=fresh, offer=None, state=state)
    return page(request, "portal/subscriptions/cancel.html", context)


@require_http_methods(["GET", "POST"])
@portal_view(feature="subscription_cancel", flows=("subscription_cancel",))
def cancel(request: HttpRequest, subscription_id: str) -> HttpResponse:
    portal = request.portal
    subscription = _owned(portal, subscription_id)
    flow = portal.flow if portal.in_flow else None
    if flow and (portal.session.flow_completed_at or flow["subscription_cancel"]["subscription"] != subscription.pk):
        return see_other(flow_entry(portal))
    context = {**_about(subscription), "custom_text": custom_text(portal.configuration, "cancel")}
    if blocker := cancel_blocker(subscription):
        status = 200 if request.method == "GET" else 409
        return page(request, "portal/subscriptions/cancel_done.html", {**context, "blocker": blocker}, status=status)
    declined = request.GET.get("offer") == "declined"
    offer = None if declined else RetentionOffer.from_flow(flow, subscription=subscription)
    state = subscription_state(subscription)
    data = request.POST if request.method == "POST" else None
    form = CancelForm(data, configuration=portal.configuration, initial={"state": state})
    if data is not None:
        if offer is None and request.POST.get("action") != "accept_offer":
            response = _ladder_submit(request, subscription, form, context)
        else:
            response = _submit(request, subscription, form, offer)
        if response:
            return response
        offer = None  # after a refused offer or an invalid form, the cancel form is what the customer needs
    context.update(form=form, offer=offer, state=state)
    return page(request, "portal/subscriptions/cancel.html", context, status=400 if form.errors else 200)


@require_POST
@portal_view(feature="subscription_cancel")
def reactivate(request: HttpRequest, subscription_id: str) -> HttpResponse:
    """The "Don't cancel" button: the pending cancellation is withdrawn (a second click finds nothing to undo)."""
    subscription = _owned(request.portal, subscription_id)
    try:
        subscription = subscription_reactivate(subscription=subscription, actor=request.portal.actor)
    except StateConflict:
        subscription.refresh_from_db()
        if subscription.is_ended:
            messages.error(request, gettext("This subscription has ended and can no longer be continued."))
            return see_other(reverse("portal:overview"))
    renews = billing_date(subscription.current_period_end)
    messages.success(request, gettext("Your subscription will continue. It renews on %(date)s.") % {"date": renews})
    return see_other(reverse("portal:overview"))


def pause_blocker(subscription: Subscription) -> str:
    """Why the pause page shows a sentence instead of the form, or "" when the customer may pause."""
    if subscription.is_ended:
        return "ended"
    if subscription.status == Subscription.Status.INCOMPLETE:
        return "incomplete"
    if subscription.collection_paused:
        return "paused"
    return ""


@require_http_methods(["GET", "POST"])
@portal_view(feature="pause_collection")
def pause(request: HttpRequest, subscription_id: str) -> HttpResponse:
    """Choose the day payments resume, read what that means, confirm."""
    portal = request.portal
    configuration = portal.configuration
    subscription = _owned(portal, subscription_id)
    context = {**_about(subscription), "behavior": configuration.pause_collection_behavior}
    if blocker := pause_blocker(subscription):
        status = 200 if request.method == "GET" else 409
        return page(request, "portal/subscriptions/pause.html", {**context, "blocker": blocker}, status=status)
    initial = {"state": subscription_state(subscription), "resumes_on": request.GET.get("resumes_on")}
    data = request.POST if request.method == "POST" else None
    form = PauseForm(data, configuration=configuration, initial=initial)
    if data is not None and form.is_valid():
        if not form.cleaned_data["confirmed"]:
            return page(request, "portal/subscriptions/pause_confirm.html", {**context, "form": form})
        try:
            subscription_pause_collection(
                subscription=subscription,
                actor=request.portal.actor,
                behavior=configuration.pause_collection_behavior,
                resumes_at=form.resumes_at,
                expected_version=form.expected_version,
            )
        except BillingError as error:
            if error.code == "subscription_changed":
                return see_other(reverse("portal:subscription_pause", args=[subscription.pk]))
            form.add_error(None, gettext("Payments could not be paused. Please try again."))
        else:
            until = billing_date(form.cleaned_data["resumes_on"])
            messages.success(request, gettext("Payments paused until %(date)s.") % {"date": until})
            return see_other(reverse("portal:overview"))
    context["form"] = form
    return page(request, "portal/subscriptions/pause.html", context, status=400 if form.errors else 200)


@require_POST
@portal_view(feature="pause_collection")
def resume(request: HttpRequest, subscription_id: str) -> HttpResponse:
    """The "Resume now" button, for any pause the customer sees, the merchant's too (a second click changes nothing)."""
    subscription = _owned(request.portal, subscription_id)
    subscription_resume_collection(subscription=subscription, actor=request.portal.actor)
    messages.success(request, gettext("Payments have resumed."))
    return see_other(reverse("portal:overview"))
