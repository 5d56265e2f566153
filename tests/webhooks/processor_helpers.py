"""What the tests of the processors' webhooks share: the merchant's signing secrets and a SEPA payment waiting for
the bank."""

from billing.audit import Actor
from billing.gateways.base import SepaInput
from billing.models import Invoice
from billing.services.intents import setup_intent_create
from billing.services.intents.invoice_payments import invoice_pay_on_session
from billing.services.payment_methods import payment_method_attach, payment_method_create
from billing.services.subscriptions import ItemSpec, subscription_create
from tests.factories.billing import CustomerFactory, PriceFactory

ACTOR = Actor.system("test")
WHSEC = "whsec_c3RyaXBlLXdlYmhvb2stdGVzdC1tb2Rl"
WHSEC_LIVE = "whsec_c3RyaXBlLXdlYmhvb2stbGl2ZS1tb2Rl"
MANDATE_DATA = {"customer_acceptance": {"type": "online", "online": {"ip_address": "203.0.113.7", "user_agent": "t"}}}
RETURN_URL = "https://shop.example/back"


def sepa_invoice_processing(account, iban: str = "DE89370400440532013000") -> Invoice:
    """A customer who saved a bank account (a SEPA mandate) and pays their first invoice with it: the debit is
    processing at the account's processor."""
    customer = CustomerFactory(account=account)
    pm = payment_method_create(account=account, livemode=False, actor=ACTOR, sepa=SepaInput(iban))
    pm = payment_method_attach(payment_method=pm, customer=customer, actor=ACTOR)
    setup_intent_create(
        account=account,
        livemode=False,
        actor=ACTOR,
        customer=customer,
        payment_method=pm,
        payment_method_types=["sepa_debit"],
        mandate_data=MANDATE_DATA,
        confirm=True,
    )
    price = PriceFactory(account=account, product__account=account, unit_amount=1500, currency="eur")
    subscription = subscription_create(
        customer=customer, items=[ItemSpec(price, 1)], actor=ACTOR, payment_behavior="default_incomplete"
    )
    invoice = Invoice.objects.get(subscription=subscription)
    assert invoice_pay_on_session(invoice=invoice, payment_method=pm, return_url=RETURN_URL).status == "processing"
    return invoice
