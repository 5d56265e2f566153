"""The cancel page's forms (the reasons survey with its comment, the retention offer) and the state token that makes
a form sent twice act once."""

from dataclasses import dataclass

from django import forms
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from billing import clock
from billing.models import Coupon, Subscription
from billing.services.subscriptions import subscription_version
from billing.templatetags.billing_format import money, percentage
from configurations.models import PortalConfiguration

MAX_COMMENT = 500


def subscription_state(subscription: Subscription) -> str:
    """What the cancel and pause pages act on: the subscription's version. A page carries it in a hidden field and
    the action runs only while the subscription is still that version, so a button clicked twice, a second tab or
    the back button acts once and never on a state the customer did not see."""
    return subscription_version(subscription)


class StateForm(forms.Form):
    """A form acting on one subscription as the customer saw it (see :func:`subscription_state`)."""

    state = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    @classmethod
    def for_subscription(cls, subscription: Subscription, **kwargs) -> "StateForm":
        return cls(initial={"state": subscription_state(subscription)}, **kwargs)

    @property
    def expected_version(self) -> str:
        """The version the page showed ("-" when the form came without one: it then matches nothing)."""
        return (self.cleaned_data.get("state") if hasattr(self, "cleaned_data") else "") or "-"


class CancelForm(StateForm):
    """With the configuration's reasons survey on: why the customer cancels (optional) and a comment."""

    def __init__(self, *args, configuration: PortalConfiguration, **kwargs):
        super().__init__(*args, **kwargs)
        self.survey = configuration.cancellation_reason_enabled and bool(configuration.cancellation_reason_options)
        if self.survey:
            labels = dict(PortalConfiguration.CancellationReason.choices)
            options = [option for option in configuration.cancellation_reason_options if option in labels]
            self.fields["feedback"] = forms.ChoiceField(
                label=_("Why are you canceling?"),
                choices=[(option, labels[option]) for option in options],
                required=False,
                widget=forms.RadioSelect,
            )
            self.fields["comment"] = forms.CharField(
                label=_("Anything else you would like to tell us?"),
                help_text=_("Optional, at most 500 characters."),
                max_length=MAX_COMMENT,
                required=False,
                widget=forms.Textarea(attrs={"rows": 3}),
            )

    @property
    def feedback(self) -> str:
        return self.cleaned_data.get("feedback") or ""

    @property
    def comment(self) -> str:
        return (self.cleaned_data.get("comment") or "").strip()


@dataclass(frozen=True)
class RetentionOffer:
    """The coupon a subscription_cancel deep link offers before the customer cancels, in the customer's words."""

    coupon: Coupon

    @classmethod
    def from_flow(cls, flow: dict | None, *, subscription: Subscription) -> "RetentionOffer | None":
        """The offer of the session's flow for this subscription, if the coupon can still be redeemed."""
        body = (flow or {}).get("subscription_cancel") or {}
        coupon_id = ((body.get("retention") or {}).get("coupon_offer") or {}).get("coupon")
        if not coupon_id or body.get("subscription") != subscription.pk:
            return None
        coupon = Coupon.objects.filter(
            account_id=subscription.account_id, livemode=subscription.livemode, coupon_id=coupon_id
        ).first()
        return cls.usable(coupon, subscription)

    @classmethod
    def usable(cls, coupon: Coupon | None, subscription: Subscription) -> "RetentionOffer | None":
        """The offer of ``coupon``, if it can still be redeemed on this subscription."""
        if coupon is None or not coupon.is_valid_at(clock.now()):
            return None
        if coupon.amount_off is not None and coupon.currency != subscription.currency:
            return None
        return cls(coupon)

    @property
    def discount(self) -> str:
        """``20% off`` or ``€5.00 off``."""
        if self.coupon.percent_off is not None:
            amount = percentage(self.coupon.percent_off)
        else:
            amount = money(self.coupon.amount_off, self.coupon.currency)
        return gettext("%(discount)s off") % {"discount": amount}

    @property
    def duration(self) -> str:
        """How long the discount lasts, to follow the discount: ``for 3 months``."""
        if self.coupon.duration == Coupon.Duration.ONCE:
            return gettext("on your next invoice")
        if self.coupon.duration == Coupon.Duration.REPEATING:
            months = self.coupon.duration_in_months or 1
            return ngettext("for %(count)d month", "for %(count)d months", months) % {"count": months}
        return gettext("for as long as you stay subscribed")

    @property
    def terms(self) -> str:
        """``20% off for 3 months``."""
        return gettext("%(discount)s %(duration)s") % {"discount": self.discount, "duration": self.duration}
