"""The cancel page: at the period end or immediately (with the credit for unused time), the reasons survey, the
retention offer of a subscription_cancel deep link, "Don't cancel", where a deep link ends, and nothing of anyone
else's."""

import datetime as dt
import re
import threading

import pytest
import time_machine
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from billing.audit import Actor
from billing.models import AuditEntry, Coupon, Discount, Event, Invoice, Subscription
from billing.services.coupons import coupon_create
from billing.services.subscriptions import ItemChange, subscription_cancel, subscription_change_items
from tests.billing.helpers import run_cycle, subscribed
from tests.factories.billing import PriceFactory
from tests.factories.portal import RETURN_URL, full_configuration, open_portal
from tests.portal.leaving import left_for

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(days=10)
PERIOD_END = dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.UTC)
REASONS = ["too_expensive", "missing_features", "switched_service", "unused", "customer_service", "other"]
STATE = re.compile(r'name="state" value="([0-9a-f]+)"')


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def subscription(db):
    return subscribed(T0, amount=3100)


def configure(account, **cancel):
    features = {"subscription_cancel": {"enabled": True, "mode": "at_period_end", **cancel}}
    return full_configuration(account, features=features)


def with_reasons(account, **cancel):
    return configure(account, cancellation_reason={"enabled": True, "options": REASONS}, **cancel)


def cancel_url(subscription) -> str:
    return f"/p/subscriptions/{subscription.pk}/cancel"


def state_of(response) -> str:
    return STATE.search(response.content.decode()).group(1)


def cancel(client, subscription, **data):
    """Open the cancel page like a customer and send its form."""
    page = client.get(cancel_url(subscription) + "?offer=declined")
    assert page.status_code == 200
    return client.post(cancel_url(subscription), {"state": state_of(page), **data})


def events(subscription, type_="customer.subscription.updated"):
    """The subscription's events of ``type_`` after its first payment made it active."""
    found = Event.objects.filter(type=type_, data_object__id=subscription.pk)
    return list(found.exclude(previous_attributes={"status": "incomplete"}).order_by("created", "id"))


def retention_flow(subscription, coupon, after_completion=None) -> dict:
    return {
        "flow_data": {
            "type": "subscription_cancel",
            "subscription_cancel": {
                "subscription": subscription.pk,
                "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": coupon.coupon_id}},
            },
            "after_completion": after_completion or {"type": "portal_homepage"},
        }
    }


def cancel_flow(subscription, after_completion) -> dict:
    return {
        "flow_data": {
            "type": "subscription_cancel",
            "subscription_cancel": {"subscription": subscription.pk},
            "after_completion": after_completion,
        }
    }


def make_coupon(account, **kwargs) -> Coupon:
    values = {"coupon_id": "STAY20", "name": "Loyalty", "percent_off": 20, "duration": "repeating"}
    values |= {"duration_in_months": 3 if kwargs.get("duration", "repeating") == "repeating" else None} | kwargs
    return coupon_create(account=account, livemode=False, actor=Actor.system("test"), **values)


# ---------------------------------------------------------------------------------------------- at the period end


def test_the_page_says_what_happens_at_the_period_end_and_asks_why(subscription):
    with_reasons(subscription.account)
    response = open_portal(subscription.customer).get(cancel_url(subscription))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Your subscription will end on April 1, 2026. You can use it until then." in html
    assert "Why are you canceling?" in html
    for label in ("It&#x27;s too expensive", "Some features are missing", "I don&#x27;t use the service enough"):
        assert label in html
    assert 'maxlength="500"' in html
    assert "csrfmiddlewaretoken" in html
    assert "Back to overview" in html


