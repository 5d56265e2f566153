"""The billing details form (only the fields the configuration lets customers update) and the tax id forms."""

import re

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from billing.addresses import DEFAULT_ORDER, AddressFormat, address_format, address_problems
from billing.exceptions import BillingError
from billing.tax_ids import EU_VAT_PREFIXES, TYPES, VAT, TaxIdInvalid, TaxIdType, compact, eu_vat_prefix, validate

ADDRESS_PARTS = ("line1", "line2", "postal_code", "city", "state", "country")
PHONE = re.compile(r"[0-9 +\-()]*[0-9][0-9 +\-()]*")


def country_choices() -> list[tuple[str, str]]:
    """Countries by their name in the active language (evaluated per request, not at import)."""
    return [("", gettext("Select a country")), *((code, name) for code, name in countries)]


TOO_LONG = _("Shorten this to at most %(limit_value)d characters (it has %(show_value)d).")
POSTAL_CODE_LABELS = {"zip": _("ZIP code"), "pin": _("PIN code"), "eircode": _("Eircode")}
CITY_LABELS = {"post_town": _("Town"), "district": _("District"), "suburb": _("Suburb")}
INVALID_POSTAL_CODE = {
    "postal": _("Enter a postal code as written in %(country)s, for example %(example)s."),
    "zip": _("Enter a ZIP code as written in %(country)s, for example %(example)s."),
    "pin": _("Enter a PIN code as written in %(country)s, for example %(example)s."),
    "eircode": _("Enter an Eircode as written in %(country)s, for example %(example)s."),
}
STATE_LABELS = {
    "state": _("State"),
    "province": _("Province"),
    "county": _("County"),
    "prefecture": _("Prefecture"),
    "island": _("Island"),
    "department": _("Department"),
    "parish": _("Parish"),
    "oblast": _("Oblast"),
    "area": _("Area"),
    "district": _("District"),
    "emirate": _("Emirate"),
    "do_si": _("Province"),
}


def _text(label, *, max_length: int, autocomplete: str, required: bool = False, **kwargs) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=required,
        error_messages={"max_length": TOO_LONG},
        widget=forms.TextInput(attrs={"autocomplete": autocomplete}),
        **kwargs,
    )


def _phone(label, autocomplete: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=32,
        required=False,
        error_messages={"max_length": TOO_LONG},
        widget=forms.TextInput(attrs={"autocomplete": autocomplete, "type": "tel", "inputmode": "tel"}),
    )


class StateField(forms.ChoiceField):
    """A listed state, given by its code or its name in any case (browsers fill in either); kept as its code."""

    def __init__(self, fmt: AddressFormat, **kwargs):
        super().__init__(**kwargs)
        self.format = fmt

    def to_python(self, value) -> str:
        value = super().to_python(value)
        return (self.format.state_code(value) or value) if value else value


def _address_fields(prefix: str, section: str, fmt: AddressFormat | None) -> dict[str, forms.Field]:
    """The address parts the country uses, in its order, called as it calls them (``section`` is the autocomplete
    section, ``billing``/``shipping``, so browsers fill the right address). The country comes first: it decides
    the rest."""
    fields: dict[str, forms.Field] = {
        f"{prefix}country": forms.ChoiceField(
            label=_("Country"),
            required=False,
            choices=country_choices,
            widget=forms.Select(attrs={"autocomplete": f"{section} country"}),
        ),
    }
    postal_label = POSTAL_CODE_LABELS.get(fmt.postal_code_kind, _("Postal code")) if fmt else _("Postal code")
    examples = fmt.postal_code_examples[:1] if fmt else ()
    parts = {
        "line1": _text(_("Address line 1"), max_length=200, autocomplete=f"{section} address-line1"),
        "line2": _text(_("Address line 2"), max_length=200, autocomplete=f"{section} address-line2"),
        "postal_code": _text(
            postal_label,
            max_length=20,
            autocomplete=f"{section} postal-code",
            help_text=format_lazy(_("For example {example}"), example=examples[0]) if examples else "",
        ),
        "city": _text(
            CITY_LABELS.get(fmt.city_kind, _("City")) if fmt else _("City"),
            max_length=200,
            autocomplete=f"{section} address-level2",
        ),
    }
    state_label = STATE_LABELS.get(fmt.state_kind, _("State or region")) if fmt else _("State or region")
    if fmt and fmt.state_choices:
        parts["state"] = StateField(
            fmt,
            label=state_label,
            required=False,
            choices=[("", gettext("Select")), *fmt.state_choices],
            error_messages={"invalid_choice": _("Select one of the listed options.")},
            widget=forms.Select(attrs={"autocomplete": f"{section} address-level1"}),
        )
    else:
        parts["state"] = _text(state_label, max_length=200, autocomplete=f"{section} address-level1")
    for part in fmt.order if fmt else DEFAULT_ORDER:
        fields[f"{prefix}{part}"] = parts[part]
    return fields


