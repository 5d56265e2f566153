"""Customers pause payment collection themselves (our extension): a resume day within the merchant's longest pause,
the merchant's behaviour for invoices meanwhile, "Resume now", and the billing cycle picking up on the day."""

import datetime as dt
import re

import pytest
import time_machine

from billing.audit import Actor
from billing.models import AuditEntry, Event, Invoice
from billing.services.subscriptions import subscription_cancel, subscription_pause_collection
from tests.billing.helpers import run_cycle, subscribed
from tests.factories.portal import full_configuration, open_portal

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(days=10)  # March 11
STATE = re.compile(r'name="state" value="([0-9a-f]+)"')


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def subscription(db):
    return subscribed(T0, amount=2000)


def configure(account, **pause):
    features = {"pause_collection": {"enabled": True, "behavior": "void", "max_duration_days": 90, **pause}}
    return full_configuration(account, features=features)


def pause_url(subscription) -> str:
    return f"/p/subscriptions/{subscription.pk}/pause"


def pause(client, subscription, day: str, *, confirm=True):
    """Choose the day on the page, then (with ``confirm``) confirm on the page that follows."""
    page = client.get(pause_url(subscription))
    assert page.status_code == 200
    state = STATE.search(page.content.decode()).group(1)
    chosen = client.post(pause_url(subscription), {"state": state, "resumes_on": day})
    if not confirm or chosen.status_code != 200:
        return chosen
    state = STATE.search(chosen.content.decode()).group(1)
    return client.post(pause_url(subscription), {"state": state, "resumes_on": day, "confirmed": "1"})


def updates(subscription):
    """The subscription's updates after its first payment made it active."""
    found = Event.objects.filter(type="customer.subscription.updated", data_object__id=subscription.pk)
    return list(found.exclude(previous_attributes={"status": "incomplete"}).order_by("id"))


def test_the_page_explains_the_pause_and_limits_the_day(subscription):
    configure(subscription.account)
    html = open_portal(subscription.customer).get(pause_url(subscription)).content.decode()
    assert "Your subscription stays active while payments are paused." in html
    assert "You will not be charged for that time: invoices for it are voided." in html
    assert "Your next invoice is due on April 1, 2026." in html
    assert 'type="date"' in html and 'min="2026-03-12"' in html and 'max="2026-06-09"' in html
    assert "Choose a day between March 12, 2026 and June 9, 2026." in html
    assert 'aria-describedby="id_resumes_on_helptext"' in html


@pytest.mark.parametrize(
    ("behavior", "explained"),
    [
        ("void", "You won&#x27;t be charged until May 1, 2026."),
        ("keep_as_draft", "Invoices issued until May 1, 2026 are kept as drafts and not collected."),
        ("mark_uncollectible", "Invoices issued until May 1, 2026 are not collected."),
    ],
)
def test_pause_until_a_day_with_the_merchants_behaviour(subscription, behavior, explained):
    configure(subscription.account, behavior=behavior)
    customer = subscription.customer
    client = open_portal(customer)
    confirmation = pause(client, subscription, "2026-05-01", confirm=False)
    assert confirmation.status_code == 200
    html = confirmation.content.decode()
    assert "Pause payments until May 1, 2026?" in html
    assert explained.replace("&#x27;", "'") in html or explained in html
    subscription.refresh_from_db()
    assert not subscription.collection_paused  # nothing happens before the customer confirms

    response = pause(client, subscription, "2026-05-01")
    assert response.status_code == 303
    assert response["Location"] == "/p/"
    subscription.refresh_from_db()
    assert subscription.pause_collection_behavior == behavior
    assert subscription.pause_collection_resumes_at == dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    assert subscription.status == "active"
    [event] = updates(subscription)
    assert event.previous_attributes == {"pause_collection": None}
    assert event.data_object["pause_collection"] == {
        "behavior": behavior,
        "resumes_at": int(dt.datetime(2026, 5, 1, tzinfo=dt.UTC).timestamp()),
    }
    entry = AuditEntry.objects.get(action="subscription.pause_collection", object_id=subscription.pk)
    assert (entry.actor_type, entry.actor_id) == ("customer", customer.pk)

    overview = client.get("/p/").content.decode()
    assert "Payments paused until May 1, 2026." in overview
    assert f'action="/p/subscriptions/{subscription.pk}/resume"' in overview and "Resume now" in overview
    assert "Pause payments</a>" not in overview


def test_a_day_beyond_the_longest_pause_is_refused(subscription):
    configure(subscription.account, max_duration_days=30)
    client = open_portal(subscription.customer)
    response = pause(client, subscription, "2026-04-11")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Payments can be paused for at most 30 days. Choose a day until April 10, 2026." in html
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="id_resumes_on_helptext id_resumes_on_error"' in html
    subscription.refresh_from_db()
    assert not subscription.collection_paused
    assert pause(client, subscription, "2026-04-10").status_code == 303