def test_cancel_at_the_period_end_saves_the_reason_and_the_comment(subscription):
    with_reasons(subscription.account)
    customer = subscription.customer
    client = open_portal(customer)
    response = cancel(client, subscription, feedback="too_expensive", comment="  Found a cheaper plan.  ")
    assert response.status_code == 303
    assert response["Location"] == cancel_url(subscription)

    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end and subscription.status == "active"
    assert subscription.cancellation_feedback == "too_expensive"
    assert subscription.cancellation_comment == "Found a cheaper plan."
    [event] = events(subscription)
    assert event.data_object["cancel_at_period_end"] is True
    assert event.data_object["cancellation_details"] == {
        "comment": "Found a cheaper plan.",
        "feedback": "too_expensive",
        "reason": "cancellation_requested",
    }
    assert event.previous_attributes["cancel_at_period_end"] is False
    assert event.previous_attributes["cancellation_details"]["feedback"] is None
    entry = AuditEntry.objects.get(action="subscription.cancel", object_id=subscription.pk)
    assert (entry.actor_type, entry.actor_id) == ("customer", customer.pk)
    assert entry.changes["feedback"] == "too_expensive"

    confirmation = client.get(cancel_url(subscription)).content.decode()
    assert "Your subscription will end on April 1, 2026." in confirmation
    assert "Don't cancel" in confirmation
    assert "Back to overview" in confirmation
    overview = client.get("/p/").content.decode()
    assert "Your subscription will be canceled on April 1, 2026." in overview
    assert f'action="/p/subscriptions/{subscription.pk}/reactivate"' in overview
    assert "Cancel plan" not in overview


def test_without_the_survey_there_is_no_question(subscription):
    configure(subscription.account)
    client = open_portal(subscription.customer)
    assert "Why are you canceling?" not in client.get(cancel_url(subscription)).content.decode()
    assert cancel(client, subscription).status_code == 303
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end
    assert (subscription.cancellation_feedback, subscription.cancellation_comment) == ("", "")


def test_a_reason_outside_the_configured_options_and_a_long_comment_are_refused(subscription):
    configure(subscription.account, cancellation_reason={"enabled": True, "options": ["too_expensive", "other"]})
    client = open_portal(subscription.customer)
    response = cancel(client, subscription, feedback="unused", comment="x" * 501)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Select a valid choice." in html
    assert "Ensure this value has at most 500 characters" in html
    assert 'aria-invalid="true"' in html and 'aria-describedby="id_comment_helptext id_comment_error"' in html
    subscription.refresh_from_db()
    assert not subscription.cancel_at_period_end


def test_dont_cancel_takes_the_cancellation_back(subscription):
    configure(subscription.account)
    customer = subscription.customer
    client = open_portal(customer)
    cancel(client, subscription)
    response = client.post(f"/p/subscriptions/{subscription.pk}/reactivate")
    assert response.status_code == 303
    assert response["Location"] == "/p/"
    subscription.refresh_from_db()
    assert not subscription.cancel_at_period_end and subscription.canceled_at is None
    canceled, reactivated = events(subscription)
    assert reactivated.previous_attributes["cancel_at_period_end"] is True
    assert reactivated.data_object["cancel_at_period_end"] is False
    entry = AuditEntry.objects.get(action="subscription.reactivate", object_id=subscription.pk)
    assert (entry.actor_type, entry.actor_id) == ("customer", customer.pk)
    overview = client.get("/p/").content.decode()
    assert "Your subscription will continue. It renews on April 1, 2026." in overview
    assert "Cancel plan" in overview

    # A second click finds nothing to undo and changes nothing.
    assert client.post(f"/p/subscriptions/{subscription.pk}/reactivate").status_code == 303
    assert len(events(subscription)) == 2


# ---------------------------------------------------------------------------------------------- immediately


def test_cancel_immediately_with_a_credit_for_the_unused_time(subscription):
    configure(subscription.account, mode="immediately", proration_behavior="create_prorations")
    customer = subscription.customer
    client = open_portal(customer)
    page = client.get(cancel_url(subscription)).content.decode()
    assert "Your subscription ends now." in page
    assert "You get a credit for the unused time until April 1, 2026." in page

    response = cancel(client, subscription)
    assert response.status_code == 303
    subscription.refresh_from_db()
    assert subscription.status == "canceled" and subscription.ended_at == NOW
    [deleted] = events(subscription, "customer.subscription.deleted")
    assert deleted.data_object["status"] == "canceled"
    # 21 of March's 31 days are unused: 3,100 × 21/31 = 2,100 back, as a credit on the customer's balance.
    credit = Invoice.objects.get(pk=subscription.latest_invoice_id)
    assert credit.total == -2100 and credit.status == "paid"
    customer.refresh_from_db()
    assert customer.balance == -2100
    entry = AuditEntry.objects.get(action="subscription.cancel", object_id=subscription.pk)
    assert entry.actor_type == "customer" and entry.changes["prorate"] is True

    done = client.get(response["Location"]).content.decode()
    assert "Your subscription has been canceled." in done
    assert "A credit of €21.00 for the unused time has been added to your balance for future invoices." in done
    assert "Don't cancel" not in done
    assert f"sub-{subscription.pk}-title" not in client.get("/p/").content.decode()


