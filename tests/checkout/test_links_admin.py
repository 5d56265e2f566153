"""The admin of Checkout links: created from the account's active prices (in German too), listed with the shareable
URL and a copy button and the count of completed sessions (queries constant in the number of links), deactivated and
reactivated, never deleted; a portal configuration picks one for "Start a new subscription"."""

import re

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse
from django.utils import translation

from billing.exceptions import InvalidRequest
from billing.services.accounts import staff_user_add
from checkout.models import CheckoutLink, CheckoutSession
from checkout.services.complete import CustomerInput, checkout_session_confirm
from checkout.services.links import LinkItemSpec, checkout_link_create, checkout_session_create_from_link
from tests.configurations.helpers import messages_of, post_data
from tests.factories.billing import ACTOR, AccountFactory, PriceFactory, ProductFactory
from tests.factories.checkout import hosted_card
from tests.factories.portal import full_configuration

ADD = reverse("admin:checkout_checkoutlink_add")
CHANGELIST = reverse("admin:checkout_checkoutlink_changelist")
GERMAN = {"HTTP_ACCEPT_LANGUAGE": "de"}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def merchant(db):
    return AccountFactory(name="Alpha")


@pytest.fixture
def staff_client(client, merchant):
    client.force_login(staff_user_add(account=merchant, email="staff@alpha.example"))
    return client


@pytest.fixture
def prices(merchant):
    pro = ProductFactory(account=merchant, name="Pro")
    return {
        "monthly": PriceFactory(product=pro, unit_amount=1500),
        "archived": PriceFactory(product=pro, unit_amount=900, active=False),
        "foreign": PriceFactory(unit_amount=100),
    }


def add_form(client, prices, **fields) -> dict:
    form = client.get(ADD)
    data = post_data(form, name="Pro monthly", **fields)
    data["items-0-price"] = prices["monthly"].pk
    data["items-0-quantity"] = "1"
    return data


def make_link(price, name="Pro monthly") -> CheckoutLink:
    return checkout_link_create(
        account=price.account, livemode=False, actor=ACTOR, items=[LinkItemSpec(price)], name=name
    )


def test_the_add_form_offers_only_the_account_s_active_prices(staff_client, prices):
    page = staff_client.get(ADD).content.decode()
    assert prices["monthly"].pk in page
    assert prices["archived"].pk not in page and prices["foreign"].pk not in page


def test_a_link_is_created_from_picked_prices(staff_client, prices, merchant):
    response = staff_client.post(ADD, add_form(staff_client, prices, allow_promotion_codes="on"))
    assert response.status_code == 302, response.context["errors"] if response.context else response
    link = CheckoutLink.objects.get()
    assert (link.account, link.name, link.mode, link.active, link.allow_promotion_codes) == (
        merchant,
        "Pro monthly",
        "subscription",
        True,
        True,
    )
    assert [item.price for item in link.items.all()] == [prices["monthly"]]


def test_a_foreign_price_posted_anyway_is_refused(staff_client, prices):
    data = add_form(staff_client, prices)
    data["items-0-price"] = prices["foreign"].pk
    response = staff_client.post(ADD, data)
    assert response.status_code == 200 and not CheckoutLink.objects.exists()


def test_a_link_without_prices_is_refused_in_german(staff_client, prices):
    data = add_form(staff_client, prices)
    data.pop("items-0-price")
    response = staff_client.post(ADD, data, **GERMAN)
    assert response.status_code == 200 and not CheckoutLink.objects.exists()
    assert "Wählen Sie mindestens einen Preis." in response.content.decode()


def test_a_link_s_refusals_stay_english_in_the_message_whatever_the_language(merchant, prices):
    """The service's refusal reads in the reader's language where people see it (``localized``); its message,
    what an API answers, stays English even while another language is active."""
    with translation.override("de"):
        with pytest.raises(InvalidRequest) as refused:
            checkout_link_create(account=merchant, livemode=False, actor=ACTOR, items=[], name="")
        assert refused.value.localized == "Wählen Sie mindestens einen Preis."
        assert refused.value.message == str(refused.value) == "Pick at least one price."


