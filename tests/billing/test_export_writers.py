"""The subscription export's two writers, PostgreSQL's COPY and Python's csv module, write the same bytes.

On PostgreSQL the admin's export is written by the database; the csv module's writer (``csv_chunks`` of
``subscription_rows``) is the reference, and the one that runs on SQLite."""

import datetime as dt

import pytest
from django.urls import reverse

from bench.export import _subscriptions
from billing import clock
from billing.audit import Actor
from billing.exports import HEADER, csv_chunks, subscription_csv, subscription_rows
from billing.models import Price, Subscription
from billing.services.accounts import staff_user_add
from billing.services.subscriptions import (
    ItemSpec,
    OfferDecision,
    subscription_cancel,
    subscription_create,
    subscription_offer_accept,
    subscription_offer_decline,
    subscription_pause_collection,
)
from tests.factories.billing import AccountFactory, CustomerFactory, PriceFactory, card

ACTOR = Actor.system("test")
EXPORT = reverse("admin:billing_subscription_export")
CHANGELIST = reverse("admin:billing_subscription_changelist")

# Cells csv.writer quotes, escapes or writes as they are; COPY must write every one of them the same way.
AWKWARD_TEXTS = [
    "",
    "Plain Name",
    'Says "hi", twice; then leaves',
    "Two\nlines",
    "Windows\r\nlines",
    "Carriage\rreturn",
    "Ends with a newline\n",
    "\nStarts with a newline",
    "\r\r\nRuns of returns\r\r",
    '=HYPERLINK("http://evil.example")',
    "+49 30 1234",
    "-1+1",
    "@SUM(A1:A9)",
    "\tTabbed",
    "\rReturned",
    "'Quoted already",
    "José Müller-Lüdenscheidt 東京",
    "\\. and \\N",
    " leading and trailing ",
]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def shop(db):
    account = AccountFactory(name="Alpha")
    euro = PriceFactory(account=account, product__account=account, unit_amount=1999, currency="eur")
    return account, euro


def subscribe(account, prices, *, email: str, name: str) -> Subscription:
    customer = CustomerFactory(account=account, email=email, name=name)
    card(customer)
    return subscription_create(customer=customer, items=[ItemSpec(price) for price in prices], actor=ACTOR)


@pytest.fixture
def awkward(shop):
    """Subscriptions whose every text cell is awkward for a CSV writer, in several currencies and states."""
    account, euro = shop
    second = PriceFactory(account=account, product__account=account, unit_amount=5, currency="eur")
    free = PriceFactory(account=account, product__account=account, unit_amount=0, currency="eur")
    metered = PriceFactory(
        account=account, product__account=account, unit_amount=700, currency="eur",
        recurring_usage_type=Price.UsageType.METERED,
    )  # fmt: skip
    yen = PriceFactory(account=account, product__account=account, unit_amount=500, currency="jpy")
    dinar = PriceFactory(account=account, product__account=account, unit_amount=12345, currency="kwd")
    plans = [[euro], [euro, second], [free], [metered], [yen], [dinar], [euro, metered]]
    subscriptions = []
    for i, text in enumerate(AWKWARD_TEXTS):
        email = text if i % 2 else f"customer{i}@alpha.example"
        subscriptions.append(subscribe(account, plans[i % len(plans)], email=email, name=text))
    first, second_sub, third, fourth = subscriptions[:4]
    subscription_pause_collection(subscription=first, actor=ACTOR, behavior="void")
    subscription_pause_collection(
        subscription=second_sub, actor=ACTOR, behavior="keep_as_draft", resumes_at=clock.now() + dt.timedelta(days=3)
    )
    subscription_offer_decline(subscription=third, actor=ACTOR, decision=OfferDecision("bco_1", "pause"))
    subscription_offer_accept(
        subscription=third, actor=ACTOR, decision=OfferDecision("bco_2", "pause"), pause_behavior="void"
    )
    subscription_offer_decline(subscription=third, actor=ACTOR, decision=OfferDecision("bco_3", "=pa\nuse"))
    subscription_cancel(
        subscription=fourth,
        actor=ACTOR,
        at_period_end=True,
        feedback="too_expensive",
        declined_offers=[OfferDecision("bco_4", "pause"), OfferDecision("bco_5", "coupon")],
    )
    return account


def reference(queryset, delimiter: str) -> bytes:
    return "".join(csv_chunks(subscription_rows(queryset), delimiter=delimiter)).encode()


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_both_writers_write_the_same_bytes(awkward, delimiter):
    subscriptions = Subscription.objects.filter(account=awkward).order_by("-pk")
    expected = reference(subscriptions, delimiter)
    assert expected.count(b"\r\n") > len(AWKWARD_TEXTS)  # the awkward cells are in it
    assert b"".join(subscription_csv(subscriptions, delimiter=delimiter)) == expected


@pytest.mark.parametrize(("language", "delimiter"), [("en", ","), ("de", ";")])
def test_the_admin_export_is_the_reference_writers_bytes(client, awkward, language, delimiter):
    client.force_login(staff_user_add(account=awkward, email="staff@alpha.example"))
    response = client.get(EXPORT, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    expected = reference(Subscription.objects.filter(account=awkward).order_by("-pk"), delimiter)
    assert b"".join(response.streaming_content) == expected


@pytest.mark.parametrize(
    "params",
    [
        {"collection": "resumes_soon"},
        {"collection": "keep_as_draft", "q": "plain"},
        {"status__exact": "active", "o": "-2"},
        {"created__year": "{year}", "created__month": "{month}"},
    ],
)
def test_a_filtered_export_is_the_reference_writers_bytes_of_the_changelist(client, awkward, params):
    now = clock.now()
    params = {key: value.format(year=now.year, month=now.month) for key, value in params.items()}
    client.force_login(staff_user_add(account=awkward, email="staff@alpha.example"))
    listed = client.get(CHANGELIST, params).context["cl"].queryset
    assert listed.exists()
    assert b"".join(client.get(EXPORT, params).streaming_content) == reference(listed, ",")


def test_an_export_of_nothing_is_its_header(awkward):
    nothing = Subscription.objects.filter(pk__in=[])
    assert (
        b"".join(subscription_csv(nothing))
        == reference(nothing, ",")
        == "\ufeff{}\r\n".format(",".join(HEADER)).encode()
    )


def test_a_long_export_comes_in_pieces_of_the_same_bytes(awkward):
    price = Price.objects.filter(account=awkward, currency="eur", unit_amount=1999).get()
    _subscriptions(awkward, price, 400, clock.now())  # about 200 bytes a row: more than one piece of 64 KiB
    subscriptions = Subscription.objects.filter(account=awkward).order_by("-pk")
    pieces = list(subscription_csv(subscriptions, delimiter=";"))
    assert len(pieces) > 1
    assert b"".join(pieces) == reference(subscriptions, ";")