def test_cancel_immediately_without_prorations_credits_nothing(subscription):
    configure(subscription.account, mode="immediately")
    client = open_portal(subscription.customer)
    page = client.get(cancel_url(subscription)).content.decode()
    assert "The time you have already paid for until April 1, 2026 is not refunded." in page
    invoices = Invoice.objects.filter(subscription=subscription).count()
    assert cancel(client, subscription).status_code == 303
    subscription.refresh_from_db()
    assert subscription.status == "canceled"
    assert Invoice.objects.filter(subscription=subscription).count() == invoices
    assert len(events(subscription, "customer.subscription.deleted")) == 1


def test_a_canceled_subscription_gets_a_sentence_and_no_form(subscription):
    configure(subscription.account)
    subscription_cancel(subscription=subscription, actor=Actor.system("test"), at_period_end=False)
    client = open_portal(subscription.customer)
    response = client.get(cancel_url(subscription))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Your subscription has been canceled." in html and "It ended on March 11, 2026." in html
    assert "Cancel subscription</button>" not in html
    assert client.post(cancel_url(subscription), {"state": "x"}).status_code == 409
    assert client.post(f"/p/subscriptions/{subscription.pk}/reactivate").status_code == 303
    subscription.refresh_from_db()
    assert subscription.status == "canceled"


def test_a_pending_plan_change_blocks_cancelling(subscription):
    configure(subscription.account)
    cheaper = PriceFactory(
        account=subscription.account, product=subscription.items.get().price.product, unit_amount=1000, currency="eur"
    )
    subscription_change_items(
        subscription=subscription,
        changes=[ItemChange(item=subscription.items.get(), price=cheaper)],
        actor=Actor.system("test"),
        schedule_at_period_end_conditions=["decreasing_item_amount"],
    )
    client = open_portal(subscription.customer)
    html = client.get(cancel_url(subscription)).content.decode()
    assert "A plan change is scheduled for April 1, 2026." in html
    assert "Cancel subscription</button>" not in html
    overview = client.get("/p/").content.decode()
    assert "Cancel plan" not in overview
    assert "This plan can be canceled once the scheduled change has taken effect." in overview


# ---------------------------------------------------------------------------------------------- retention offer


def test_the_retention_offer_comes_first_and_accepting_it_keeps_the_subscription(subscription):
    configure(subscription.account)
    coupon = make_coupon(subscription.account)
    customer = subscription.customer
    client = open_portal(customer, **retention_flow(subscription, coupon))
    assert client.get("/p/")["Location"] == cancel_url(subscription)
    page = client.get(cancel_url(subscription))
    html = page.content.decode()
    assert "Before you go" in html and "Loyalty" in html and "20% off for 3 months" in html
    assert "Back to overview" not in html  # a deep link hides the rest of the portal

    response = client.post(cancel_url(subscription), {"action": "accept_offer", "state": state_of(page)})
    assert response.status_code == 303
    assert response["Location"] == "/p/"
    subscription.refresh_from_db()
    assert not subscription.cancel_at_period_end and subscription.status == "active"
    discount = Discount.objects.get(subscription=subscription)
    assert discount.coupon == coupon and discount.end == dt.datetime(2026, 6, 11, 9, 0, tzinfo=dt.UTC)
    [event] = events(subscription)
    assert event.previous_attributes == {"discounts": []}
    assert event.data_object["discounts"] == [discount.pk]
    entry = AuditEntry.objects.get(action="subscription.apply_coupon", object_id=subscription.pk)
    assert (entry.actor_type, entry.actor_id) == ("customer", customer.pk)
    assert "Offer accepted: 20% off for 3 months. Your subscription continues." in client.get("/p/").content.decode()

    # The offer is spent: sending it again does nothing, and the next renewal is discounted.
    again = client.post(cancel_url(subscription), {"action": "accept_offer", "state": state_of(page)})
    assert again.status_code == 303
    assert Discount.objects.filter(subscription=subscription).count() == 1
    coupon.refresh_from_db()
    assert coupon.times_redeemed == 1
    run_cycle(PERIOD_END + dt.timedelta(hours=1))
    subscription.refresh_from_db()
    assert Invoice.objects.get(pk=subscription.latest_invoice_id).total == 2480