def test_the_list_shows_the_url_a_copy_button_and_completed_sessions(staff_client, prices, settings):
    link = make_link(prices["monthly"])
    for _ in range(2):
        session = checkout_session_create_from_link(link=link, actor=ACTOR, base_url="https://portal.example")
    checkout_session_confirm(
        session=session,
        details=CustomerInput(email="ada@example.com"),
        payment_method_id=hosted_card(link.account).pk,
        return_url="https://portal.example/r",
    )
    assert CheckoutSession.objects.filter(status="complete").count() == 1
    page = staff_client.get(CHANGELIST).content.decode()
    assert f"{settings.PORTAL_BASE_URL}/l/{link.slug}" in page
    assert 'data-copy-target="checkout-link-' in page
    row = re.search(r"<tr[^>]*>.*?Pro monthly.*?</tr>", page, re.S).group(0)
    assert re.search(r'class="field-completed_sessions">1<', row)
    german = staff_client.get(CHANGELIST, **GERMAN).content.decode()
    assert "Checkout-Link" in german and "Abgeschlossen" in german and "Kopieren" in german


def test_the_list_takes_the_same_queries_for_more_links(staff_client, prices, django_assert_max_num_queries):
    make_link(prices["monthly"])
    staff_client.get(CHANGELIST)
    with django_assert_max_num_queries(30) as captured:
        staff_client.get(CHANGELIST)
    few = len(captured)
    for i in range(8):
        link = make_link(prices["monthly"], name=f"Link {i}")
        checkout_session_create_from_link(link=link, actor=ACTOR, base_url="https://portal.example")
    with django_assert_max_num_queries(few):
        staff_client.get(CHANGELIST)


def test_deactivate_and_reactivate(staff_client, prices, client):
    link = make_link(prices["monthly"])
    response = staff_client.post(
        CHANGELIST, {"action": "deactivate", "_selected_action": [link.pk]}, follow=True, **GERMAN
    )
    assert "1 Link deaktiviert." in messages_of(response)
    link.refresh_from_db()
    assert not link.active
    assert client.get(f"/l/{link.slug}").status_code == 410
    staff_client.post(CHANGELIST, {"action": "reactivate", "_selected_action": [link.pk]})
    link.refresh_from_db()
    assert link.active


def test_links_are_not_deleted(staff_client, prices):
    link = make_link(prices["monthly"])
    url = reverse("admin:checkout_checkoutlink_delete", args=[quote(link.pk)])
    assert staff_client.get(url).status_code == 403


def test_the_change_form_changes_options_and_keeps_the_prices(staff_client, prices):
    link = make_link(prices["monthly"])
    url = reverse("admin:checkout_checkoutlink_change", args=[quote(link.pk)])
    data = post_data(staff_client.get(url), name="Renamed", trial_period_days="14")
    response = staff_client.post(url, data)
    assert response.status_code == 302
    link.refresh_from_db()
    assert (link.name, link.trial_period_days) == ("Renamed", 14)
    assert [item.price for item in link.items.all()] == [prices["monthly"]]


def test_another_merchant_s_staff_sees_no_link(client, prices):
    link = make_link(prices["monthly"])
    other = AccountFactory(name="Beta")
    client.force_login(staff_user_add(account=other, email="staff@beta.example"))
    assert link.slug not in client.get(CHANGELIST).content.decode()


def test_a_portal_configuration_picks_a_subscription_link(staff_client, prices, merchant):
    link = make_link(prices["monthly"])
    configuration = full_configuration(merchant)
    url = reverse("admin:configurations_portalconfiguration_change", args=[quote(configuration.pk)])
    form = staff_client.get(url)
    assert link.pk in form.content.decode()
    response = staff_client.post(url, post_data(form, subscription_start_link=link.pk))
    assert response.status_code == 302
    configuration.refresh_from_db()
    assert configuration.subscription_start_link_id == link.pk
