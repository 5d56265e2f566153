"""No-code Checkout links: made through the service from the account's prices; every visit of /l/<slug> is a new
session at the server's prices (303 to /c/<session>); HEAD creates nothing; inactive links answer 410, unknown ones
404, a busy address 429; our thank-you page; the portal's "Start a new subscription"."""

import pytest
from django.test import Client

from billing.exceptions import InvalidRequest
from billing.models import Price
from billing.services.subscriptions import ItemSpec, subscription_create
from checkout.models import CheckoutLink, CheckoutSession
from checkout.services.complete import CustomerInput, checkout_session_confirm
from checkout.services.links import LinkItemSpec, checkout_link_create, checkout_link_set_active
from configurations.services.portal_configurations import configuration_update
from tests.factories.billing import ACTOR, CustomerFactory, PriceFactory, ProductFactory, card
from tests.factories.checkout import hosted_card
from tests.factories.portal import full_configuration, open_portal


@pytest.fixture
def price(db):
    return PriceFactory(product=ProductFactory(name="Pro plan"), unit_amount=1500)


def one_time(account) -> Price:
    return PriceFactory(product__account=account, type=Price.Type.ONE_TIME, recurring_interval="", unit_amount=900)


def make_link(*prices, **options) -> CheckoutLink:
    return checkout_link_create(
        account=prices[0].account,
        livemode=prices[0].livemode,
        actor=ACTOR,
        items=[LinkItemSpec(price) for price in prices],
        **options,
    )


def visit(client: Client, link: CheckoutLink, **extra):
    return client.get(f"/l/{link.slug}", **extra)


# ---------------------------------------------------------------------------------------------- the service


def test_the_mode_follows_the_prices(price):
    one_off = one_time(price.account)
    assert make_link(price).mode == "subscription"
    assert make_link(one_off).mode == "payment"


def test_the_slug_is_long_random_and_not_the_id(price):
    first, second = make_link(price), make_link(price)
    assert len(first.slug) >= 43 and first.slug != second.slug
    assert first.pk not in first.slug and first.pk.startswith("plink_")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "build, param",
    [
        (lambda p: [LinkItemSpec(PriceFactory())], "line_items[0][price]"),  # another account's price
        (lambda p: [LinkItemSpec(PriceFactory(product__account=p.account, active=False))], None),
        (lambda p: [LinkItemSpec(p, quantity=0)], "line_items[0][quantity]"),
        (lambda p: [], "line_items"),
        (lambda p: [LinkItemSpec(p), LinkItemSpec(PriceFactory(product__account=p.account, currency="usd"))], None),
    ],
)
def test_prices_the_session_would_refuse_are_refused_when_the_link_is_made(price, build, param):
    with pytest.raises(InvalidRequest) as refused:
        checkout_link_create(account=price.account, livemode=False, actor=ACTOR, items=build(price))
    if param:
        assert refused.value.param == param


def test_a_trial_needs_a_recurring_price(price):
    one_off = one_time(price.account)
    with pytest.raises(InvalidRequest) as refused:
        make_link(one_off, trial_period_days=14)
    assert refused.value.param == "trial_period_days"


def test_the_after_completion_url_is_http(price):
    with pytest.raises(InvalidRequest):
        make_link(price, after_completion_url="javascript:alert(1)")


# ---------------------------------------------------------------------------------------------- visits


def test_each_visit_creates_a_session_from_the_server_prices(client, price):
    link = make_link(price, allow_promotion_codes=True, trial_period_days=7, billing_address_collection="required")
    first = visit(client, link)
    second = visit(client, link)
    assert first.status_code == second.status_code == 303
    assert first["Location"].startswith("/c/cs_") and first["Location"] != second["Location"]
    session = CheckoutSession.objects.get(pk=first["Location"].removeprefix("/c/"))
    assert (session.mode, session.checkout_link) == ("subscription", link)
    assert session.allow_promotion_codes and session.trial_period_days == 7
    assert session.billing_address_collection == "required"
    assert session.success_url.endswith("/c/{CHECKOUT_SESSION_ID}/done")
    assert [item.price for item in session.line_items.all()] == [price]


def test_a_visit_ignores_what_the_visitor_sends(client, price):
    link = make_link(price)
    response = client.get(f"/l/{link.slug}?unit_amount=1&price=price_other&quantity=50")
    session = CheckoutSession.objects.get(pk=response["Location"].removeprefix("/c/"))
    assert session.amount_total == 1500 and session.line_items.get().quantity == 1


def test_the_link_s_own_success_url_is_used(client, price):
    link = make_link(price, after_completion_url="https://shop.example/thanks")
    session = CheckoutSession.objects.get(pk=visit(client, link)["Location"].removeprefix("/c/"))
    assert session.success_url == "https://shop.example/thanks"


def test_head_creates_no_session(client, price):
    link = make_link(price)
    response = client.head(f"/l/{link.slug}")
    assert response.status_code == 200
    assert not CheckoutSession.objects.exists()


