"""/v1/billing_portal/sessions through the official SDK: Stripe's object, its errors, flows, plans and domains."""

import hashlib
import re
from types import SimpleNamespace

import dns.resolver
import pytest
import stripe
from django.conf import settings

from billing.audit import Actor
from billing.models import Account, AuditEntry
from billing.services.accounts import api_key_create
from billing.services.coupons import coupon_create
from billing.services.processors import processor_account_set
from billing.services.subscriptions import ItemSpec, subscription_cancel, subscription_create
from configurations.models import PortalSession
from configurations.services.custom_domains import custom_domain_set, custom_domain_verify
from configurations.services.portal_configurations import configuration_update
from tests.factories.billing import AccountFactory, CustomerFactory, PriceFactory, ProductFactory, card
from tests.factories.portal import RETURN_URL, full_configuration

ACTOR = Actor.system("test")
SESSION_KEYS = {
    "id",
    "object",
    "configuration",
    "created",
    "customer",
    "customer_account",
    "flow",
    "livemode",
    "locale",
    "on_behalf_of",
    "return_url",
    "url",
}
TOKEN = re.compile(r"/p/session/(test|live)_([A-Za-z0-9_-]{43})$")
NO_DEFAULT = "No configuration provided and your test mode default configuration has not been created."


def rejected(call, params, *, status: int = 400, error=stripe.InvalidRequestError):
    with pytest.raises(error) as raised:
        call(params)
    assert raised.value.http_status == status, raised.value.user_message
    return raised.value


def monthly_price(merchant, product=None, **kwargs):
    product = product or ProductFactory(account=merchant)
    return PriceFactory(account=merchant, product=product, **kwargs)


@pytest.fixture
def shop(merchant):
    """A customer with a card and a subscription, and a default configuration offering a switch to ``yearly``."""
    monthly = monthly_price(merchant)
    yearly = monthly_price(merchant, monthly.product, recurring_interval="year", unit_amount=10000)
    configuration = full_configuration(merchant, prices=[monthly, yearly])
    customer = CustomerFactory(account=merchant)
    card(customer)
    subscription = subscription_create(customer=customer, items=[ItemSpec(monthly)], actor=ACTOR)
    return SimpleNamespace(
        customer=customer,
        configuration=configuration,
        subscription=subscription,
        item=subscription.items.get(),
        monthly=monthly,
        yearly=yearly,
    )


def create(client, shop, **params):
    return client.v1.billing_portal.sessions.create({"customer": shop.customer.id, **params})


# ---------------------------------------------------------------------------------------------- the object


def test_a_session_for_a_customer_uses_the_default_configuration(client, shop):
    session = create(client, shop)
    data = session.to_dict()
    assert set(data) == SESSION_KEYS
    assert session.id.startswith("bps_")
    assert session.object == "billing_portal.session"
    assert isinstance(session, stripe.billing_portal.Session)
    assert session.configuration == shop.configuration.id
    assert session.customer == shop.customer.id
    assert abs(session.created - PortalSession.objects.get().created.timestamp()) < 1
    assert session.flow is None and session.locale is None
    assert session.livemode is False
    assert session.return_url == RETURN_URL
    assert data["on_behalf_of"] is None and data["customer_account"] is None
    assert session.url.startswith(settings.PORTAL_BASE_URL + "/p/session/test_")


def test_the_token_is_256_bits_and_only_its_digest_is_stored(client, shop):
    session = create(client, shop)
    mode, token = TOKEN.search(session.url).groups()
    assert mode == "test"
    row = PortalSession.objects.get(pk=session.id)
    assert row.token_digest == hashlib.sha256(f"test_{token}".encode()).hexdigest()
    stored = " ".join(str(value) for value in PortalSession.objects.filter(pk=session.id).values().get().values())
    assert token not in stored
    other = create(client, shop)
    assert TOKEN.search(other.url).group(2) != token


def test_legacy_module_style(legacy, shop):
    session = legacy.billing_portal.Session.create(customer=shop.customer.id, return_url="https://shop.example/back")
    assert session.return_url == "https://shop.example/back"
    assert session.url.startswith(settings.PORTAL_BASE_URL + "/p/session/test_")


def test_configuration_return_url_and_locale(client, merchant, shop):
    other = full_configuration(merchant, default_return_url="https://shop.example/other")
    session = create(
        client, shop, configuration=other.id, return_url="https://shop.example/account?tab=billing", locale="de"
    )
    assert session.configuration == other.id
    assert session.return_url == "https://shop.example/account?tab=billing"
    assert session.locale == "de"
    assert create(client, shop, locale="auto").locale == "auto"
    assert create(client, shop, locale="pt-BR").locale == "pt-BR"
    assert create(client, shop, configuration=other.id).return_url == "https://shop.example/other"


