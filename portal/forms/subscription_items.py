"""The item-by-item change of a subscription (several items, or add-ons it may add): per item a quantity, another
price of its kind, removal of an add-on or metered item (never the last item), and the configuration's add-ons to
add; each action that is not offered comes with the sentence that says why."""

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.models import Coupon, Customer, Price, PromotionCode, Subscription, SubscriptionItem
from billing.services.subscriptions import ItemChange
from configurations.models import PortalConfiguration, PortalConfigurationProduct
from configurations.transitions import transition_refusal
from portal import selectors
from portal.forms.subscriptions import MAX_QUANTITY, change_error_message, transition_sentence


@dataclass
class Limits:
    """The quantities a product's configuration entry allows (None: the quantity is not adjustable)."""

    entry: PortalConfigurationProduct
    adjustable: bool

    @property
    def minimum(self) -> int:
        return max(1, self.entry.adjustable_quantity_minimum) if self.entry.adjustable_quantity_enabled else 1

    @property
    def maximum(self) -> int | None:
        return self.entry.adjustable_quantity_maximum if self.entry.adjustable_quantity_enabled else None


@dataclass
class ItemRow:
    item: SubscriptionItem
    limits: Limits
    targets: list[Price]
    removable: bool
    notes: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # prices of its kind the transitions refuse -> why

    @property
    def metered(self) -> bool:
        return self.item.price.is_metered

    # A metered item's usage in this period so far, as the billing engine will bill it (None: not metered by a meter).
    usage: selectors.MeteredUsage | None = None


@dataclass
class AddOnOffer:
    price: Price
    limits: Limits


@dataclass
class ItemsChoices:
    """What the item-by-item page offers for one subscription (or, with ``blocker``, why it offers nothing)."""

    subscription: Subscription
    blocker: str
    rows: list[ItemRow] = field(default_factory=list)
    add_ons: list[AddOnOffer] = field(default_factory=list)
    promotion_codes: bool = False
    refused: dict[str, str] = field(default_factory=dict)  # price id -> why the transitions refuse it
    note: str = ""  # a sentence for the whole page (what it never offers)

    @property
    def transition_note(self) -> str:
        return transition_sentence(next(iter(self.refused.values()))) if self.refused else ""

    def row(self, item_id: str) -> ItemRow | None:
        return next((row for row in self.rows if row.item.pk == item_id), None)


@dataclass(frozen=True)
class PlannedItem:
    """One line of the change: what an item is now and what it becomes (``None``: added or removed)."""

    item: SubscriptionItem | None
    price: Price
    quantity: int | None
    removed: bool = False

    @property
    def changed(self) -> bool:
        item = self.item
        return item is None or self.removed or (self.price.pk, self.quantity) != (item.price_id, item.quantity)


@dataclass(frozen=True)
class ItemsSelection:
    planned: list[PlannedItem]
    promotion_code: PromotionCode | None = None
    coupon: Coupon | None = None

    @property
    def changes(self) -> list[ItemChange]:
        """The selection as the billing engine's item changes (unchanged items are left out)."""
        return [
            ItemChange(item=line.item, price=line.price, quantity=line.quantity, deleted=line.removed)
            for line in self.planned
            if line.changed
        ]

    def shown_by(self, subscription: Subscription) -> bool:
        """Whether the subscription already has (or has scheduled for the period end) the selected items."""
        if (subscription.scheduled_change or {}).get("items"):
            return True
        current = dict(subscription.items.values_list("price", "quantity"))
        wanted = {line.price.pk: line.quantity for line in self.planned if not line.removed}
        return set(current) == set(wanted) and all(q is None or current[p] == q for p, q in wanted.items())


def uses_items_page(subscription: Subscription, configuration: PortalConfiguration) -> bool:
    """Several items, or add-ons this subscription could add: the item-by-item page (else the plan picker)."""
    return len(subscription.items.all()) > 1 or bool(subscription.portal_add_on_prices(configuration))


def _entry_for(configuration: PortalConfiguration, price: Price) -> PortalConfigurationProduct | None:
    return next((e for e in configuration.products.all() if any(p.pk == price.pk for p in e.prices.all())), None)


def _targets(configuration, customer, subscription, items, item, entry, refused: dict) -> list[Price]:
    """Other prices of the item's kind: a base item switches among the base products, an add-on among its own
    product's prices; same currency, tax behaviour and usage type, the interval of the other items, a product the
    subscription does not have on another item, and a switch the transitions allow."""
    others = [other for other in items if other.pk != item.pk]
    taken = {other.price.product_id for other in others}
    shape = (others[0].price.recurring_interval, others[0].price.recurring_interval_count) if others else None
    entries = [entry] if entry.add_on else [e for e in configuration.products.all() if not e.add_on]
    targets = []
    for candidate in (price for e in entries for price in e.prices.all()):
        if (
            candidate.pk == item.price_id
            or not candidate.active
            or candidate.currency != subscription.currency
            or candidate.tax_behavior != item.price.tax_behavior
            or candidate.is_metered != item.price.is_metered
            or candidate.product_id in taken
            or (shape and (candidate.recurring_interval, candidate.recurring_interval_count) != shape)
        ):
            continue
        if reason := transition_refusal(configuration, customer, item.price, candidate):
            refused[candidate.pk] = reason
            continue
        targets.append(candidate)
    return targets


