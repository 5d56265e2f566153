"""The rules of a portal configuration, shared by the API and the admin.

``configuration_validate`` takes Stripe-shaped parameters (``{"features": {"subscription_update": {...}}}``,
``""`` clears a value) and raises ``InvalidRequest`` whose ``param`` names the exact field, e.g.
``features[subscription_update][products][1][prices][0]``.
"""

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _

from billing.exceptions import InvalidRequest, lazy_text
from billing.models import Account, Price, Product
from billing.services.common import merge_metadata, validate_metadata
from configurations.models import PortalConfiguration
from configurations.services.naming import interval_name, price_name, product_name
from configurations.services.offer_validation import (
    MAX_OFFERS,
    MAX_PAUSE_DAYS,
    OFFERS,
    OfferSpec,
    check_offers,
    validate_offers,
)
from configurations.services.params import Reader, blank, invalid, missing

C = PortalConfiguration
MAX_PRODUCTS = 10
MAX_NAME = 256
MAX_HEADLINE = 60
MAX_CUSTOM_TEXT = 2000
MAX_QUANTITY = 10**7
MAX_PRIORITY = 1000
CUSTOM_TEXT_SECTIONS = ("overview", "update", "cancel", "login")
FEATURES = (
    "customer_update",
    "invoice_history",
    "payment_method_update",
    "subscription_cancel",
    "subscription_update",
    "pause_collection",
)

PRODUCTS = "features[subscription_update][products]"
TRANSITIONS = "features[subscription_update][transitions]"
MAX_GRAPH_PRICES = 100
SUBSCRIPTION_PAUSE = "features[subscription_pause]"
# Validation results use ``None`` for "not given"; this marks a value that clears a nullable column.
NULL = object()


@dataclass
class ProductSpec:
    product: Product
    prices: list[Price]
    adjustable_quantity_enabled: bool = False
    adjustable_quantity_minimum: int = 0
    adjustable_quantity_maximum: int | None = None
    add_on: bool = False


@dataclass
class ValidatedConfiguration:
    """What ``configuration_validate`` accepted: column values that change, the new products and offers if given."""

    fields: dict[str, Any] = field(default_factory=dict)
    products: list[ProductSpec] | None = None
    offers: list[OfferSpec] | None = None


def _state(configuration: PortalConfiguration | None, account: Account, livemode: bool) -> dict:
    """The column values a validation starts from: the row's, or a new row's defaults."""
    row = configuration or PortalConfiguration(account=account, livemode=livemode)
    return {f.attname: getattr(row, f.attname) for f in PortalConfiguration._meta.concrete_fields}


def configuration_validate(
    *, account: Account, livemode: bool, data: dict, configuration: PortalConfiguration | None = None
) -> ValidatedConfiguration:
    """Check Stripe-shaped create (``configuration=None``) or update parameters against every rule.

    Keys that are absent leave a value as it is; rules that span fields (subscription updates need
    products, cancel prorations need ``mode=immediately``) are checked on the configuration as it
    would be after the change.
    """
    root = Reader(data)
    state = _state(configuration, account, livemode)
    fields: dict[str, Any] = {}
    creating = configuration is None

    def put(column: str, value) -> None:
        """``None`` means "not given"; ``NULL`` stores a database NULL."""
        if value is not None:
            value = None if value is NULL else value
            fields[column] = value
            state[column] = value

    put("name", root.text("name", max_length=MAX_NAME))
    put("default_return_url", root.url("default_return_url"))
    if (active := root.boolean("active")) is not None:
        if not active and configuration is not None and configuration.is_default:
            raise invalid(
                "active",
                _("The default configuration cannot be deactivated. Make another configuration the default first."),
            )
        put("active", active)

    if (profile := root.child("business_profile")) is not None:
        put("headline", profile.text("headline", max_length=MAX_HEADLINE))
        put("privacy_policy_url", profile.url("privacy_policy_url"))
        put("terms_of_service_url", profile.url("terms_of_service_url"))

    if "metadata" in root:
        metadata = root.data["metadata"]
        current = configuration.metadata if configuration is not None else {}
        if not blank(metadata):
            validate_metadata(metadata)  # the shape and limits of what was sent, before merging
        put("metadata", merge_metadata(current, "" if blank(metadata) else metadata))

    if (login := root.child("login_page")) is not None:
        put("login_page_enabled", login.boolean("enabled", required=True))

    features = root.child("features")
    if features is None and creating:
        raise missing("features")
    products = offers = None
    if features is not None:
        products = _validate_features(features, put, account=account, livemode=livemode, creating=creating)
        cancel = features.child("subscription_cancel")
        if cancel is not None and "offers" in cancel:
            offers = validate_offers(cancel, account=account, livemode=livemode)

    _validate_extensions(root, put)
    if (start := root.child("subscription_start")) is not None:
        _subscription_start(start, put, account=account, livemode=livemode)
    _check_combinations(state, products, configuration)
    plan_prices = None if products is None else [price for spec in products for price in spec.prices]
    check_offers(state, plan_prices, offers, configuration)
    return ValidatedConfiguration(fields=fields, products=products, offers=offers)