def test_configuration_can_be_expanded(client, shop):
    session = create(client, shop, expand=["configuration"])
    assert session.configuration.id == shop.configuration.id
    assert session.configuration.object == "billing_portal.configuration"


def test_a_customer_group_rule_picks_the_configuration(client, merchant, shop):
    enterprise = full_configuration(merchant, customer_group={"metadata": {"segment": "enterprise"}, "priority": 1})
    member = CustomerFactory(account=merchant, metadata={"segment": "enterprise"})
    assert client.v1.billing_portal.sessions.create({"customer": member.id}).configuration == enterprise.id
    assert create(client, shop).configuration == shop.configuration.id


def test_event_and_audit_entry_without_the_token(client, shop):
    session = create(client, shop)
    events = client.v1.events.list({"type": "billing_portal.session.created"}).data
    assert [event.data.object.id for event in events] == [session.id]
    obj = events[0].data.object.to_dict()
    assert obj["url"] is None
    assert obj["customer"] == shop.customer.id and obj["configuration"] == shop.configuration.id
    token = TOKEN.search(session.url).group(2)
    assert token not in str(events[0].to_dict())
    entry = AuditEntry.objects.get(action="portal_session.create", object_id=session.id)
    assert entry.actor_type == "api_key"


# ---------------------------------------------------------------------------------------------- errors


def test_invalid_locale_and_unknown_params(client, shop):
    error = rejected(client.v1.billing_portal.sessions.create, {"customer": shop.customer.id, "locale": "xx"})
    assert error.param == "locale"
    error = rejected(client.v1.billing_portal.sessions.create, {"customer": shop.customer.id, "colour": "red"})
    assert error.code == "parameter_unknown"


def test_customer_is_required_and_must_be_this_accounts(client, other_client, shop):
    error = rejected(client.v1.billing_portal.sessions.create, {})
    assert error.param == "customer" and error.code == "parameter_missing"
    error = rejected(other_client.v1.billing_portal.sessions.create, {"customer": shop.customer.id}, status=404)
    assert error.param == "customer" and error.code == "resource_missing"
    assert shop.customer.id in error.user_message


def test_another_accounts_configuration_is_missing(client, other_client, shop):
    other_account = Account.objects.exclude(pk=shop.customer.account_id).get()
    foreign = full_configuration(other_account)
    error = rejected(
        client.v1.billing_portal.sessions.create,
        {"customer": shop.customer.id, "configuration": foreign.id},
        status=404,
    )
    assert error.param == "configuration"


def test_on_behalf_of_is_not_supported(client, shop):
    error = rejected(
        client.v1.billing_portal.sessions.create, {"customer": shop.customer.id, "on_behalf_of": "acct_123"}
    )
    assert error.param == "on_behalf_of"
    assert not PortalSession.objects.exists()


def test_stripes_message_without_a_default_configuration(client, merchant):
    customer = CustomerFactory(account=merchant)
    error = rejected(client.v1.billing_portal.sessions.create, {"customer": customer.id})
    assert error.user_message.startswith(NO_DEFAULT)
    assert error.param == "configuration"


def test_a_return_url_is_needed_from_the_request_or_the_configuration(client, merchant):
    configuration = full_configuration(merchant, default_return_url="")
    customer = CustomerFactory(account=merchant)
    error = rejected(client.v1.billing_portal.sessions.create, {"customer": customer.id})
    assert error.param == "return_url"
    session = client.v1.billing_portal.sessions.create({"customer": customer.id, "return_url": "https://a.example/"})
    assert session.configuration == configuration.id
    error = rejected(
        client.v1.billing_portal.sessions.create, {"customer": customer.id, "return_url": "javascript:alert(1)"}
    )
    assert error.param == "return_url"


def test_an_inactive_configuration_is_refused(client, merchant, shop):
    other = full_configuration(merchant)
    configuration_update(configuration=other, actor=ACTOR, data={"active": False})
    error = rejected(
        client.v1.billing_portal.sessions.create, {"customer": shop.customer.id, "configuration": other.id}
    )
    assert error.param == "configuration"
    assert "inactive" in error.user_message


# ---------------------------------------------------------------------------------------------- plans and modes


MOLLIE_LIVE_KEY = "live_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM"


def live_client(live_server, account) -> stripe.StripeClient:
    _, secret = api_key_create(account=account, livemode=True)
    return stripe.StripeClient(secret, base_addresses={"api": live_server.url}, max_network_retries=0)


