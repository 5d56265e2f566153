"""No-code Checkout links (Stripe's Payment Links): made in the admin from the account's prices; each visit of a
link, and each "Start a new subscription" in the portal, creates a session from it at the server's prices."""

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _

from billing import audit, clock
from billing.audit import Actor
from billing.exceptions import InvalidRequest
from billing.models import Account, Customer, Price
from billing.services.door import service
from checkout.models import CheckoutLink, CheckoutLinkItem, CheckoutSession
from checkout.services.create import (
    MAX_QUANTITY,
    MAX_TRIAL_DAYS,
    LineItemSpec,
    check_adjustable,
    check_fees_without_trial,
    check_line_items,
    check_url,
    checkout_session_create,
)

Mode = CheckoutSession.Mode
RATE_WINDOW_SECONDS = 3600
OPTIONS = (
    "name",
    "allow_promotion_codes",
    "billing_address_collection",
    "tax_id_collection",
    "phone_number_collection",
    "trial_period_days",
    "after_completion_url",
)


@dataclass
class LinkItemSpec:
    price: Price
    quantity: int = 1
    adjustable_quantity: bool = False
    minimum: int | None = None
    maximum: int | None = None

    def line_item(self) -> LineItemSpec:
        adjustable = None
        if self.adjustable_quantity:
            bounds = {"minimum": self.minimum, "maximum": self.maximum}
            adjustable = {"enabled": True, **{key: value for key, value in bounds.items() if value is not None}}
        return LineItemSpec(self.price, self.quantity, adjustable)


def link_mode(prices: list[Price]) -> str:
    """Subscription as soon as one price is recurring (its one-time prices are then set-up fees), else payment."""
    return Mode.SUBSCRIPTION if any(price.type == Price.Type.RECURRING for price in prices) else Mode.PAYMENT


def _check_items(account: Account, livemode: bool, items: list[LinkItemSpec]) -> tuple[str, str]:
    if not items:
        raise InvalidRequest(_("Pick at least one price."), param="line_items", code="parameter_missing")
    for i, item in enumerate(items):
        if item.adjustable_quantity and not (
            0 <= (item.minimum or 0) <= (item.maximum or MAX_QUANTITY) <= MAX_QUANTITY
        ):
            raise InvalidRequest(
                _("The minimum quantity must not be more than the maximum."),
                param=f"line_items[{i}][adjustable_quantity][maximum]",
            )
    mode = link_mode([item.price for item in items])
    specs = [item.line_item() for item in items]
    # The session's own rules, checked once here so every visit can create its session.
    currency = check_line_items(account, livemode, mode, specs)
    for i, spec in enumerate(specs):
        check_adjustable(spec, i)
    return mode, currency


def _check_options(mode: str, options: dict, items: list[LinkItemSpec]) -> dict:
    options = {key: value for key, value in options.items() if key in OPTIONS}
    days = options.get("trial_period_days")
    if days is not None:
        if mode != Mode.SUBSCRIPTION:
            raise InvalidRequest(_("A trial needs a recurring price."), param="trial_period_days")
        if not 1 <= days <= MAX_TRIAL_DAYS:
            raise InvalidRequest(
                _("Invalid trial_period_days: must be between 1 and %(max)s."),
                params={"max": MAX_TRIAL_DAYS},
                param="trial_period_days",
            )
        check_fees_without_trial([item.line_item() for item in items], days, "trial_period_days")
    if "after_completion_url" in options:
        options["after_completion_url"] = check_url(options["after_completion_url"], "after_completion_url")
    address = options.get("billing_address_collection")
    if address is not None and address not in CheckoutLink.AddressCollection.values:
        raise InvalidRequest(
            _("Invalid billing_address_collection: auto or required."), param="billing_address_collection"
        )
    return options


def _write_items(link: CheckoutLink, items: list[LinkItemSpec]) -> None:
    CheckoutLinkItem.objects.filter(link=link).delete()
    CheckoutLinkItem.objects.bulk_create(
        CheckoutLinkItem(
            account_id=link.account_id,
            livemode=link.livemode,
            link=link,
            price=item.price,
            quantity=item.quantity,
            adjustable_quantity=item.adjustable_quantity,
            minimum=item.minimum if item.adjustable_quantity else None,
            maximum=item.maximum if item.adjustable_quantity else None,
            position=i,
        )
        for i, item in enumerate(items)
    )


