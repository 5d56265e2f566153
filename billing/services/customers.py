"""Customer services: create, update, default payment method, delete."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from billing import audit, balance_ledger, money, statements
from billing.addresses import address_problems
from billing.audit import Actor
from billing.exceptions import InvalidRequest
from billing.models import Account, Customer, CustomerBalanceTransaction, PaymentMethod, Subscription, TestClock
from billing.services.common import emit, lock, merge_metadata, no_such, render, same_tenant, validate_metadata
from billing.services.door import service
from billing.services.subscriptions import subscription_cancel
from billing.services.tax_ids import tax_id_create
from billing.services.test_clocks import in_clock_time
from billing.tax_ids import ValidTaxId
from billing.tax_ids import validate as validate_tax_id

ADDRESS_KEYS = ("line1", "line2", "city", "state", "postal_code", "country")
UPDATABLE = ("email", "name", "phone", "description", "address", "shipping", "preferred_locales", "metadata")
# ``customer_update(default_payment_method=...)`` left out: the default stays as it is.
UNCHANGED = object()


def _clean_address(address, param: str, *, check: bool = False) -> dict | None:
    """``check``: also hold the address to its country's rules (customer-facing pages; Stripe's API takes any)."""
    if address in (None, ""):
        return None
    if not isinstance(address, dict):
        raise InvalidRequest(_("Invalid address: must be an object."), param=param)
    unknown = set(address) - set(ADDRESS_KEYS)
    if unknown:
        raise InvalidRequest(f"Received unknown parameter: {param}[{sorted(unknown)[0]}]", param=param)
    clean = {key: str(address.get(key) or "").strip() for key in ADDRESS_KEYS}
    if clean["country"]:
        clean["country"] = clean["country"].upper()
        if clean["country"] not in dict(countries):
            raise InvalidRequest(
                _("Invalid country: %(country)s"), params={"country": clean["country"]}, param=f"{param}[country]"
            )
    if check and any(clean.values()):
        for part, problem in sorted(address_problems(clean).items()):
            text = (
                _("Invalid %(param)s: required for %(country)s.")
                if problem == "required"
                else _("Invalid %(param)s: invalid for %(country)s.")
            )
            raise InvalidRequest(
                text, params={"param": f"{param}[{part}]", "country": clean["country"]}, param=f"{param}[{part}]"
            )
    return clean


def _clean(fields: dict, *, check_addresses: bool = False) -> dict:
    clean = {}
    for key, value in fields.items():
        if key not in UPDATABLE:
            raise InvalidRequest(f"Received unknown parameter: {key}", param=key, code="parameter_unknown")
        if key == "email":
            value = (value or "").strip()
            if value:
                try:
                    validate_email(value)
                except ValidationError:
                    raise InvalidRequest(
                        _("Invalid email address: %(email)s"),
                        params={"email": value},
                        param="email",
                        code="email_invalid",
                    )
        elif key in ("name", "phone", "description"):
            value = (value or "").strip()
            limit = {"name": 256, "phone": 32, "description": 500}[key]
            if len(value) > limit:
                raise InvalidRequest(
                    _("Invalid %(param)s: must be at most %(max)s characters."),
                    params={"param": key, "max": limit},
                    param=key,
                )
        elif key == "address":
            value = _clean_address(value, "address", check=check_addresses)
        elif key == "shipping":
            if value in (None, ""):
                value = None
            else:
                if not isinstance(value, dict) or not value.get("name"):
                    raise InvalidRequest("Missing required param: shipping[name].", param="shipping[name]")
                value = {
                    "name": str(value["name"]).strip(),
                    "phone": str(value.get("phone") or "").strip(),
                    "address": _clean_address(value.get("address"), "shipping[address]", check=check_addresses),
                }
        elif key == "preferred_locales":
            value = list(value or [])
            for locale in value:
                if not isinstance(locale, str) or len(locale) > 10:
                    raise InvalidRequest(f"Invalid locale: {locale}", param="preferred_locales")
        clean[key] = value
    return clean


def _checked_tax_id_data(tax_id_data: list[dict]) -> list[ValidTaxId]:
    """Each ``{type, value}`` checked before anything is written; errors name ``tax_id_data[i][…]`` as Stripe's do."""
    checked = []
    for index, entry in enumerate(tax_id_data):
        try:
            checked.append(validate_tax_id(type=entry.get("type") or "", value=entry.get("value") or ""))
        except InvalidRequest as error:
            error.param = f"tax_id_data[{index}][{'value' if error.code == 'tax_id_invalid' else 'type'}]"
            raise
    return checked


@service
def customer_create(
    *,
    account: Account,
    livemode: bool,
    actor: Actor,
    default_payment_method: PaymentMethod | None = None,
    tax_id_data: list[dict] | None = None,
    test_clock: TestClock | None = None,
    **fields,
) -> Customer:
    """``default_payment_method`` is checked as on update: it must be one of the customer's own payment methods,
    which a customer being created has none of, so giving one answers that error and creates nothing.
    ``tax_id_data``: Stripe's ``[{type, value}]``, added with the customer (each emits customer.tax_id.created).
    ``test_clock``: the customer lives on that clock (test mode only), created at its frozen time."""
    metadata = validate_metadata(fields.pop("metadata", None))
    clean = _clean(fields)
    tax_ids = _checked_tax_id_data(tax_id_data or [])
    if test_clock is not None:
        _check_clock(test_clock, account, livemode)
    with in_clock_time(test_clock):
        customer = Customer(account=account, livemode=livemode, metadata=metadata, test_clock=test_clock, **clean)
        statements.insert(Customer, [customer])
        if default_payment_method is not None:
            _check_default(customer, default_payment_method)
        audit.record(actor, "customer.create", customer)
        emit("customer.created", customer)
        for valid in tax_ids:
            tax_id_create(customer=customer, type=valid.type, value=valid.value, actor=actor)
    return customer


