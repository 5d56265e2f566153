"""Which price switches a portal configuration allows (our extension ``features.subscription_update.transitions``),
and a customer's own list (metadata ``portal_allowed_prices``). Pure rules: nothing here reads the database."""

from fractions import Fraction

from billing.models import Customer, Price
from configurations.models import PortalConfiguration

CUSTOMER_METADATA_KEY = "portal_allowed_prices"
# Intervals in days, to compare prices of different intervals: a year is 12 months and 365.25 days, so €10 a month
# and €120 a year cost the same, and so do €7 a week and €1 a day.
DAYS = {"day": Fraction(1), "week": Fraction(7), "month": Fraction(36525, 1200), "year": Fraction(36525, 100)}

# Why a switch is refused: the configuration's mode, or the customer's own list.
CUSTOMER = "customer"


def amount_per_year(price: Price) -> Fraction:
    """The price's unit amount normalised to a year (exact: no rounding, so equal amounts compare equal)."""
    days = DAYS.get(price.recurring_interval, DAYS["month"]) * (price.recurring_interval_count or 1)
    return Fraction(price.unit_amount or 0) * DAYS["year"] / days


def customer_allowed_prices(customer: Customer) -> set[str] | None:
    """The customer's own list of prices (metadata ``portal_allowed_prices``, comma-separated), or None."""
    raw = (customer.metadata or {}).get(CUSTOMER_METADATA_KEY)
    if not isinstance(raw, str) or not raw.strip():
        return None
    return {price_id.strip() for price_id in raw.split(",") if price_id.strip()}


def transition_refusal(configuration: PortalConfiguration, customer: Customer, current: Price, target: Price) -> str:
    """ "" when the customer may switch from ``current`` to ``target``, else why not: the mode that refuses it
    (``upgrades_only``, ``no_lateral``, ``graph``) or ``customer`` (not in the customer's own list, which, when
    set, replaces the configuration's mode). Keeping the current price is always allowed."""
    if target.pk == current.pk:
        return ""
    own = customer_allowed_prices(customer)
    if own is not None:
        return "" if target.pk in own else CUSTOMER
    mode = configuration.subscription_update_transitions_mode or PortalConfiguration.TransitionMode.ANY
    if mode == PortalConfiguration.TransitionMode.UPGRADES_ONLY:
        return "" if amount_per_year(target) > amount_per_year(current) else mode
    if mode == PortalConfiguration.TransitionMode.NO_LATERAL:
        return "" if amount_per_year(target) != amount_per_year(current) else mode
    if mode == PortalConfiguration.TransitionMode.GRAPH:
        graph = configuration.subscription_update_transitions_graph or {}
        return "" if target.pk in (graph.get(current.pk) or ()) else mode
    return ""
