"""The plan change form: the configuration's prices in the subscription's currency grouped by billing interval, a
quantity within the product's limits and a promotion code; and the billing engine's refusals in the customer's
language."""

from dataclasses import dataclass, field

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.exceptions import BillingError, CardDeclined, GatewayUnavailable, PaymentMethodRequired, StateConflict
from billing.models import Coupon, Customer, Price, PromotionCode, Subscription, SubscriptionItem
from configurations.models import PortalConfiguration, PortalConfigurationProduct
from configurations.transitions import transition_refusal
from portal import selectors
from portal.forms.payment_methods import DECLINE_MESSAGES

# The largest quantity the portal accepts when the configuration sets no maximum.
MAX_QUANTITY = 10**7
INTERVAL_ORDER = ("day", "week", "month", "year")
INTERVAL_LABELS = {"day": _("Daily"), "week": _("Weekly"), "month": _("Monthly"), "year": _("Yearly")}


@dataclass(frozen=True)
class PlanOption:
    """A price the customer may switch to, with the rules of the product it belongs to."""

    entry: PortalConfigurationProduct
    price: Price
    current: bool
    quantity_adjustable: bool

    @property
    def minimum(self) -> int:
        return max(1, self.entry.adjustable_quantity_minimum) if self.entry.adjustable_quantity_enabled else 1

    @property
    def maximum(self) -> int | None:
        return self.entry.adjustable_quantity_maximum if self.entry.adjustable_quantity_enabled else None


@dataclass(frozen=True)
class IntervalGroup:
    interval: str  # "day", "week", "month" or "year"
    options: list[PlanOption]

    @property
    def label(self) -> str:
        return str(INTERVAL_LABELS[self.interval])


@dataclass
class PlanChoices:
    """What the plan change page offers for one subscription (or, with ``blocker``, why it offers nothing)."""

    subscription: Subscription
    blocker: str
    item: SubscriptionItem | None = None
    groups: list[IntervalGroup] = field(default_factory=list)
    promotion_codes: bool = False
    # Prices the configuration lists but its transitions (or the customer's own list) refuse: price id -> why.
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def transition_note(self) -> str:
        """The one sentence that says why some plans are not offered ("" when all are)."""
        return transition_sentence(next(iter(self.refused.values()))) if self.refused else ""

    @property
    def options(self) -> list[PlanOption]:
        return [option for group in self.groups for option in group.options]

    @property
    def current(self) -> PlanOption | None:
        return next((option for option in self.options if option.current), None)

    @property
    def quantity_adjustable(self) -> bool:
        return any(option.quantity_adjustable for option in self.options)

    def option(self, price_id: str) -> PlanOption | None:
        return next((option for option in self.options if option.price.pk == price_id), None)


def transition_sentence(reason: str) -> str:
    """Why a plan is not offered, in one sentence (the page and a form that asks for it anyway say the same)."""
    if reason == "upgrades_only":
        return gettext("Only plans that cost more than your current plan are offered here.")
    if reason == "no_lateral":
        return gettext("Plans that cost the same as your current plan are not offered here.")
    if reason == "graph":
        return gettext("From your current plan, only the plans shown are offered.")
    return gettext("Only the plans shown are available to you.")