def _validate_features(features: Reader, put, *, account: Account, livemode: bool, creating: bool):
    """Stripe's required ``enabled`` flags: every feature's on create; on update, only where Stripe requires it."""
    _check_feature_names(features)
    if (customer_update := features.child("customer_update")) is not None:
        put("customer_update_enabled", customer_update.boolean("enabled", required=creating))
        put("customer_update_allowed_updates", customer_update.choices("allowed_updates", C.AllowedUpdate.values))
    if (invoice_history := features.child("invoice_history")) is not None:
        put("invoice_history_enabled", invoice_history.boolean("enabled", required=True))
    if (pm_update := features.child("payment_method_update")) is not None:
        _payment_method_update(pm_update, put)
    if (cancel := features.child("subscription_cancel")) is not None:
        _subscription_cancel(cancel, put, creating=creating)
    products = None
    if (update := features.child("subscription_update")) is not None:
        products = _subscription_update(update, put, account=account, livemode=livemode, creating=creating)
    if (pause := features.child("pause_collection")) is not None:
        put("pause_collection_enabled", pause.boolean("enabled", required=creating))
        put("pause_collection_behavior", pause.choice("behavior", C.PauseBehavior.values))
        days = pause.integer("max_duration_days", min_value=1, max_value=MAX_PAUSE_DAYS, allow_blank=True)
        if days is not None:
            put("pause_collection_max_duration_days", NULL if days == "" else days)
    return products


def _check_feature_names(features: Reader) -> None:
    if "subscription_pause" in features:
        raise InvalidRequest(
            _(
                "features[subscription_pause] is not supported: Stripe removed the portal's subscription pause "
                "feature from its API (version 2024-04-10), and this server does not accept it. To let customers "
                "pause payment collection themselves, use features[pause_collection][enabled]=true, an extension "
                "of this server."
            ),
            param=SUBSCRIPTION_PAUSE,
            code="parameter_unknown",
        )
    for key in features.data:
        if key not in FEATURES:
            param = features.param(key)
            raise InvalidRequest(
                lazy_text(_("Received unknown parameter: %(param)s"), {"param": param}),
                param=param,
                code="parameter_unknown",
            )


def _payment_method_update(pm_update: Reader, put) -> None:
    put("payment_method_update_enabled", pm_update.boolean("enabled", required=True))
    if not blank(pm_update.data.get("payment_method_configuration")):
        param = pm_update.param("payment_method_configuration")
        raise invalid(
            param,
            lazy_text(
                _("Payment method configurations are not supported by this server: leave %(param)s empty."),
                {"param": param},
            ),
        )


def _subscription_cancel(cancel: Reader, put, *, creating: bool) -> None:
    for key in cancel.data:
        if key not in ("enabled", "mode", "proration_behavior", "cancellation_reason", "offers"):
            param = cancel.param(key)
            raise InvalidRequest(
                lazy_text(_("Received unknown parameter: %(param)s"), {"param": param}),
                param=param,
                code="parameter_unknown",
            )
    put("subscription_cancel_enabled", cancel.boolean("enabled", required=creating))
    put("subscription_cancel_mode", cancel.choice("mode", C.CancelMode.values))
    proration = cancel.choice("proration_behavior", C.ProrationBehavior.values)
    if proration == C.ProrationBehavior.ALWAYS_INVOICE:
        param = cancel.param("proration_behavior")
        raise invalid(
            param,
            lazy_text(
                _("Passing always_invoice as %(param)s is not supported: use none or create_prorations."),
                {"param": param},
            ),
        )
    put("subscription_cancel_proration_behavior", proration)
    if (reason := cancel.child("cancellation_reason")) is not None:
        put("cancellation_reason_enabled", reason.boolean("enabled", required=True))
        if creating and "options" not in reason:
            raise missing(reason.param("options"))
        put("cancellation_reason_options", reason.choices("options", C.CancellationReason.values))


