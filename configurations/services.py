"""Writes for portal configurations, branding and custom domains; the one place their rules are checked.

``configuration_validate`` takes Stripe-shaped parameters (``{"features": {"subscription_update": {...}}}``,
``""`` clears a value) from the API and from the admin alike and raises ``InvalidRequest`` whose ``param``
names the exact field, e.g. ``features[subscription_update][products][1][prices][0]``.
"""

import secrets
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from billing import audit, clock, events, ids
from billing.audit import Actor
from billing.exceptions import InvalidRequest, NotFound, StateConflict
from billing.models import Account, Price, Product
from billing.services.common import merge_metadata, validate_metadata
from configurations import validators
from configurations.models import Branding, CustomDomain, PortalConfiguration, PortalConfigurationProduct
from configurations.representations import configuration as render_configuration

C = PortalConfiguration
MAX_PRODUCTS = 10
MAX_NAME = 256
MAX_HEADLINE = 60
MAX_URL = 5000
MAX_CUSTOM_TEXT = 2000
MAX_QUANTITY = 10**7
MAX_PAUSE_DAYS = 730
MAX_PRIORITY = 1000
CUSTOM_TEXT_SECTIONS = ("overview", "update", "cancel", "login")

PRODUCTS = "features[subscription_update][products]"
SUBSCRIPTION_PAUSE = "features[subscription_pause]"
# Validation results use ``None`` for "not given"; this marks a value that clears a nullable column.
NULL = object()


def _missing(param: str) -> InvalidRequest:
    return InvalidRequest(
        _("Missing required param: %(param)s.") % {"param": param}, param=param, code="parameter_missing"
    )


def _invalid(param: str, message: str, code: str = "parameter_invalid") -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)


def _too_long(param: str, limit: int) -> InvalidRequest:
    return _invalid(
        param,
        _("Invalid %(param)s: must be at most %(limit)s characters.") % {"param": param, "limit": limit},
        "parameter_invalid_string",
    )


def _blank(value) -> bool:
    return value is None or value == ""


# ---------------------------------------------------------------------------------------------- validation


@dataclass
class ProductSpec:
    product: Product
    prices: list[Price]
    adjustable_quantity_enabled: bool = False
    adjustable_quantity_minimum: int = 0
    adjustable_quantity_maximum: int | None = None


@dataclass
class ValidatedConfiguration:
    """What ``configuration_validate`` accepted: column values that change, and the new products if given."""

    fields: dict[str, Any] = field(default_factory=dict)
    products: list[ProductSpec] | None = None


