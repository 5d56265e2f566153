"""The portal's payment method form. Card and bank details are typed into the processor's hosted fields and never
reach this form: it carries the type, the payment method (or token) those fields gave, and the default choice. The
processor's refusals become messages in the customer's language (``billing.refusals``)."""

import re

from django import forms
from django.forms.utils import ErrorList
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.exceptions import BillingError
from billing.refusals import DECLINE_MESSAGES, billing_error_message

__all__ = ["DECLINE_MESSAGES", "PaymentMethodForm", "billing_error_message"]

CARD = "card"
SEPA = "sepa_debit"
TYPE_LABELS = {CARD: _("Card"), SEPA: _("SEPA Direct Debit")}
# pm_… (ours or Stripe's), tkn_… (Mollie Components): an id, never anything else.
TOKEN = re.compile(r"^[A-Za-z0-9_]{4,255}$")


class PaymentMethodForm(forms.Form):
    type = forms.ChoiceField(label=_("Payment method"), choices=list(TYPE_LABELS.items()), widget=forms.RadioSelect)
    payment_method = forms.CharField(required=False, max_length=255, widget=forms.HiddenInput)
    make_default = forms.BooleanField(label=_("Use as default payment method"), required=False, initial=True)

    def __init__(self, *args, types: list[str], **kwargs):
        """``types``: what the customer may add here (the processor's offer for their currencies and country)."""
        super().__init__(*args, **kwargs)
        self.fields["type"].choices = [(kind, TYPE_LABELS[kind]) for kind in types]
        self.fields["type"].initial = types[0] if types else None

    def clean_payment_method(self) -> str:
        value = (self.cleaned_data.get("payment_method") or "").strip()
        if not value:
            raise forms.ValidationError(
                gettext(
                    "Your payment details did not reach your payment provider. Payment details are entered in the "
                    "provider's secure fields, which need JavaScript: please turn it on and try again."
                )
            )
        if not TOKEN.match(value):
            raise forms.ValidationError(gettext("Your payment details could not be read. Please enter them again."))
        return value

    def add_billing_error(self, error: BillingError) -> None:
        """Show what the processor or a service refused, in the active language, above the form (the details
        themselves are in the processor's fields)."""
        self.add_error(None, billing_error_message(error)[1])

    def non_field_errors(self):
        """The hidden payment method's problems are the form's (there is no field to show them beside)."""
        return ErrorList([*super().non_field_errors(), *self.errors.get("payment_method", [])])