@pytest.mark.parametrize("language, heading", [("en", "This link is no longer available"), ("de", "nicht mehr")])
def test_an_inactive_link_is_gone(client, price, language, heading):
    link = checkout_link_set_active(link=make_link(price), actor=ACTOR, active=False)
    response = visit(client, link, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 410
    assert heading in response.content.decode()
    assert not CheckoutSession.objects.exists()
    # Reactivated, it works again.
    checkout_link_set_active(link=link, actor=ACTOR, active=True)
    assert visit(client, link).status_code == 303


def test_a_link_whose_price_was_archived_is_gone(client, price):
    link = make_link(price)
    Price.objects.filter(pk=price.pk).update(active=False)
    assert visit(client, link).status_code == 410


@pytest.mark.django_db
def test_an_unknown_link_is_not_found(client):
    assert client.get("/l/nothing-here").status_code == 404
    assert client.head("/l/nothing-here").status_code == 404


def test_visits_per_address_are_limited(client, price, settings):
    settings.CHECKOUT_LINK_RATE_PER_IP = 2
    link = make_link(price)
    assert [visit(client, link).status_code for _ in range(3)] == [303, 303, 429]
    assert CheckoutSession.objects.count() == 2
    other = Client(REMOTE_ADDR="203.0.113.9")
    assert visit(other, link).status_code == 303


def test_the_api_names_the_link_as_payment_link(client, price):
    from checkout.representations import checkout_session

    link = make_link(price)
    session = CheckoutSession.objects.get(pk=visit(client, link)["Location"].removeprefix("/c/"))
    assert checkout_session(session)["payment_link"] == link.pk


# ---------------------------------------------------------------------------------------------- thank-you page


def _complete(session):
    pm = hosted_card(session.account)
    details = CustomerInput(email="ada@example.com", name="Ada")
    checkout_session_confirm(session=session, details=details, payment_method_id=pm.pk, return_url="https://x/")
    session.refresh_from_db()
    return session


@pytest.mark.parametrize("language, text", [("en", "Thank you"), ("de", "Vielen Dank")])
def test_the_thank_you_page_after_a_link_s_session(client, price, language, text):
    link = make_link(price)
    session = CheckoutSession.objects.get(pk=visit(client, link)["Location"].removeprefix("/c/"))
    assert client.get(f"/c/{session.pk}/done")["Location"] == f"/c/{session.pk}"  # not paid yet
    session = _complete(session)
    assert session.status == "complete"
    page = client.get(f"/c/{session.pk}", HTTP_ACCEPT_LANGUAGE=language)
    assert page.status_code == 303 and page["Location"].endswith(f"/c/{session.pk}/done")
    done = client.get(f"/c/{session.pk}/done", HTTP_ACCEPT_LANGUAGE=language)
    assert done.status_code == 200 and text in done.content.decode()
    assert "Pro plan" in done.content.decode()


# ---------------------------------------------------------------------------------------------- the portal


@pytest.fixture
def portal_setup(price):
    link = make_link(price)
    configuration = full_configuration(price.account)
    configuration = configuration_update(
        configuration=configuration, actor=ACTOR, data={"subscription_start": {"checkout_link": link.pk}}
    )
    customer = CustomerFactory(account=price.account, email="grace@example.com")
    return link, configuration, customer


def test_a_customer_without_a_subscription_starts_one_through_checkout(portal_setup):
    link, configuration, customer = portal_setup
    client = open_portal(customer, configuration=configuration)
    overview = client.get("/p/").content.decode()
    assert "Start a new subscription" in overview and "/p/start-subscription" in overview
    response = client.post("/p/start-subscription")
    assert response.status_code == 303 and response["Location"].startswith("/c/cs_")
    session = CheckoutSession.objects.get(pk=response["Location"].removeprefix("/c/"))
    assert (session.customer, session.checkout_link, session.mode) == (customer, link, "subscription")
    assert session.success_url.endswith("/p/") and session.cancel_url.endswith("/p/")
    assert client.get(response["Location"]).status_code == 200


def test_the_button_is_german_in_german(portal_setup):
    _link, configuration, customer = portal_setup
    client = open_portal(customer, configuration=configuration, locale="de")
    assert "Neues Abonnement abschließen" in client.get("/p/").content.decode()


def test_no_button_for_a_customer_with_a_subscription_and_no_session_either(portal_setup, price):
    _link, configuration, customer = portal_setup
    subscription_create(
        customer=customer, items=[ItemSpec(price=price)], actor=ACTOR, default_payment_method=card(customer)
    )
    client = open_portal(customer, configuration=configuration)
    assert "Start a new subscription" not in client.get("/p/").content.decode()
    response = client.post("/p/start-subscription")
    assert response.status_code == 303 and response["Location"] == "/p/"
    assert not CheckoutSession.objects.exists()


def test_no_button_when_the_link_is_inactive_or_not_configured(portal_setup):
    link, configuration, customer = portal_setup
    checkout_link_set_active(link=link, actor=ACTOR, active=False)
    client = open_portal(customer, configuration=configuration)
    assert "Start a new subscription" not in client.get("/p/").content.decode()
    assert client.post("/p/start-subscription")["Location"] == "/p/"
    assert not CheckoutSession.objects.exists()


def test_start_subscription_needs_a_portal_session_and_a_post(portal_setup):
    assert Client().post("/p/start-subscription").status_code in (401, 403, 410, 200)
    assert not CheckoutSession.objects.exists()
    _link, configuration, customer = portal_setup
    assert open_portal(customer, configuration=configuration).get("/p/start-subscription").status_code == 405


def test_the_configuration_takes_only_its_own_subscription_links(portal_setup, price):
    link, configuration, _customer = portal_setup
    foreign = make_link(PriceFactory())
    one_off = make_link(one_time(price.account))
    for candidate, code in ((foreign, "resource_missing"), (one_off, "parameter_invalid")):
        with pytest.raises(InvalidRequest) as refused:
            configuration_update(
                configuration=configuration, actor=ACTOR, data={"subscription_start": {"checkout_link": candidate.pk}}
            )
        assert (refused.value.code, refused.value.param) == (code, "subscription_start[checkout_link]")
    cleared = configuration_update(
        configuration=configuration, actor=ACTOR, data={"subscription_start": {"checkout_link": ""}}
    )
    assert cleared.subscription_start_link_id is None
