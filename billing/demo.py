"""Demo data for `make run`: a coffee-subscription merchant whose months of history the real billing engine produces.

Nothing here writes models directly. Customers, payment methods and subscriptions are created through
the services with the clock frozen in the past, and ``billing_cycle_run`` is stepped forward day by
day to the real now, so every renewal, failed payment, retry, automatic resume and cancellation at
period end is the engine's own work. State changes (pausing collection, cancelling, switching cards)
happen at the past moment they belong to.
"""

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.functions import TruncMonth
from django.utils import timezone

from billing import clock
from billing.audit import Actor
from billing.gateways import CardInput, SepaInput
from billing.models import (
    Account,
    Customer,
    Invoice,
    Membership,
    Price,
    Product,
    PromotionCode,
    Subscription,
    TaxRate,
)
from billing.periods import add_months
from billing.services.accounts import account_create, staff_user_add
from billing.services.billing_cycle import billing_cycle_run
from billing.services.coupons import coupon_create, promotion_code_create
from billing.services.customers import customer_create, customer_set_default_payment_method
from billing.services.payment_methods import payment_method_attach, payment_method_create
from billing.services.products import price_create, product_create
from billing.services.subscriptions import (
    ItemSpec,
    subscription_cancel,
    subscription_create,
    subscription_pause_collection,
)
from billing.services.tax_rates import tax_rate_create

ACCOUNT_NAME = "Northwind Coffee Club"
# Acceptable only because the command refuses to run unless DEBUG is on.
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"
ADMIN_EMAIL = "admin@example.com"
ACTOR = Actor.system("demo data")
DAY = dt.timedelta(days=1)

VISA = "4242424242424242"
MASTERCARD = "5555555555554444"
FAILS_ON_CHARGE = "4000000000000341"  # attaches, then every charge is declined
IBAN = "DE89370400440532013000"

# key -> (name, description, monthly price in minor units per currency); yearly is 10 x monthly.
PRODUCTS = {
    "espresso": (
        "Espresso Club",
        "250 g of freshly roasted single-origin espresso beans every month.",
        {"eur": 1490, "usd": 1590},
    ),
    "filter": (
        "Filter Lovers",
        "Two 250 g bags of light-roast filter coffee from a rotating roaster.",
        {"eur": 1990, "usd": 2190},
    ),
    "barista": (
        "Barista Pro",
        "1 kg of espresso blend for home baristas, plus a monthly brewing guide.",
        {"eur": 3490, "usd": 3790},
    ),
}
YEARLY_FACTOR = 10


@dataclass(frozen=True)
class Ago:
    """A moment relative to the seed's "now": ``months`` calendar months before ``days`` days ago.

    Negative ``days`` reach into the future (``Ago(days=-20)`` is 20 days from now). Everything shares
    now's time of day, so renewals, trial ends and payment retries fall on the daily steps exactly.
    """

    days: int = 0
    months: int = 0

    def of(self, now: dt.datetime) -> dt.datetime:
        return add_months(now - dt.timedelta(days=self.days), -self.months)


@dataclass(frozen=True)
class Pause:
    at: Ago
    behavior: str
    resumes: Ago | None = None


@dataclass(frozen=True)
class Cancel:
    at: Ago
    at_period_end: bool
    feedback: str = ""
    comment: str = ""


@dataclass(frozen=True)
class NewDefaultCard:
    at: Ago
    number: str


@dataclass(frozen=True)
class Story:
    """One customer: who they are, how they pay, what they subscribed to when, and what happened later."""

    name: str
    email: str
    address: tuple[str, str, str, str, str]  # line1, postal code, city, state, country
    locale: str
    methods: tuple[str, ...]  # card numbers or IBANs; the first becomes the default
    product: str
    currency: str
    interval: str
    start: Ago
    quantity: int = 1
    trial_days: int | None = None
    promotion_code: bool = False
    vat: bool = False
    later: tuple[Pause | Cancel | NewDefaultCard, ...] = ()