def test_declining_the_offer_cancels_without_the_coupon(subscription):
    configure(subscription.account)
    coupon = make_coupon(subscription.account, percent_off=None, amount_off=500, currency="eur", duration="once")
    client = open_portal(subscription.customer, **retention_flow(subscription, coupon))
    offer = client.get(cancel_url(subscription)).content.decode()
    assert "€5.00 off on your next invoice" in offer
    assert f'href="{cancel_url(subscription)}?offer=declined"' in offer
    response = cancel(client, subscription)
    assert response.status_code == 303
    assert response["Location"] == "/p/"
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end
    assert not Discount.objects.filter(subscription=subscription).exists()
    coupon.refresh_from_db()
    assert coupon.times_redeemed == 0


def test_an_offer_that_can_no_longer_be_redeemed_is_not_shown(subscription):
    configure(subscription.account)
    coupon = make_coupon(subscription.account, max_redemptions=1)
    client = open_portal(subscription.customer, **retention_flow(subscription, coupon))
    page = client.get(cancel_url(subscription))
    Coupon.objects.filter(pk=coupon.pk).update(times_redeemed=1)  # redeemed elsewhere meanwhile
    response = client.post(cancel_url(subscription), {"action": "accept_offer", "state": state_of(page)})
    assert response.status_code == 400
    assert "This offer is no longer available." in response.content.decode()
    assert "Before you go" not in client.get(cancel_url(subscription)).content.decode()
    subscription.refresh_from_db()
    assert not subscription.cancel_at_period_end and not Discount.objects.filter(subscription=subscription).exists()


# ---------------------------------------------------------------------------------------------- deep links


def test_a_cancel_flow_with_hosted_confirmation_shows_the_custom_message(subscription):
    configure(subscription.account)
    after = {"type": "hosted_confirmation", "hosted_confirmation": {"custom_message": "We hope to see you again."}}
    client = open_portal(subscription.customer, **cancel_flow(subscription, after))
    assert client.get("/p/")["Location"] == cancel_url(subscription)
    assert f'href="{RETURN_URL}"' in client.get(cancel_url(subscription)).content.decode()
    response = cancel(client, subscription)
    assert response.status_code == 303
    assert response["Location"] == "/p/done"
    done = client.get("/p/done").content.decode()
    assert "We hope to see you again." in done
    assert "Your subscription will end on April 1, 2026." in done
    assert client.get("/p/")["Location"] == "/p/done"
    assert client.get(cancel_url(subscription))["Location"] == "/p/done"


def test_a_cancel_flow_with_a_redirect_returns_to_the_merchant(subscription):
    configure(subscription.account, mode="immediately")
    target = "https://merchant.example/goodbye"
    client = open_portal(
        subscription.customer, **cancel_flow(subscription, {"type": "redirect", "redirect": {"return_url": target}})
    )
    response = cancel(client, subscription)
    assert left_for(client, response) == target
    subscription.refresh_from_db()
    assert subscription.status == "canceled"


def test_a_cancel_flow_ending_on_the_homepage_opens_the_portal(subscription):
    configure(subscription.account)
    client = open_portal(subscription.customer, **cancel_flow(subscription, {"type": "portal_homepage"}))
    assert cancel(client, subscription)["Location"] == "/p/"
    overview = client.get("/p/")
    assert overview.status_code == 200
    assert "Your subscription will end on April 1, 2026." in overview.content.decode()


def test_a_cancel_flow_stays_on_its_own_subscription(subscription):
    configure(subscription.account)
    other = subscription_create_for(subscription.customer)
    client = open_portal(subscription.customer, **cancel_flow(subscription, {"type": "portal_homepage"}))
    assert client.get(cancel_url(other))["Location"] == cancel_url(subscription)
    assert client.get(f"/p/subscriptions/{subscription.pk}/pause")["Location"] == cancel_url(subscription)


def subscription_create_for(customer) -> Subscription:
    from billing.services.subscriptions import ItemSpec, subscription_create

    price = PriceFactory(account=customer.account, product__account=customer.account, unit_amount=500, currency="eur")
    return subscription_create(customer=customer, items=[ItemSpec(price, 1)], actor=Actor.system("test"))


# ---------------------------------------------------------------------------------------------- access