@pytest.mark.parametrize("day", ["2026-03-11", "2026-03-01", "", "not a date"])
def test_today_a_past_day_or_no_day_is_refused(subscription, day):
    configure(subscription.account)
    response = pause(open_portal(subscription.customer), subscription, day)
    assert response.status_code == 400
    html = response.content.decode()
    assert any(
        message in html
        for message in ("Choose a day after today.", "Choose the day payments resume.", "Enter a valid date.")
    )
    subscription.refresh_from_db()
    assert not subscription.collection_paused


def test_a_confirmation_that_does_not_respect_the_limit_is_refused_too(subscription):
    configure(subscription.account, max_duration_days=30)
    client = open_portal(subscription.customer)
    state = STATE.search(client.get(pause_url(subscription)).content.decode()).group(1)
    response = client.post(pause_url(subscription), {"state": state, "resumes_on": "2026-12-01", "confirmed": "1"})
    assert response.status_code == 400
    subscription.refresh_from_db()
    assert not subscription.collection_paused


def test_the_billing_cycle_resumes_on_the_day(subscription):
    configure(subscription.account)
    client = open_portal(subscription.customer)
    assert pause(client, subscription, "2026-05-01").status_code == 303

    run_cycle(dt.datetime(2026, 4, 1, 10, 0, tzinfo=dt.UTC))
    subscription.refresh_from_db()
    april = Invoice.objects.get(pk=subscription.latest_invoice_id)
    assert april.status == "void" and april.amount_paid == 0
    assert subscription.collection_paused

    # Collection resumes at the start of May 1, before that day's renewal: May is charged again.
    run_cycle(dt.datetime(2026, 5, 1, 10, 0, tzinfo=dt.UTC))
    subscription.refresh_from_db()
    assert not subscription.collection_paused
    may = Invoice.objects.get(pk=subscription.latest_invoice_id)
    assert may.status == "paid" and may.amount_paid == 2000
    resumed = updates(subscription)
    assert any(event.previous_attributes.get("pause_collection") for event in resumed)


def test_resume_now(subscription):
    configure(subscription.account)
    customer = subscription.customer
    client = open_portal(customer)
    pause(client, subscription, "2026-05-01")
    response = client.post(f"/p/subscriptions/{subscription.pk}/resume")
    assert response.status_code == 303
    assert response["Location"] == "/p/"
    subscription.refresh_from_db()
    assert not subscription.collection_paused and subscription.pause_collection_resumes_at is None
    paused, resumed = updates(subscription)
    assert resumed.previous_attributes["pause_collection"]["behavior"] == "void"
    assert resumed.data_object["pause_collection"] is None
    entry = AuditEntry.objects.get(action="subscription.resume_collection", object_id=subscription.pk)
    assert (entry.actor_type, entry.actor_id) == ("customer", customer.pk)
    overview = client.get("/p/").content.decode()
    assert "Payments have resumed." in overview
    assert "Pause payments</a>" in overview

    # A second click changes nothing.
    assert client.post(f"/p/subscriptions/{subscription.pk}/resume").status_code == 303
    assert len(updates(subscription)) == 2


def test_a_pause_set_by_the_merchant_can_be_resumed_too(subscription):
    configure(subscription.account)
    subscription_pause_collection(
        subscription=subscription, actor=Actor.system("test"), behavior="mark_uncollectible", resumes_at=None
    )
    client = open_portal(subscription.customer)
    overview = client.get("/p/").content.decode()
    assert "Payments are paused." in overview and "Resume now" in overview
    page = client.get(pause_url(subscription)).content.decode()
    assert "Payments are paused." in page and "Resume now" in page
    assert 'name="resumes_on"' not in page
    assert client.post(pause_url(subscription), {"resumes_on": "2026-04-01"}).status_code == 409
    assert client.post(f"/p/subscriptions/{subscription.pk}/resume").status_code == 303
    subscription.refresh_from_db()
    assert not subscription.collection_paused


def test_an_ended_subscription_cannot_be_paused(subscription):
    configure(subscription.account)
    subscription_cancel(subscription=subscription, actor=Actor.system("test"), at_period_end=False)
    client = open_portal(subscription.customer)
    page = client.get(pause_url(subscription))
    assert page.status_code == 200
    assert "This subscription has ended, so there are no payments to pause." in page.content.decode()
    assert client.post(pause_url(subscription), {"resumes_on": "2026-04-01", "confirmed": "1"}).status_code == 409


def test_the_same_confirmation_sent_twice_pauses_once(subscription):
    configure(subscription.account)
    client = open_portal(subscription.customer)
    chosen = pause(client, subscription, "2026-05-01", confirm=False)
    state = STATE.search(chosen.content.decode()).group(1)
    data = {"state": state, "resumes_on": "2026-05-01", "confirmed": "1"}
    assert client.post(pause_url(subscription), data).status_code == 303
    assert client.post(pause_url(subscription), data | {"resumes_on": "2026-05-02"}).status_code == 409
    subscription.refresh_from_db()
    assert subscription.pause_collection_resumes_at == dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    assert AuditEntry.objects.filter(action="subscription.pause_collection").count() == 1