# Start dates are chosen so that each story is in the intended state at the real now: e.g. the
# past-due renewal happened a few days ago (inside the 1/3/7-day dunning window), and the pending
# cancellations' current periods end in the future.
STORIES = (
    # --- active, EUR
    Story(
        "Lena Schmidt",
        "lena.schmidt@example.com",
        ("Torstraße 140", "10119", "Berlin", "", "DE"),
        "de",
        (IBAN,),
        "espresso",
        "eur",
        "month",
        Ago(days=3, months=6),
    ),
    Story(
        "Jonas Müller",
        "jonas.mueller@example.com",
        ("Leopoldstraße 58", "80802", "München", "", "DE"),
        "de",
        (VISA,),
        "filter",
        "eur",
        "year",
        Ago(days=10, months=5),
    ),
    Story(
        "Sophie Wagner",
        "sophie.wagner@example.com",
        ("Lange Reihe 27", "20099", "Hamburg", "", "DE"),
        "de",
        (MASTERCARD,),
        "barista",
        "eur",
        "month",
        Ago(days=1, months=6),
        vat=True,
    ),
    Story(
        "Felix Hoffmann",
        "felix.hoffmann@example.com",
        ("Ehrenstraße 43", "50672", "Köln", "", "DE"),
        "de",
        (VISA,),
        "espresso",
        "eur",
        "month",
        Ago(days=8, months=2),
    ),
    Story(
        "Paul Neumann",
        "paul.neumann@example.com",
        ("Karl-Liebknecht-Straße 91", "04275", "Leipzig", "", "DE"),
        "de",
        (IBAN, VISA),
        "filter",
        "eur",
        "month",
        Ago(days=0, months=4),
    ),
    Story(
        "Maximilian Wolf",
        "max.wolf@example.com",
        ("Ostertorsteinweg 12", "28203", "Bremen", "", "DE"),
        "en",
        (MASTERCARD,),
        "espresso",
        "eur",
        "year",
        Ago(days=20, months=1),
    ),
    # --- active, USD
    Story(
        "Emily Johnson",
        "emily.johnson@example.com",
        ("350 Fifth Avenue", "10118", "New York", "NY", "US"),
        "en",
        (VISA,),
        "barista",
        "usd",
        "month",
        Ago(days=4, months=6),
        quantity=3,  # the office coffee order
    ),
    Story(
        "Michael Brown",
        "michael.brown@example.com",
        ("233 S Wacker Dr", "60606", "Chicago", "IL", "US"),
        "en",
        (MASTERCARD,),
        "espresso",
        "usd",
        "month",
        Ago(days=9, months=5),
        promotion_code=True,
    ),
    Story(
        "David Miller",
        "david.miller@example.com",
        ("1100 Congress Ave", "78701", "Austin", "TX", "US"),
        "en",
        (VISA,),
        "barista",
        "usd",
        "year",
        Ago(days=12, months=3),
    ),
    Story(
        "Sarah Davis",
        "sarah.davis@example.com",
        ("400 Broad St", "98109", "Seattle", "WA", "US"),
        "en",
        (MASTERCARD,),
        "filter",
        "usd",
        "month",
        Ago(days=14, months=4),
        trial_days=14,  # converted to a paying subscription after the trial
    ),
    # --- trialing
    Story(
        "Laura Fischer",
        "laura.fischer@example.com",
        ("Berger Straße 77", "60316", "Frankfurt am Main", "", "DE"),
        "de",
        (VISA,),
        "barista",
        "eur",
        "month",
        Ago(days=5),
        trial_days=14,
    ),
    Story(
        "Chris Wilson",
        "chris.wilson@example.com",
        ("1701 Wynkoop St", "80202", "Denver", "CO", "US"),
        "en",
        (VISA,),
        "filter",
        "usd",
        "month",
        Ago(days=10),
        trial_days=30,
    ),
    # --- past_due: paid on a good card for three months, then made a card that fails the default
    Story(
        "Kevin Moore",
        "kevin.moore@example.com",
        ("100 Cambridge St", "02114", "Boston", "MA", "US"),
        "en",
        (VISA,),
        "espresso",
        "usd",
        "month",
        # Two days back: even with month-end clamping (31st -> 28th) the failed renewal stays inside the
        # 7-day dunning window, so it is past_due, not yet unpaid.
        Ago(days=2, months=3),
        later=(NewDefaultCard(Ago(days=12), FAILS_ON_CHARGE),),
    ),
    # --- canceled
    Story(
        "Thomas Weber",
        "thomas.weber@example.com",
        ("Königstraße 26", "70173", "Stuttgart", "", "DE"),
        "de",
        (IBAN,),
        "filter",
        "eur",
        "month",
        Ago(days=1, months=6),
        later=(Cancel(Ago(days=50), at_period_end=False, feedback="too_expensive"),),
    ),
    Story(
        "Jessica Taylor",
        "jessica.taylor@example.com",
        ("555 Market St", "94105", "San Francisco", "CA", "US"),
        "en",
        (VISA,),
        "barista",
        "usd",
        "month",
        Ago(days=6, months=6),
        later=(
            Cancel(Ago(days=80), at_period_end=True, feedback="switched_service", comment="Moving to a local roaster."),
        ),
    ),
    # --- cancel_at_period_end, still running
    Story(
        "Julia Schulz",
        "julia.schulz@example.com",
        ("Kö-Bogen 2", "40212", "Düsseldorf", "", "DE"),
        "de",
        (VISA,),
        "espresso",
        "eur",
        "month",
        Ago(days=-12, months=5),  # the current period ends 12 days from now
        later=(Cancel(Ago(days=6), at_period_end=True, feedback="unused"),),
    ),
    Story(
        "Matthew Anderson",
        "matthew.anderson@example.com",
        ("1120 NW Couch St", "97209", "Portland", "OR", "US"),
        "en",
        (MASTERCARD,),
        "filter",
        "usd",
        "year",
        Ago(days=3, months=4),
        later=(Cancel(Ago(days=2), at_period_end=True, feedback="too_expensive"),),
    ),
    # --- payment collection paused, one per behaviour; one more that resumed on its own
    Story(
        "Katharina Koch",
        "katharina.koch@example.com",
        ("Königsbrücker Straße 55", "01099", "Dresden", "", "DE"),
        "de",
        (MASTERCARD,),
        "filter",
        "eur",
        "month",
        Ago(days=2, months=6),
        later=(Pause(Ago(days=47), "keep_as_draft", resumes=Ago(days=-20)),),
    ),
    Story(
        "Daniel Thomas",
        "daniel.thomas@example.com",
        ("1450 Brickell Ave", "33131", "Miami", "FL", "US"),
        "en",
        (VISA,),
        "espresso",
        "usd",
        "month",
        Ago(days=7, months=6),
        later=(Pause(Ago(days=70), "mark_uncollectible"),),
    ),
    Story(
        "Marie Richter",
        "marie.richter@example.com",
        ("Lister Meile 33", "30161", "Hannover", "", "DE"),
        "de",
        (IBAN,),
        "espresso",
        "eur",
        "month",
        Ago(days=15, months=5),
        later=(Pause(Ago(days=52), "void", resumes=Ago(days=-40)),),
    ),
    Story(
        "Hannah Klein",
        "hannah.klein@example.com",
        ("Königstraße 93", "90402", "Nürnberg", "", "DE"),
        "de",
        (VISA,),
        "barista",
        "eur",
        "month",
        Ago(days=5, months=6),
        later=(Pause(Ago(days=130), "void", resumes=Ago(days=75)),),
    ),
    Story(
        "Ashley Martinez",
        "ashley.martinez@example.com",
        ("2 N Central Ave", "85004", "Phoenix", "AZ", "US"),
        "en",
        (VISA,),
        "barista",
        "usd",
        "month",
        Ago(days=20, months=2),
    ),
)
ORIGIN = Ago(days=14, months=6)  # the account and its catalogue exist before the first customer


