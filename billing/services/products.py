"""Product and price services: create, update, delete products; create and update prices, with lookup keys."""

from django.db.models import ProtectedError
from django.utils.translation import gettext_lazy as _

from billing import audit, money
from billing.audit import Actor
from billing.exceptions import BillingError, InvalidRequest, StateConflict
from billing.models import Account, Meter, Price, Product
from billing.services.common import (
    clean_text,
    emit,
    lock,
    lock_account,
    merge_metadata,
    no_such,
    record_created,
    render,
    save_changes,
    validate_metadata,
)
from billing.services.door import service

# Stripe's limit: a billing period of at most three years.
MAX_INTERVAL_COUNT = {"day": 1095, "week": 156, "month": 36, "year": 3}


# ---------------------------------------------------------------------------------------------- products


@service
def product_create(
    *,
    account: Account,
    livemode: bool,
    actor: Actor,
    name: str,
    description: str = "",
    active: bool = True,
    metadata: dict | None = None,
) -> Product:
    if not (name or "").strip():
        raise InvalidRequest("Missing required param: name.", param="name", code="parameter_missing")
    name = clean_text(name, param="name", max_length=250)
    product = Product.objects.create(
        account=account,
        livemode=livemode,
        name=name,
        description=description or "",
        active=active,
        metadata=validate_metadata(metadata),
    )
    return record_created(product, actor, "product.create", "product.created")


@service
def product_update(
    *,
    product: Product,
    actor: Actor,
    name: str | None = None,
    description: str | None = None,
    active: bool | None = None,
    metadata: dict | str | None = None,
) -> Product:
    """``None`` leaves a field as it is; ``description=""`` clears it; ``metadata`` merges as in Stripe."""
    if name is not None:
        name = clean_text(name, param="name", max_length=250, required=True)
    product = lock(Product, product.pk)
    before = render(product)
    if name is not None:
        product.name = name
    if description is not None:
        product.description = description
    if active is not None:
        product.active = active
    if metadata is not None:
        product.metadata = merge_metadata(product.metadata, metadata)
    fields = ["name", "description", "active", "metadata", "updated"]
    return save_changes(product, before, fields, actor=actor, action="product.update", event="product.updated")


@service
def product_delete(*, product: Product, actor: Actor) -> None:
    """Stripe's rule: only a product without prices can be deleted; others are archived (``active=false``)."""
    product = lock(Product, product.pk)
    if product.prices.exists():
        raise StateConflict(
            _(
                "This product cannot be deleted because it has one or more prices. "
                "Archive it instead by setting active=false."
            ),
        )
    emit("product.deleted", product)
    audit.record(actor, "product.delete", product)
    try:
        product.delete()
    except ProtectedError:
        # Other apps may hold the product too (e.g. a portal configuration); the event and audit roll back.
        raise StateConflict(_("This product cannot be deleted because it is still in use; archive it instead."))


# ---------------------------------------------------------------------------------------------- prices


def _check_price_terms(*, currency: str, unit_amount, interval, interval_count, usage_type, tax_behavior) -> None:
    if not money.is_supported(currency):
        raise InvalidRequest(_("Invalid currency: %(currency)s."), params={"currency": currency}, param="currency")
    if unit_amount is None or int(unit_amount) < 0:
        raise InvalidRequest(_("Invalid unit_amount: must be a non-negative integer."), param="unit_amount")
    if interval and interval not in Price.Interval.values:
        raise InvalidRequest(
            _("Invalid recurring[interval]: %(interval)s"), params={"interval": interval}, param="recurring[interval]"
        )
    if interval and not 1 <= int(interval_count) <= MAX_INTERVAL_COUNT[interval]:
        raise InvalidRequest(
            _(
                "Invalid recurring[interval_count]: must be between 1 and %(max)s for interval=%(interval)s (the "
                "maximum billing period is 3 years)."
            ),
            params={"max": MAX_INTERVAL_COUNT[interval], "interval": interval},
            param="recurring[interval_count]",
        )
    if usage_type not in Price.UsageType.values:
        raise InvalidRequest(
            _("Invalid recurring[usage_type]: %(usage_type)s"),
            params={"usage_type": usage_type},
            param="recurring[usage_type]",
        )
    if tax_behavior not in Price.TaxBehavior.values:
        raise InvalidRequest(
            _("Invalid tax_behavior: %(tax_behavior)s"), params={"tax_behavior": tax_behavior}, param="tax_behavior"
        )


def _claim_lookup_key(price: Price, lookup_key: str, *, transfer: bool, actor: Actor) -> None:
    """Lookup keys are unique per account and mode; ``transfer`` takes the key from the price holding it.

    The caller holds the account lock (taken before any price row, so concurrent claims cannot deadlock).
    """
    holder = (
        Price.objects.select_for_update(no_key=True)
        .filter(account_id=price.account_id, livemode=price.livemode, lookup_key=lookup_key)
        .exclude(pk=price.pk)
        .first()
    )
    if holder is None:
        return
    if not transfer:
        raise InvalidRequest(
            _("A price (%(id)s) already uses that lookup key. Pass transfer_lookup_key=true to move it."),
            params={"id": holder.id},
            param="lookup_key",
        )
    before = render(holder)
    holder.lookup_key = ""
    save_changes(holder, before, ["lookup_key"], actor=actor, action="price.update", event="price.updated")


