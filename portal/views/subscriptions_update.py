"""Portal pages: change a subscription's plan (price, quantity, promotion code) after a preview of what it costs now
and at the next renewal; also the subscription_update and subscription_update_confirm deep links."""

import dataclasses

from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS
from django.db.models import Prefetch, prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from billing.exceptions import BillingError, NotFound, StateConflict
from billing.models import Subscription, SubscriptionItem
from billing.selectors import subscription_get_for_customer
from billing.services.subscriptions import (
    ItemChange,
    scheduled_items,
    subscription_cancel_scheduled_change,
    subscription_change_items,
    subscription_version,
)
from billing.templatetags.billing_format import billing_date
from portal import selectors
from portal.access import Portal, flow_entry, flow_exit, portal_view
from portal.forms.subscription_items import (
    ItemsChangeForm,
    ItemsChoices,
    ItemsSelection,
    items_choices,
    uses_items_page,
)
from portal.forms.subscriptions import PlanChangeForm, PlanChoices, Selection, plan_choices
from portal.leave import redirect_after_post
from portal.services import portal_session_complete_flow
from portal.views.common import custom_text, page, see_other

FLOWS = ("subscription_update", "subscription_update_confirm")
PICKER = "portal/subscriptions/update.html"
PREVIEW = "portal/subscriptions/update_confirm.html"
# Subscriptions with several items (or add-ons to add) are changed item by item.
ITEMS_PICKER = "portal/subscriptions/update_items.html"
ITEMS_PREVIEW = "portal/subscriptions/update_items_confirm.html"


def _templates(choices: "PlanChoices | ItemsChoices") -> tuple[str, str]:
    return (ITEMS_PICKER, ITEMS_PREVIEW) if isinstance(choices, ItemsChoices) else (PICKER, PREVIEW)


def _form(choices: "PlanChoices | ItemsChoices", *args, **kwargs) -> "PlanChangeForm | ItemsChangeForm":
    return (ItemsChangeForm if isinstance(choices, ItemsChoices) else PlanChangeForm)(*args, choices=choices, **kwargs)


def _flow_open(portal: Portal) -> bool:
    """This session is one of the plan change deep links and its change has not been made yet."""
    return portal.in_flow and portal.flow["type"] in FLOWS and not portal.session.flow_completed_at


def _flow_redirect(portal: Portal, subscription_id: str, *, picker: bool) -> HttpResponse | None:
    """Inside a deep link only its own subscription's pages are open (the confirm link skips the picker)."""
    if not portal.in_flow:
        return None
    kind = portal.flow["type"]
    if not _flow_open(portal) or portal.flow[kind]["subscription"] != subscription_id:
        return see_other(flow_entry(portal))
    if picker and kind == "subscription_update_confirm":
        return see_other(flow_entry(portal))
    return None


def _choices(portal: Portal, subscription_id: str) -> PlanChoices | ItemsChoices:
    """The customer's own subscription (anyone else's id is not found) and what its plan may change to."""
    try:
        subscription = subscription_get_for_customer(customer=portal.customer, subscription_id=subscription_id)
    except NotFound:
        raise Http404("No such subscription")
    items = SubscriptionItem.objects.select_related("price__product").prefetch_related("tax_rates")
    prefetch_related_objects([subscription], Prefetch("items", queryset=items))
    selectors.plan_catalog(portal.configuration)
    offered = selectors.promotion_codes_offered(portal.customer)
    if uses_items_page(subscription, portal.configuration):
        return items_choices(subscription, portal.configuration, promotion_codes=offered, customer=portal.customer)
    return plan_choices(subscription, portal.configuration, promotion_codes=offered, customer=portal.customer)


