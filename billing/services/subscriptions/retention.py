"""The cancellation offer ladder's decisions: an offer declined, an offer accepted (and carried out by the service
that the portal's own pause, plan change or retention coupon uses), and the cancellation that follows offers."""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from billing import audit, clock
from billing.audit import Actor
from billing.exceptions import InvalidRequest, StateConflict
from billing.models import CancellationOfferOutcome, Coupon, Subscription
from billing.services.common import emit, render
from billing.services.door import service
from billing.services.subscriptions.change import subscription_change_items
from billing.services.subscriptions.discounts import subscription_apply_coupon
from billing.services.subscriptions.pause import subscription_pause_collection
from billing.services.subscriptions.state import take

Outcome = CancellationOfferOutcome.Outcome


@dataclass(frozen=True)
class OfferDecision:
    """A customer's answer to one offer of the ladder: ``offer`` is its id in the portal configuration, ``type``
    pause / switch / coupon, ``terms`` what it gives ({"days"}, {"price"}, {"coupon"})."""

    offer: str
    type: str
    terms: dict = field(default_factory=dict)
    outcome: str = Outcome.DECLINED


def retention_locked(
    subscription: Subscription, decisions: Sequence[OfferDecision], *, reason: str = "", canceled: bool = False
) -> None:
    """Record ``decisions`` (and, with ``canceled``, the cancellation and its reason) on the locked subscription:
    rows for reports and the ``retention`` field. The caller saves the subscription."""
    offers = [decision.offer for decision in decisions]
    if len(set(offers)) != len(offers) or subscription.offer_outcomes.filter(offer__in=offers).exists():
        raise StateConflict(
            "This offer has already been answered for this subscription.", param="offer", code="offer_answered"
        )
    now = clock.now()
    rows = [
        CancellationOfferOutcome(
            account_id=subscription.account_id,
            livemode=subscription.livemode,
            created=now,
            subscription=subscription,
            offer=decision.offer,
            offer_type=decision.type,
            terms=decision.terms,
            outcome=decision.outcome,
            reason=reason,
        )
        for decision in decisions
    ]
    if canceled:
        rows.append(
            CancellationOfferOutcome(
                account_id=subscription.account_id,
                livemode=subscription.livemode,
                created=now,
                subscription=subscription,
                outcome=Outcome.CANCELED,
                reason=reason,
            )
        )
    CancellationOfferOutcome.objects.bulk_create(rows)
    retention = dict(subscription.retention or {})
    retention["offers"] = [
        *(retention.get("offers") or []),
        *(
            {
                "offer": decision.offer,
                "type": decision.type,
                "terms": decision.terms,
                "outcome": decision.outcome,
                "decided_at": clock.to_unix(now),
            }
            for decision in decisions
        ),
    ]
    retention["reason"] = reason or None
    subscription.retention = retention


@service
def subscription_offer_decline(
    *, subscription: Subscription, actor: Actor, decision: OfferDecision, reason: str = ""
) -> Subscription:
    """The customer said "No thanks" to one offer (``customer.subscription.updated``, with ``retention``)."""
    subscription = take(subscription)
    before = render(subscription)
    retention_locked(subscription, [OfferDecision(decision.offer, decision.type, decision.terms)], reason=reason)
    subscription.save(update_fields=["retention"])
    emit("customer.subscription.updated", subscription, before=before)
    audit.record(
        actor,
        "subscription.retention_offer_decline",
        subscription,
        {"offer": decision.offer, "type": decision.type, "terms": decision.terms, "reason": reason},
    )
    return subscription


@service
def subscription_offer_accept(
    *,
    subscription: Subscription,
    actor: Actor,
    decision: OfferDecision,
    reason: str = "",
    expected_version: str | None = None,
    coupon: Coupon | None = None,
    pause_behavior: str = "",
    pause_resumes_at: dt.datetime | None = None,
    change: dict | None = None,
) -> Subscription:
    """The customer accepted one offer: it is recorded and carried out in the same transaction, by the service
    behind the portal's own retention coupon (``coupon``), pause (``pause_behavior``, ``pause_resumes_at``) or plan
    change (``change``: the arguments of ``subscription_change_items``). Its ``customer.subscription.updated``
    carries ``retention``."""
    subscription = take(subscription, expected_version=expected_version)
    accepted = OfferDecision(decision.offer, decision.type, decision.terms, Outcome.ACCEPTED)
    retention_locked(subscription, [accepted], reason=reason)
    subscription.save(update_fields=["retention"])
    audit.record(
        actor,
        "subscription.retention_offer_accept",
        subscription,
        {"offer": decision.offer, "type": decision.type, "terms": decision.terms, "reason": reason},
    )
    if decision.type == "coupon" and coupon is not None:
        subscription_apply_coupon(subscription=subscription, actor=actor, coupon=coupon)
    elif decision.type == "pause" and pause_behavior:
        subscription_pause_collection(
            subscription=subscription, actor=actor, behavior=pause_behavior, resumes_at=pause_resumes_at
        )
    elif decision.type == "switch" and change is not None:
        subscription_change_items(**{**change, "subscription": subscription, "actor": actor, "dry_run": False})
    else:
        raise InvalidRequest(f"Nothing to carry out for the {decision.type} offer {decision.offer}.", param="offer")
    return Subscription.objects.get(pk=subscription.pk)
