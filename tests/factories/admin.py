"""A merchant account with a row of every billing model, built through the services, for the admin tests."""

import datetime as dt
from dataclasses import dataclass, field

from billing import clock
from billing.audit import Actor
from billing.models import Account, AuditEntry, Event, InvoiceItem, Membership, TaxId
from billing.services.accounts import api_key_create, staff_user_add
from billing.services.coupons import coupon_create, promotion_code_create
from billing.services.processors import processor_account_set
from billing.services.refunds import refund_create
from billing.services.subscriptions import ItemSpec, subscription_create
from billing.services.test_clocks import clock_create
from tests.factories.billing import AccountFactory, CustomerFactory, PriceFactory, TaxRateFactory, card

ACTOR = Actor.system("factory")


@dataclass
class Tenant:
    """One account's rows, reachable by name; ``rows`` lists one row of every billing model."""

    account: Account
    staff: object
    customer: object
    paid_subscription: object
    open_invoice: object
    rows: dict[str, object] = field(default_factory=dict)


def populated_account(name: str, *, staff_email: str) -> Tenant:
    account = AccountFactory(name=name)
    staff = staff_user_add(account=account, email=staff_email)
    key, _secret = api_key_create(account=account, livemode=False, name="test key")
    test_clock = clock_create(
        account=account, livemode=False, actor=ACTOR, frozen_time=clock.now(), name=f"{name} clock"
    )

    customer = CustomerFactory(account=account, name=f"{name} Customer", email=f"payer@{name.lower()}.example")
    payment_method = card(customer)
    tax_id = TaxId.objects.create(account=account, livemode=False, customer=customer, type="eu_vat", value="DE123")
    price = PriceFactory(account=account, product__account=account, product__name=f"{name} Plan")
    tax_rate = TaxRateFactory(account=account)
    coupon = coupon_create(account=account, livemode=False, actor=ACTOR, coupon_id="TENPERCENT", percent_off=10)
    promotion_code = promotion_code_create(coupon=coupon, actor=ACTOR, code="WELCOME")
    paid = subscription_create(customer=customer, items=[ItemSpec(price, 1, [tax_rate])], actor=ACTOR, coupon=coupon)

    # send_invoice leaves the first invoice open: something to void or mark uncollectible.
    invoiced_customer = CustomerFactory(account=account, email=f"invoiced@{name.lower()}.example")
    card(invoiced_customer)
    invoiced = subscription_create(
        customer=invoiced_customer,
        items=[ItemSpec(price)],
        actor=ACTOR,
        collection_method="send_invoice",
        days_until_due=30,
    )
    now = clock.now()
    invoice_item = InvoiceItem.objects.create(
        account=account,
        livemode=False,
        customer=customer,
        subscription=paid,
        description="Pending credit",
        amount=-100,
        currency="eur",
        period_start=now,
        period_end=now + dt.timedelta(days=1),
    )
    paid_invoice = paid.latest_invoice
    refund = refund_create(charge=paid_invoice.charges.get(), amount=100, actor=ACTOR)
    # Set up last: the payments above went through the test gateway, not a processor this machine cannot reach.
    processor = processor_account_set(
        account=account,
        livemode=False,
        processor="mollie",
        actor=ACTOR,
        mollie_api_key=f"test_{name.lower()}0123456789",
    )
    rows = {
        "account": account,
        "membership": Membership.objects.get(account=account, user=staff),
        "apikey": key,
        "customer": customer,
        "taxid": tax_id,
        "product": price.product,
        "price": price,
        "taxrate": tax_rate,
        "coupon": coupon,
        "promotioncode": promotion_code,
        "discount": paid.discounts.get(),
        "subscription": paid,
        "subscriptionitem": paid.items.get(),
        "invoice": paid_invoice,
        "invoiceitem": invoice_item,
        "invoicelineitem": paid_invoice.lines.first(),
        "charge": paid_invoice.charges.get(),
        "refund": refund,
        "paymentmethod": payment_method,
        "event": Event.objects.filter(account=account).first(),
        "auditentry": AuditEntry.objects.filter(account=account).first(),
        "processoraccount": processor,
        "testclock": test_clock,
    }
    return Tenant(
        account=account,
        staff=staff,
        customer=customer,
        paid_subscription=paid,
        open_invoice=invoiced.latest_invoice,
        rows=rows,
    )
