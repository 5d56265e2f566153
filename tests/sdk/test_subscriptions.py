import datetime as dt

import pytest
import stripe
import time_machine
from django.test import Client
from django.utils import timezone

from api.filters import time_range
from billing.audit import Actor
from billing.clock import to_unix
from billing.models import Event, Subscription
from billing.services.subscriptions import ItemSpec, subscription_create
from tests.factories.billing import CustomerFactory, PriceFactory, card

ACTOR = Actor.system("test")


@pytest.fixture
def customer(merchant):
    customer = CustomerFactory(account=merchant)
    card(customer)
    return customer


@pytest.fixture
def price(merchant):
    return PriceFactory(account=merchant, product__account=merchant, unit_amount=1500)


def test_create_retrieve_update_cancel(client, customer, price, merchant):
    sub = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id, "quantity": 2}], "metadata": {"k": "v"}}
    )
    assert sub.object == "subscription" and sub.status == "active"
    assert sub["items"].data[0].price.id == price.id and sub["items"].data[0].quantity == 2
    assert (
        client.v1.subscriptions.retrieve(sub.id, {"expand": ["latest_invoice", "customer"]}).latest_invoice.amount_paid
        == 3000
    )

    bigger = PriceFactory(account=merchant, product__account=merchant, unit_amount=3000)
    item = sub["items"].data[0]
    updated = client.v1.subscriptions.update(
        sub.id, {"items": [{"id": item.id, "price": bigger.id}], "proration_behavior": "none"}
    )
    assert updated["items"].data[0].price.id == bigger.id

    pending = client.v1.subscriptions.update(
        sub.id,
        {"cancel_at_period_end": True, "cancellation_details": {"feedback": "too_expensive", "comment": "pricey"}},
    )
    assert pending.cancel_at_period_end and pending.cancellation_details.feedback == "too_expensive"
    undone = client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": False})
    assert not undone.cancel_at_period_end and undone.canceled_at is None

    canceled = client.v1.subscriptions.cancel(sub.id, {"cancellation_details": {"comment": "bye"}})
    assert canceled.status == "canceled" and canceled.cancellation_details.comment == "bye"
    assert Event.objects.filter(type="customer.subscription.deleted").count() == 1


def test_a_description(client, customer, price):
    sub = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id}], "description": "Team plan for Acme"}
    )
    assert sub.description == "Team plan for Acme"
    assert client.v1.subscriptions.retrieve(sub.id).description == "Team plan for Acme"
    plain = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    assert plain.description is None


def test_pause_collection_set_and_cleared_with_empty_string(client, customer, price):
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    paused = client.v1.subscriptions.update(
        sub.id, {"pause_collection": {"behavior": "keep_as_draft", "resumes_at": 4102444800}}
    )
    assert paused.status == "active"
    assert paused.pause_collection.behavior == "keep_as_draft" and paused.pause_collection.resumes_at == 4102444800
    event = Event.objects.filter(type="customer.subscription.updated").latest("id")
    assert event.previous_attributes == {"pause_collection": None}
    resumed = client.v1.subscriptions.update(sub.id, {"pause_collection": ""})
    assert resumed.pause_collection is None
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.subscriptions.update(sub.id, {"pause_collection": {"behavior": "sleep"}})
    assert error.value.param == "pause_collection[behavior]"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.subscriptions.update(sub.id, {"pause_collection": {"behavior": "void", "resumes_at": 1}})
    assert error.value.param == "pause_collection[resumes_at]"


def test_list_filters(client, customer, price, merchant):
    other = PriceFactory(account=merchant, product__account=merchant)
    a = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    b = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": other.id}]})
    client.v1.subscriptions.cancel(b.id)
    assert [s.id for s in client.v1.subscriptions.list().data] == [a.id]
    assert [s.id for s in client.v1.subscriptions.list({"status": "canceled"}).data] == [b.id]
    assert {s.id for s in client.v1.subscriptions.list({"status": "all"}).data} == {a.id, b.id}
    assert [s.id for s in client.v1.subscriptions.list({"price": price.id}).data] == [a.id]
    assert [
        s.id
        for s in client.v1.subscriptions.list(
            {"customer": customer.id, "status": "all", "expand": ["data.customer"]}
        ).data
    ] == [b.id, a.id]


