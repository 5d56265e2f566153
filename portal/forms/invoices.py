"""The pay page's form: which of the customer's saved payment methods pays the invoice."""

from django import forms
from django.utils.translation import gettext_lazy as _

from billing.models import PaymentMethod


class InvoicePayForm(forms.Form):
    payment_method = forms.ChoiceField(
        label=_("Pay with"),
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose a payment method."),
            "invalid_choice": _("Choose one of your saved payment methods."),
        },
    )

    def __init__(self, *args, methods: list[PaymentMethod], **kwargs):
        super().__init__(*args, **kwargs)
        self.methods = {method.pk: method for method in methods}
        self.fields["payment_method"].choices = [(pk, pk) for pk in self.methods]
        if methods:
            self.fields["payment_method"].initial = methods[0].pk  # the default comes first

    def clean_payment_method(self) -> PaymentMethod:
        return self.methods[self.cleaned_data["payment_method"]]