def _row(configuration, customer, subscription, items, item, allowed, refused) -> ItemRow:
    entry = _entry_for(configuration, item.price)
    product = item.price.product.name
    adjustable = not item.price.is_metered and ("quantity" in allowed or entry.adjustable_quantity_enabled)
    targets: list[Price] = []
    mine: dict[str, str] = {}
    if "price" in allowed:
        targets = _targets(configuration, customer, subscription, items, item, entry, mine)
        refused.update(mine)
    removable = len(items) > 1 and (entry.add_on or item.price.is_metered)
    notes = []
    if item.price.is_metered:
        notes.append(gettext("%(product)s is billed by usage, so it has no quantity to set.") % {"product": product})
    elif not adjustable:
        notes.append(gettext("The quantity of %(product)s can't be changed here.") % {"product": product})
    if "price" in allowed and not targets:
        notes.append(
            transition_sentence(next(iter(mine.values())))
            if mine
            else gettext("No other price of %(product)s is offered here.") % {"product": product}
        )
    if not removable and len(items) > 1:
        notes.append(gettext("%(product)s is part of your plan, so it can't be removed here.") % {"product": product})
    return ItemRow(item, Limits(entry, adjustable), targets, removable, notes, mine)


def items_choices(
    subscription: Subscription, configuration: PortalConfiguration, *, promotion_codes: bool, customer: Customer
) -> ItemsChoices:
    """Needs the subscription's items and the configuration's products with their prices loaded."""
    blocker = subscription.portal_update_blocker(configuration)
    if blocker:
        return ItemsChoices(subscription, blocker)
    allowed = configuration.subscription_update_default_allowed_updates
    items = list(subscription.items.all())
    refused: dict[str, str] = {}
    rows = [_row(configuration, customer, subscription, items, item, allowed, refused) for item in items]
    usage = selectors.metered_usage(subscription)
    for row in rows:
        row.usage = usage.get(row.item.pk)
    add_ons = []
    for price in subscription.portal_add_on_prices(configuration):
        entry = _entry_for(configuration, price)
        adjustable = not price.is_metered and ("quantity" in allowed or entry.adjustable_quantity_enabled)
        add_ons.append(AddOnOffer(price, Limits(entry, adjustable)))
    choices = ItemsChoices(subscription, "", rows, add_ons, promotion_codes and "promotion_code" in allowed, refused)
    if "price" not in allowed:
        choices.note = gettext("This portal doesn't offer switching to other prices.")
    if (
        not add_ons
        and not choices.promotion_codes
        and not any(row.targets or row.limits.adjustable or row.removable for row in rows)
    ):
        choices.blocker = "nothing_to_change"
    return choices


def _quantity_field(limits: Limits, label: str) -> forms.IntegerField:
    maximum = limits.maximum or MAX_QUANTITY
    field_ = forms.IntegerField(
        label=label,
        required=False,
        min_value=limits.minimum,
        max_value=maximum,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "quantity-input"}),
        error_messages={
            "invalid": _("Enter a whole number."),
            "min_value": _("Enter a quantity of at least %(limit_value)s."),
            "max_value": _("Enter a quantity of at most %(limit_value)s."),
        },
    )
    if limits.maximum is not None:
        field_.help_text = gettext("From %(minimum)s to %(maximum)s.") % {
            "minimum": limits.minimum,
            "maximum": limits.maximum,
        }
    return field_