def test_search_collection_paused(client, customer, price):
    subs = [
        client.v1.subscriptions.create(
            {"customer": customer.id, "items": [{"price": price.id}], "metadata": {"n": str(i)}}
        )
        for i in range(4)
    ]
    client.v1.subscriptions.update(subs[0].id, {"pause_collection": {"behavior": "void"}})
    client.v1.subscriptions.update(subs[1].id, {"pause_collection": {"behavior": "keep_as_draft"}})
    paused = client.v1.subscriptions.search({"query": 'status:"active" AND -pause_collection.behavior:null'})
    assert paused.object == "search_result"
    assert {s.id for s in paused.data} == {subs[0].id, subs[1].id}
    assert [s.id for s in client.v1.subscriptions.search({"query": 'pause_collection.behavior:"void"'}).data] == [
        subs[0].id
    ]
    assert len(client.v1.subscriptions.search({"query": "pause_collection.behavior:null"}).data) == 2
    assert [s.id for s in client.v1.subscriptions.search({"query": 'metadata["n"]:"3"'}).data] == [subs[3].id]
    every = list(client.v1.subscriptions.search({"query": 'status:"active"', "limit": 1}).auto_paging_iter())
    assert len(every) == 4
    counted = client.v1.subscriptions.search({"query": 'status:"active"', "expand": ["total_count"]})
    assert counted.total_count == 4
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.subscriptions.search({"query": "status:active AND"})
    assert error.value.param == "query"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.search({"query": 'status:"active" AND created>1 OR status:"canceled"'})


def test_declined_first_payment_and_bad_input(client, merchant, price):
    declined = CustomerFactory(account=merchant)
    card(declined, "4000000000000341")
    sub = client.v1.subscriptions.create({"customer": declined.id, "items": [{"price": price.id}]})
    assert sub.status == "incomplete"
    with pytest.raises(stripe.CardError) as error:
        client.v1.subscriptions.create(
            {"customer": declined.id, "items": [{"price": price.id}], "payment_behavior": "error_if_incomplete"}
        )
    assert error.value.code == "card_declined"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.subscriptions.create({"customer": declined.id, "items": [{"price": "price_nope"}]})
    assert error.value.param == "items[0][price]" and error.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.subscriptions.create({"customer": declined.id})
    assert error.value.code == "parameter_missing" and error.value.param == "items"


def test_tenant_isolation(client, other_client, customer, price):
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    for call in (
        lambda: other_client.v1.subscriptions.retrieve(sub.id),
        lambda: other_client.v1.subscriptions.update(sub.id, {"metadata": {"x": "y"}}),
        lambda: other_client.v1.subscriptions.cancel(sub.id),
        lambda: other_client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]}),
    ):
        with pytest.raises(stripe.InvalidRequestError) as error:
            call()
        assert error.value.http_status == 404
    assert other_client.v1.subscriptions.search({"query": 'status:"active"'}).data == []


@pytest.mark.parametrize("rows", [3, 40])
def test_list_query_count_does_not_grow(merchant, customer, price, rows, django_assert_max_num_queries):
    from billing.services.subscriptions import ItemSpec, subscription_create
    from tests.factories.billing import ACTOR

    for _ in range(rows):
        subscription_create(customer=customer, items=[ItemSpec(price)], actor=ACTOR)
    with django_assert_max_num_queries(14):
        response = Client().get(
            "/v1/subscriptions?limit=100&expand[]=data.customer&expand[]=data.latest_invoice",
            HTTP_AUTHORIZATION=f"Bearer {merchant.test_secret}",
        )
    assert response.status_code == 200 and len(response.json()["data"]) == rows


def test_update_with_billing_cycle_anchor_now_and_error_if_incomplete(client, merchant, customer, price):
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    bigger = PriceFactory(account=merchant, product__account=merchant, unit_amount=price.unit_amount * 3)
    updated = client.v1.subscriptions.update(
        sub.id,
        {
            "items": [{"id": sub["items"].data[0].id, "price": bigger.id}],
            "billing_cycle_anchor": "now",
            "proration_behavior": "always_invoice",
        },
    )
    assert updated["items"].data[0].price.id == bigger.id
    assert updated.billing_cycle_anchor >= sub.billing_cycle_anchor and updated.current_period_start >= sub.created

    # The card now on file fails when charged: with error_if_incomplete the change is undone.
    card(customer, "4000000000000341")
    biggest = PriceFactory(account=merchant, product__account=merchant, unit_amount=price.unit_amount * 9)
    with pytest.raises(stripe.CardError):
        client.v1.subscriptions.update(
            sub.id,
            {
                "items": [{"id": sub["items"].data[0].id, "price": biggest.id}],
                "proration_behavior": "always_invoice",
                "payment_behavior": "error_if_incomplete",
            },
        )
    unchanged = client.v1.subscriptions.retrieve(sub.id)
    assert unchanged["items"].data[0].price.id == bigger.id and unchanged.status == "active"