def test_a_stale_page_changes_nothing(subscription):
    configure(subscription.account)
    client = open_portal(subscription.customer)
    chosen = pause(client, subscription, "2026-05-01", confirm=False)
    state = STATE.search(chosen.content.decode()).group(1)
    subscription_cancel(subscription=subscription, actor=Actor.system("test"), at_period_end=True)
    response = client.post(pause_url(subscription), {"state": state, "resumes_on": "2026-05-01", "confirmed": "1"})
    assert response.status_code == 303
    assert response["Location"] == pause_url(subscription)
    subscription.refresh_from_db()
    assert not subscription.collection_paused


def test_someone_elses_subscription_is_not_found(subscription):
    configure(subscription.account)
    stranger = subscribed(T0)
    client = open_portal(subscription.customer)
    assert client.get(pause_url(stranger)).status_code == 404
    assert client.post(pause_url(stranger), {"resumes_on": "2026-04-01", "confirmed": "1"}).status_code == 404
    assert client.post(f"/p/subscriptions/{stranger.pk}/resume").status_code == 404


def test_pause_pages_need_the_feature(subscription):
    full_configuration(subscription.account, features={"pause_collection": {"enabled": False}})
    subscription_pause_collection(subscription=subscription, actor=Actor.system("test"), behavior="void")
    client = open_portal(subscription.customer)
    assert client.get(pause_url(subscription)).status_code == 404
    assert client.post(pause_url(subscription), {"resumes_on": "2026-04-01"}).status_code == 404
    assert client.post(f"/p/subscriptions/{subscription.pk}/resume").status_code == 404
    overview = client.get("/p/").content.decode()
    assert "Payments are paused." in overview  # still said, but only the merchant can resume
    assert "Resume now" not in overview and "Pause payments</a>" not in overview
    subscription.refresh_from_db()
    assert subscription.collection_paused


def test_the_pause_pages_in_german(subscription):
    configure(subscription.account, max_duration_days=30)
    client = open_portal(subscription.customer, locale="de")
    html = client.get(pause_url(subscription)).content.decode()
    assert 'lang="de"' in html
    assert "Zahlungen pausieren" in html
    assert "12. März 2026" in html
    response = pause(client, subscription, "2026-05-01")
    assert "höchstens 30 Tage" in response.content.decode()
    confirmation = pause(client, subscription, "2026-04-01", confirm=False).content.decode()
    assert "1. April 2026" in confirmation
    assert pause(client, subscription, "2026-04-01").status_code == 303
    assert "Zahlungen pausiert bis 1. April 2026." in client.get("/p/").content.decode()


@pytest.mark.parametrize(
    ("behavior", "words"),
    [
        ("keep_as_draft", "April 1, 2026: kept as a draft, not charged"),
        ("mark_uncollectible", "April 1, 2026: issued, not charged"),
        ("void", "April 1, 2026: voided, not charged"),
    ],
)
def test_the_overview_shows_what_happens_during_the_pause(subscription, behavior, words):
    """Not "Next invoice €20.00 on April 1" while that invoice falls inside the pause."""
    configure(subscription.account)
    subscription_pause_collection(
        subscription=subscription,
        actor=Actor.system("test"),
        behavior=behavior,
        resumes_at=dt.datetime(2026, 5, 15, tzinfo=dt.UTC),
    )
    html = open_portal(subscription.customer).get("/p/").content.decode()
    assert "Payments paused until May 15, 2026." in html
    assert words in html
    assert "€20.00 on June 1, 2026" in html  # the first renewal after the pause is charged
    assert "€20.00 on April 1, 2026" not in html


def test_a_pause_without_an_end_and_one_ending_before_the_renewal(subscription):
    configure(subscription.account)
    actor = Actor.system("test")
    subscription_pause_collection(subscription=subscription, actor=actor, behavior="void")
    html = open_portal(subscription.customer).get("/p/").content.decode()
    assert "April 1, 2026: voided, not charged" in html and "When payments resume" in html
    subscription.refresh_from_db()
    subscription_pause_collection(
        subscription=subscription, actor=actor, behavior="void", resumes_at=dt.datetime(2026, 3, 20, tzinfo=dt.UTC)
    )
    html = open_portal(subscription.customer).get("/p/").content.decode()
    assert "€20.00 on April 1, 2026" in html and "not charged" not in html


def test_the_pause_on_the_overview_in_german(subscription):
    configure(subscription.account)
    subscription_pause_collection(
        subscription=subscription,
        actor=Actor.system("test"),
        behavior="keep_as_draft",
        resumes_at=dt.datetime(2026, 5, 15, tzinfo=dt.UTC),
    )
    html = open_portal(subscription.customer, locale="de").get("/p/").content.decode()
    assert "1. April 2026: als Entwurf behalten, nicht abgebucht" in html
    assert "Nächste Zahlung" in html and "20,00\xa0€ am 1. Juni 2026" in html