@dataclass
class Catalog:
    prices: dict[tuple[str, str, str], Price] = field(default_factory=dict)  # (product, currency, interval)
    vat: TaxRate | None = None
    promotion_code: PromotionCode | None = None


@dataclass
class SeedResult:
    account: Account
    created: bool
    test_secret_key: str = ""
    live_secret_key: str = ""


class DemoError(RuntimeError):
    """The billing engine reported errors while building the demo history (nothing was saved)."""


def seed(*, now: dt.datetime | None = None) -> SeedResult:
    """Create the demo merchant with its history, or return the existing one unchanged."""
    now = now or timezone.now()
    existing = Account.objects.filter(name=ACCOUNT_NAME).order_by("created").first()
    if existing is not None:
        return SeedResult(account=existing, created=False)
    # One transaction: a failure leaves no half-built demo behind for the next run to mistake for done.
    with transaction.atomic():
        admin = _ensure_admin()
        with clock.frozen_at(ORIGIN.of(now)):
            account, test_secret, live_secret, _ = account_create(
                name=ACCOUNT_NAME, plan=Account.Plan.BILLING, actor=ACTOR
            )
            staff_user_add(account=account, email=admin.email or admin.get_username())
            catalog = _create_catalog(account)
        _play(_actions(account, catalog, now), until=now)
    return SeedResult(account=account, created=True, test_secret_key=test_secret, live_secret_key=live_secret)