def test_live_mode_on_the_starter_plan_is_forbidden(live_server, db):
    account = AccountFactory(plan=Account.Plan.STARTER)
    full_configuration(account, livemode=True)
    customer = CustomerFactory(account=account, livemode=True)
    live = live_client(live_server, account)
    with pytest.raises(stripe.PermissionError) as raised:
        live.v1.billing_portal.sessions.create({"customer": customer.id})
    assert raised.value.http_status == 403
    message = raised.value.user_message
    assert "billing plan" in message and "upgrade" in message.lower() and "test mode" in message
    assert not PortalSession.objects.exists()


def test_live_mode_on_the_billing_plan_needs_terms_and_privacy_links(live_server, merchant):
    configuration = full_configuration(
        merchant, livemode=True, business_profile={"headline": "Billing", "privacy_policy_url": "https://a.example/p"}
    )
    customer = CustomerFactory(account=merchant, livemode=True)
    live = live_client(live_server, merchant)
    error = rejected(live.v1.billing_portal.sessions.create, {"customer": customer.id})
    assert error.param == "configuration"
    assert "terms_of_service_url" in error.user_message
    configuration_update(
        configuration=configuration,
        actor=ACTOR,
        data={"business_profile": {"terms_of_service_url": "https://a.example/t"}},
    )
    # Customers pay and add cards in the portal: live mode also needs the account's payment processor.
    error = rejected(live.v1.billing_portal.sessions.create, {"customer": customer.id})
    assert error.code == "processor_not_configured" and "Payment processors" in error.user_message
    assert not PortalSession.objects.exists()
    processor_account_set(
        account=merchant, livemode=True, processor="mollie", actor=ACTOR, mollie_api_key=MOLLIE_LIVE_KEY
    )
    session = live.v1.billing_portal.sessions.create({"customer": customer.id})
    assert session.livemode is True
    assert TOKEN.search(session.url).group(1) == "live"


def test_test_and_live_customers_are_separate(client, live_server, merchant):
    full_configuration(merchant, livemode=True)
    live_customer = CustomerFactory(account=merchant, livemode=True)
    error = rejected(client.v1.billing_portal.sessions.create, {"customer": live_customer.id}, status=404)
    assert error.param == "customer"


# ---------------------------------------------------------------------------------------------- custom domain


class TxtRecords:
    def __init__(self, records: dict[str, str]):
        self.records = records

    def resolve(self, name, rdtype):
        if name not in self.records:
            raise dns.resolver.NXDOMAIN()
        return [SimpleNamespace(strings=(self.records[name].encode(),))]


def test_the_url_uses_the_verified_custom_domain(client, merchant, shop):
    domain = custom_domain_set(account=merchant, hostname="billing.shop.example", actor=ACTOR)
    assert create(client, shop).url.startswith(settings.PORTAL_BASE_URL + "/p/session/")
    custom_domain_verify(domain=domain, actor=ACTOR, resolver=TxtRecords({domain.record_name: domain.record_value}))
    assert create(client, shop).url.startswith("https://billing.shop.example/p/session/test_")


# ---------------------------------------------------------------------------------------------- flows


def flow_of(session) -> dict:
    return session.to_dict()["flow"]


def confirmation() -> dict:
    """Stripe's default ``after_completion``: its localized confirmation page."""
    return {"type": "hosted_confirmation", "hosted_confirmation": {"custom_message": None}, "redirect": None}


def test_payment_method_update_flow_is_echoed_with_every_key(client, shop):
    session = create(client, shop, flow_data={"type": "payment_method_update"})
    assert flow_of(session) == {
        "type": "payment_method_update",
        "after_completion": confirmation(),
        "customer_update": None,
        "subscription_cancel": None,
        "subscription_update": None,
        "subscription_update_confirm": None,
    }


def test_customer_update_flow(client, merchant, shop):
    session = create(client, shop, flow_data={"type": "customer_update"})
    assert flow_of(session)["type"] == "customer_update"
    assert flow_of(session)["customer_update"] == {}
    closed = full_configuration(merchant, features={"customer_update": {"enabled": False}})
    error = rejected(
        client.v1.billing_portal.sessions.create,
        {"customer": shop.customer.id, "configuration": closed.id, "flow_data": {"type": "customer_update"}},
    )
    assert error.param == "flow_data[type]"