def test_the_list_with_customers_expanded_takes_three_queries(merchant, customer, price, django_assert_num_queries):
    """The API key, the page with its customers (joined: the expansion takes them from there) and flags saying which
    rows have tax rates or discounts (none here), and its items with their prices (one join): bench/api.py's list,
    whatever the number of rows."""
    from billing.services.subscriptions import ItemSpec, subscription_create
    from tests.factories.billing import ACTOR

    for _ in range(5):
        subscription_create(customer=customer, items=[ItemSpec(price)], actor=ACTOR)
    http = Client(HTTP_AUTHORIZATION=f"Bearer {merchant.test_secret}")
    http.get("/v1/subscriptions")  # the key's first use of the minute also records it (one UPDATE)
    with django_assert_num_queries(3):
        response = http.get("/v1/subscriptions?limit=10&expand[]=data.customer")
    assert response.status_code == 200
    data = response.json()["data"]
    assert len(data) == 5 and all(s["items"]["data"][0]["price"]["id"] == price.id for s in data)


def test_the_list_loads_tax_rates_and_discounts_of_the_rows_that_have_them(
    merchant, customer, price, django_assert_num_queries
):
    """Subscriptions with and without default tax rates, item tax rates and a discount on one page: each row renders
    as its own retrieval does, and the relations cost one query each only because some row has them."""
    from billing.services.coupons import coupon_create
    from billing.services.subscriptions import ItemSpec, subscription_create
    from tests.factories.billing import ACTOR, TaxRateFactory

    vat = TaxRateFactory(account=merchant, display_name="VAT")
    reduced = TaxRateFactory(account=merchant, display_name="Reduced", percentage=7)
    coupon = coupon_create(account=merchant, livemode=False, actor=ACTOR, percent_off=10, duration="forever")
    plain = subscription_create(customer=customer, items=[ItemSpec(price)], actor=ACTOR)
    taxed = subscription_create(
        customer=customer, items=[ItemSpec(price, 2, [reduced])], default_tax_rates=[vat], actor=ACTOR
    )
    discounted = subscription_create(customer=customer, items=[ItemSpec(price)], coupon=coupon, actor=ACTOR)
    http = Client(HTTP_AUTHORIZATION=f"Bearer {merchant.test_secret}")
    expected = {
        sub.id: http.get(f"/v1/subscriptions/{sub.id}?expand[]=customer").json() for sub in (plain, taxed, discounted)
    }
    # The key, the page, the items; then the subscriptions' tax rates, their discounts and the items' tax rates.
    with django_assert_num_queries(6):
        response = http.get("/v1/subscriptions?expand[]=data.customer")
    data = {sub["id"]: sub for sub in response.json()["data"]}
    assert data == expected
    assert [rate["id"] for rate in data[taxed.id]["default_tax_rates"]] == [vat.id]
    assert [rate["id"] for rate in data[taxed.id]["items"]["data"][0]["tax_rates"]] == [reduced.id]
    assert len(data[discounted.id]["discounts"]) == 1 and data[plain.id]["discounts"] == []
    # The key, the cursor's existence, the page, the items: the plain one has nothing more to load.
    with django_assert_num_queries(4):
        response = http.get(f"/v1/subscriptions?limit=1&starting_after={taxed.id}")
    assert response.json()["data"] == [{**expected[plain.id], "customer": customer.id}]