def _ensure_admin():
    User = get_user_model()
    user = User.objects.filter(username=ADMIN_USERNAME).first()
    if user is None:
        user = User.objects.create_superuser(username=ADMIN_USERNAME, email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
    return user


def _create_catalog(account: Account) -> Catalog:
    catalog = Catalog()
    for key, (name, description, monthly) in PRODUCTS.items():
        product = product_create(account=account, livemode=False, actor=ACTOR, name=name, description=description)
        for currency, amount in monthly.items():
            for interval, unit_amount in (("month", amount), ("year", amount * YEARLY_FACTOR)):
                catalog.prices[key, currency, interval] = price_create(
                    product=product,
                    actor=ACTOR,
                    currency=currency,
                    unit_amount=unit_amount,
                    interval=interval,
                    tax_behavior=Price.TaxBehavior.EXCLUSIVE,
                    nickname=f"{name} {interval}ly ({currency.upper()})",
                    lookup_key=f"{key}_{interval}ly_{currency}",
                )
    catalog.vat = tax_rate_create(
        account=account,
        livemode=False,
        actor=ACTOR,
        display_name="VAT",
        description="German VAT, standard rate",
        percentage=Decimal("19"),
        inclusive=False,
        country="DE",
        jurisdiction="DE",
    )
    tax_rate_create(
        account=account,
        livemode=False,
        actor=ACTOR,
        display_name="VAT (reduced)",
        description="German VAT, reduced rate for food",
        percentage=Decimal("7"),
        inclusive=True,
        country="DE",
        jurisdiction="DE",
    )
    coupon = coupon_create(
        account=account,
        livemode=False,
        actor=ACTOR,
        coupon_id="welcome-20",
        name="Welcome: 20 % off for 3 months",
        percent_off=Decimal("20"),
        duration="repeating",
        duration_in_months=3,
    )
    catalog.promotion_code = promotion_code_create(coupon=coupon, actor=ACTOR, code="WELCOME20")
    return catalog


# ------------------------------------------------------------------------------------------- stories


class _StoryRun:
    """Carries one story's customer and subscription from its start to its later steps."""

    def __init__(self, account: Account, catalog: Catalog, story: Story, now: dt.datetime):
        self.account, self.catalog, self.story, self.now = account, catalog, story, now
        self.customer: Customer | None = None
        self.subscription: Subscription | None = None

    def begin(self) -> None:
        story = self.story
        line1, postal_code, city, state, country = story.address
        self.customer = customer_create(
            account=self.account,
            livemode=False,
            actor=ACTOR,
            name=story.name,
            email=story.email,
            address={"line1": line1, "postal_code": postal_code, "city": city, "state": state, "country": country},
            preferred_locales=[story.locale],
        )
        for i, method in enumerate(story.methods):
            self._add_payment_method(method, default=i == 0)
        price = self.catalog.prices[story.product, story.currency, story.interval]
        self.subscription = subscription_create(
            customer=self.customer,
            items=[ItemSpec(price, story.quantity)],
            actor=ACTOR,
            trial_period_days=story.trial_days,
            promotion_code=self.catalog.promotion_code if story.promotion_code else None,
            default_tax_rates=[self.catalog.vat] if story.vat else [],
        )

    def apply(self, step: Pause | Cancel | NewDefaultCard) -> None:
        if isinstance(step, Pause):
            subscription_pause_collection(
                subscription=self.subscription,
                actor=Actor.customer(self.customer),
                behavior=step.behavior,
                resumes_at=step.resumes.of(self.now) if step.resumes else None,
            )
        elif isinstance(step, Cancel):
            subscription_cancel(
                subscription=self.subscription,
                actor=Actor.customer(self.customer),
                at_period_end=step.at_period_end,
                feedback=step.feedback,
                comment=step.comment,
            )
        else:
            self._add_payment_method(step.number, default=True)

    def _add_payment_method(self, number_or_iban: str, *, default: bool) -> None:
        billing_details = {"name": self.story.name, "email": self.story.email}
        if number_or_iban.isdigit():
            # Expiry in the future relative to the frozen clock: the gateway checks it against clock.now().
            card = CardInput(number=number_or_iban, exp_month=12, exp_year=clock.now().year + 3, cvc="123")
            pm = payment_method_create(
                account=self.account, livemode=False, actor=ACTOR, card=card, billing_details=billing_details
            )
        else:
            pm = payment_method_create(
                account=self.account,
                livemode=False,
                actor=ACTOR,
                sepa=SepaInput(iban=number_or_iban),
                billing_details=billing_details,
            )
        pm = payment_method_attach(payment_method=pm, customer=self.customer, actor=ACTOR)
        if default:
            customer_set_default_payment_method(customer=self.customer, payment_method=pm, actor=ACTOR)


def _actions(account: Account, catalog: Catalog, now: dt.datetime) -> list[tuple[dt.datetime, object]]:
    actions = []
    for story in STORIES:
        run = _StoryRun(account, catalog, story, now)
        actions.append((story.start.of(now), run.begin))
        for step in story.later:
            actions.append((step.at.of(now), lambda run=run, step=step: run.apply(step)))
    for moment, _ in actions:
        if moment > now:
            raise ValueError(f"demo action scheduled in the future: {moment.isoformat()}")
    return actions


def _play(actions: list[tuple[dt.datetime, object]], *, until: dt.datetime) -> None:
    """Step the billing cycle from the first action to ``until``, one day at a time and at every
    action, running each action after the cycle has caught up to its moment."""
    first = min(moment for moment, _ in actions)
    days = (until - first).days + 1
    moments = sorted({until - DAY * n for n in range(days + 1)} | {moment for moment, _ in actions})
    # Stable order: actions at the same moment run in the order the stories list them.
    pending = sorted(enumerate(actions), key=lambda pair: (pair[1][0], pair[0]))
    errors = 0
    for moment in moments:
        if moment < first:
            continue
        errors += billing_cycle_run(now=moment)["errors"]
        with clock.frozen_at(moment):
            while pending and pending[0][1][0] <= moment:
                _, (_, action) = pending.pop(0)
                action()
    if errors:
        raise DemoError(f"the billing cycle reported {errors} error(s) while building the demo history; see the log")


# ------------------------------------------------------------------------------------------- summary


def summary(account: Account) -> list[str]:
    """What the demo account holds, as lines to print (the same on every run)."""
    subscriptions = Subscription.objects.filter(account=account, livemode=False)
    statuses = Counter(subscriptions.values_list("status", flat=True))
    paused = Counter(subscriptions.collection_paused().values_list("pause_collection_behavior", flat=True))
    invoices = Invoice.objects.filter(account=account, livemode=False)
    invoice_statuses = Counter(invoices.values_list("status", flat=True))
    months = sorted({m for m in invoices.annotate(month=TruncMonth("created")).values_list("month", flat=True)})

    def counts(counter: Counter) -> str:
        return ", ".join(f"{key} {value}" for key, value in sorted(counter.items())) or "none"

    span = f"{months[0]:%b %Y} to {months[-1]:%b %Y}" if months else "no months"
    return [
        f"Demo merchant: {account.name} ({account.id}), test mode",
        f"  Catalogue: {Product.objects.filter(account=account).count()} products, "
        f"{Price.objects.filter(account=account).count()} prices",
        f"  Customers: {Customer.objects.filter(account=account, livemode=False).count()}",
        f"  Subscriptions: {sum(statuses.values())} ({counts(statuses)})",
        f"  Cancel at period end: {subscriptions.filter(cancel_at_period_end=True).not_ended().count()}",
        f"  Collection paused: {sum(paused.values())} ({counts(paused)})",
        f"  Invoices: {sum(invoice_statuses.values())} ({counts(invoice_statuses)}), {span}",
        f"  Staff with access: {Membership.objects.filter(account=account).count()}",
    ]
