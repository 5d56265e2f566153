"""The cancellation offer ladder in the portal: which of the configuration's offers a customer who starts to cancel
is shown, in order, each at most once per subscription, and how each is put in the customer's words."""

import datetime as dt
from dataclasses import dataclass

from django.utils.translation import gettext, ngettext

from billing.models import CancellationOfferOutcome, Customer, Subscription, SubscriptionItem
from billing.services.subscriptions import OfferDecision
from billing.templatetags.billing_format import billing_date
from configurations.models import CancellationOffer, PortalConfiguration
from portal.forms.cancel import RetentionOffer
from portal.forms.pause import resume_moment, today
from portal.templatetags.portal_format import recurring_price


@dataclass(frozen=True)
class LadderOffer:
    """One offer the customer may be shown now."""

    offer: CancellationOffer
    coupon_offer: RetentionOffer | None = None
    item: SubscriptionItem | None = None  # a switch: the item that changes to the offer's price

    @property
    def id(self) -> str:
        return self.offer.id

    @property
    def type(self) -> str:
        return self.offer.type

    @property
    def decision(self) -> OfferDecision:
        return OfferDecision(offer=self.offer.id, type=self.offer.type, terms=self.offer.terms)

    @property
    def resumes_on(self) -> dt.date:
        return today() + dt.timedelta(days=self.offer.pause_days or 1)

    @property
    def resumes_at(self) -> dt.datetime:
        return resume_moment(self.resumes_on)

    @property
    def headline(self) -> str:
        """The offer in one sentence."""
        if self.type == CancellationOffer.Type.PAUSE:
            days = self.offer.pause_days or 1
            return ngettext(
                "Pause your payments for %(count)d day instead",
                "Pause your payments for %(count)d days instead",
                days,
            ) % {"count": days}
        if self.type == CancellationOffer.Type.SWITCH:
            price = self.offer.price
            return gettext("Switch to %(plan)s for %(price)s instead") % {
                "plan": price.product.name,
                "price": recurring_price(price),
            }
        return self.coupon_offer.terms[:1].upper() + self.coupon_offer.terms[1:]

    @property
    def details(self) -> str:
        """What accepting it means."""
        if self.type == CancellationOffer.Type.PAUSE:
            return gettext(
                "Your subscription stays, and payments resume on %(date)s. You can resume earlier at any time."
            ) % {"date": billing_date(self.resumes_on)}
        if self.type == CancellationOffer.Type.SWITCH:
            return gettext("Your subscription continues on the cheaper plan, under the usual plan change terms.")
        return gettext("Stay with us and this discount is applied to your subscription. Nothing else changes.")


def _eligible(offer: CancellationOffer, subscription: Subscription, configuration: PortalConfiguration):
    """The offer as the customer would see it, or None when it cannot apply to this subscription now."""
    if offer.type == CancellationOffer.Type.PAUSE:
        usable = configuration.pause_collection_enabled and not subscription.collection_paused
        usable = usable and subscription.status != Subscription.Status.INCOMPLETE
        return LadderOffer(offer) if usable else None
    if offer.type == CancellationOffer.Type.SWITCH:
        item = _switched_item(offer, list(subscription.items.all()))
        return LadderOffer(offer, item=item) if item is not None else None
    coupon_offer = RetentionOffer.usable(offer.coupon, subscription) if offer.coupon_id else None
    return LadderOffer(offer, coupon_offer=coupon_offer) if coupon_offer is not None else None


def _switched_item(offer: CancellationOffer, items: list[SubscriptionItem]) -> SubscriptionItem | None:
    """The item a switch offer swaps to its cheaper price: the only item, or, on a subscription with several, the
    only licensed item of the target price's product (the other items stay as they are)."""
    target = offer.price
    if target is None or not target.active:
        return None
    if len(items) == 1:
        item = items[0]
    else:
        same_product = [i for i in items if i.price.product_id == target.product_id and not i.price.is_metered]
        if len(same_product) != 1 or any(i.price.pk == target.pk for i in items):
            return None
        item = same_product[0]
    current = item.price
    same = (target.currency, target.recurring_interval, target.recurring_interval_count) == (
        current.currency,
        current.recurring_interval,
        current.recurring_interval_count,
    )
    cheaper = (target.unit_amount or 0) < (current.unit_amount or 0)
    return item if same and cheaper and target.pk != current.pk else None


@dataclass(frozen=True)
class Ladder:
    """The configuration's ladder as it stands for one subscription: ``configured`` when it has any offer at all,
    ``offers`` those still to show."""

    configured: bool
    offers: list[LadderOffer]

    def find(self, offer_id: str) -> LadderOffer | None:
        return next((offer for offer in self.offers if offer.id == offer_id), None)

    def after(self, offer_id: str) -> LadderOffer | None:
        return next((offer for offer in self.offers if offer.id != offer_id), None)


def ladder_for(
    *, configuration: PortalConfiguration, subscription: Subscription, customer: Customer, reason: str
) -> Ladder:
    """The offers still to show, in order: for this customer's group and reason, not answered before for this
    subscription, and applicable to it now. At most two queries (the offers, the answers)."""
    offers = list(
        CancellationOffer.objects.filter(configuration=configuration)
        .select_related("price__product", "coupon")
        .order_by("position", "id")
    )
    if not offers:
        return Ladder(configured=False, offers=[])
    answered = set(
        CancellationOfferOutcome.objects.filter(subscription=subscription)
        .exclude(offer="")
        .values_list("offer", flat=True)
    )
    metadata = customer.metadata or {}
    found = []
    for offer in offers:
        if offer.id in answered or not offer.applies_to(metadata, reason):
            continue
        if (eligible := _eligible(offer, subscription, configuration)) is not None:
            found.append(eligible)
    return Ladder(configured=True, offers=found)