def _check_clock(test_clock: TestClock, account: Account, livemode: bool) -> None:
    if livemode:
        raise InvalidRequest(_("Test clocks are only available in test mode."), param="test_clock")
    if test_clock.account_id != account.pk or test_clock.livemode or test_clock.deleted:
        raise no_such("test clock", test_clock.pk, param="test_clock")
    if test_clock.status != TestClock.Status.READY:
        raise InvalidRequest(
            _("The test clock %(id)s is %(status)s: customers can be added while it is ready."),
            params={"id": test_clock.pk, "status": test_clock.status},
            param="test_clock",
        )


def _lock_existing(customer: Customer) -> Customer:
    customer = lock(Customer, customer.pk)
    if customer.deleted:
        raise no_such("customer", customer.pk, param="id")
    return customer


def _check_default(customer: Customer, payment_method: PaymentMethod) -> None:
    """A default payment method is one of the customer's own; asked of the database with the customer row locked,
    so a concurrent detach (which locks the customer first too) cannot slip in between."""
    same_tenant(customer, payment_method)
    if not PaymentMethod.objects.filter(pk=payment_method.pk, customer=customer).exists():
        raise InvalidRequest(
            _("The payment method %(payment_method)s is not attached to customer %(customer)s."),
            params={"payment_method": payment_method.id, "customer": customer.id},
            param="invoice_settings[default_payment_method]",
        )


@service
def customer_update(
    *,
    customer: Customer,
    actor: Actor,
    default_payment_method: PaymentMethod | None | object = UNCHANGED,
    check_addresses: bool = False,
    **fields,
) -> Customer:
    """``fields`` as in :data:`UPDATABLE` (``metadata`` merges as in Stripe); ``default_payment_method``: one of the
    customer's payment methods, ``None`` to clear it, left out to keep it. ``check_addresses``: hold addresses to
    their country's rules (postal code format, required parts), as the portal does; Stripe's API does not."""
    metadata = fields.pop("metadata", None)
    clean = _clean(fields, check_addresses=check_addresses)
    customer = _lock_existing(customer)
    before = render(customer)
    for key, value in clean.items():
        setattr(customer, key, value)
    if metadata is not None:
        customer.metadata = merge_metadata(customer.metadata, metadata)
    if default_payment_method is not UNCHANGED:
        if default_payment_method is not None:
            _check_default(customer, default_payment_method)
        customer.default_payment_method = default_payment_method
    customer.save()
    after = emit("customer.updated", customer, before=before)
    changed = {k: after.get(k) for k in after if before.get(k) != after.get(k)}
    audit.record(actor, "customer.update", customer, changed)
    return customer


@service
def customer_set_default_payment_method(*, customer: Customer, payment_method: PaymentMethod | None, actor: Actor):
    customer = _lock_existing(customer)
    if payment_method is not None:
        _check_default(customer, payment_method)
    if customer.default_payment_method_id == (payment_method.pk if payment_method else None):
        return customer
    before = render(customer)
    customer.default_payment_method = payment_method
    customer.save(update_fields=["default_payment_method"])
    emit("customer.updated", customer, before=before)
    audit.record(
        actor,
        "customer.default_payment_method",
        customer,
        {"default_payment_method": payment_method.pk if payment_method else None},
    )
    return customer


@service
def customer_delete(*, customer: Customer, actor: Actor) -> Customer:
    """Stripe's delete: the customer's subscriptions end now (no proration) and the customer is gone
    for the API. The row stays, marked deleted, because invoices, charges and events refer to it."""
    customer = _lock_existing(customer)
    subscriptions = Subscription.objects.filter(customer=customer).not_ended().order_by("id")
    canceled = [
        subscription_cancel(subscription=subscription, actor=actor, at_period_end=False).pk
        for subscription in subscriptions
    ]
    # Recorded before the flag is set: the event carries the customer as it was, not the stub
    # the API answers from now on.
    emit("customer.deleted", customer)
    customer.deleted = True
    customer.save(update_fields=["deleted"])
    audit.record(actor, "customer.delete", customer, {"canceled_subscriptions": canceled})
    return customer


@service
def customer_balance_adjust(
    *, customer: Customer, amount: int, currency: str, actor: Actor, description: str = "", metadata: dict | None = None
) -> CustomerBalanceTransaction:
    """Stripe's ``POST /v1/customers/{id}/balance_transactions``: add ``amount`` to the balance (negative: a credit
    for the customer) in the customer's currency, which this sets when the customer has none yet."""
    currency = currency.lower()
    metadata = validate_metadata(metadata)
    if not money.is_supported(currency):
        raise InvalidRequest(_("Invalid currency: %(currency)s."), params={"currency": currency}, param="currency")
    if amount == 0:
        raise InvalidRequest(_("The amount must not be zero."), param="amount")
    customer = _lock_existing(customer)
    if customer.currency and customer.currency != currency:
        raise InvalidRequest(
            _("The customer's balance is in %(balance_currency)s; a transaction in %(currency)s cannot change it."),
            params={"balance_currency": customer.currency, "currency": currency},
            param="currency",
        )
    before = render(customer)
    customer.balance += amount
    customer.currency = currency
    customer.save(update_fields=["balance", "currency"])
    row = balance_ledger.record(
        customer, amount=amount, type="adjustment", currency=currency, description=description, metadata=metadata
    )
    emit("customer.updated", customer, before=before)
    audit.record(actor, "customer.balance_adjust", customer, {"amount": amount, "currency": currency, "id": row.pk})
    return row