class BillingDetailsForm(forms.Form):
    """Only the allowed groups (``email``, ``name``, ``phone``, ``address``, ``shipping``) become fields, so a
    POST naming any other field changes nothing. (Django ties errors and help texts to their inputs with
    ``aria-invalid`` and ``aria-describedby``: the template gives them the ids ``<auto_id>_error``/``_helptext``.)"""

    def __init__(self, *args, allowed: list[str], customer, typed: dict | None = None, **kwargs):
        """``typed``: address fields as typed so far (the country select asks for the fields of the country it
        changed to), shown instead of the saved ones."""
        initial = self.initial_for(customer)
        initial.update({key: str(value)[:200] for key, value in (typed or {}).items() if key in initial})
        super().__init__(*args, initial=initial, **kwargs)
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
        self.formats = {prefix: address_format(self._country(prefix)) for prefix in ("address_", "shipping_")}
        if "address" in self.allowed:
            self.fields.update(_address_fields("address_", "billing", self.formats["address_"]))
        if "shipping" in self.allowed:
            self.fields["shipping_name"] = _text(_("Recipient"), max_length=256, autocomplete="shipping name")
            self.fields["shipping_phone"] = _phone(_("Recipient phone"), "shipping tel")
            self.fields.update(_address_fields("shipping_", "shipping", self.formats["shipping_"]))

    def _country(self, prefix: str) -> str:
        """The country the address is laid out for: as submitted (or asked for by the country select), else as
        saved."""
        source = self.data if self.is_bound else self.initial
        return str(source.get(f"{prefix}country") or "").upper()[:2]

    @property
    def billing_address_parts(self) -> list:
        return self.address_parts("address_")

    @property
    def shipping_address_parts(self) -> list:
        return self.address_parts("shipping_")

    def address_parts(self, prefix: str) -> list:
        """The address's bound fields after the country, in the country's order."""
        return [
            self[name]
            for name in self.fields
            if name.startswith(prefix) and name not in {f"{prefix}country", "shipping_name", "shipping_phone"}
        ]

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
        """The address, or None when all its fields are empty; otherwise its country's rules apply (required parts,
        postal code format, listed states). A part whose field already has an error (too long) gets no second
        message, and a part the country does not use is left empty."""
        fmt = self.formats[prefix]
        used = set(fmt.order) if fmt else set(ADDRESS_PARTS)
        address = {
            part: (self.cleaned_data.get(f"{prefix}{part}") or "").strip() if part in used or part == "country" else ""
            for part in ADDRESS_PARTS
        }
        if not any(address.values()) and not any(f"{prefix}{part}" in self.errors for part in ADDRESS_PARTS):
            return None
        if not address["country"]:
            self.add_error(f"{prefix}country", _("Select a country."))
        problems = address_problems(address) if fmt else ({} if address["line1"] else {"line1": "required"})
        for part, problem in problems.items():
            name = f"{prefix}{part}"
            if name in self.errors or name not in self.fields:
                continue
            self.add_error(name, self._address_message(prefix, part, problem, fmt))
        if fmt and address["state"] and fmt.state_choices:
            address["state"] = fmt.state_code(address["state"]) or address["state"]
        if fmt and address["postal_code"] and "postal_code" not in problems:
            address["postal_code"] = address["postal_code"].upper()
        return address

    def _address_message(self, prefix: str, part: str, problem: str, fmt: AddressFormat | None) -> str:
        label = str(self.fields[f"{prefix}{part}"].label)
        if part == "line1":
            return gettext("Enter the street and house number.")
        if problem == "invalid" and part == "postal_code":
            message = INVALID_POSTAL_CODE.get(fmt.postal_code_kind, INVALID_POSTAL_CODE["postal"])
            example = fmt.postal_code_examples[0] if fmt.postal_code_examples else ""
            return str(message) % {"country": countries.name(fmt.country), "example": example}
        if problem == "invalid":
            return gettext("Select one of the listed options.")
        return gettext("%(label)s is required for addresses in %(country)s.") % {
            "label": label,
            "country": countries.name(fmt.country),
        }

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
            if (shipping_address or cleaned.get("shipping_phone")) and not name and "shipping_name" not in self.errors:
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

    @staticmethod
    def _part_field(param: str) -> str:
        """``address[postal_code]`` -> ``address_postal_code``; ``shipping[address][city]`` -> ``shipping_city``."""
        prefix = "shipping_" if param.startswith("shipping") else "address_"
        return prefix + param.rstrip("]").rsplit("[", 1)[-1]

    def add_service_error(self, error: BillingError) -> None:
        """A domain error from the service, in the reader's language, on the field it is about."""
        param = error.param or ""
        if param == "email":
            self.add_error("email", _("Enter a valid email address."))
        elif param.startswith("address[country]") and "address_country" in self.fields:
            self.add_error("address_country", _("Select a valid country."))
        elif param.startswith("shipping[address][country]") and "shipping_country" in self.fields:
            self.add_error("shipping_country", _("Select a valid country."))
        elif param.startswith(("address[", "shipping[address][")) and self._part_field(param) in self.fields:
            self.add_error(self._part_field(param), _("Please check this part of the address."))
        elif param.startswith("shipping[name]") and "shipping_name" in self.fields:
            self.add_error("shipping_name", _("Enter the recipient's name."))
        else:
            self.add_error(None, _("Your billing information could not be saved. Please check it and try again."))


