"""Our extension ``features[subscription_cancel][offers]``: the cancellation offer ladder's rules, shared by the API
and the admin through ``configuration_validate``."""

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from billing import clock
from billing.exceptions import InvalidRequest, lazy_text
from billing.models import Account, Coupon, Price
from billing.services.common import validate_metadata
from configurations.models import CancellationOffer, PortalConfiguration
from configurations.services.naming import coupon_name, price_name
from configurations.services.params import Reader, blank, invalid, missing

C = PortalConfiguration
C_OFFER = CancellationOffer
OFFERS = "features[subscription_cancel][offers]"
MAX_OFFERS = 10
MAX_PAUSE_DAYS = 730  # the longest pause, for the pause_collection feature and for pause offers
OFFER_KEYS = ("type", "days", "price", "coupon", "customer_group", "reasons")


@dataclass
class OfferSpec:
    """One validated step of the cancellation offer ladder (extension ``features[subscription_cancel][offers]``)."""

    type: str
    pause_days: int | None = None
    price: Price | None = None
    coupon: Coupon | None = None
    customer_metadata: dict = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    @property
    def signature(self) -> tuple:
        """What makes two offers the same offer (listed twice is an error; kept across updates, with its id)."""
        return (
            self.type,
            self.pause_days,
            self.price.pk if self.price else None,
            self.coupon.pk if self.coupon else None,
        )


def validate_offers(cancel: Reader, *, account: Account, livemode: bool) -> list[OfferSpec]:
    """Our extension: the ordered cancellation offers. Each entry: ``type`` (pause, switch, coupon) with ``days``,
    ``price`` or ``coupon``; optional ``customer_group[metadata]`` and ``reasons`` limit whom it is offered to."""
    raw = cancel.data["offers"]
    if blank(raw):
        return []
    if not isinstance(raw, list | tuple):
        raise invalid(OFFERS, lazy_text(_("Invalid array: %(param)s must be an array."), {"param": OFFERS}))
    if len(raw) > MAX_OFFERS:
        raise invalid(
            OFFERS,
            lazy_text(
                _("Invalid %(param)s: at most %(limit)s offers are allowed."), {"param": OFFERS, "limit": MAX_OFFERS}
            ),
        )
    entries = [Reader(entry, f"{OFFERS}[{i}]") for i, entry in enumerate(raw)]
    price_ids = [e.data.get("price") for e in entries if isinstance(e.data.get("price"), str)]
    coupon_ids = [e.data.get("coupon") for e in entries if isinstance(e.data.get("coupon"), str)]
    # Two queries for the whole list, limited to the tenant: another account's ids look like missing ones.
    prices = {p.pk: p for p in Price.objects.filter(account=account, livemode=livemode, pk__in=price_ids)}
    coupons = {
        c.coupon_id: c for c in Coupon.objects.filter(account=account, livemode=livemode, coupon_id__in=coupon_ids)
    }
    specs: list[OfferSpec] = []
    seen: dict[tuple, int] = {}
    for i, entry in enumerate(entries):
        spec = _offer(entry, prices, coupons)
        if spec.signature in seen:
            raise invalid(
                entry.path,
                lazy_text(
                    _("%(param)s is the same offer as %(offers)s[%(index)s]: list each offer once."),
                    {"param": entry.path, "offers": OFFERS, "index": seen[spec.signature]},
                ),
            )
        seen[spec.signature] = i
        specs.append(spec)
    return specs


def _offer(entry: Reader, prices: dict, coupons: dict) -> OfferSpec:
    for key in entry.data:
        if key not in OFFER_KEYS:
            param = entry.param(key)
            raise InvalidRequest(
                lazy_text(_("Received unknown parameter: %(param)s"), {"param": param}),
                param=param,
                code="parameter_unknown",
            )
    if blank(entry.data.get("type")):
        raise missing(entry.param("type"))
    spec = OfferSpec(type=entry.choice("type", C_OFFER.Type.values))
    if spec.type == C_OFFER.Type.PAUSE:
        if blank(entry.data.get("days")):
            raise missing(entry.param("days"))
        spec.pause_days = entry.integer("days", min_value=1, max_value=MAX_PAUSE_DAYS)
    elif spec.type == C_OFFER.Type.SWITCH:
        spec.price = _offer_price(entry, prices)
    else:
        spec.coupon = _offer_coupon(entry, coupons)
    for key, kind in (("days", C_OFFER.Type.PAUSE), ("price", C_OFFER.Type.SWITCH), ("coupon", C_OFFER.Type.COUPON)):
        if kind != spec.type and not blank(entry.data.get(key)):
            raise invalid(
                entry.param(key),
                lazy_text(
                    _("%(param)s is only for offers of type %(kind)s; this offer is of type %(type)s."),
                    {"param": entry.param(key), "kind": kind, "type": spec.type},
                ),
            )
    if (group := entry.child("customer_group")) is not None and "metadata" in group:
        rule = group.data["metadata"]
        spec.customer_metadata = validate_metadata({} if blank(rule) else rule, param=group.param("metadata"))
    spec.reasons = entry.choices("reasons", C.CancellationReason.values) or []
    return spec


