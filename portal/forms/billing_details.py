"""The billing details form (only the fields the configuration lets customers update) and the tax id forms."""

import re

from django import forms
from django.utils.text import get_text_list
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from billing.exceptions import BillingError
from billing.tax_ids import TaxIdInvalid, validate_eu_vat

ADDRESS_PARTS = ("line1", "line2", "postal_code", "city", "state", "country")
PHONE = re.compile(r"[0-9 +\-()]*[0-9][0-9 +\-()]*")


def country_choices() -> list[tuple[str, str]]:
    """Countries by their name in the active language (evaluated per request, not at import)."""
    return [("", gettext("Select a country")), *((code, name) for code, name in countries)]


def _text(label, *, max_length: int, autocomplete: str, required: bool = False, **kwargs) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=required,
        widget=forms.TextInput(attrs={"autocomplete": autocomplete}),
        **kwargs,
    )


def _phone(label, autocomplete: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": autocomplete, "type": "tel", "inputmode": "tel"}),
    )


def _address_fields(prefix: str, section: str) -> dict[str, forms.Field]:
    """``section`` is the autocomplete section (``billing``/``shipping``) so browsers fill the right address."""
    return {
        f"{prefix}line1": _text(_("Address line 1"), max_length=200, autocomplete=f"{section} address-line1"),
        f"{prefix}line2": _text(_("Address line 2"), max_length=200, autocomplete=f"{section} address-line2"),
        f"{prefix}postal_code": _text(_("Postal code"), max_length=20, autocomplete=f"{section} postal-code"),
        f"{prefix}city": _text(_("City"), max_length=200, autocomplete=f"{section} address-level2"),
        f"{prefix}state": _text(_("State or region"), max_length=200, autocomplete=f"{section} address-level1"),
        f"{prefix}country": forms.ChoiceField(
            label=_("Country"),
            required=False,
            choices=country_choices,
            widget=forms.Select(attrs={"autocomplete": f"{section} country"}),
        ),
    }


