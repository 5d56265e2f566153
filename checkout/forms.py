"""The hosted Checkout page's form: what the session asks for (email, name and billing address, phone, tax id,
terms), adjustable quantities, and the payment method the processor's hosted fields gave (never card data)."""

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.exceptions import BillingError
from billing.refusals import billing_error_message
from checkout.models import CheckoutLineItem, CheckoutSession
from checkout.services.complete import CustomerInput
from portal.forms.billing_details import PHONE, country_choices, tax_id_choices
from portal.forms.payment_methods import PaymentMethodForm

FIELD_PARAMS = {"email": "email", "phone": "phone", "terms_of_service": "terms", "promotion_code": "promotion_code"}


def _text(label, *, max_length: int, autocomplete: str, required: bool = True, kind: str = "text"):
    widget = forms.EmailInput if kind == "email" else forms.TextInput
    return forms.CharField(
        label=label, max_length=max_length, required=required, widget=widget(attrs={"autocomplete": autocomplete})
    )


class CheckoutForm(PaymentMethodForm):
    def __init__(self, *args, session: CheckoutSession, line_items: list[CheckoutLineItem], **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["make_default"]
        self.session = session
        self.adjustable = [item for item in line_items if item.adjustable_quantity]
        if session.customer_id is None:
            self.fields["email"] = _text(_("Email"), max_length=254, autocomplete="email", kind="email")
            self.fields["email"].initial = session.customer_email
            if session.customer_email:
                self.fields["email"].widget.attrs["readonly"] = "readonly"
        self.asks_address = session.billing_address_collection == "required" and session.customer_id is None
        if self.asks_address:
            self._address_fields()
        if session.phone_number_collection:
            self.fields["phone"] = _text(_("Phone number"), max_length=32, autocomplete="tel", kind="tel")
            self.fields["phone"].widget.input_type = "tel"
        if session.tax_id_collection and session.customer_id is None:
            self.fields["tax_id_type"] = forms.ChoiceField(
                label=_("Tax ID type"), choices=tax_id_choices, required=False
            )
            self.fields["tax_id_value"] = _text(_("Tax ID"), max_length=64, autocomplete="off", required=False)
        if (session.consent_collection or {}).get("terms_of_service") == "required":
            self.fields["terms"] = forms.BooleanField(label=_("I agree to the terms of service."), required=True)
        for item in self.adjustable:
            rules = item.adjustable_quantity
            self.fields[f"quantity_{item.pk}"] = forms.IntegerField(
                label=_("Quantity of %(product)s") % {"product": item.price.product.name},
                min_value=max(1, rules["minimum"]),
                max_value=rules["maximum"],
                initial=item.quantity,
            )

    def _address_fields(self) -> None:
        self.fields["name"] = _text(_("Full name"), max_length=256, autocomplete="name")
        self.fields["line1"] = _text(_("Address line 1"), max_length=200, autocomplete="address-line1")
        self.fields["line2"] = _text(_("Address line 2"), max_length=200, autocomplete="address-line2", required=False)
        self.fields["postal_code"] = _text(_("Postal code"), max_length=20, autocomplete="postal-code")
        self.fields["city"] = _text(_("City"), max_length=200, autocomplete="address-level2")
        self.fields["country"] = forms.ChoiceField(label=_("Country"), choices=country_choices)
        self.fields["country"].widget.attrs["autocomplete"] = "country"

    def clean_phone(self) -> str:
        value = self.cleaned_data.get("phone", "").strip()
        if value and not PHONE.fullmatch(value):
            raise forms.ValidationError(gettext("Enter a phone number with digits, spaces, + - ( ) only."))
        return value

    def clean(self):
        data = super().clean()
        kind, value = data.get("tax_id_type"), (data.get("tax_id_value") or "").strip()
        if value and not kind:
            self.add_error("tax_id_type", gettext("Choose the kind of tax ID."))
        return data

    def customer_input(self) -> CustomerInput:
        data = self.cleaned_data
        address = None
        if self.asks_address:
            address = {key: data.get(key) or "" for key in ("line1", "line2", "postal_code", "city", "country")}
        tax_ids = []
        if data.get("tax_id_type") and data.get("tax_id_value"):
            tax_ids.append({"type": data["tax_id_type"].split(":")[0], "value": data["tax_id_value"].strip()})
        return CustomerInput(
            email=data.get("email", ""),
            name=data.get("name", ""),
            phone=data.get("phone", ""),
            address=address,
            tax_ids=tax_ids,
            terms_accepted=bool(data.get("terms")),
        )

    def quantities(self) -> dict[str, int]:
        return {item.pk: self.cleaned_data[f"quantity_{item.pk}"] for item in self.adjustable}

    def add_billing_error(self, error: BillingError) -> None:
        """A refusal beside the field it concerns (email, phone, tax id, terms), else above the form."""
        param = error.param or ""
        if param.startswith("tax_id"):
            field = "tax_id_value" if "tax_id_value" in self.fields else None
        else:
            field = FIELD_PARAMS.get(param.split("[")[0])
        field = field if field in self.fields else None
        messages = {
            "tax_id_value": gettext("This tax ID is not valid for the chosen kind."),
            "email": gettext("Enter a valid email address."),
            "phone": gettext("Enter a valid phone number."),
        }
        if field is None:
            self.add_error(None, billing_error_message(error)[1])
        else:
            self.add_error(field, messages.get(field, gettext("Please check this field.")))
