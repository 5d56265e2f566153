"""The portal's payment method form: card or SEPA details checked before they reach the gateway, and the
gateway's refusals turned into messages in the customer's language."""

import re
from dataclasses import dataclass

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from billing import clock
from billing.exceptions import BillingError, CardDeclined, GatewayUnavailable
from billing.gateways import CardInput, SepaInput
from billing.gateways.base import luhn_valid

CARD = "card"
SEPA = "sepa_debit"
EXPIRY = re.compile(r"^\s*(\d{1,2})\s*[/\-. ]?\s*(\d{4}|\d{2})\s*$")
MAX_YEARS_AHEAD = 20
CARD_FIELDS = ("number", "expiry", "cvc", "name")
SEPA_FIELDS = ("iban", "account_holder")


class SecretInput(forms.TextInput):
    """A text input that never writes its value back into the page: a re-rendered form starts it empty."""

    def get_context(self, name, value, attrs):
        return super().get_context(name, None, attrs)


@dataclass(frozen=True)
class NewPaymentMethod:
    """What the form hands to the services; ``card`` or ``sepa`` is set."""

    billing_details: dict
    make_default: bool
    card: CardInput | None = None
    sepa: SepaInput | None = None


class PaymentMethodForm(forms.Form):
    type = forms.ChoiceField(
        label=_("Payment method"),
        choices=[(CARD, _("Card")), (SEPA, _("SEPA Direct Debit"))],
        widget=forms.RadioSelect,
        initial=CARD,
    )
    number = forms.CharField(
        label=_("Card number"),
        required=False,
        max_length=30,
        widget=SecretInput(
            attrs={
                "autocomplete": "cc-number",
                "inputmode": "numeric",
                "placeholder": "1234 1234 1234 1234",
                "spellcheck": "false",
            }
        ),
    )
    expiry = forms.CharField(
        label=_("Expiry date"),
        required=False,
        max_length=9,
        widget=forms.TextInput(
            attrs={"autocomplete": "cc-exp", "inputmode": "numeric", "placeholder": _("MM / YY"), "spellcheck": "false"}
        ),
    )
    cvc = forms.CharField(
        label=_("Security code (CVC)"),
        help_text=_("3 or 4 digits"),
        required=False,
        max_length=4,
        widget=SecretInput(attrs={"autocomplete": "cc-csc", "inputmode": "numeric", "spellcheck": "false"}),
    )
    name = forms.CharField(
        label=_("Name on card"),
        required=False,
        max_length=256,
        widget=forms.TextInput(attrs={"autocomplete": "cc-name"}),
    )
    iban = forms.CharField(
        label=_("IBAN"),
        required=False,
        max_length=42,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "placeholder": "DE00 0000 0000 0000 0000 00", "spellcheck": "false"}
        ),
    )
    account_holder = forms.CharField(
        label=_("Account holder"),
        required=False,
        max_length=256,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    make_default = forms.BooleanField(label=_("Use as default payment method"), required=False, initial=True)

    def __init__(self, *args, currencies: set[str] = frozenset(), **kwargs):
        """``currencies``: what the customer's subscriptions are billed in (SEPA Direct Debit can only pay euros)."""
        super().__init__(*args, **kwargs)
        self.currencies = currencies

    @property
    def sepa_unusable(self) -> bool:
        return bool(self.currencies) and "eur" not in self.currencies

    def _require(self, name: str, message: str) -> str:
        value = (self.cleaned_data.get(name) or "").strip()
        if not value:
            self.add_error(name, message)
        return value

    @sensitive_variables()
    def _clean_card(self) -> None:
        number = re.sub(r"[\s\-]", "", self.cleaned_data.get("number") or "")
        if not number:
            self.add_error("number", gettext("Enter your card number."))
        elif not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_valid(number):
            self.add_error("number", gettext("This card number is not valid. Please check it and try again."))
        expiry = self._expiry()
        cvc = (self.cleaned_data.get("cvc") or "").strip()
        if not cvc:
            self.add_error("cvc", gettext("Enter the card's security code."))
        elif not cvc.isdigit() or not 3 <= len(cvc) <= 4:
            self.add_error("cvc", gettext("The security code has 3 or 4 digits."))
        name = self._require("name", gettext("Enter the name on the card."))
        if not self.errors:
            month, year = expiry
            self.cleaned_data["payment_method"] = NewPaymentMethod(
                billing_details={"name": name},
                make_default=self.cleaned_data["make_default"],
                card=CardInput(number=number, exp_month=month, exp_year=year, cvc=cvc),
            )

    def _expiry(self) -> tuple[int, int] | None:
        value = (self.cleaned_data.get("expiry") or "").strip()
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

    @sensitive_variables()
    def _clean_sepa(self) -> None:
        if self.sepa_unusable:
            self.add_error("type", gettext("SEPA Direct Debit can only pay in euros. Please add a card instead."))
            return
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
            self.cleaned_data["payment_method"] = NewPaymentMethod(
                billing_details={"name": name},
                make_default=self.cleaned_data["make_default"],
                sepa=SepaInput(iban=iban.compact),
            )

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("type")
        # Whatever sits in the other type's (hidden) fields is not submitted for real: ignore it.
        for name in SEPA_FIELDS if kind == CARD else CARD_FIELDS if kind == SEPA else ():
            self._errors.pop(name, None)
            cleaned.pop(name, None)
        if kind == CARD:
            self._clean_card()
        elif kind == SEPA:
            self._clean_sepa()
        return cleaned

    def add_billing_error(self, error: BillingError) -> None:
        """Show what the gateway or a service refused, in the active language, next to the field it is about."""
        field, message = billing_error_message(error)
        self.add_error(field, message)


# Where a refusal belongs (None: above the form) and what to tell the customer, by Stripe's codes.
DECLINE_MESSAGES = {
    "generic_decline": _("Your card was declined. Please try another card or contact your bank."),
    "card_declined": _("Your card was declined. Please try another card or contact your bank."),
    "insufficient_funds": _("Your card has insufficient funds. Please try another card."),
    "expired_card": _("Your card has expired. Please use another card."),
    "incorrect_cvc": _("The security code is incorrect. Please check it and try again."),
    "incorrect_number": _("This card number is not valid. Please check it and try again."),
    "invalid_number": _("This card number is not valid. Please check it and try again."),
}
DECLINE_FIELDS = {"incorrect_cvc": "cvc"}
CODE_FIELDS = {
    "incorrect_number": "number",
    "invalid_number": "number",
    "invalid_expiry_month": "expiry",
    "invalid_expiry_year": "expiry",
    "invalid_cvc": "cvc",
    "incorrect_cvc": "cvc",
    "invalid_iban": "iban",
}
FIELD_MESSAGES = {
    "expiry": _("This expiry date is not valid. Please check it."),
    "cvc": _("The security code is incorrect. Please check it and try again."),
    "iban": _("This IBAN is not valid. Please check it and try again."),
}


def billing_error_message(error: BillingError) -> tuple[str | None, str]:
    if isinstance(error, CardDeclined):
        code = error.decline_code or error.code
        message = DECLINE_MESSAGES.get(code, DECLINE_MESSAGES["generic_decline"])
        return DECLINE_FIELDS.get(code), str(message)
    if isinstance(error, GatewayUnavailable):
        return None, gettext("We could not reach the payment provider. Nothing was saved; please try again.")
    field = CODE_FIELDS.get(error.code)
    if field is not None:
        return field, str(DECLINE_MESSAGES.get(error.code) or FIELD_MESSAGES[field])
    return None, gettext("This payment method could not be added. Please check the details or try another one.")
