"""Subscription services, one module per verb: ``create``, ``change`` (items, prorations, previews), ``cancel``,
``pause``, ``update`` (plain fields, and the API's update as one action), ``renew`` (the billing cycle's work),
``discounts``, ``resume`` (of a paused subscription), ``preview`` (invoice previews as dry runs), and the shared ``lines`` (what a subscription bills) and ``state`` (locking and versions)."""

from billing.services.subscriptions.cancel import (
    subscription_cancel,
    subscription_cancel_scheduled_change,
    subscription_reactivate,
)
from billing.services.subscriptions.change import ChangeOptions, ChangePreview, PreviewLine, subscription_change_items
from billing.services.subscriptions.create import subscription_create
from billing.services.subscriptions.discounts import subscription_apply_coupon, subscription_delete_discount
from billing.services.subscriptions.lines import ItemChange, ItemSpec, scheduled_items, upcoming_invoice
from billing.services.subscriptions.pause import subscription_pause_collection, subscription_resume_collection
from billing.services.subscriptions.renew import renew_batch, subscription_advance
from billing.services.subscriptions.resume import subscription_resume
from billing.services.subscriptions.retention import (
    OfferDecision,
    subscription_offer_accept,
    subscription_offer_decline,
)
from billing.services.subscriptions.state import subscription_version
from billing.services.subscriptions.update import UNCHANGED, subscription_update, subscription_update_fields

__all__ = [
    "UNCHANGED",
    "ChangeOptions",
    "ChangePreview",
    "ItemChange",
    "ItemSpec",
    "OfferDecision",
    "PreviewLine",
    "renew_batch",
    "scheduled_items",
    "subscription_advance",
    "subscription_apply_coupon",
    "subscription_cancel",
    "subscription_cancel_scheduled_change",
    "subscription_change_items",
    "subscription_create",
    "subscription_delete_discount",
    "subscription_offer_accept",
    "subscription_offer_decline",
    "subscription_pause_collection",
    "subscription_reactivate",
    "subscription_resume",
    "subscription_resume_collection",
    "subscription_update",
    "subscription_update_fields",
    "subscription_version",
    "upcoming_invoice",
]