def _kind_label(kind: TaxIdType) -> str:
    return f"{kind.kind} ({kind.acronym})" if kind.acronym else str(kind.kind)


def tax_id_choices() -> list[tuple[str, str]]:
    """Country, then what the number is called (``Germany — VAT number``), sorted by the country's name in the
    active language. EU VAT numbers are one Stripe type (``eu_vat``) chosen per country (``eu_vat:DE``)."""
    entries = []
    for prefix, country in EU_VAT_PREFIXES.items():
        name = gettext("Northern Ireland") if prefix == "XI" else countries.name(country)
        entries.append((f"eu_vat:{prefix}", f"{name} — {VAT}"))
    for kind in TYPES.values():
        if kind.type == "eu_vat":
            continue
        name = gettext("European Union") if kind.type == "eu_oss_vat" else countries.name(kind.country)
        entries.append((kind.type, f"{name} — {_kind_label(kind)}"))
    return [("", gettext("Select the kind of number")), *sorted(entries, key=lambda entry: entry[1].casefold())]


def tax_id_kind_label(stripe_type: str, country: str) -> str:
    kind = TYPES.get(stripe_type)
    if kind is None:
        return gettext("Tax ID")
    if stripe_type == "eu_oss_vat":
        return f"{gettext('European Union')} — {_kind_label(kind)}"
    return f"{countries.name(country) or country} — {_kind_label(kind)}"


def tax_id_initial_choice(customer) -> str:
    """The customer's country's (VAT) number, preselected."""
    country = ((customer.address or {}).get("country") or "").upper()
    for prefix, eu_country in EU_VAT_PREFIXES.items():
        if eu_country == country and prefix != "XI":
            return f"eu_vat:{prefix}"
    return next((kind.type for kind in TYPES.values() if kind.country == country), "")


class TaxIdAddForm(forms.Form):
    """A tax id of any type Stripe knows (and python-stdnum checks), check digits included: a mistyped digit is
    caught here, where the customer can still fix it."""

    type = forms.ChoiceField(label=_("Kind of number"), choices=tax_id_choices, required=False)
    value = forms.CharField(
        label=_("Tax ID"),
        max_length=64,
        error_messages={"max_length": TOO_LONG},
        help_text=_("As printed on your tax documents, for example DE123456789."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}),
    )

    def __init__(self, *args, customer=None, **kwargs):
        super().__init__(*args, **kwargs)
        if customer is not None and not self.is_bound:
            self.initial["type"] = tax_id_initial_choice(customer)

    def clean(self):
        cleaned = super().clean()
        choice, value = cleaned.get("type") or "", cleaned.get("value")
        if value is None:
            return cleaned
        stripe_type, _sep, prefix = choice.partition(":")
        stripe_type = stripe_type or "eu_vat"  # no choice: an EU VAT number, its prefix says from where
        if prefix and not eu_vat_prefix(value):
            value = prefix + compact(value)
        try:
            valid = validate(type=stripe_type, value=value, strict=True)
        except TaxIdInvalid as invalid:
            self.add_error("value", tax_id_error(invalid, choice))
            return cleaned
        cleaned["tax_id"] = valid
        return cleaned

    def add_service_error(self, error: BillingError) -> None:
        if isinstance(error, TaxIdInvalid):
            message = tax_id_error(error, self.cleaned_data.get("type") or "")
        elif error.code == "tax_id_already_exists":
            message = _("This tax ID is already on your account.")
        elif error.code == "tax_id_limit":
            message = _("You cannot add more tax IDs. Remove one first.")
        else:
            message = _("The tax ID could not be added. Please try again.")
        self.add_error("value", message)


def tax_id_error(invalid: TaxIdInvalid, choice: str) -> str:
    """What is wrong, naming the kind of number checked and an example of its form."""
    if invalid.type == "eu_vat" and not invalid.country:
        return gettext(
            "Enter an EU VAT number that starts with its country code, for example DE123456789 or ATU12345678."
        )
    label = dict(tax_id_choices()).get(choice) or (
        f"{countries.name(invalid.country)} — {VAT}" if invalid.type == "eu_vat" else invalid.type
    )
    if invalid.checksum:
        return gettext("This number has a typo: its check digit does not match. Please check it.")
    if invalid.example:
        return gettext("This number is not valid for “%(kind)s”. Compare it with the example: %(example)s.") % {
            "kind": label,
            "example": invalid.example,
        }
    return gettext("This number is not valid for “%(kind)s”. Please check it.") % {"kind": label}


class TaxIdRemoveForm(forms.Form):
    tax_id = forms.CharField(max_length=40)