def plan_choices(
    subscription: Subscription, configuration: PortalConfiguration, *, promotion_codes: bool, customer: Customer
) -> PlanChoices:
    """The prices of the configuration a customer may switch to: recurring, active, in the subscription's currency
    and with its tax behaviour; only the current one when the configuration allows no price changes. Needs the
    subscription's items and the configuration's products with their prices loaded."""
    blocker = subscription.portal_update_blocker(configuration)
    items = list(subscription.items.all())
    item = items[0] if len(items) == 1 else None
    if blocker:
        return PlanChoices(subscription, blocker, item)
    allowed = configuration.subscription_update_default_allowed_updates
    by_interval: dict[str, list[PlanOption]] = {}
    refused: dict[str, str] = {}
    for entry in configuration.products.all():
        if entry.add_on and entry.product_id != item.price.product_id:
            continue  # an add-on is added beside a plan, never switched to
        for price in entry.prices.all():
            current = price.pk == item.price_id
            offered = (
                price.active
                and price.is_recurring
                and not price.is_metered
                and price.currency == subscription.currency
                and price.tax_behavior == item.price.tax_behavior
            )
            reason = "" if current else transition_refusal(configuration, customer, item.price, price)
            if offered and "price" in allowed and reason:
                refused[price.pk] = reason
                continue
            if current or (offered and "price" in allowed):
                adjustable = "quantity" in allowed or entry.adjustable_quantity_enabled
                option = PlanOption(entry, price, current, adjustable)
                by_interval.setdefault(price.recurring_interval, []).append(option)
    groups = [IntervalGroup(interval, by_interval[interval]) for interval in INTERVAL_ORDER if interval in by_interval]
    choices = PlanChoices(subscription, "", item, groups, promotion_codes and "promotion_code" in allowed, refused)
    if len(choices.options) < 2 and not choices.quantity_adjustable and not choices.promotion_codes:
        choices.blocker = "nothing_to_change"
    return choices


@dataclass(frozen=True)
class Selection:
    """What the customer chose: the price and quantity of the subscription's item (``item``, when it has several:
    the one that changes), and a discount."""

    price: Price
    quantity: int
    promotion_code: PromotionCode | None = None
    coupon: Coupon | None = None
    item: SubscriptionItem | None = None