def _subscription_update(
    update: Reader, put, *, account: Account, livemode: bool, creating: bool
) -> list[ProductSpec] | None:
    put("subscription_update_enabled", update.boolean("enabled", required=creating))
    put(
        "subscription_update_default_allowed_updates",
        update.choices("default_allowed_updates", C.SubscriptionUpdate.values),
    )
    put("subscription_update_proration_behavior", update.choice("proration_behavior", C.ProrationBehavior.values))
    put(
        "subscription_update_billing_cycle_anchor",
        update.choice("billing_cycle_anchor", C.BillingCycleAnchor.values, allow_blank=True),
    )
    put("trial_update_behavior", update.choice("trial_update_behavior", C.TrialUpdateBehavior.values))
    if "schedule_at_period_end" in update:
        schedule = update.data["schedule_at_period_end"]
        conditions = Reader({} if blank(schedule) else schedule, update.param("schedule_at_period_end"))
        put("schedule_at_period_end_conditions", _conditions(conditions))
    if (transitions := update.child("transitions")) is not None:
        _transitions(transitions, put, account=account, livemode=livemode)
    if "products" in update:
        return _validate_products(update, account=account, livemode=livemode)
    return None


def _transitions(transitions: Reader, put, *, account: Account, livemode: bool) -> None:
    """Our extension: ``mode`` (any, upgrades_only, no_lateral, graph) and ``graph`` ({price: [prices]}). Every
    price id in the graph must be one of the account's prices in this mode; cycles are fine."""
    for key in transitions.data:
        if key not in ("mode", "graph"):
            param = transitions.param(key)
            raise InvalidRequest(
                lazy_text(_("Received unknown parameter: %(param)s"), {"param": param}),
                param=param,
                code="parameter_unknown",
            )
    put("subscription_update_transitions_mode", transitions.choice("mode", C.TransitionMode.values))
    if "graph" not in transitions:
        return
    raw = transitions.data["graph"]
    graph = Reader({} if blank(raw) else raw, transitions.param("graph"))
    if len(graph.data) > MAX_GRAPH_PRICES:
        raise invalid(
            graph.path,
            lazy_text(
                _("Invalid %(param)s: at most %(limit)s prices are allowed."),
                {"param": graph.path, "limit": MAX_GRAPH_PRICES},
            ),
        )
    edges: dict[str, list[str]] = {}
    for source, targets in graph.data.items():
        if blank(targets):
            targets = []
        if not isinstance(targets, list | tuple):
            param = graph.param(source)
            raise invalid(param, lazy_text(_("Invalid array: %(param)s must be an array."), {"param": param}))
        edges[source] = list(dict.fromkeys(target for target in targets))
    named = {source: graph.param(source) for source in edges}
    for source, targets in edges.items():
        for j, target in enumerate(targets):
            named.setdefault(target, f"{graph.param(source)}[{j}]")
    ids = [price_id for price_id in named if isinstance(price_id, str)]
    known = set(Price.objects.filter(account=account, livemode=livemode, pk__in=ids).values_list("pk", flat=True))
    for price_id, param in named.items():
        if price_id not in known:
            raise invalid(
                param,
                lazy_text(
                    _("No such price: '%(id)s' (in the transition graph %(param)s)."), {"id": price_id, "param": param}
                ),
                "resource_missing",
            )
    put("subscription_update_transitions_graph", edges)


def _conditions(schedule: Reader) -> list[str]:
    raw = schedule.data.get("conditions", [])
    if blank(raw):
        return []
    if not isinstance(raw, list | tuple):
        param = schedule.param("conditions")
        raise invalid(param, lazy_text(_("Invalid array: %(param)s must be an array."), {"param": param}))
    types: list[str] = []
    for i, entry in enumerate(raw):
        item = Reader(entry, f"{schedule.param('conditions')}[{i}]")
        if "type" not in item:
            raise missing(item.param("type"))
        value = item.choice("type", C.ScheduleCondition.values)
        if value not in types:
            types.append(value)
    return types


