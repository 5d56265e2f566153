"""Amounts in the admin as people write them ("16.90", "16,90") beside their currency, stored in minor units."""

import re
from decimal import Decimal

from django import forms
from django.utils import formats
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing import money

# Spaces (also the narrow no-break space of French and Swiss formats) and apostrophes group thousands.
GROUPING = re.compile(r"[\s\u00a0\u202f'’]")
NUMBER = re.compile(r"^\d+(?:[.,]\d+)*$")


def parse_major(text: str) -> Decimal:
    """``"1.234,50"``, ``"1,234.50"``, ``"16,90"`` or ``"16.90"`` -> ``Decimal("16.90")``: the last separator is
    the decimal point when both kinds appear or it appears once; a separator that repeats groups thousands (groups
    of three digits). "1.234" is therefore 1.234, which a two-decimal currency refuses rather than reading 1234."""
    text = GROUPING.sub("", text or "")
    if not NUMBER.match(text):
        raise forms.ValidationError(_("Enter an amount such as 16.90."), code="invalid")
    separators = re.findall(r"[.,]", text)
    integer, fraction = text, ""
    if separators and not (len(set(separators)) == 1 and len(separators) > 1):
        integer, fraction = text.rsplit(separators[-1], 1)
    groups = re.split(r"[.,]", integer)
    if len(groups) > 1 and (len(groups[0]) > 3 or any(len(group) != 3 for group in groups[1:])):
        raise forms.ValidationError(_("Enter an amount such as 16.90."), code="invalid")
    if separators and separators[-1] in integer and fraction:
        raise forms.ValidationError(_("Enter an amount such as 16.90."), code="invalid")
    return Decimal(f"{''.join(groups)}.{fraction}" if fraction else "".join(groups))


def format_major(amount: int | None, currency: str | None) -> str:
    """Minor units as the admin's language writes them, without grouping: ``1690, "eur"`` -> "16.90" / "16,90"."""
    if amount is None or amount == "":
        return ""
    if not currency:
        return str(amount)
    places = money.exponent(currency)
    return formats.number_format(money.to_major(int(amount), currency), decimal_pos=places, use_l10n=True)


class MoneyInput(forms.TextInput):
    """A text box for the amount with the currency beside it. ``currency_field`` names the form's currency select
    (the code beside the box follows it, see ``js/money-input.js``); a fixed ``currency`` is shown as is."""

    template_name = "billing/widgets/money_input.html"

    def __init__(self, attrs=None, *, currency: str | None = None, currency_field: str | None = None):
        super().__init__({"inputmode": "decimal", "autocomplete": "off", "size": 12, **(attrs or {})})
        self.currency = currency
        self.currency_field = currency_field

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["currency"] = (self.currency or "").upper()
        context["widget"]["currency_field"] = self.currency_field or ""
        return context

    class Media:
        js = ("js/money-input.js",)


class MoneyField(forms.Field):
    """An amount in major units: cleans to a ``Decimal``; ``MoneyFormMixin`` turns it into minor units once the
    currency is known. ``minimum`` (minor units) is the smallest amount accepted."""

    widget = MoneyInput

    def __init__(self, *, minimum: int = 0, currency: str | None = None, currency_field: str | None = None, **kw):
        kw.setdefault("widget", MoneyInput(currency=currency, currency_field=currency_field))
        super().__init__(**kw)
        self.minimum = minimum
        self.currency = currency
        self.currency_field = currency_field

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, Decimal | int):
            return Decimal(value)
        return parse_major(str(value).strip())

    def prepare_value(self, value):
        # Initial values are the stored minor units; a redisplayed submission is shown as typed.
        if isinstance(value, int) and not isinstance(value, bool):
            return format_major(value, self.currency)
        return value

    def has_changed(self, initial, data):
        if initial in self.empty_values and data in self.empty_values:
            return False
        return self.prepare_value(initial) != data


def minor_units(amount: Decimal, currency: str) -> int:
    """The amount in ``currency``'s minor units; more decimal places than the currency has is an error."""
    places = money.exponent(currency)
    # Digits typed count, zeros too: "1,000" is refused for JPY rather than read as 1.
    if -amount.as_tuple().exponent > places:
        example = format_major(16900 if places == 3 else 1690, currency)
        raise forms.ValidationError(
            gettext("%(currency)s amounts have at most %(places)d decimal places, e.g. %(example)s.")
            % {"currency": currency.upper(), "places": places, "example": example},
            code="decimal_places",
        )
    return int(amount.scaleb(places))


class MoneyFormMixin:
    """Turns every ``MoneyField`` of the form into minor units of its currency (the fixed one, the form's
    ``currency_field`` or the instance's ``currency``) and checks its minimum."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = getattr(self, "instance", None)
        for field in self._money_fields():
            if field.currency is None and field.currency_field:
                field.currency = getattr(instance, field.currency_field, None) or self.initial.get(field.currency_field)
            if field.currency is None and instance is not None:
                field.currency = getattr(instance, "currency", None) or None
            field.widget.currency = field.widget.currency or field.currency

    def _money_fields(self):
        return [field for field in self.fields.values() if isinstance(field, MoneyField)]

    def _currency_for(self, name: str, field: MoneyField) -> str | None:
        if field.currency_field and field.currency_field in self.fields:
            chosen = self.cleaned_data.get(field.currency_field)
            return chosen or None
        return field.currency

    def clean(self):
        cleaned = super().clean()
        for name, field in self.fields.items():
            if not isinstance(field, MoneyField) or not isinstance(cleaned.get(name), Decimal):
                continue
            currency = self._currency_for(name, field)
            if not currency:
                self.add_error(name, gettext("Choose the currency of this amount."))
                continue
            try:
                minor = minor_units(cleaned[name], currency)
            except forms.ValidationError as error:
                self.add_error(name, error)
                continue
            if minor < field.minimum:
                self.add_error(
                    name,
                    gettext("Enter at least %(minimum)s.") % {"minimum": format_major(field.minimum, currency)},
                )
                continue
            cleaned[name] = minor
        return cleaned