@service
def checkout_link_create(
    *, account: Account, livemode: bool, actor: Actor, items: list[LinkItemSpec], **options
) -> CheckoutLink:
    """A new active link selling ``items`` (the account's active prices). ``options``: name,
    allow_promotion_codes, billing_address_collection, tax_id_collection, phone_number_collection,
    trial_period_days, after_completion_url (blank: our thank-you page)."""
    mode, currency = _check_items(account, livemode, items)
    options = _check_options(mode, options, items)
    now = clock.now()
    link = CheckoutLink(account=account, livemode=livemode, mode=mode, currency=currency, created=now, updated=now)
    for key, value in options.items():
        setattr(link, key, value if value is not None or key == "trial_period_days" else "")
    link.save(force_insert=True)
    _write_items(link, items)
    audit.record(actor, "checkout_link.create", link, {"mode": mode, "prices": [i.price.pk for i in items]})
    return link


@service
def checkout_link_update(
    *, link: CheckoutLink, actor: Actor, items: list[LinkItemSpec] | None = None, **options
) -> CheckoutLink:
    """Change a link's options and, when ``items`` is given, its prices. Sessions already created keep theirs."""
    link = CheckoutLink.objects.select_for_update(no_key=True).get(pk=link.pk)
    mode, currency = link.mode, link.currency
    if items is not None:
        mode, currency = _check_items(link.account, link.livemode, items)
    current = [LinkItemSpec(item.price) for item in CheckoutLinkItem.objects.filter(link=link).select_related("price")]
    options = _check_options(
        mode, {"trial_period_days": link.trial_period_days, **options}, current if items is None else items
    )
    if mode != Mode.SUBSCRIPTION:
        options["trial_period_days"] = None
    changed = {key: value for key, value in options.items() if getattr(link, key) != value}
    for key, value in changed.items():
        setattr(link, key, value)
    link.mode, link.currency, link.updated = mode, currency, clock.now()
    link.save(update_fields=[*changed, "mode", "currency", "updated"])
    if items is not None:
        _write_items(link, items)
    audit.record(actor, "checkout_link.update", link, {key: str(value) for key, value in changed.items()})
    return link


@service
def checkout_link_set_active(*, link: CheckoutLink, actor: Actor, active: bool) -> CheckoutLink:
    """Deactivate a link (its URL then answers 410 Gone) or activate it again."""
    link = CheckoutLink.objects.select_for_update(no_key=True).get(pk=link.pk)
    if link.active != active:
        link.active, link.updated = active, clock.now()
        link.save(update_fields=["active", "updated"])
        audit.record(actor, "checkout_link.activate" if active else "checkout_link.deactivate", link)
    return link


def checkout_session_create_from_link(
    *,
    link: CheckoutLink,
    actor: Actor,
    base_url: str,
    customer: Customer | None = None,
    success_url: str = "",
    cancel_url: str = "",
    locale: str = "",
) -> CheckoutSession:
    """A new session for ``link``'s prices (read from the database now: never from the visitor), for ``customer``
    when the portal sends one. Success goes to the link's after-completion URL, else ``success_url``, else our
    thank-you page under ``base_url``."""
    if not link.active:
        raise InvalidRequest("This link is no longer active.", param="checkout_link", code="checkout_link_inactive")
    items = list(CheckoutLinkItem.objects.filter(link=link).select_related("price").order_by("position", "id"))
    done = f"{base_url}/c/{{CHECKOUT_SESSION_ID}}/done"
    return checkout_session_create(
        account=link.account,
        livemode=link.livemode,
        actor=actor,
        mode=link.mode,
        line_items=[
            LinkItemSpec(i.price, i.quantity, i.adjustable_quantity, i.minimum, i.maximum).line_item() for i in items
        ],
        customer=customer,
        success_url=link.after_completion_url or success_url or done,
        cancel_url=cancel_url or None,
        allow_promotion_codes=link.allow_promotion_codes or None,
        subscription_data={"trial_period_days": link.trial_period_days} if link.trial_period_days else None,
        billing_address_collection=link.billing_address_collection,
        tax_id_collection=link.tax_id_collection,
        phone_number_collection=link.phone_number_collection,
        locale=locale,
        checkout_link=link,
    )


def link_visit_allowed(client_ip: str) -> bool:
    """Count one visit that would create a session; ``False`` once the address has made
    ``CHECKOUT_LINK_RATE_PER_IP`` of them this hour (0 turns the limit off)."""
    limit = settings.CHECKOUT_LINK_RATE_PER_IP
    if limit <= 0:
        return True
    bucket = int(clock.now().timestamp()) // RATE_WINDOW_SECONDS
    key = f"checkout-link:ip:{client_ip or '-'}:{bucket}"
    cache.add(key, 0, RATE_WINDOW_SECONDS + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, RATE_WINDOW_SECONDS + 5)
        count = 1
    return count <= limit