def _validate_products(update: Reader, *, account: Account, livemode: bool) -> list[ProductSpec]:
    raw = update.data["products"]
    if blank(raw):
        return []
    if not isinstance(raw, list | tuple):
        raise invalid(PRODUCTS, lazy_text(_("Invalid array: %(param)s must be an array."), {"param": PRODUCTS}))
    if len(raw) > MAX_PRODUCTS:
        raise invalid(
            PRODUCTS,
            lazy_text(
                _("Invalid %(param)s: at most %(limit)s products are allowed."),
                {"param": PRODUCTS, "limit": MAX_PRODUCTS},
            ),
        )
    entries = [Reader(entry, f"{PRODUCTS}[{i}]") for i, entry in enumerate(raw)]
    product_ids = [entry.data.get("product") for entry in entries]
    price_ids = [price for entry in entries for price in (entry.data.get("prices") or []) if isinstance(price, str)]
    # Two queries for the whole list, both limited to the tenant: another account's ids look like missing ones.
    found_products = {
        p.pk: p
        for p in Product.objects.filter(
            account=account, livemode=livemode, pk__in=[pid for pid in product_ids if isinstance(pid, str)]
        )
    }
    found_prices = {p.pk: p for p in Price.objects.filter(account=account, livemode=livemode, pk__in=price_ids)}

    specs: list[ProductSpec] = []
    seen_products: dict[str, int] = {}
    for i, entry in enumerate(entries):
        product_id = entry.data.get("product")
        if blank(product_id):
            raise missing(entry.param("product"))
        product = found_products.get(product_id) if isinstance(product_id, str) else None
        if product is None:
            raise invalid(
                entry.param("product"),
                lazy_text(_("No such product: '%(id)s'"), {"id": product_id}),
                "resource_missing",
            )
        if product_id in seen_products:
            raise invalid(
                entry.param("product"),
                lazy_text(
                    _(
                        "Product %(product)s is listed twice (also at index %(index)s); list each product once with all its prices."
                    ),
                    {"product": product_name(product), "index": seen_products[product_id]},
                ),
            )
        seen_products[product_id] = i
        if not product.active:
            raise invalid(
                entry.param("product"),
                lazy_text(
                    _("Product %(product)s is archived (active=false); only active products can be offered."),
                    {"product": product_name(product)},
                ),
            )
        specs.append(
            ProductSpec(
                product=product,
                prices=_entry_prices(entry, product, found_prices),
                add_on=bool(entry.boolean("add_on")),  # extension: a product customers may add and remove
            )
        )
        _adjustable_quantity(entry, specs[-1])
    return specs


def _entry_prices(entry: Reader, product: Product, found_prices: dict) -> list[Price]:
    raw = entry.data.get("prices")
    if blank(raw) or raw == []:
        raise missing(entry.param("prices"))
    if not isinstance(raw, list | tuple):
        param = entry.param("prices")
        raise invalid(param, lazy_text(_("Invalid array: %(param)s must be an array."), {"param": param}))
    prices: list[Price] = []
    # The rule Stripe documents as "same product, same interval": here per (interval, currency).
    offered: dict[tuple[str, str], Price] = {}
    for j, price_id in enumerate(raw):
        param = f"{entry.param('prices')}[{j}]"
        price = found_prices.get(price_id) if isinstance(price_id, str) else None
        if price is None:
            raise invalid(param, lazy_text(_("No such price: '%(id)s'"), {"id": price_id}), "resource_missing")
        if price.product_id != product.pk:
            raise invalid(
                param,
                lazy_text(
                    _("Price %(price)s belongs to another product, not to %(product)s."),
                    {"price": price_name(price), "product": product_name(product)},
                ),
            )
        if price in prices:
            raise invalid(
                param,
                lazy_text(
                    _("Price %(price)s is listed twice for product %(product)s."),
                    {"price": price_name(price), "product": product_name(product)},
                ),
            )
        if not price.is_recurring:
            raise invalid(
                param,
                lazy_text(
                    _("Price %(price)s is a one-time price; customers can only switch between recurring prices."),
                    {"price": price_name(price)},
                ),
            )
        if not price.active:
            raise invalid(
                param,
                lazy_text(
                    _("Price %(price)s is archived (active=false); only active prices can be offered."),
                    {"price": price_name(price)},
                ),
            )
        key = (price.recurring_interval, price.currency)
        if key in offered:
            raise invalid(
                param,
                lazy_text(
                    _(
                        "Product %(product)s already has a price billed %(interval)s in %(currency)s: %(other)s. Offer "
                        "at most one price per billing interval and currency for each product, or create a separate "
                        "product for %(price)s."
                    ),
                    {
                        "product": product_name(product),
                        "interval": interval_name(price.recurring_interval),
                        "currency": price.currency.upper(),
                        "other": price_name(offered[key]),
                        "price": price_name(price),
                    },
                ),
            )
        offered[key] = price
        prices.append(price)
    return prices


