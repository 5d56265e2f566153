"""Portal configuration services: create, update, switch the login link, make the default of a mode.

Each takes the account's lock first: it serialises the choice of the default configuration of an account (both
modes)."""

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from billing import audit, clock, events, ids
from billing.audit import Actor
from billing.exceptions import StateConflict
from billing.models import Account
from billing.services.common import lock_account, no_such
from configurations.models import CancellationOffer, PortalConfiguration, PortalConfigurationProduct
from configurations.representations import configuration as render_configuration
from configurations.services.validation import OfferSpec, ProductSpec, ValidatedConfiguration, configuration_validate


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
            add_on=spec.add_on,
        )
        row.prices.set(spec.prices)


def _replace_offers(configuration: PortalConfiguration, specs: list[OfferSpec]) -> None:
    """The new ladder; an offer listed again (same type and terms) keeps its id, so its outcomes stay its own."""
    existing = {}
    for row in configuration.cancellation_offers.all():
        key = (row.type, row.pause_days, row.price_id, row.coupon_id)
        existing.setdefault(key, row)
    kept = []
    for position, spec in enumerate(specs):
        row = existing.pop(spec.signature, None) or CancellationOffer(configuration=configuration)
        row.position, row.type, row.pause_days = position, spec.type, spec.pause_days
        row.price, row.coupon = spec.price, spec.coupon
        row.customer_metadata, row.reasons = spec.customer_metadata, spec.reasons
        kept.append(row)
    CancellationOffer.objects.filter(pk__in=[row.pk for row in existing.values()]).delete()
    for row in kept:
        row.save()


def _has_default(account_id: str, livemode: bool) -> bool:
    return PortalConfiguration.objects.filter(account_id=account_id, livemode=livemode, is_default=True).exists()


def configuration_create(
    *,
    account: Account,
    livemode: bool,
    actor: Actor,
    data: dict,
    default_if_first: bool = True,
    make_default: bool = False,
) -> PortalConfiguration:
    """A new configuration from Stripe-shaped parameters. With ``default_if_first`` (the admin, Stripe's Dashboard)
    the first active one of a mode becomes its default; the API never makes a default on its own, as Stripe's."""
    with transaction.atomic():
        lock_account(account.pk)
        cleaned = configuration_validate(account=account, livemode=livemode, data=data)
        configuration = PortalConfiguration(account=account, livemode=livemode)
        _apply(configuration, cleaned)
        now = clock.now()
        configuration.created = configuration.updated = now
        configuration.is_default = default_if_first and configuration.active and not _has_default(account.pk, livemode)
        configuration.save()
        if cleaned.products:
            _replace_products(configuration, cleaned.products)
        if cleaned.offers:
            _replace_offers(configuration, cleaned.offers)
        events.record(
            type="billing_portal.configuration.created", obj=configuration, data=render_configuration(configuration)
        )
        audit.record(actor, "portal_configuration.create", configuration)
        if make_default and not configuration.is_default:
            configuration = configuration_make_default(configuration=configuration, actor=actor)
        return configuration


def configuration_update(
    *,
    configuration: PortalConfiguration,
    actor: Actor,
    data: dict,
    default_if_none: bool = True,
    make_default: bool = False,
) -> PortalConfiguration:
    """Stripe's update semantics: absent keys stay, ``""`` clears, ``products`` replaces the list, metadata merges.
    With ``default_if_none`` (the admin) an active configuration becomes the default when its mode has none."""
    with transaction.atomic():
        lock_account(configuration.account_id)
        try:
            configuration = PortalConfiguration.objects.select_for_update(no_key=True).get(pk=configuration.pk)
        except PortalConfiguration.DoesNotExist:
            raise no_such("configuration", configuration.pk, param="id")
        before, before_full = render_configuration(configuration), _full(configuration)
        cleaned = configuration_validate(
            account=configuration.account, livemode=configuration.livemode, data=data, configuration=configuration
        )
        changed = _apply(configuration, cleaned)
        if cleaned.products is not None:
            _replace_products(configuration, cleaned.products)
        if cleaned.offers is not None:
            _replace_offers(configuration, cleaned.offers)
        if (
            default_if_none
            and configuration.active
            and not configuration.is_default
            and not _has_default(configuration.account_id, configuration.livemode)
        ):
            configuration.is_default = True
            changed.append("is_default")
        after_full = _full(configuration)
        if after_full == before_full:
            return (
                configuration_make_default(configuration=configuration, actor=actor) if make_default else configuration
            )
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
        audit.record(actor, "portal_configuration.update", configuration, changes)
        if make_default:
            configuration = configuration_make_default(configuration=configuration, actor=actor)
        return configuration


def configuration_set_login_page(
    *, configuration: PortalConfiguration, actor: Actor, enabled: bool
) -> PortalConfiguration:
    """Switch the no-code login link on (a new 256-bit token each time) or off (the old link stops working)."""
    return configuration_update(configuration=configuration, actor=actor, data={"login_page": {"enabled": enabled}})


def configuration_make_default(*, configuration: PortalConfiguration, actor: Actor) -> PortalConfiguration:
    """Make ``configuration`` the default of its account and mode, in one swap: there is never none or two."""
    with transaction.atomic():
        lock_account(configuration.account_id)
        target = PortalConfiguration.objects.select_for_update(no_key=True).filter(pk=configuration.pk).first()
        if target is None:
            raise no_such("configuration", configuration.pk, param="id")
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
            audit.record(actor, "portal_configuration.make_default", row, {"is_default": value})
        return target