def _offer_price(entry: Reader, prices: dict) -> Price:
    param = entry.param("price")
    price_id = entry.data.get("price")
    if blank(price_id):
        raise missing(param)
    price = prices.get(price_id) if isinstance(price_id, str) else None
    if price is None:
        raise invalid(param, lazy_text(_("No such price: '%(id)s'"), {"id": price_id}), "resource_missing")
    if not price.is_recurring or not price.active:
        raise invalid(
            param,
            lazy_text(
                _("Price %(price)s cannot be offered: only active recurring prices can be switched to."),
                {"price": price_name(price)},
            ),
        )
    return price


def _offer_coupon(entry: Reader, coupons: dict) -> Coupon:
    param = entry.param("coupon")
    coupon_id = entry.data.get("coupon")
    if blank(coupon_id):
        raise missing(param)
    coupon = coupons.get(coupon_id) if isinstance(coupon_id, str) else None
    if coupon is None or coupon.deleted:
        raise invalid(param, lazy_text(_("No such coupon: '%(id)s'"), {"id": coupon_id}), "resource_missing")
    if not coupon.is_valid_at(clock.now()):
        raise invalid(
            param,
            lazy_text(
                _(
                    "Coupon %(id)s can no longer be redeemed (expired or fully redeemed); offer a coupon customers can use."
                ),
                {"id": coupon_name(coupon)},
            ),
        )
    return coupon


def _existing_offers(configuration) -> list[OfferSpec]:
    if configuration is None:
        return []
    return [
        OfferSpec(
            type=row.type,
            pause_days=row.pause_days,
            price=row.price,
            coupon=row.coupon,
            customer_metadata=row.customer_metadata,
            reasons=row.reasons,
        )
        for row in configuration.cancellation_offers.select_related("price", "coupon")
    ]


def check_offers(state: dict, plan_prices: list[Price] | None, offers: list[OfferSpec] | None, configuration) -> None:
    """Rules between the offers and the rest of the configuration, on the configuration as it would be after the
    change (so switching pause off while a pause offer is listed is refused too)."""
    if offers is None:
        offers = _existing_offers(configuration)
    if not offers:
        return
    if plan_prices is None:
        rows = configuration.products.prefetch_related("prices") if configuration is not None else []
        plan_prices = [price for row in rows for price in row.prices.all()]
    for i, offer in enumerate(offers):
        param = f"{OFFERS}[{i}]"
        if offer.type == C_OFFER.Type.PAUSE:
            if not state["pause_collection_enabled"]:
                raise invalid(
                    param,
                    lazy_text(
                        _(
                            "%(param)s offers a pause, but customers may not pause payments in this configuration: set "
                            "features[pause_collection][enabled]=true or remove the offer."
                        ),
                        {"param": param},
                    ),
                )
            longest = state["pause_collection_max_duration_days"]
            if longest is not None and offer.pause_days > longest:
                raise invalid(
                    f"{param}[days]",
                    lazy_text(
                        _("%(param)s[days]=%(days)s is longer than the longest pause allowed (%(max)s days)."),
                        {"param": param, "days": offer.pause_days, "max": longest},
                    ),
                )
        elif offer.type == C_OFFER.Type.SWITCH:
            _check_switch_offer(f"{param}[price]", offer.price, plan_prices)


def _check_switch_offer(param: str, price: Price, plan_prices: list[Price]) -> None:
    """The price must be a cheaper alternative to a price customers have: one of the plan-change prices in the same
    currency and billing interval that costs more."""
    if not plan_prices:
        raise invalid(
            param,
            lazy_text(
                _(
                    "%(param)s: a switch offer needs the prices it is cheaper than; list them in "
                    "features[subscription_update][products]."
                ),
                {"param": param},
            ),
        )
    same_currency = [p for p in plan_prices if p.currency == price.currency and p.pk != price.pk]
    if not same_currency:
        currencies = ", ".join(sorted({p.currency.upper() for p in plan_prices}))
        raise invalid(
            param,
            lazy_text(
                _("Price %(price)s is in %(currency)s, but the plans of this configuration are in %(currencies)s."),
                {"price": price_name(price), "currency": price.currency.upper(), "currencies": currencies},
            ),
        )
    interval = (price.recurring_interval, price.recurring_interval_count)
    same_interval = [p for p in same_currency if (p.recurring_interval, p.recurring_interval_count) == interval]
    if not same_interval:
        raise invalid(
            param,
            lazy_text(
                _("Price %(price)s is billed every %(interval)s; no plan of this configuration in %(currency)s is."),
                {"price": price_name(price), "interval": price.recurring_interval, "currency": price.currency.upper()},
            ),
        )
    if not any((p.unit_amount or 0) > (price.unit_amount or 0) for p in same_interval):
        raise invalid(
            param,
            lazy_text(
                _(
                    "Price %(price)s is not cheaper than the plans of this configuration in the same currency and "
                    "interval; a switch offer must cost less."
                ),
                {"price": price_name(price)},
            ),
        )