class BillingDetailsForm(forms.Form):
    """Only the allowed groups (``email``, ``name``, ``phone``, ``address``, ``shipping``) become fields, so a
    POST naming any other field changes nothing. (Django ties errors and help texts to their inputs with
    ``aria-invalid`` and ``aria-describedby``: the template gives them the ids ``<auto_id>_error``/``_helptext``.)"""

    def __init__(self, *args, allowed: list[str], customer, **kwargs):
        super().__init__(*args, initial=self.initial_for(customer), **kwargs)
        self.allowed = [group for group in ("name", "email", "phone", "address", "shipping") if group in allowed]
        if "name" in self.allowed:
            self.fields["name"] = _text(_("Full name"), max_length=256, autocomplete="name")
        if "email" in self.allowed:
            self.fields["email"] = forms.EmailField(
                label=_("Email"),
                max_length=254,
                help_text=_("Invoices and receipts are sent to this address."),
                widget=forms.EmailInput(attrs={"autocomplete": "email"}),
            )
        if "phone" in self.allowed:
            self.fields["phone"] = _phone(_("Phone"), "tel")
        if "address" in self.allowed:
            self.fields.update(_address_fields("address_", "billing"))
        if "shipping" in self.allowed:
            self.fields["shipping_name"] = _text(_("Recipient"), max_length=256, autocomplete="shipping name")
            self.fields["shipping_phone"] = _phone(_("Recipient phone"), "shipping tel")
            self.fields.update(_address_fields("shipping_", "shipping"))

    @staticmethod
    def initial_for(customer) -> dict:
        shipping = customer.shipping or {}
        initial = {"name": customer.name, "email": customer.email, "phone": customer.phone}
        initial["shipping_name"] = shipping.get("name") or ""
        initial["shipping_phone"] = shipping.get("phone") or ""
        for prefix, address in (("address_", customer.address), ("shipping_", shipping.get("address"))):
            for part in ADDRESS_PARTS:
                initial[f"{prefix}{part}"] = (address or {}).get(part) or ""
        return initial

    def _check_phone(self, name: str) -> None:
        value = self.cleaned_data.get(name) or ""
        if value and not PHONE.fullmatch(value):
            self.add_error(name, _("Enter a phone number using digits, spaces, +, -, ( and ) only."))

    def _address(self, prefix: str) -> dict | None:
        """The address, or None when all its fields are empty; country and first line are needed otherwise."""
        address = {part: (self.cleaned_data.get(f"{prefix}{part}") or "").strip() for part in ADDRESS_PARTS}
        if not any(address.values()):
            return None
        if not address["line1"]:
            self.add_error(f"{prefix}line1", _("Enter the street and house number."))
        if not address["country"]:
            self.add_error(f"{prefix}country", _("Select a country."))
        return address

    def clean(self):
        cleaned = super().clean()
        for name in ("phone", "shipping_phone"):
            if name in self.fields:
                self._check_phone(name)
        if "address" in self.allowed:
            cleaned["address"] = self._address("address_")
        if "shipping" in self.allowed:
            shipping_address = self._address("shipping_")
            name = (cleaned.get("shipping_name") or "").strip()
            if (shipping_address or cleaned.get("shipping_phone")) and not name:
                self.add_error("shipping_name", _("Enter the recipient's name."))
            cleaned["shipping"] = (
                {"name": name, "phone": cleaned.get("shipping_phone") or "", "address": shipping_address}
                if name or shipping_address
                else None
            )
        return cleaned

    def changes(self) -> dict:
        """Keyword arguments for ``customer_update``: the allowed groups only."""
        return {group: self.cleaned_data[group] for group in self.allowed}

    def add_service_error(self, error: BillingError) -> None:
        """A domain error from the service, in the reader's language, on the field it is about."""
        param = error.param or ""
        if param == "email":
            self.add_error("email", _("Enter a valid email address."))
        elif param.startswith("address[country]") and "address_country" in self.fields:
            self.add_error("address_country", _("Select a valid country."))
        elif param.startswith("shipping[address][country]") and "shipping_country" in self.fields:
            self.add_error("shipping_country", _("Select a valid country."))
        elif param.startswith("shipping[name]") and "shipping_name" in self.fields:
            self.add_error("shipping_name", _("Enter the recipient's name."))
        else:
            self.add_error(None, _("Your billing information could not be saved. Please check it and try again."))


class TaxIdAddForm(forms.Form):
    value = forms.CharField(
        label=_("VAT number"),
        max_length=64,
        help_text=_("An EU VAT number with its country code, for example DE123456789."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}),
    )

    def clean_value(self) -> str:
        try:
            valid = validate_eu_vat(self.cleaned_data["value"])
        except TaxIdInvalid as invalid:
            raise forms.ValidationError(vat_error(invalid))
        return valid.value

    def add_service_error(self, error: BillingError) -> None:
        if isinstance(error, TaxIdInvalid):
            message = vat_error(error)
        elif error.code == "tax_id_already_exists":
            message = _("This VAT number is already on your account.")
        elif error.code == "tax_id_limit":
            message = _("You cannot add more tax IDs. Remove one first.")
        else:
            message = _("The tax ID could not be added. Please try again.")
        self.add_error("value", message)


def vat_error(invalid: TaxIdInvalid) -> str:
    """What is wrong with a VAT number, naming the format its country prefix expects."""
    expected = invalid.expected
    if expected is None:
        return gettext(
            "Enter an EU VAT number that starts with its country code, for example DE123456789 or ATU12345678."
        )
    return gettext("This is not a valid VAT number for %(country)s. Expected format: %(examples)s.") % {
        "country": countries.name(expected.country) if expected.prefix != "XI" else gettext("Northern Ireland"),
        "examples": get_text_list(list(expected.examples)),
    }


class TaxIdRemoveForm(forms.Form):
    tax_id = forms.CharField(max_length=40)