class ItemsChangeForm(forms.Form):
    """Field names carry the item id (``quantity-si_…``, ``price-si_…``, ``remove-si_…``) or, for add-ons, the
    price id (``add-price_…``, ``quantity-price_…``)."""

    promotion_code = forms.CharField(
        label=_("Promotion code"),
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}),
    )

    def __init__(self, data=None, *, choices: ItemsChoices, customer: Customer, selected=None):
        self.choices = choices
        self.customer = customer
        selected = selected or {}
        initial = {"promotion_code": (selected.get("promotion_code") or "")[:64]}
        super().__init__(data, initial=initial)
        for row in choices.rows:
            self._item_fields(row, selected)
        for offer in choices.add_ons:
            name = offer.price.product.name
            self.fields[f"add-{offer.price.pk}"] = forms.BooleanField(
                label=gettext("Add %(product)s") % {"product": name}, required=False
            )
            self.initial[f"add-{offer.price.pk}"] = bool(selected.get(f"add-{offer.price.pk}"))
            if offer.limits.adjustable:
                self.fields[f"quantity-{offer.price.pk}"] = _quantity_field(
                    offer.limits, gettext("Quantity of %(product)s") % {"product": name}
                )
                self.initial[f"quantity-{offer.price.pk}"] = _number(selected, f"quantity-{offer.price.pk}") or max(
                    1, offer.limits.minimum
                )
        if not choices.promotion_codes:
            del self.fields["promotion_code"]

    def _item_fields(self, row: ItemRow, selected) -> None:
        item, name = row.item, row.item.price.product.name
        if row.limits.adjustable:
            self.fields[f"quantity-{item.pk}"] = _quantity_field(
                row.limits, gettext("Quantity of %(product)s") % {"product": name}
            )
            self.initial[f"quantity-{item.pk}"] = _number(selected, f"quantity-{item.pk}") or item.quantity
        # With only refused prices the field is not shown, but a form that names one gets the page's sentence.
        if row.targets or row.refused:
            choices = [(item.price_id, name), *((price.pk, price.product.name) for price in row.targets)]
            self.fields[f"price-{item.pk}"] = forms.ChoiceField(
                label=gettext("Plan for %(product)s") % {"product": name},
                required=False,
                choices=choices + [(price_id, price_id) for price_id in row.refused],
                error_messages={"invalid_choice": _("Choose one of the plans shown.")},
            )
            self.initial[f"price-{item.pk}"] = selected.get(f"price-{item.pk}") or item.price_id
        if row.removable:
            self.fields[f"remove-{item.pk}"] = forms.BooleanField(
                label=gettext("Remove %(product)s") % {"product": name}, required=False
            )
            self.initial[f"remove-{item.pk}"] = bool(selected.get(f"remove-{item.pk}"))

    def layout(self) -> list[dict]:
        """Each item with its bound fields (None where the action is not offered), in the items' order."""
        fields = self.fields
        return [
            {
                "row": row,
                **{
                    kind: self[f"{kind}-{row.item.pk}"] if f"{kind}-{row.item.pk}" in fields else None
                    for kind in ("price", "quantity", "remove")
                },
                **({} if row.targets else {"price": None}),
            }
            for row in self.choices.rows
        ]

    def add_on_layout(self) -> list[dict]:
        return [
            {
                "offer": offer,
                "add": self[f"add-{offer.price.pk}"],
                "quantity": self[f"quantity-{offer.price.pk}"] if f"quantity-{offer.price.pk}" in self.fields else None,
            }
            for offer in self.choices.add_ons
        ]

    def query(self) -> str:
        """The choice as a query string: the link from the preview back to the picker keeps it."""
        return urlencode(self.hidden_values())

    def clean_promotion_code(self) -> PromotionCode | None:
        code = (self.cleaned_data.get("promotion_code") or "").strip()
        if not code:
            return None
        promotion = selectors.promotion_code_for_customer(self.customer, code)
        if promotion is None:
            raise forms.ValidationError(gettext("This promotion code isn't valid."))
        return promotion

    def clean(self):
        cleaned = super().clean()
        planned = [self._planned(row, cleaned) for row in self.choices.rows]
        for offer in self.choices.add_ons:
            if cleaned.get(f"add-{offer.price.pk}"):
                quantity = cleaned.get(f"quantity-{offer.price.pk}") if offer.limits.adjustable else None
                planned.append(PlannedItem(None, offer.price, quantity or (None if offer.price.is_metered else 1)))
        if self.errors:
            return cleaned
        if all(line.removed for line in planned):
            raise forms.ValidationError(
                gettext("Keep at least one product. To end the subscription, cancel it instead."), code="last_item"
            )
        promotion = cleaned.get("promotion_code")
        if not any(line.changed for line in planned) and promotion is None:
            raise forms.ValidationError(gettext("Change at least one product or quantity."), code="unchanged")
        cleaned["selection"] = ItemsSelection(planned, promotion)
        return cleaned

    def _planned(self, row: ItemRow, cleaned: dict) -> PlannedItem:
        item = row.item
        if cleaned.get(f"remove-{item.pk}"):
            return PlannedItem(item, item.price, item.quantity, removed=True)
        price_id = cleaned.get(f"price-{item.pk}") or item.price_id
        if price_id in row.refused:
            self.add_error(f"price-{item.pk}", transition_sentence(row.refused[price_id]))
            return PlannedItem(item, item.price, item.quantity)
        price = next((p for p in row.targets if p.pk == price_id), item.price)
        quantity = cleaned.get(f"quantity-{item.pk}") if row.limits.adjustable else None
        if quantity is None:
            quantity = item.quantity
        return PlannedItem(item, price, quantity)

    def hidden_values(self) -> list[tuple[str, str]]:
        """The choice as the hidden fields of the confirmation form (and the link back to the picker)."""
        values = []
        for name in self.fields:
            value = self.cleaned_data.get(name)
            if name == "promotion_code":
                value = value.code if value else ""
            if value in (None, "", False):
                continue
            values.append((name, "on" if value is True else str(value)))
        return values

    def add_billing_error(self, error) -> None:
        _field, message = change_error_message(error)
        self.add_error(None, message)


def _number(selected, name: str) -> int | None:
    raw = selected.get(name) or ""
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None