def test_after_completion_hosted_confirmation_and_redirect(client, shop):
    session = create(
        client,
        shop,
        flow_data={
            "type": "payment_method_update",
            "after_completion": {"type": "hosted_confirmation", "hosted_confirmation": {"custom_message": "Thanks!"}},
        },
    )
    assert flow_of(session)["after_completion"] == {
        "type": "hosted_confirmation",
        "hosted_confirmation": {"custom_message": "Thanks!"},
        "redirect": None,
    }
    session = create(
        client,
        shop,
        flow_data={
            "type": "payment_method_update",
            "after_completion": {"type": "redirect", "redirect": {"return_url": "https://shop.example/done"}},
        },
    )
    assert flow_of(session)["after_completion"] == {
        "type": "redirect",
        "hosted_confirmation": None,
        "redirect": {"return_url": "https://shop.example/done"},
    }


@pytest.mark.parametrize(
    ("after_completion", "param"),
    [
        (
            {"type": "hosted_confirmation", "hosted_confirmation": {"custom_message": "x" * 501}},
            "flow_data[after_completion][hosted_confirmation][custom_message]",
        ),
        ({"type": "redirect"}, "flow_data[after_completion][redirect][return_url]"),
        ({"type": "redirect", "redirect": {}}, "flow_data[after_completion][redirect][return_url]"),
        (
            {"type": "redirect", "redirect": {"return_url": "not a url"}},
            "flow_data[after_completion][redirect][return_url]",
        ),
        ({"type": "elsewhere"}, "flow_data[after_completion][type]"),
    ],
)
def test_invalid_after_completion(client, shop, after_completion, param):
    flow_data = {"type": "payment_method_update", "after_completion": after_completion}
    error = rejected(client.v1.billing_portal.sessions.create, {"customer": shop.customer.id, "flow_data": flow_data})
    assert error.param == param


def test_a_custom_message_of_500_characters_is_fine(client, shop):
    message = "ü" * 500
    session = create(
        client,
        shop,
        flow_data={
            "type": "payment_method_update",
            "after_completion": {"type": "hosted_confirmation", "hosted_confirmation": {"custom_message": message}},
        },
    )
    assert flow_of(session)["after_completion"]["hosted_confirmation"]["custom_message"] == message


def test_subscription_cancel_flow_with_a_retention_coupon(client, merchant, shop):
    coupon_create(account=merchant, livemode=False, actor=ACTOR, coupon_id="STAY20", percent_off=20)
    session = create(
        client,
        shop,
        flow_data={
            "type": "subscription_cancel",
            "subscription_cancel": {
                "subscription": shop.subscription.id,
                "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": "STAY20"}},
            },
        },
    )
    assert flow_of(session)["subscription_cancel"] == {
        "subscription": shop.subscription.id,
        "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": "STAY20"}},
    }
    assert flow_of(session)["type"] == "subscription_cancel"
    plain = create(
        client,
        shop,
        flow_data={"type": "subscription_cancel", "subscription_cancel": {"subscription": shop.subscription.id}},
    )
    assert flow_of(plain)["subscription_cancel"] == {"subscription": shop.subscription.id, "retention": None}


def test_subscription_flows_need_the_customers_live_subscription(client, merchant, shop):
    other_customer = CustomerFactory(account=merchant)
    card(other_customer)
    foreign = subscription_create(customer=other_customer, items=[ItemSpec(shop.monthly)], actor=ACTOR)
    for kind in ("subscription_cancel", "subscription_update"):
        param = f"flow_data[{kind}][subscription]"
        error = rejected(
            client.v1.billing_portal.sessions.create, {"customer": shop.customer.id, "flow_data": {"type": kind}}
        )
        assert (error.param, error.code) == (param, "parameter_missing")
        error = rejected(
            client.v1.billing_portal.sessions.create,
            {"customer": shop.customer.id, "flow_data": {"type": kind, kind: {"subscription": foreign.id}}},
            status=404,
        )
        assert error.param == param and foreign.id in error.user_message

    subscription_cancel(subscription=shop.subscription, actor=ACTOR, at_period_end=False)
    for kind in ("subscription_cancel", "subscription_update"):
        error = rejected(
            client.v1.billing_portal.sessions.create,
            {"customer": shop.customer.id, "flow_data": {"type": kind, kind: {"subscription": shop.subscription.id}}},
        )
        assert error.param == f"flow_data[{kind}][subscription]"
        assert "canceled" in error.user_message