def _check_meter(product: Product, meter: Meter | None, *, interval, usage_type) -> None:
    if meter is None:
        return
    if (meter.account_id, meter.livemode) != (product.account_id, product.livemode):
        raise no_such("billing.meter", meter.pk, param="recurring[meter]")
    if not interval or usage_type != Price.UsageType.METERED:
        raise InvalidRequest(
            _("recurring[meter] can only be set on a price with recurring[usage_type]=metered."),
            param="recurring[meter]",
        )
    if meter.status != meter.Status.ACTIVE:
        raise InvalidRequest(_("The meter %(id)s is inactive."), params={"id": meter.pk}, param="recurring[meter]")


@service
def price_create(
    *,
    product: Product,
    actor: Actor,
    currency: str,
    unit_amount: int,
    interval: str | None = None,
    interval_count: int = 1,
    usage_type: str = Price.UsageType.LICENSED,
    tax_behavior: str = Price.TaxBehavior.UNSPECIFIED,
    nickname: str = "",
    lookup_key: str = "",
    transfer_lookup_key: bool = False,
    active: bool = True,
    metadata: dict | None = None,
    meter: Meter | None = None,
) -> Price:
    currency = (currency or "").lower()
    _check_price_terms(
        currency=currency,
        unit_amount=unit_amount,
        interval=interval,
        interval_count=interval_count,
        usage_type=usage_type,
        tax_behavior=tax_behavior,
    )
    nickname = clean_text(nickname, param="nickname", max_length=250)
    lookup_key = clean_text(lookup_key, param="lookup_key", max_length=200)
    _check_meter(product, meter, interval=interval, usage_type=usage_type)
    if lookup_key:
        lock_account(product.account_id)
    # Locking the product makes a concurrent product_delete wait for us (or us fail cleanly after it).
    try:
        product = Product.objects.select_for_update(no_key=True).get(pk=product.pk)
    except Product.DoesNotExist:
        raise no_such("product", product.pk, param="product")
    price = Price(
        account=product.account,
        livemode=product.livemode,
        product=product,
        currency=currency,
        unit_amount=int(unit_amount),
        type=Price.Type.RECURRING if interval else Price.Type.ONE_TIME,
        recurring_interval=interval or "",
        recurring_interval_count=int(interval_count) if interval else 1,
        recurring_usage_type=usage_type,
        tax_behavior=tax_behavior,
        nickname=nickname,
        lookup_key=lookup_key,
        active=active,
        metadata=validate_metadata(metadata),
        meter=meter,
    )
    if lookup_key:
        _claim_lookup_key(price, lookup_key, transfer=transfer_lookup_key, actor=actor)
    price.save(force_insert=True)
    return record_created(price, actor, "price.create", "price.created")


@service
def price_create_with_product(
    *, account: Account, livemode: bool, actor: Actor, product_data: dict, **price_fields
) -> Price:
    """Stripe's ``product_data``: a new product and its first price, both or neither."""
    try:
        product = product_create(account=account, livemode=livemode, actor=actor, **product_data)
    except BillingError as error:
        if error.param:
            head, bracket, rest = error.param.partition("[")
            error.param = f"product_data[{head}]{bracket}{rest}"
        raise
    return price_create(product=product, actor=actor, **price_fields)


@service
def price_update(
    *,
    price: Price,
    actor: Actor,
    active: bool | None = None,
    nickname: str | None = None,
    lookup_key: str | None = None,
    transfer_lookup_key: bool = False,
    tax_behavior: str | None = None,
    metadata: dict | str | None = None,
) -> Price:
    """Amounts, currency and interval are fixed (create a new price); ``tax_behavior`` only while unspecified."""
    if nickname is not None:
        nickname = clean_text(nickname, param="nickname", max_length=250)
    if lookup_key is not None:
        lookup_key = clean_text(lookup_key, param="lookup_key", max_length=200)
    if tax_behavior is not None and tax_behavior not in Price.TaxBehavior.values:
        raise InvalidRequest(
            _("Invalid tax_behavior: %(tax_behavior)s"), params={"tax_behavior": tax_behavior}, param="tax_behavior"
        )
    if lookup_key:
        lock_account(price.account_id)
    price = lock(Price, price.pk)
    before = render(price)
    if tax_behavior is not None and tax_behavior != price.tax_behavior:
        if price.tax_behavior != Price.TaxBehavior.UNSPECIFIED:
            raise InvalidRequest(
                _(
                    "tax_behavior cannot be changed once it is set (this price is %(tax_behavior)s); create a new "
                    "price instead."
                ),
                params={"tax_behavior": price.tax_behavior},
                param="tax_behavior",
            )
        price.tax_behavior = tax_behavior
    if active is not None:
        price.active = active
    if nickname is not None:
        price.nickname = nickname
    if lookup_key is not None and lookup_key != price.lookup_key:
        if lookup_key:
            _claim_lookup_key(price, lookup_key, transfer=transfer_lookup_key, actor=actor)
        price.lookup_key = lookup_key
    if metadata is not None:
        price.metadata = merge_metadata(price.metadata, metadata)
    fields = ["active", "nickname", "lookup_key", "tax_behavior", "metadata"]
    return save_changes(price, before, fields, actor=actor, action="price.update", event="price.updated")