def plan_change(portal: Portal, subscription: Subscription, selection: Selection | ItemsSelection) -> dict:
    """The one service call behind both the preview (``dry_run=True``) and the confirmation: the customer's
    selection as item changes, under the configuration's rules."""
    configuration = portal.configuration
    return {
        "subscription": subscription,
        "changes": (
            selection.changes
            if isinstance(selection, ItemsSelection)
            else [
                ItemChange(
                    item=selection.item or subscription.items.all()[0],
                    price=selection.price,
                    quantity=selection.quantity,
                )
            ]
        ),
        "actor": portal.actor,
        "proration_behavior": configuration.subscription_update_proration_behavior,
        "schedule_at_period_end_conditions": configuration.schedule_at_period_end_conditions or (),
        "end_trial": configuration.trial_update_behavior == configuration.TrialUpdateBehavior.END_TRIAL,
        "billing_cycle_anchor": configuration.subscription_update_billing_cycle_anchor or "unchanged",
        "coupon": selection.coupon,
        "promotion_code": selection.promotion_code,
        "payment_behavior": "error_if_incomplete",
    }


def _context(portal: Portal, choices: PlanChoices, form: PlanChangeForm | None, **extra) -> dict:
    subscription = choices.subscription
    return {
        "subscription": subscription,
        "choices": choices,
        "form": form,
        "in_flow": _flow_open(portal),
        "custom_text": custom_text(portal.configuration, "update"),
        "scheduled_items": scheduled_items(subscription) if subscription.scheduled_change else None,
        **extra,
    }


@require_http_methods(["GET", "POST"])
@portal_view(feature="subscription_update", flows=FLOWS)
def update(request: HttpRequest, subscription_id: str) -> HttpResponse:
    """Pick a price (by billing interval), a quantity and a promotion code; "Continue" opens the preview. A POST
    keeps the current plan when a change is waiting for the end of the period."""
    portal = request.portal
    if redirect := _flow_redirect(portal, subscription_id, picker=True):
        return redirect
    choices = _choices(portal, subscription_id)
    if request.method == "POST":
        if choices.blocker != "pending_schedule":
            return see_other(request.path)
        subscription_cancel_scheduled_change(subscription=choices.subscription, actor=request.portal.actor)
        messages.success(request, gettext("You keep your current plan."))
        return see_other(reverse("portal:overview"))
    form = None
    if not choices.blocker:
        form = _form(choices, customer=portal.customer, selected=request.GET)
    return page(request, _templates(choices)[0], _context(portal, choices, form))


def _bound_form(request: HttpRequest, portal: Portal, choices: PlanChoices | ItemsChoices):
    """The customer's choice: the form sent, or, in a subscription_update_confirm link, the pre-chosen change."""
    data = request.POST if request.method == "POST" else request.GET
    fixed = _flow_open(portal) and portal.flow["type"] == "subscription_update_confirm"
    if fixed and isinstance(choices, ItemsChoices):
        item = portal.flow["subscription_update_confirm"]["items"][0]
        row = choices.row(item.get("id") or "")
        data = {}
        if row is not None:
            data[f"price-{row.item.pk}"] = item.get("price") or row.item.price_id
            data[f"quantity-{row.item.pk}"] = item.get("quantity") or row.item.quantity
        return ItemsChangeForm(data, choices=choices, customer=portal.customer)
    if fixed:
        item = portal.flow["subscription_update_confirm"]["items"][0]
        price = choices.option(item.get("price") or choices.item.price_id)
        data = {
            "price": price.price.pk if price else item.get("price"),
            "interval": price.price.recurring_interval if price else "",
            "quantity": item.get("quantity") or choices.item.quantity,
        }
    return _form(choices, data, customer=portal.customer)


def _selection(portal: Portal, form) -> Selection | ItemsSelection:
    """The form's selection with the discount a subscription_update_confirm link carries."""
    selection = form.cleaned_data["selection"]
    discounts = (portal.flow or {}).get("subscription_update_confirm") or {}
    if not _flow_open(portal) or not discounts.get("discounts"):
        return selection
    discount = discounts["discounts"][0]
    coupon, promotion = selectors.flow_discount(
        portal.customer, coupon_id=discount["coupon"], promotion_code_id=discount["promotion_code"]
    )
    return dataclasses.replace(selection, promotion_code=promotion or selection.promotion_code, coupon=coupon)