def test_every_list_filter_reads_what_the_orm_reads(client, other_client, merchant):
    """The list reads its rows with a statement of its own (``SubscriptionRows``); each filter and cursor gives the
    rows the ORM's queryset gives, newest first, and never another account's or the other mode's."""
    base = timezone.now().replace(microsecond=0) - dt.timedelta(days=30)
    prices = [PriceFactory(account=merchant, product__account=merchant) for _ in range(3)]
    customers = [CustomerFactory(account=merchant) for _ in range(2)]
    for customer in customers:
        card(customer)
    plans = [
        (customers[0], [prices[0]], Subscription.Status.ACTIVE, "charge_automatically"),
        (customers[0], [prices[1], prices[2]], Subscription.Status.PAST_DUE, "charge_automatically"),
        (customers[1], [prices[1]], Subscription.Status.CANCELED, "charge_automatically"),
        (customers[1], [prices[0]], Subscription.Status.INCOMPLETE_EXPIRED, "send_invoice"),
        (customers[1], [prices[2]], Subscription.Status.TRIALING, "send_invoice"),
        (customers[0], [prices[0], prices[1]], Subscription.Status.ACTIVE, "send_invoice"),
    ]
    made = []
    for day, (customer, items, status, method) in enumerate(plans):
        with time_machine.travel(base + dt.timedelta(days=day), tick=False):
            subscription = subscription_create(
                customer=customer,
                items=[ItemSpec(item_price) for item_price in items],
                collection_method=method,
                days_until_due=30 if method == "send_invoice" else None,
                actor=ACTOR,
            )
        Subscription.objects.filter(pk=subscription.pk).update(status=status)
        made.append(subscription)
    Subscription.objects.filter(pk=made[0].pk).update(current_period_end=base + dt.timedelta(days=40))
    other_mode = CustomerFactory(account=merchant, livemode=True)
    subscription_create(
        customer=other_mode,
        items=[ItemSpec(PriceFactory(account=merchant, livemode=True, product__account=merchant))],
        collection_method="send_invoice",
        days_until_due=30,
        actor=ACTOR,
    )
    other_price = other_client.v1.prices.create(
        {"currency": "eur", "unit_amount": 500, "recurring": {"interval": "month"}, "product_data": {"name": "X"}}
    )
    other_subscription = other_client.v1.subscriptions.create(
        {
            "customer": other_client.v1.customers.create({"email": "other@example.com"}).id,
            "items": [{"price": other_price.id}],
            "collection_method": "send_invoice",
            "days_until_due": 30,
        }
    )
    assert Subscription.objects.exclude(account=merchant, livemode=False).count() == 2

    def expected(params: dict) -> list[str]:
        queryset = Subscription.objects.filter(account=merchant, livemode=False)
        status = params.get("status")
        if status is None:
            queryset = queryset.exclude(status=Subscription.Status.CANCELED)
        elif status == "ended":
            queryset = queryset.filter(status__in=Subscription.ENDED_STATUSES)
        elif status != "all":
            queryset = queryset.filter(status=status)
        if "customer" in params:
            queryset = queryset.filter(customer_id=params["customer"])
        if "price" in params:
            queryset = queryset.filter(items__price_id=params["price"]).distinct()
        if "collection_method" in params:
            queryset = queryset.filter(collection_method=params["collection_method"])
        for name in ("created", "current_period_end"):
            queryset = time_range(queryset, name, params.get(name))
        if "starting_after" in params:
            queryset = queryset.filter(pk__lt=params["starting_after"])
        if "ending_before" in params:
            rows = list(queryset.filter(pk__gt=params["ending_before"]).order_by("pk")[: params.get("limit", 10)])
            return [row.pk for row in reversed(rows)]
        return list(queryset.order_by("-pk").values_list("pk", flat=True)[: params.get("limit", 10)])

    day = to_unix(base + dt.timedelta(days=2))
    cases = [
        {},
        {"status": "all"},
        {"status": "ended"},
        {"status": "canceled"},
        {"status": "past_due"},
        {"customer": customers[1].id, "status": "all"},
        {"customer": other_mode.id},
        {"price": prices[1].id, "status": "all"},
        {"price": prices[0].id, "customer": customers[0].id},
        {"collection_method": "send_invoice", "status": "all"},
        {"created": {"gte": day}},
        {"created": {"gt": day, "lte": day + 2 * 86400}, "status": "all"},
        {"created": day},
        {"current_period_end": {"gt": to_unix(base + dt.timedelta(days=39))}},
        {"limit": 2},
        {"limit": 2, "starting_after": made[4].id, "status": "all"},
        {"limit": 2, "ending_before": made[1].id, "status": "all"},
        {"limit": 1, "starting_after": made[5].id, "price": prices[0].id, "expand": ["data.customer"]},
    ]
    for params in cases:
        listed = client.v1.subscriptions.list(params)
        assert [row.id for row in listed.data] == expected(params), params
        if "expand" in params:
            assert all(row.customer.object == "customer" for row in listed.data)
    assert client.v1.subscriptions.list({"limit": 2}).has_more is True

    for cursor in (made[2].id, "sub_unknown"):  # a canceled one is not among the default list's rows
        with pytest.raises(stripe.InvalidRequestError) as error:
            client.v1.subscriptions.list({"starting_after": cursor})
        assert error.value.param == "starting_after"
    with pytest.raises(stripe.InvalidRequestError) as error:
        other_client.v1.subscriptions.list({"ending_before": made[0].id})
    assert error.value.param == "ending_before"
    assert [row.id for row in other_client.v1.subscriptions.list({"status": "all"}).data] == [other_subscription.id]
