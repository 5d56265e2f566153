"""Tenant-scoped reads of portal configurations, branding and custom domains (for the API and the portal)."""

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.db.models.functions import TruncSecond
from django.utils.translation import gettext, ngettext

from billing.models import Account, CancellationOfferOutcome, Customer
from configurations import validators
from configurations.models import Branding, CancellationOffer, CustomDomain, PortalConfiguration


def default_configuration(*, account: Account, livemode: bool) -> PortalConfiguration | None:
    return PortalConfiguration.objects.filter(account=account, livemode=livemode, is_default=True).first()


def group_configurations(*, account_id: str, livemode: bool) -> list[PortalConfiguration]:
    """The active configurations with a customer-group rule, in the order rules are tried (highest priority first,
    then the oldest)."""
    return list(
        PortalConfiguration.objects.filter(account_id=account_id, livemode=livemode, active=True)
        .exclude(customer_group_metadata={})
        .order_by("-customer_group_priority", "id")
    )


def group_configuration_for(configurations: list[PortalConfiguration], metadata: dict) -> PortalConfiguration | None:
    """The first of ``group_configurations`` whose rule the metadata matches."""
    return next((configuration for configuration in configurations if configuration.matches_customer(metadata)), None)


def configuration_for_customer(*, customer: Customer) -> PortalConfiguration | None:
    """The configuration a session without an explicit one uses: the active configuration whose customer-group
    rule matches the customer's metadata (highest priority first, then the oldest), else the default."""
    groups = group_configurations(account_id=customer.account_id, livemode=customer.livemode)
    found = group_configuration_for(groups, customer.metadata or {})
    if found is not None:
        return found
    return PortalConfiguration.objects.filter(
        account_id=customer.account_id, livemode=customer.livemode, is_default=True
    ).first()


def configuration_for_login_token(*, token: str) -> PortalConfiguration | None:
    """The active configuration whose login link carries ``token``; a switched-off link finds nothing."""
    if not token or not isinstance(token, str):
        return None
    return (
        PortalConfiguration.objects.select_related("account")
        .filter(login_page_enabled=True, login_page_token=token, active=True)
        .first()
    )


def branding_for(account: Account) -> Branding | None:
    """The account's branding; without a query when it was loaded with the account (``select_related``)."""
    if Account.branding.is_cached(account):
        try:
            return account.branding
        except Branding.DoesNotExist:
            return None
    return Branding.objects.filter(account=account).first()


def verified_domain_for(account: Account) -> str | None:
    """The hostname the account's portal is served on, once verified; ``None`` means PORTAL_BASE_URL."""
    return (
        CustomDomain.objects.filter(account=account, verified_at__isnull=False)
        .values_list("hostname", flat=True)
        .first()
    )


def account_for_host(host: str) -> Account | None:
    """The account whose verified custom domain is ``host`` (a Host header: any case, maybe a port or a
    trailing dot, maybe Unicode); unverified and unknown hosts find nothing."""
    host = (host or "").strip().lower()
    if host.startswith("["):
        return None  # an IPv6 literal is never a custom domain
    host = host.rsplit(":", 1)[0] if ":" in host else host
    try:
        ascii_host = validators.normalize_hostname(host)
    except ValidationError:  # a malformed Host header simply matches no account
        return None
    domain = (
        CustomDomain.objects.select_related("account").filter(hostname=ascii_host, verified_at__isnull=False).first()
    )
    return domain.account if domain else None


@dataclass(frozen=True)
class OfferReportRow:
    """One offer of the ladder: how often it was shown (answered), accepted, declined, and accepted by customers
    who canceled later anyway."""

    offer: CancellationOffer
    shown: int
    accepted: int
    declined: int
    canceled_anyway: int

    @property
    def label(self) -> str:
        offer = self.offer
        if offer.type == CancellationOffer.Type.PAUSE:
            return ngettext("Pause for %(count)d day", "Pause for %(count)d days", offer.pause_days or 0) % {
                "count": offer.pause_days or 0
            }
        if offer.type == CancellationOffer.Type.SWITCH:
            return gettext("Switch to %(price)s") % {"price": offer.price}
        return gettext("Coupon %(coupon)s") % {"coupon": offer.coupon.coupon_id if offer.coupon_id else "—"}


def cancellation_offer_report(configuration: PortalConfiguration) -> list[OfferReportRow]:
    """The report on a configuration's ladder, in its order: two queries whatever the number of offers and
    outcomes."""
    offers = list(
        configuration.cancellation_offers.select_related("price__product", "coupon").order_by("position", "id")
    )
    if not offers:
        return []
    accepted = Q(outcome=CancellationOfferOutcome.Outcome.ACCEPTED)
    counts = {
        row["offer"]: row
        for row in CancellationOfferOutcome.objects.filter(
            account_id=configuration.account_id, livemode=configuration.livemode, offer__in=[o.id for o in offers]
        )
        .values("offer")
        .annotate(
            shown=Count("id"),
            accepted=Count("id", filter=accepted),
            declined=Count("id", filter=Q(outcome=CancellationOfferOutcome.Outcome.DECLINED)),
            # The subscription keeps canceled_at in whole seconds: a cancellation in the second of the acceptance
            # counts.
            canceled_anyway=Count(
                "id", filter=accepted & Q(subscription__canceled_at__gte=TruncSecond("created", tzinfo=dt.UTC))
            ),
        )
    }
    empty = {"shown": 0, "accepted": 0, "declined": 0, "canceled_anyway": 0}
    return [
        OfferReportRow(
            offer=offer,
            **{key: counts.get(offer.id, empty)[key] for key in ("shown", "accepted", "declined", "canceled_anyway")},
        )
        for offer in offers
    ]