def test_an_unknown_or_used_up_retention_coupon_is_refused(client, merchant, shop):
    def cancel_with(coupon):
        return {
            "customer": shop.customer.id,
            "flow_data": {
                "type": "subscription_cancel",
                "subscription_cancel": {
                    "subscription": shop.subscription.id,
                    "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": coupon}},
                },
            },
        }

    param = "flow_data[subscription_cancel][retention][coupon_offer][coupon]"
    error = rejected(client.v1.billing_portal.sessions.create, cancel_with("NOPE"), status=404)
    assert error.param == param and "NOPE" in error.user_message
    coupon = coupon_create(
        account=merchant, livemode=False, actor=ACTOR, coupon_id="ONCE", percent_off=10, max_redemptions=1
    )
    coupon.times_redeemed = 1
    coupon.save(update_fields=["times_redeemed"])
    error = rejected(client.v1.billing_portal.sessions.create, cancel_with("ONCE"))
    assert error.param == param
    coupon_create(account=merchant, livemode=False, actor=ACTOR, coupon_id="FIVEUSD", amount_off=500, currency="usd")
    error = rejected(client.v1.billing_portal.sessions.create, cancel_with("FIVEUSD"))
    assert error.param == param and "EUR" in error.user_message


def test_subscription_update_flow(client, shop):
    session = create(
        client,
        shop,
        flow_data={"type": "subscription_update", "subscription_update": {"subscription": shop.subscription.id}},
    )
    assert flow_of(session)["subscription_update"] == {"subscription": shop.subscription.id}
    assert flow_of(session)["subscription_cancel"] is None


def test_subscription_update_confirm_flow(client, shop):
    session = create(
        client,
        shop,
        flow_data={
            "type": "subscription_update_confirm",
            "subscription_update_confirm": {
                "subscription": shop.subscription.id,
                "items": [{"id": shop.item.id, "price": shop.yearly.id, "quantity": 2}],
            },
        },
    )
    assert flow_of(session)["subscription_update_confirm"] == {
        "subscription": shop.subscription.id,
        "items": [{"id": shop.item.id, "price": shop.yearly.id, "quantity": 2}],
        "discounts": None,
    }


def test_subscription_update_confirm_accepts_one_item_of_the_subscription(client, merchant, shop):
    def confirm(items, subscription=shop.subscription):
        return {
            "customer": shop.customer.id,
            "flow_data": {
                "type": "subscription_update_confirm",
                "subscription_update_confirm": {"subscription": subscription.id, "items": items},
            },
        }

    param = "flow_data[subscription_update_confirm][items]"
    error = rejected(
        client.v1.billing_portal.sessions.create,
        confirm([{"id": shop.item.id, "price": shop.yearly.id}, {"id": shop.item.id, "quantity": 3}]),
    )
    assert error.param == param
    error = rejected(
        client.v1.billing_portal.sessions.create, confirm([{"id": "si_unknown", "quantity": 2}]), status=404
    )
    assert error.param == f"{param}[0][id]"

    second = monthly_price(merchant)
    two_items = subscription_create(
        customer=shop.customer, items=[ItemSpec(shop.monthly), ItemSpec(second)], actor=ACTOR
    )
    first_item = two_items.items.order_by("id").first()
    error = rejected(
        client.v1.billing_portal.sessions.create, confirm([{"id": first_item.id, "quantity": 2}], two_items)
    )
    assert "multiple items" in error.user_message


def test_subscription_update_confirm_with_a_price_outside_the_configuration(client, merchant, shop):
    outside = monthly_price(merchant)
    error = rejected(
        client.v1.billing_portal.sessions.create,
        {
            "customer": shop.customer.id,
            "flow_data": {
                "type": "subscription_update_confirm",
                "subscription_update_confirm": {
                    "subscription": shop.subscription.id,
                    "items": [{"id": shop.item.id, "price": outside.id}],
                },
            },
        },
    )
    assert error.user_message == (
        f"The item `{shop.item.id}` cannot be updated to price `{outside.id}` because the configuration "
        f"`{shop.configuration.id}` does not include the price in its `features[subscription_update][products]`."
    )
    assert error.param == "flow_data[subscription_update_confirm][items][0][price]"


def test_a_flow_needs_its_feature(client, merchant, shop):
    configuration = full_configuration(merchant, features={"payment_method_update": {"enabled": False}})
    error = rejected(
        client.v1.billing_portal.sessions.create,
        {
            "customer": shop.customer.id,
            "configuration": configuration.id,
            "flow_data": {"type": "payment_method_update"},
        },
    )
    assert error.param == "flow_data[type]"
    error = rejected(
        client.v1.billing_portal.sessions.create,
        {"customer": shop.customer.id, "flow_data": {"type": "subscription_pause"}},
    )
    assert error.param == "flow_data[type]"