def test_someone_elses_subscription_is_not_found(subscription):
    configure(subscription.account)
    stranger = subscribed(T0)
    client = open_portal(subscription.customer)
    theirs = stranger.pk
    assert client.get(f"/p/subscriptions/{theirs}/cancel").status_code == 404
    assert client.post(f"/p/subscriptions/{theirs}/cancel", {"state": "x"}).status_code == 404
    assert client.post(f"/p/subscriptions/{theirs}/reactivate").status_code == 404
    assert client.get(f"/p/subscriptions/{theirs}/pause").status_code == 404
    assert client.post(f"/p/subscriptions/{theirs}/pause", {"resumes_on": "2026-04-01"}).status_code == 404
    assert client.post(f"/p/subscriptions/{theirs}/resume").status_code == 404
    assert client.get("/p/subscriptions/sub_unknown/cancel").status_code == 404
    stranger.refresh_from_db()
    assert not stranger.cancel_at_period_end and not stranger.collection_paused


def test_cancel_pages_need_the_feature(subscription):
    full_configuration(subscription.account, features={"subscription_cancel": {"enabled": False}})
    client = open_portal(subscription.customer)
    assert client.get(cancel_url(subscription)).status_code == 404
    assert client.post(cancel_url(subscription)).status_code == 404
    assert client.post(f"/p/subscriptions/{subscription.pk}/reactivate").status_code == 404
    assert "Cancel plan" not in client.get("/p/").content.decode()
    subscription.refresh_from_db()
    assert not subscription.cancel_at_period_end


# ---------------------------------------------------------------------------------------------- double submission


def test_the_same_form_sent_twice_cancels_once(subscription):
    with_reasons(subscription.account)
    client = open_portal(subscription.customer)
    page = client.get(cancel_url(subscription))
    data = {"state": state_of(page), "feedback": "unused"}
    assert client.post(cancel_url(subscription), data).status_code == 303
    second = client.post(cancel_url(subscription), data | {"feedback": "other"})
    assert second.status_code == 409  # the page now shows where the subscription stands
    subscription.refresh_from_db()
    assert subscription.cancellation_feedback == "unused"
    assert len(events(subscription)) == 1
    assert AuditEntry.objects.filter(action="subscription.cancel").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_cancel_requests_cancel_once():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises every write, so there is no race to test")
    subscription = subscribed(T0)
    configure(subscription.account)
    client = open_portal(subscription.customer)
    state = state_of(client.get(cancel_url(subscription)))
    cookie = client.cookies["portal_session"].value
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def send():
        browser = Client()
        browser.cookies["portal_session"] = cookie
        try:
            barrier.wait(timeout=10)
            statuses.append(browser.post(cancel_url(subscription), {"state": state}).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses) == [303, 303]
    assert len(events(subscription)) == 1
    assert AuditEntry.objects.filter(action="subscription.cancel", object_id=subscription.pk).count() == 1


# ---------------------------------------------------------------------------------------------- language, queries


def test_the_cancel_page_in_german(subscription):
    with_reasons(subscription.account, mode="immediately", proration_behavior="create_prorations")
    client = open_portal(subscription.customer, locale="de")
    html = client.get(cancel_url(subscription)).content.decode()
    assert 'lang="de"' in html
    assert "Abonnement kündigen" in html
    assert "Ihr Abonnement endet jetzt." in html
    assert "1. April 2026" in html
    assert "Es ist zu teuer" in html
    response = cancel(client, subscription, comment="x" * 501)
    assert "höchstens 500 Zeichen" in response.content.decode() or "maximal 500 Zeichen" in response.content.decode()


def test_the_retention_offer_in_german(subscription):
    configure(subscription.account)
    coupon = make_coupon(subscription.account)
    client = open_portal(subscription.customer, locale="de", **retention_flow(subscription, coupon))
    html = client.get(cancel_url(subscription)).content.decode()
    assert "Bevor Sie gehen" in html
    assert "20\xa0% Rabatt für 3 Monate" in html


def test_overview_queries_do_not_grow_with_invoices(subscription):
    configure(subscription.account)
    client = open_portal(subscription.customer)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/p/").status_code == 200
        return len(queries)

    before = count()
    for month in range(4, 8):
        run_cycle(dt.datetime(2026, month, 1, 10, 0, tzinfo=dt.UTC))
    with time_machine.travel(dt.datetime(2026, 7, 2, tzinfo=dt.UTC), tick=False):
        client = open_portal(subscription.customer)
        assert Invoice.objects.filter(subscription=subscription).count() == 5
        assert count() == before