def _adjustable_quantity(entry: Reader, spec: ProductSpec) -> None:
    quantity = entry.child("adjustable_quantity")
    if quantity is None:
        return
    spec.adjustable_quantity_enabled = quantity.boolean("enabled", required=True)
    minimum = quantity.integer("minimum", min_value=0, max_value=MAX_QUANTITY)
    maximum = quantity.integer("maximum", min_value=1, max_value=MAX_QUANTITY, allow_blank=True)
    spec.adjustable_quantity_minimum = minimum or 0
    spec.adjustable_quantity_maximum = maximum or None
    if (
        spec.adjustable_quantity_maximum is not None
        and spec.adjustable_quantity_maximum < spec.adjustable_quantity_minimum
    ):
        param = quantity.param("maximum")
        raise invalid(
            param,
            lazy_text(
                _("Invalid %(param)s: the maximum (%(maximum)s) must not be less than the minimum (%(minimum)s)."),
                {
                    "param": param,
                    "maximum": spec.adjustable_quantity_maximum,
                    "minimum": spec.adjustable_quantity_minimum,
                },
            ),
        )


def _validate_extensions(root: Reader, put) -> None:
    if (custom := root.child("custom_text")) is not None:
        for key in custom.data:
            if key not in CUSTOM_TEXT_SECTIONS:
                param = custom.param(key)
                raise InvalidRequest(
                    lazy_text(_("Received unknown parameter: %(param)s"), {"param": param}),
                    param=param,
                    code="parameter_unknown",
                )
        for section in CUSTOM_TEXT_SECTIONS:
            put(f"custom_text_{section}", custom.text(section, max_length=MAX_CUSTOM_TEXT))
    if (group := root.child("customer_group")) is not None:
        if "metadata" in group:
            rule = group.data["metadata"]
            put(
                "customer_group_metadata",
                validate_metadata({} if blank(rule) else rule, param=group.param("metadata")),
            )
        priority = group.integer("priority", min_value=0, max_value=MAX_PRIORITY)
        put("customer_group_priority", priority)


def _subscription_start(start: Reader, put, *, account: Account, livemode: bool) -> None:
    """Extension: the Checkout link (``plink_…``) the portal offers to customers without a subscription."""
    for key in start.data:
        if key != "checkout_link":
            param = start.param(key)
            raise InvalidRequest(
                lazy_text(_("Received unknown parameter: %(param)s"), {"param": param}),
                param=param,
                code="parameter_unknown",
            )
    if "checkout_link" not in start.data:
        return
    value = start.data["checkout_link"]
    param = start.param("checkout_link")
    if blank(value):
        put("subscription_start_link_id", NULL)
        return
    # The link's model is Checkout's; configurations reach it through the relation, never by importing it.
    links = C._meta.get_field("subscription_start_link").related_model.objects
    link = links.filter(pk=str(value), account=account, livemode=livemode).first()
    if link is None:
        raise InvalidRequest(
            lazy_text(_("No such checkout link: '%(id)s'"), {"id": value}), param=param, code="resource_missing"
        )
    if not link.active or link.mode != "subscription":
        raise invalid(param, _("The checkout link must be active and sell a recurring price."))
    put("subscription_start_link_id", link.pk)


def _check_combinations(state: dict, products: list[ProductSpec] | None, configuration) -> None:
    if (
        state["subscription_cancel_proration_behavior"] == C.ProrationBehavior.CREATE_PRORATIONS
        and state["subscription_cancel_mode"] != C.CancelMode.IMMEDIATELY
    ):
        raise invalid(
            "features[subscription_cancel][proration_behavior]",
            _(
                "features[subscription_cancel][proration_behavior]=create_prorations needs "
                "features[subscription_cancel][mode]=immediately: subscriptions cancelled at the end of their "
                "period are not prorated."
            ),
        )
    if (
        state["subscription_update_transitions_mode"] == C.TransitionMode.GRAPH
        and not state["subscription_update_transitions_graph"]
    ):
        raise invalid(
            f"{TRANSITIONS}[graph]",
            lazy_text(
                _(
                    "%(param)s[mode]=graph needs %(param)s[graph]: list, for each price, the prices customers may switch "
                    "to from it."
                ),
                {"param": TRANSITIONS},
            ),
        )
    if state["cancellation_reason_enabled"] and not state["cancellation_reason_options"]:
        raise missing("features[subscription_cancel][cancellation_reason][options]")
    if state["subscription_update_enabled"]:
        if products is None:
            has_products = configuration is not None and configuration.products.exists()
        else:
            has_products = bool(products)
        if not has_products:
            raise missing(PRODUCTS)
        if not state["subscription_update_default_allowed_updates"]:
            raise missing("features[subscription_update][default_allowed_updates]")


__all__ = [
    "MAX_OFFERS",
    "MAX_PAUSE_DAYS",
    "OFFERS",
    "OfferSpec",
    "ProductSpec",
    "ValidatedConfiguration",
    "configuration_validate",
]