class PlanChangeForm(forms.Form):
    interval = forms.ChoiceField(label=_("Billing interval"), widget=forms.RadioSelect, required=False)
    price = forms.ChoiceField(
        label=_("Plan"),
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose a plan."), "invalid_choice": _("Choose one of the plans shown.")},
    )
    quantity = forms.IntegerField(
        label=_("Quantity"),
        required=False,
        min_value=1,
        max_value=MAX_QUANTITY,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "quantity-input"}),
        error_messages={
            "invalid": _("Enter a whole number."),
            "min_value": _("Enter a quantity of at least %(limit_value)s."),
            "max_value": _("Enter a quantity of at most %(limit_value)s."),
        },
    )
    promotion_code = forms.CharField(
        label=_("Promotion code"),
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}),
    )

    def __init__(self, data=None, *, choices: PlanChoices, customer: Customer, selected=None):
        """``selected``: a choice to start from (the picker reopened from the preview), else the current plan."""
        self.choices = choices
        self.customer = customer
        start = choices.option((selected or {}).get("price") or "") or choices.current
        quantity = (selected or {}).get("quantity") or ""
        initial = {
            "interval": start.price.recurring_interval if start else "",
            "price": start.price.pk if start else "",
            "quantity": int(quantity) if quantity.isdigit() else choices.item.quantity if choices.item else 1,
            "promotion_code": ((selected or {}).get("promotion_code") or "")[:64],
        }
        super().__init__(data, initial=initial)
        self.fields["price"].choices = [(option.price.pk, option.price.product.name) for option in choices.options]
        # Refused prices are valid choices of the field only so that clean_price can say why they are refused.
        self.fields["price"].choices += [(price_id, price_id) for price_id in choices.refused]
        if len(choices.groups) > 1:
            self.fields["interval"].choices = [(group.interval, group.label) for group in choices.groups]
        else:
            del self.fields["interval"]
        if not choices.quantity_adjustable:
            del self.fields["quantity"]
        if not choices.promotion_codes:
            del self.fields["promotion_code"]
        self._limit_quantity(self.chosen_option())

    def chosen_option(self) -> PlanOption | None:
        """The option the form shows as chosen (submitted, else the current plan)."""
        price_id = self.data.get("price") if self.is_bound else self.initial.get("price")
        return self.choices.option(price_id or "") or self.choices.current

    def _limit_quantity(self, option: PlanOption | None) -> None:
        if "quantity" not in self.fields or option is None:
            return
        attrs = self.fields["quantity"].widget.attrs
        attrs["min"] = option.minimum
        attrs["max"] = option.maximum or MAX_QUANTITY
        if option.maximum is not None:
            self.fields["quantity"].help_text = gettext("From %(minimum)s to %(maximum)s.") % {
                "minimum": option.minimum,
                "maximum": option.maximum,
            }
        elif option.minimum > 1:
            self.fields["quantity"].help_text = gettext("At least %(minimum)s.") % {"minimum": option.minimum}

    def clean_promotion_code(self) -> PromotionCode | None:
        code = (self.cleaned_data.get("promotion_code") or "").strip()
        if not code:
            return None
        promotion = selectors.promotion_code_for_customer(self.customer, code)
        if promotion is None:
            raise forms.ValidationError(gettext("This promotion code isn't valid."))
        return promotion

    def clean_price(self) -> str:
        """A price the transitions refuse (a form sent without the page) gets the sentence the page shows."""
        price_id = self.data.get("price") or ""
        if price_id in self.choices.refused:
            raise forms.ValidationError(transition_sentence(self.choices.refused[price_id]), code="transition")
        return self.cleaned_data.get("price")

    def clean(self):
        cleaned = super().clean()
        option = self.choices.option(cleaned.get("price") or "")
        if option is None:
            return cleaned
        interval = cleaned.get("interval")
        if interval and option.price.recurring_interval != interval:
            self.add_error("price", gettext("Choose a plan with the billing interval you selected."))
            return cleaned
        quantity = self._clean_quantity(option, cleaned)
        if quantity is None:
            return cleaned
        promotion = cleaned.get("promotion_code")
        item = self.choices.item
        if (option.price.pk, quantity) == (item.price_id, item.quantity) and promotion is None and not self.errors:
            raise forms.ValidationError(gettext("Choose a different plan or quantity."), code="unchanged")
        cleaned["selection"] = Selection(option.price, quantity, promotion)
        return cleaned

    def _clean_quantity(self, option: PlanOption, cleaned: dict) -> int | None:
        kept = self.choices.item.quantity
        if "quantity" not in self.fields:
            return kept
        quantity = cleaned.get("quantity")
        if "quantity" in self.errors:
            return None
        if not option.quantity_adjustable:
            if quantity is not None and quantity != kept:
                self.add_error(
                    "quantity",
                    gettext("The quantity of %(product)s can't be changed here.")
                    % {"product": option.price.product.name},
                )
                return None
            return kept
        if quantity is None and "quantity" not in self.data:
            quantity = kept  # a choice made without the quantity field (a link, a deep link): the current one
        if quantity is None:
            self.add_error("quantity", gettext("Enter a quantity."))
            return None
        if quantity < option.minimum:
            self.add_error(
                "quantity",
                gettext("%(product)s needs a quantity of at least %(minimum)s.")
                % {"product": option.price.product.name, "minimum": option.minimum},
            )
            return None
        if option.maximum is not None and quantity > option.maximum:
            self.add_error(
                "quantity",
                gettext("%(product)s allows a quantity of at most %(maximum)s.")
                % {"product": option.price.product.name, "maximum": option.maximum},
            )
            return None
        return quantity

    def add_billing_error(self, error: BillingError) -> None:
        """What the billing engine refused, in the active language, next to the field it is about."""
        field_name, message = change_error_message(error)
        self.add_error(field_name if field_name in self.fields else None, message)


def change_error_message(error: BillingError) -> tuple[str | None, str]:
    if isinstance(error, CardDeclined):
        code = error.decline_code or error.code
        reason = DECLINE_MESSAGES.get(code, DECLINE_MESSAGES["generic_decline"])
        return None, str(reason) + " " + gettext("Your plan has not been changed.")
    if isinstance(error, PaymentMethodRequired):
        return None, gettext("Add a payment method before changing your plan. Your plan has not been changed.")
    if isinstance(error, GatewayUnavailable):
        return None, gettext(
            "We could not reach the payment provider. Your plan has not been changed; please try again."
        )
    if isinstance(error, StateConflict) and error.code == "subscription_changed":
        return None, gettext(
            "Your subscription changed in the meantime. Please check the updated summary and confirm again."
        )
    if error.param in ("promotion_code", "coupon"):
        return "promotion_code", gettext("This promotion code can't be used for this subscription.")
    if error.param and "quantity" in error.param:
        return "quantity", gettext("Enter a valid quantity.")
    return None, gettext("Your plan could not be changed. Please try again later.")