class _Reader:
    """Reads one Stripe-shaped parameter tree; every error names the parameter's full path."""

    def __init__(self, data: dict, path: str = ""):
        if not isinstance(data, dict):
            raise _invalid(
                path, _("Invalid %(param)s: must be an object.") % {"param": path}, "parameter_invalid_object"
            )
        self.data = data
        self.path = path

    def param(self, key) -> str:
        return f"{self.path}[{key}]" if self.path else str(key)

    def __contains__(self, key) -> bool:
        return key in self.data

    def child(self, key) -> "_Reader | None":
        if key not in self.data:
            return None
        return _Reader(self.data[key], self.param(key))

    def text(self, key, *, max_length: int) -> str | None:
        """``None`` when absent; ``""`` clears."""
        if key not in self.data:
            return None
        value = self.data[key]
        if _blank(value):
            return ""
        if not isinstance(value, str):
            raise _invalid(self.param(key), _("Invalid %(param)s: must be a string.") % {"param": self.param(key)})
        value = value.strip()
        if len(value) > max_length:
            raise _too_long(self.param(key), max_length)
        return value

    def url(self, key) -> str | None:
        value = self.text(key, max_length=MAX_URL)
        if value:
            try:
                URLValidator(schemes=["http", "https"])(value)
            except ValidationError:
                raise _invalid(
                    self.param(key),
                    _("Invalid %(param)s: %(value)s is not a valid URL starting with http:// or https://.")
                    % {"param": self.param(key), "value": value[:100]},
                    "url_invalid",
                )
        return value

    def boolean(self, key, *, required: bool = False) -> bool | None:
        if key not in self.data:
            if required:
                raise _missing(self.param(key))
            return None
        value = self.data[key]
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise _invalid(
                self.param(key), _("Invalid boolean: %(param)s must be true or false.") % {"param": self.param(key)}
            )
        return value

    def choice(self, key, choices, *, allow_blank: bool = False) -> str | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if allow_blank and _blank(value):
            return ""
        if value not in choices:
            raise _invalid(
                self.param(key),
                _("Invalid %(param)s: must be one of %(choices)s.")
                % {"param": self.param(key), "choices": ", ".join(choices)},
            )
        return value

    def choices(self, key, choices) -> list[str] | None:
        """A list of enum values (duplicates dropped, order kept); ``""`` empties it."""
        if key not in self.data:
            return None
        values = self.data[key]
        if _blank(values):
            return []
        if not isinstance(values, list | tuple):
            raise _invalid(
                self.param(key), _("Invalid array: %(param)s must be an array.") % {"param": self.param(key)}
            )
        out: list[str] = []
        for i, value in enumerate(values):
            if value not in choices:
                item = f"{self.param(key)}[{i}]"
                raise _invalid(
                    item,
                    _("Invalid %(param)s: must be one of %(choices)s.")
                    % {"param": item, "choices": ", ".join(choices)},
                )
            if value not in out:
                out.append(value)
        return out

    def integer(self, key, *, min_value: int, max_value: int, allow_blank: bool = False) -> int | None | str:
        if key not in self.data:
            return None
        value = self.data[key]
        if allow_blank and _blank(value):
            return ""
        try:
            number = int(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or not min_value <= number <= max_value:
            raise _invalid(
                self.param(key),
                _("Invalid %(param)s: must be an integer between %(min)s and %(max)s.")
                % {"param": self.param(key), "min": min_value, "max": max_value},
                "parameter_invalid_integer",
            )
        return number


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
    root = _Reader(data)
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
            raise _invalid(
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
        if not _blank(metadata):
            validate_metadata(metadata)  # the shape and limits of what was sent, before merging
        put("metadata", merge_metadata(current, "" if _blank(metadata) else metadata))

    if (login := root.child("login_page")) is not None:
        put("login_page_enabled", login.boolean("enabled", required=True))

    features = root.child("features")
    if features is None and creating:
        raise _missing("features")
    products = None
    if features is not None:
        products = _validate_features(features, put, account=account, livemode=livemode, creating=creating)

    _validate_extensions(root, put)
    _check_combinations(state, products, configuration)
    return ValidatedConfiguration(fields=fields, products=products)


def _validate_features(features: _Reader, put, *, account: Account, livemode: bool, creating: bool):
    """Stripe's required ``enabled`` flags: every feature's on create; on update, only where Stripe requires it."""
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
    known = {
        "customer_update",
        "invoice_history",
        "payment_method_update",
        "subscription_cancel",
        "subscription_update",
        "pause_collection",
    }
    for key in features.data:
        if key not in known:
            param = features.param(key)
            raise InvalidRequest(
                _("Received unknown parameter: %(param)s") % {"param": param}, param=param, code="parameter_unknown"
            )

    if (customer_update := features.child("customer_update")) is not None:
        put("customer_update_enabled", customer_update.boolean("enabled", required=creating))
        put("customer_update_allowed_updates", customer_update.choices("allowed_updates", C.AllowedUpdate.values))

    if (invoice_history := features.child("invoice_history")) is not None:
        put("invoice_history_enabled", invoice_history.boolean("enabled", required=True))

    if (pm_update := features.child("payment_method_update")) is not None:
        put("payment_method_update_enabled", pm_update.boolean("enabled", required=True))
        if not _blank(pm_update.data.get("payment_method_configuration")):
            param = pm_update.param("payment_method_configuration")
            raise _invalid(
                param,
                _("Payment method configurations are not supported by this server: leave %(param)s empty.")
                % {"param": param},
            )

    if (cancel := features.child("subscription_cancel")) is not None:
        put("subscription_cancel_enabled", cancel.boolean("enabled", required=creating))
        put("subscription_cancel_mode", cancel.choice("mode", C.CancelMode.values))
        proration = cancel.choice("proration_behavior", C.ProrationBehavior.values)
        if proration == C.ProrationBehavior.ALWAYS_INVOICE:
            param = cancel.param("proration_behavior")
            raise _invalid(
                param,
                _("Passing always_invoice as %(param)s is not supported: use none or create_prorations.")
                % {"param": param},
            )
        put("subscription_cancel_proration_behavior", proration)
        if (reason := cancel.child("cancellation_reason")) is not None:
            put("cancellation_reason_enabled", reason.boolean("enabled", required=True))
            if creating and "options" not in reason:
                raise _missing(reason.param("options"))
            put("cancellation_reason_options", reason.choices("options", C.CancellationReason.values))

    products = None
    if (update := features.child("subscription_update")) is not None:
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
            conditions = _Reader({} if _blank(schedule) else schedule, update.param("schedule_at_period_end"))
            put("schedule_at_period_end_conditions", _conditions(conditions))
        if "products" in update:
            products = _validate_products(update, account=account, livemode=livemode)

    if (pause := features.child("pause_collection")) is not None:
        put("pause_collection_enabled", pause.boolean("enabled", required=creating))
        put("pause_collection_behavior", pause.choice("behavior", C.PauseBehavior.values))
        days = pause.integer("max_duration_days", min_value=1, max_value=MAX_PAUSE_DAYS, allow_blank=True)
        if days is not None:
            put("pause_collection_max_duration_days", NULL if days == "" else days)
    return products


def _conditions(schedule: _Reader) -> list[str]:
    raw = schedule.data.get("conditions", [])
    if _blank(raw):
        return []
    if not isinstance(raw, list | tuple):
        param = schedule.param("conditions")
        raise _invalid(param, _("Invalid array: %(param)s must be an array.") % {"param": param})
    types: list[str] = []
    for i, entry in enumerate(raw):
        item = _Reader(entry, f"{schedule.param('conditions')}[{i}]")
        if "type" not in item:
            raise _missing(item.param("type"))
        value = item.choice("type", C.ScheduleCondition.values)
        if value not in types:
            types.append(value)
    return types


def _validate_products(update: _Reader, *, account: Account, livemode: bool) -> list[ProductSpec]:
    raw = update.data["products"]
    if _blank(raw):
        return []
    if not isinstance(raw, list | tuple):
        raise _invalid(PRODUCTS, _("Invalid array: %(param)s must be an array.") % {"param": PRODUCTS})
    if len(raw) > MAX_PRODUCTS:
        raise _invalid(
            PRODUCTS,
            _("Invalid %(param)s: at most %(limit)s products are allowed.")
            % {"param": PRODUCTS, "limit": MAX_PRODUCTS},
        )
    entries = [_Reader(entry, f"{PRODUCTS}[{i}]") for i, entry in enumerate(raw)]
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
        if _blank(product_id):
            raise _missing(entry.param("product"))
        product = found_products.get(product_id) if isinstance(product_id, str) else None
        if product is None:
            raise _invalid(
                entry.param("product"), _("No such product: '%(id)s'") % {"id": product_id}, "resource_missing"
            )
        if product_id in seen_products:
            raise _invalid(
                entry.param("product"),
                _(
                    "Product %(product)s is listed twice (also at index %(index)s); list each product once with all its prices."
                )
                % {"product": product_id, "index": seen_products[product_id]},
            )
        seen_products[product_id] = i
        if not product.active:
            raise _invalid(
                entry.param("product"),
                _("Product %(product)s is archived (active=false); only active products can be offered.")
                % {"product": product_id},
            )
        specs.append(ProductSpec(product=product, prices=_entry_prices(entry, product, found_prices)))
        _adjustable_quantity(entry, specs[-1])
    return specs


def _entry_prices(entry: _Reader, product: Product, found_prices: dict) -> list[Price]:
    raw = entry.data.get("prices")
    if _blank(raw) or raw == []:
        raise _missing(entry.param("prices"))
    if not isinstance(raw, list | tuple):
        param = entry.param("prices")
        raise _invalid(param, _("Invalid array: %(param)s must be an array.") % {"param": param})
    prices: list[Price] = []
    # The rule Stripe documents as "same product, same interval": here per (interval, currency).
    offered: dict[tuple[str, str], Price] = {}
    for j, price_id in enumerate(raw):
        param = f"{entry.param('prices')}[{j}]"
        price = found_prices.get(price_id) if isinstance(price_id, str) else None
        if price is None:
            raise _invalid(param, _("No such price: '%(id)s'") % {"id": price_id}, "resource_missing")
        if price.product_id != product.pk:
            raise _invalid(
                param,
                _("Price %(price)s belongs to product %(actual)s, not to %(product)s.")
                % {"price": price.pk, "actual": price.product_id, "product": product.pk},
            )
        if price in prices:
            raise _invalid(
                param,
                _("Price %(price)s is listed twice for product %(product)s.")
                % {"price": price.pk, "product": product.pk},
            )
        if not price.is_recurring:
            raise _invalid(
                param,
                _("Price %(price)s is a one-time price; customers can only switch between recurring prices.")
                % {"price": price.pk},
            )
        if not price.active:
            raise _invalid(
                param,
                _("Price %(price)s is archived (active=false); only active prices can be offered.")
                % {"price": price.pk},
            )
        key = (price.recurring_interval, price.currency)
        if key in offered:
            raise _invalid(
                param,
                _(
                    "Product %(product)s already has a price with interval %(interval)s in %(currency)s (%(other)s). "
                    "Offer at most one price per interval and currency for each product, or create a separate "
                    "product for the other price."
                )
                % {
                    "product": product.pk,
                    "interval": price.recurring_interval,
                    "currency": price.currency.upper(),
                    "other": offered[key].pk,
                },
            )
        offered[key] = price
        prices.append(price)
    return prices


def _adjustable_quantity(entry: _Reader, spec: ProductSpec) -> None:
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
        raise _invalid(
            param,
            _("Invalid %(param)s: the maximum (%(maximum)s) must not be less than the minimum (%(minimum)s).")
            % {
                "param": param,
                "maximum": spec.adjustable_quantity_maximum,
                "minimum": spec.adjustable_quantity_minimum,
            },
        )


def _validate_extensions(root: _Reader, put) -> None:
    if (custom := root.child("custom_text")) is not None:
        for key in custom.data:
            if key not in CUSTOM_TEXT_SECTIONS:
                param = custom.param(key)
                raise InvalidRequest(
                    _("Received unknown parameter: %(param)s") % {"param": param}, param=param, code="parameter_unknown"
                )
        for section in CUSTOM_TEXT_SECTIONS:
            put(f"custom_text_{section}", custom.text(section, max_length=MAX_CUSTOM_TEXT))
    if (group := root.child("customer_group")) is not None:
        if "metadata" in group:
            rule = group.data["metadata"]
            put(
                "customer_group_metadata",
                validate_metadata({} if _blank(rule) else rule, param=group.param("metadata")),
            )
        priority = group.integer("priority", min_value=0, max_value=MAX_PRIORITY)
        put("customer_group_priority", priority)


def _check_combinations(state: dict, products: list[ProductSpec] | None, configuration) -> None:
    if (
        state["subscription_cancel_proration_behavior"] == C.ProrationBehavior.CREATE_PRORATIONS
        and state["subscription_cancel_mode"] != C.CancelMode.IMMEDIATELY
    ):
        raise _invalid(
            "features[subscription_cancel][proration_behavior]",
            _(
                "features[subscription_cancel][proration_behavior]=create_prorations needs "
                "features[subscription_cancel][mode]=immediately: subscriptions cancelled at the end of their "
                "period are not prorated."
            ),
        )
    if state["cancellation_reason_enabled"] and not state["cancellation_reason_options"]:
        raise _missing("features[subscription_cancel][cancellation_reason][options]")
    if state["subscription_update_enabled"]:
        if products is None:
            has_products = configuration is not None and configuration.products.exists()
        else:
            has_products = bool(products)
        if not has_products:
            raise _missing(PRODUCTS)
        if not state["subscription_update_default_allowed_updates"]:
            raise _missing("features[subscription_update][default_allowed_updates]")


# ---------------------------------------------------------------------------------------------- configurations


def _lock_account(account_id: str) -> None:
    """Serialises the choice of the default configuration of an account (both modes)."""
    Account.objects.select_for_update(no_key=True).filter(pk=account_id).first()


def _full(configuration: PortalConfiguration) -> dict:
    return render_configuration(configuration, include_products=True)


def _apply(configuration: PortalConfiguration, cleaned: ValidatedConfiguration) -> list[str]:
    changed = []
    for column, value in cleaned.fields.items():
        if column == "login_page_enabled":
            continue
        if getattr(configuration, column) != value:
            setattr(configuration, column, value)
            changed.append(column)
    enabled = cleaned.fields.get("login_page_enabled")
    if enabled is True and not configuration.login_page_enabled:
        # A new link each time it is switched on: a link shared before it was switched off stays dead.
        configuration.login_page_enabled, configuration.login_page_token = True, ids.new_token()
        changed += ["login_page_enabled", "login_page_token"]
    elif enabled is False and configuration.login_page_enabled:
        configuration.login_page_enabled, configuration.login_page_token = False, ""
        changed += ["login_page_enabled", "login_page_token"]
    return changed


def _replace_products(configuration: PortalConfiguration, specs: list[ProductSpec]) -> None:
    configuration.products.all().delete()
    for position, spec in enumerate(specs):
        row = PortalConfigurationProduct.objects.create(
            configuration=configuration,
            product=spec.product,
            position=position,
            adjustable_quantity_enabled=spec.adjustable_quantity_enabled,
            adjustable_quantity_minimum=spec.adjustable_quantity_minimum,
            adjustable_quantity_maximum=spec.adjustable_quantity_maximum,
        )
        row.prices.set(spec.prices)


def _has_default(account_id: str, livemode: bool) -> bool:
    return PortalConfiguration.objects.filter(account_id=account_id, livemode=livemode, is_default=True).exists()


def _record(configuration: PortalConfiguration, *, actor: Actor, action: str, changes: dict | None = None) -> None:
    audit.record(actor, action, configuration, changes)


def configuration_create(*, account: Account, livemode: bool, actor: Actor, data: dict) -> PortalConfiguration:
    """A new configuration from Stripe-shaped parameters; the first active one of a mode becomes its default."""
    with transaction.atomic():
        _lock_account(account.pk)
        cleaned = configuration_validate(account=account, livemode=livemode, data=data)
        configuration = PortalConfiguration(account=account, livemode=livemode)
        _apply(configuration, cleaned)
        now = clock.now()
        configuration.created = configuration.updated = now
        configuration.is_default = configuration.active and not _has_default(account.pk, livemode)
        configuration.save()
        if cleaned.products:
            _replace_products(configuration, cleaned.products)
        events.record(
            type="billing_portal.configuration.created", obj=configuration, data=render_configuration(configuration)
        )
        _record(configuration, actor=actor, action="portal_configuration.create")
        return configuration


def configuration_update(*, configuration: PortalConfiguration, actor: Actor, data: dict) -> PortalConfiguration:
    """Stripe's update semantics: absent keys stay, ``""`` clears, ``products`` replaces the list, metadata merges."""
    with transaction.atomic():
        _lock_account(configuration.account_id)
        try:
            configuration = PortalConfiguration.objects.select_for_update(no_key=True).get(pk=configuration.pk)
        except PortalConfiguration.DoesNotExist:
            raise NotFound(f"No such configuration: '{configuration.pk}'", param="id")
        before, before_full = render_configuration(configuration), _full(configuration)
        cleaned = configuration_validate(
            account=configuration.account, livemode=configuration.livemode, data=data, configuration=configuration
        )
        changed = _apply(configuration, cleaned)
        if cleaned.products is not None:
            _replace_products(configuration, cleaned.products)
        if (
            configuration.active
            and not configuration.is_default
            and not _has_default(configuration.account_id, configuration.livemode)
        ):
            configuration.is_default = True
            changed.append("is_default")
        after_full = _full(configuration)
        if after_full == before_full:
            return configuration
        configuration.updated = clock.now()
        configuration.save(update_fields=[*dict.fromkeys(changed), "updated"])
        after = render_configuration(configuration)
        events.record(
            type="billing_portal.configuration.updated",
            obj=configuration,
            data=after,
            previous_attributes=events.changed_attributes(before, after),
        )
        changes = {
            key: after_full[key] for key in after_full if key != "updated" and after_full[key] != before_full.get(key)
        }
        _record(configuration, actor=actor, action="portal_configuration.update", changes=changes)
        return configuration


def configuration_set_login_page(
    *, configuration: PortalConfiguration, actor: Actor, enabled: bool
) -> PortalConfiguration:
    """Switch the no-code login link on (a new 256-bit token each time) or off (the old link stops working)."""
    return configuration_update(configuration=configuration, actor=actor, data={"login_page": {"enabled": enabled}})


def configuration_make_default(*, configuration: PortalConfiguration, actor: Actor) -> PortalConfiguration:
    """Make ``configuration`` the default of its account and mode, in one swap: there is never none or two."""
    with transaction.atomic():
        _lock_account(configuration.account_id)
        target = PortalConfiguration.objects.select_for_update(no_key=True).filter(pk=configuration.pk).first()
        if target is None:
            raise NotFound(f"No such configuration: '{configuration.pk}'", param="id")
        if target.is_default:
            return target
        if not target.active:
            raise StateConflict(_("Activate this configuration before making it the default."), param="active")
        now = clock.now()
        previous = (
            PortalConfiguration.objects.select_for_update(no_key=True)
            .filter(account_id=target.account_id, livemode=target.livemode, is_default=True)
            .first()
        )
        # The old default gives way first: the partial unique index is checked row by row.
        for row, value in ((previous, False), (target, True)):
            if row is None:
                continue
            before = render_configuration(row)
            row.is_default, row.updated = value, now
            row.save(update_fields=["is_default", "updated"])
            after = render_configuration(row)
            events.record(
                type="billing_portal.configuration.updated",
                obj=row,
                data=after,
                previous_attributes=events.changed_attributes(before, after),
            )
            _record(row, actor=actor, action="portal_configuration.make_default", changes={"is_default": value})
        return target


# ---------------------------------------------------------------------------------------------- branding

KEEP = object()


def _store_image(branding: Branding, field_name: str, upload, param: str) -> None:
    """``KEEP`` leaves the image, ``None`` removes it, a file replaces it (named by us, never by the uploader)."""
    if upload is KEEP:
        return
    old = getattr(branding, field_name)
    old_name = old.name if old else ""
    if upload is None or upload is False:
        setattr(branding, field_name, "")
    else:
        try:
            kind = validators.validate_brand_image(upload)
        except ValidationError as error:
            raise InvalidRequest(" ".join(error.messages), param=param)
        name = f"{branding.account_id}-{secrets.token_hex(8)}.{'jpg' if kind == 'jpeg' else kind}"
        getattr(branding, field_name).save(name, upload, save=False)
    if old_name and old_name != getattr(branding, field_name).name:
        storage = old.storage
        transaction.on_commit(lambda: storage.delete(old_name))


def branding_update(
    *,
    account: Account,
    actor: Actor,
    business_name: str | None = None,
    primary_color: str | None = None,
    background_color: str | None = None,
    font: str | None = None,
    icon=KEEP,
    logo=KEEP,
) -> Branding:
    """Create or change the account's branding; ``None`` leaves a text field as it is."""
    changes: dict[str, Any] = {}
    if business_name is not None:
        business_name = business_name.strip()
        if len(business_name) > 100:
            raise _too_long("business_name", 100)
        changes["business_name"] = business_name
    for name, value in (("primary_color", primary_color), ("background_color", background_color)):
        if value is not None:
            try:
                changes[name] = validators.normalize_hex_color(value)
            except ValidationError as error:
                raise InvalidRequest(" ".join(error.messages), param=name)
    if font is not None:
        if font not in Branding.Font.values:
            raise _invalid(
                "font", _("Invalid font: must be one of %(choices)s.") % {"choices": ", ".join(Branding.Font.values)}
            )
        changes["font"] = font
    with transaction.atomic():
        Account.objects.select_for_update(no_key=True).filter(pk=account.pk).first()
        branding = Branding.objects.select_for_update(no_key=True).filter(account=account).first()
        creating = branding is None
        if creating:
            branding = Branding(account=account)
        for name, value in changes.items():
            setattr(branding, name, value)
        _store_image(branding, "icon", icon, "icon")
        _store_image(branding, "logo", logo, "logo")
        branding.updated = clock.now()
        branding.save()
        audit.record(
            actor,
            "branding.create" if creating else "branding.update",
            branding,
            {
                **changes,
                **({"icon": branding.icon.name} if icon is not KEEP else {}),
                **({"logo": branding.logo.name} if logo is not KEEP else {}),
            },
        )
        return branding


def branding_contrast_warning(branding: Branding) -> str | None:
    """A sentence for the merchant when the brand colour is hard to read on the background (WCAG AA: 4.5:1)."""
    ratio = branding.contrast_ratio
    if ratio >= validators.MIN_CONTRAST:
        return None
    return _(
        "The brand colour %(primary)s on the background %(background)s has a contrast ratio of %(ratio)s:1; "
        "WCAG AA asks for at least 4.5:1. Links and buttons may be hard to read."
    ) % {"primary": branding.primary_color, "background": branding.background_color, "ratio": f"{ratio:.2f}"}


# ---------------------------------------------------------------------------------------------- custom domains


def custom_domain_set(*, account: Account, hostname: str, actor: Actor) -> CustomDomain:
    """Set the account's one custom domain; a new hostname needs verifying again (with a new token)."""
    try:
        hostname = validators.normalize_hostname(hostname)
    except ValidationError as error:
        raise InvalidRequest(" ".join(error.messages), param="hostname")
    try:
        with transaction.atomic():
            Account.objects.select_for_update(no_key=True).filter(pk=account.pk).first()
            domain = CustomDomain.objects.select_for_update(no_key=True).filter(account=account).first()
            if domain is not None and domain.hostname == hostname:
                return domain
            if CustomDomain.objects.filter(hostname=hostname).exclude(account=account).exists():
                raise _hostname_taken()
            creating = domain is None
            if creating:
                domain = CustomDomain(account=account)
            domain.hostname = hostname
            domain.verification_token = secrets.token_urlsafe(24)
            domain.verified_at = domain.last_checked_at = None
            domain.last_error = ""
            domain.save()
            audit.record(
                actor, "custom_domain.create" if creating else "custom_domain.update", domain, {"hostname": hostname}
            )
            return domain
    except IntegrityError:
        raise _hostname_taken()


def _hostname_taken() -> InvalidRequest:
    return _invalid("hostname", _("This hostname is already used by another account."), "resource_already_exists")


def custom_domain_remove(*, account: Account, actor: Actor) -> None:
    with transaction.atomic():
        domain = CustomDomain.objects.select_for_update(no_key=True).filter(account=account).first()
        if domain is None:
            return
        audit.record(actor, "custom_domain.delete", domain, {"hostname": domain.hostname})
        domain.delete()


def _default_resolver():
    import dns.resolver

    resolver = dns.resolver.Resolver()
    resolver.lifetime = 5.0
    return resolver


def _txt_values(resolver, name: str) -> list[str]:
    answer = resolver.resolve(name, "TXT")
    return [b"".join(record.strings).decode("utf-8", "replace").strip() for record in answer]


def custom_domain_verify(*, domain: CustomDomain, actor: Actor, resolver=None) -> CustomDomain:
    """Look up the TXT record that proves control of the hostname and record the outcome.

    ``resolver`` is anything with dnspython's ``resolve(name, rdtype)`` (tests pass a fake). A missing or
    wrong record un-verifies the domain (control may have moved); a DNS failure leaves the state as it was.
    """
    import dns.exception
    import dns.resolver

    resolver = resolver or _default_resolver()
    verified: bool | None
    try:
        values = _txt_values(resolver, domain.record_name)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        verified, message = False, _("No TXT record found at %(name)s.") % {"name": domain.record_name}
    except dns.exception.DNSException as error:
        verified, message = (
            None,
            _("The DNS lookup failed (%(error)s); try again later.") % {"error": type(error).__name__},
        )
    else:
        verified = domain.record_value in values
        message = (
            ""
            if verified
            else _("The TXT record at %(name)s does not contain %(value)s.")
            % {
                "name": domain.record_name,
                "value": domain.record_value,
            }
        )
    with transaction.atomic():
        current = CustomDomain.objects.select_for_update(no_key=True).filter(pk=domain.pk).first()
        if current is None or current.verification_token != domain.verification_token:
            raise StateConflict(_("The custom domain changed while it was being checked; check it again."))
        now = clock.now()
        current.last_checked_at = now
        current.last_error = message[:500]
        was_verified = current.is_verified
        if verified is True and not was_verified:
            current.verified_at = now
        elif verified is False:
            current.verified_at = None
        current.save(update_fields=["last_checked_at", "last_error", "verified_at"])
        audit.record(
            actor,
            "custom_domain.verify",
            current,
            {"hostname": current.hostname, "verified": current.is_verified, "result": message},
        )
        return current