@require_http_methods(["GET", "POST"])
@portal_view(feature="subscription_update", flows=FLOWS)
def confirm(request: HttpRequest, subscription_id: str) -> HttpResponse:
    """The preview of the chosen change (a dry run of the change itself) with "Confirm"; htmx asks for the summary
    alone while the customer picks. Confirming (POST) makes the change unless the subscription changed since."""
    portal = request.portal
    if redirect := _flow_redirect(portal, subscription_id, picker=False):
        return redirect
    choices = _choices(portal, subscription_id)
    if choices.blocker:
        return page(request, _templates(choices)[0], _context(portal, choices, None), status=409)
    form = _bound_form(request, portal, choices)
    if not form.is_valid():
        if request.method == "POST" and _sent_again(request, form, choices.subscription):
            return _finish(request, portal, choices.subscription)
        return _invalid(request, portal, choices, form)
    change = plan_change(portal, choices.subscription, _selection(portal, form))
    if request.method == "POST" and (done := _apply(request, portal, form, change)):
        return done
    return _preview(request, portal, choices, form, change)


def _invalid(request: HttpRequest, portal: Portal, choices, form) -> HttpResponse:
    """The picker again with the problems marked (htmx: the summary says what to fix; a confirm link, which has no
    picker: its page says what is wrong)."""
    picker, preview = _templates(choices)
    if request.htmx:
        return page(request, f"{preview}#summary", _context(portal, choices, form))
    fixed = _flow_open(portal) and portal.flow["type"] == "subscription_update_confirm"
    return page(request, preview if fixed else picker, _context(portal, choices, form), status=400)


def _preview(request: HttpRequest, portal: Portal, choices, form, change: dict) -> HttpResponse:
    version = subscription_version(choices.subscription)
    try:
        preview = subscription_change_items(**change, dry_run=True)
    except BillingError as error:
        form.add_billing_error(error)
        return _invalid(request, portal, choices, form)
    selection = form.cleaned_data["selection"]
    context = _context(portal, choices, form, preview=preview, version=version, selection=selection)
    status = 400 if form.errors and not request.htmx else 200
    preview_template = _templates(choices)[1]
    return page(request, f"{preview_template}#summary" if request.htmx else preview_template, context, status=status)


def _apply(request: HttpRequest, portal: Portal, form, change: dict) -> HttpResponse | None:
    """Make the change; a form sent twice finds the change made and ends like the first one."""
    selection = form.cleaned_data["selection"]
    try:
        subscription = subscription_change_items(**change, expected_version=request.POST.get("version", ""))
    except StateConflict as error:
        subscription = Subscription.objects.get(pk=change["subscription"].pk)
        if error.code != "subscription_changed" or not _shows(subscription, selection):
            form.add_billing_error(error)
            return None
    except BillingError as error:
        form.add_billing_error(error)
        return None
    return _finish(request, portal, subscription)


def _sent_again(request: HttpRequest, form, subscription: Subscription) -> bool:
    """A Confirm that arrives after the same change was made: the plan is already the one chosen, and the
    subscription is no longer the one the preview was made from."""
    unchanged = form.has_error(NON_FIELD_ERRORS, code="unchanged")
    return unchanged and request.POST.get("version", "") != subscription_version(subscription)


def _finish(request: HttpRequest, portal: Portal, subscription: Subscription) -> HttpResponse:
    """Say what happened, and end a deep link where it asked to end."""
    if subscription.scheduled_change:
        message = gettext("Your plan will change on %(date)s.") % {
            "date": billing_date(subscription.current_period_end)
        }
    else:
        message = gettext("Your plan has been updated.")
    if _flow_open(portal):
        portal_session_complete_flow(session=portal.session)
        exit_url = flow_exit(portal)
        if portal.flow["after_completion"]["type"] == "portal_homepage":
            messages.success(request, message)
        return redirect_after_post(request, exit_url)
    messages.success(request, message)
    return see_other(reverse("portal:overview"))


def _shows(subscription: Subscription, selection: Selection | ItemsSelection) -> bool:
    """Whether the subscription already has (or has scheduled) the selected price and quantity."""
    if isinstance(selection, ItemsSelection):
        return selection.shown_by(subscription)
    wanted = {"price": selection.price.pk, "quantity": selection.quantity}
    scheduled = (subscription.scheduled_change or {}).get("items") or []
    if any({"price": change.get("price"), "quantity": change.get("quantity")} == wanted for change in scheduled):
        return True
    return list(subscription.items.values("price", "quantity")) == [wanted]
