"""A processor's or a service's refusal of a payment method, in the customer's language: which field it is about
(``number``, ``expiry``, ``cvc``, ``iban``; None: the whole form) and what to tell the customer, by Stripe's codes.
Shared by the portal's pages and the test gateway's hosted fields (``vault/``)."""

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.exceptions import BillingError, CardDeclined, DuplicatePaymentMethod, GatewayUnavailable

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
    if isinstance(error, DuplicatePaymentMethod):
        if error.existing_type == "sepa_debit":
            return None, gettext("This bank account is already saved.")
        return None, gettext("This card is already saved.")
    if isinstance(error, GatewayUnavailable):
        return None, gettext("We could not reach the payment provider. Nothing was saved; please try again.")
    field = CODE_FIELDS.get(error.code)
    if field is not None:
        return field, str(DECLINE_MESSAGES.get(error.code) or FIELD_MESSAGES[field])
    return None, gettext("This payment method could not be added. Please check the details or try another one.")
