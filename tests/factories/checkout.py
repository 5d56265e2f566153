"""Checkout sessions made through the service, and payment methods as the hosted fields make them (nobody's yet)."""

from billing.gateways import CardInput, SepaInput
from billing.models import Price
from billing.services.payment_methods import payment_method_create
from checkout.services.create import LineItemSpec, checkout_session_create
from tests.factories.billing import ACTOR, PriceFactory


def session_for(price: Price, *, mode: str = "subscription", quantity: int = 1, **options):
    options.setdefault("success_url", "https://shop.example/done?session={CHECKOUT_SESSION_ID}")
    options.setdefault("cancel_url", "https://shop.example/pricing")
    return checkout_session_create(
        account=price.account,
        livemode=price.livemode,
        actor=ACTOR,
        mode=mode,
        line_items=[LineItemSpec(price, quantity)],
        **options,
    )


def subscription_session(**options):
    price = PriceFactory(unit_amount=1500)
    return session_for(price, customer_email="ada@example.com", **options)


def hosted_card(account, number: str = "4242424242424242", *, livemode: bool = False):
    """A card as the vault makes it: of the account, attached to nobody."""
    card = CardInput(number=number, exp_month=12, exp_year=2035, cvc="123")
    return payment_method_create(account=account, livemode=livemode, actor=ACTOR, card=card)


def hosted_iban(account, iban: str = "DE89370400440532013000"):
    return payment_method_create(account=account, livemode=False, actor=ACTOR, sepa=SepaInput(iban=iban))
