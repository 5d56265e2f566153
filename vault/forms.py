"""The vault's forms: card or SEPA details checked before they reach the test gateway, with messages in the
customer's language next to the field they are about."""

import re

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from billing import clock
from billing.gateways import CardInput, SepaInput
from billing.gateways.base import luhn_valid

EXPIRY = re.compile(r"^\s*(\d{1,2})\s*[/\-. ]?\s*(\d{4}|\d{2})\s*$")
MAX_YEARS_AHEAD = 20


TOO_LONG = _("Shorten this to at most %(limit_value)d characters (it has %(show_value)d).")


def _text(label, *, max_length: int, help_text="", too_long=TOO_LONG, **attrs) -> forms.CharField:
    """A text field whose emptiness is explained by the form's own message (``required`` would say "This field
    is required."), and whose excess length by ``too_long``, the one message it then gets."""
    return forms.CharField(
        label=label,
        help_text=help_text,
        required=False,
        max_length=max_length,
        error_messages={"max_length": too_long},
        widget=forms.TextInput(attrs=attrs),
    )


class VaultForm(forms.Form):
    def _require(self, name: str, message: str) -> str:
        value = (self.cleaned_data.get(name) or "").strip()
        if not value and name not in self.errors:
            self.add_error(name, message)
        return value

    def field_errors(self) -> dict[str, str]:
        """``{field: message}`` for the vault's script (``__all__``: about the whole form)."""
        return {name: " ".join(errors) for name, errors in self.errors.items()}


class CardForm(VaultForm):
    number = _text(
        _("Card number"),
        max_length=30,
        too_long=_("This card number is too long: a card number has at most 19 digits."),
        autocomplete="cc-number",
        inputmode="numeric",
        placeholder="1234 1234 1234 1234",
        spellcheck="false",
    )
    expiry = _text(
        _("Expiry date"),
        max_length=9,
        too_long=_("Enter the expiry date as MM / YY, for example 08 / 29."),
        autocomplete="cc-exp",
        inputmode="numeric",
        placeholder=_("MM / YY"),
        spellcheck="false",
    )
    cvc = _text(
        _("Security code (CVC)"),
        max_length=4,
        too_long=_("The security code has 3 or 4 digits."),
        help_text=_("3 or 4 digits"),
        autocomplete="cc-csc",
        inputmode="numeric",
        spellcheck="false",
    )
    name = _text(_("Name on card"), max_length=256, autocomplete="cc-name")

    @sensitive_variables()
    def clean(self):
        cleaned = super().clean()
        number = re.sub(r"[\s\-]", "", cleaned.get("number") or "")
        if "number" in self.errors:
            pass
        elif not number:
            self.add_error("number", gettext("Enter your card number."))
        elif not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_valid(number):
            self.add_error("number", gettext("This card number is not valid. Please check it and try again."))
        expiry = self._expiry()
        cvc = (cleaned.get("cvc") or "").strip()
        if "cvc" in self.errors:
            pass
        elif not cvc:
            self.add_error("cvc", gettext("Enter the card's security code."))
        elif not cvc.isdigit() or not 3 <= len(cvc) <= 4:
            self.add_error("cvc", gettext("The security code has 3 or 4 digits."))
        name = self._require("name", gettext("Enter the name on the card."))
        if not self.errors:
            month, year = expiry
            cleaned["card"] = CardInput(number=number, exp_month=month, exp_year=year, cvc=cvc)
            cleaned["billing_details"] = {"name": name}
        return cleaned

    def _expiry(self) -> tuple[int, int] | None:
        value = (self.cleaned_data.get("expiry") or "").strip()
        if "expiry" in self.errors:
            return None
        if not value:
            self.add_error("expiry", gettext("Enter the expiry date."))
            return None
        match = EXPIRY.match(value)
        month = int(match.group(1)) if match else 0
        if not match or not 1 <= month <= 12:
            self.add_error("expiry", gettext("Enter the expiry date as MM / YY, for example 08 / 29."))
            return None
        year = int(match.group(2))
        year = year + 2000 if year < 100 else year
        today = clock.now()
        if (year, month) < (today.year, today.month):
            self.add_error("expiry", gettext("This card has expired. Please use another card."))
            return None
        if year > today.year + MAX_YEARS_AHEAD:
            self.add_error("expiry", gettext("This expiry date is too far in the future. Please check it."))
            return None
        return month, year


class SepaForm(VaultForm):
    iban = _text(
        _("IBAN"),
        max_length=42,
        too_long=_("This IBAN is too long: an IBAN has at most 34 letters and digits."),
        autocomplete="off",
        placeholder="DE00 0000 0000 0000 0000 00",
        spellcheck="false",
    )
    account_holder = _text(_("Account holder"), max_length=256, autocomplete="name")

    @sensitive_variables()
    def clean(self):
        cleaned = super().clean()
        raw = self._require("iban", gettext("Enter your IBAN."))
        iban = None
        if raw:
            try:
                iban = IBAN(raw)
            except SchwiftyException:
                self.add_error("iban", gettext("This IBAN is not valid. Please check it and try again."))
            else:
                if not iban.in_sepa_zone:
                    self.add_error("iban", gettext("This bank account is outside the SEPA area."))
        name = self._require("account_holder", gettext("Enter the account holder's name."))
        if not self.errors:
            cleaned["sepa"] = SepaInput(iban=iban.compact)
            cleaned["billing_details"] = {"name": name}
        return cleaned


FORMS = {"card": CardForm, "sepa_debit": SepaForm}
