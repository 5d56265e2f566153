"""Factories for the billing domain. The tenant is a SubFactory so no test forgets it."""

from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from billing.audit import Actor
from billing.gateways import CardInput, SepaInput
from billing.models import Account, Customer, Price, Product, TaxRate
from billing.services.customers import customer_set_default_payment_method
from billing.services.payment_methods import payment_method_attach, payment_method_create

ACTOR = Actor.system("factory")


class AccountFactory(DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Merchant {n}")
    plan = Account.Plan.BILLING


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = Customer

    account = factory.SubFactory(AccountFactory)
    livemode = False
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    name = factory.Sequence(lambda n: f"Customer {n}")
    preferred_locales = factory.LazyFunction(lambda: ["en"])


class ProductFactory(DjangoModelFactory):
    class Meta:
        model = Product

    account = factory.SubFactory(AccountFactory)
    livemode = False
    name = factory.Sequence(lambda n: f"Plan {n}")


class PriceFactory(DjangoModelFactory):
    class Meta:
        model = Price

    product = factory.SubFactory(ProductFactory)
    account = factory.SelfAttribute("product.account")
    livemode = factory.SelfAttribute("product.livemode")
    currency = "eur"
    unit_amount = 1000
    type = Price.Type.RECURRING
    recurring_interval = Price.Interval.MONTH
    recurring_interval_count = 1
    tax_behavior = Price.TaxBehavior.EXCLUSIVE


class TaxRateFactory(DjangoModelFactory):
    class Meta:
        model = TaxRate

    account = factory.SubFactory(AccountFactory)
    livemode = False
    display_name = "VAT"
    percentage = Decimal("19")
    inclusive = False


def card(customer, number="4242424242424242", *, default=True):
    """Create a card through the test gateway, attach it and (by default) make it the default."""
    pm = payment_method_create(
        account=customer.account,
        livemode=customer.livemode,
        actor=ACTOR,
        card=CardInput(number=number, exp_month=12, exp_year=2035, cvc="123"),
    )
    pm = payment_method_attach(payment_method=pm, customer=customer, actor=ACTOR)
    if default:
        customer_set_default_payment_method(customer=customer, payment_method=pm, actor=ACTOR)
    pm.refresh_from_db()
    return pm


def sepa(customer, iban="DE89370400440532013000", *, default=False):
    pm = payment_method_create(
        account=customer.account, livemode=customer.livemode, actor=ACTOR, sepa=SepaInput(iban=iban)
    )
    pm = payment_method_attach(payment_method=pm, customer=customer, actor=ACTOR)
    if default:
        customer_set_default_payment_method(customer=customer, payment_method=pm, actor=ACTOR)
    pm.refresh_from_db()
    return pm
