"""/v1/billing_portal/configurations through the official SDK: Stripe's object, its rules and our extensions."""

import pytest
import stripe

from billing.models import AuditEntry, Event, Price
from configurations.models import PortalConfiguration
from configurations.selectors import configuration_for_login_token
from tests.factories.billing import PriceFactory, ProductFactory

PRODUCTS = "features[subscription_update][products]"

TOP_LEVEL_KEYS = {
    "id",
    "object",
    "active",
    "application",
    "business_profile",
    "created",
    "default_return_url",
    "features",
    "is_default",
    "livemode",
    "login_page",
    "metadata",
    "name",
    "updated",
    # our extensions
    "custom_text",
    "customer_group",
    "subscription_start",
}


def minimal(**extra) -> dict:
    return {"features": {"invoice_history": {"enabled": True}}, **extra}


def price(merchant, product=None, *, interval="month", currency="eur", livemode=False, **kwargs) -> Price:
    product = product or ProductFactory(account=merchant, livemode=livemode)
    return PriceFactory(
        account=merchant,
        product=product,
        livemode=livemode,
        recurring_interval=interval,
        currency=currency,
        **kwargs,
    )


def plan_changes(*products) -> dict:
    """``features`` enabling plan changes between ``products``: a list of (product, [prices]) pairs."""
    return {
        "subscription_update": {
            "enabled": True,
            "default_allowed_updates": ["price", "quantity"],
            "products": [{"product": product.pk, "prices": [p.pk for p in prices]} for product, prices in products],
        }
    }


def rejected(call, *args) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as error:
        call(*args)
    assert error.value.http_status == 400, error.value.user_message
    return error.value


# ---------------------------------------------------------------------------------------------- the object


def test_create_retrieve_update_list(client, merchant):
    monthly = price(merchant)
    yearly = price(merchant, monthly.product, interval="year")
    created = client.v1.billing_portal.configurations.create(
        {
            "name": "Members",
            "business_profile": {
                "headline": "Acme partners with us for simplified billing.",
                "privacy_policy_url": "https://acme.example/privacy",
                "terms_of_service_url": "https://acme.example/terms",
            },
            "default_return_url": "https://acme.example/account",
            "features": {
                "customer_update": {"enabled": True, "allowed_updates": ["email", "tax_id"]},
                "invoice_history": {"enabled": True},
                "payment_method_update": {"enabled": True},
                "subscription_cancel": {
                    "enabled": True,
                    "mode": "immediately",
                    "proration_behavior": "create_prorations",
                    "cancellation_reason": {"enabled": True, "options": ["too_expensive", "other"]},
                },
                **plan_changes((monthly.product, [monthly, yearly])),
            },
            "metadata": {"team": "growth"},
        }
    )
    assert created.object == "billing_portal.configuration" and created.id.startswith("bpc_")
    assert set(created.to_dict()) == TOP_LEVEL_KEYS
    assert created.active is True and created.livemode is False and created.application is None
    assert created.is_default is False  # as Stripe's: the API never makes a default on its own
    assert created.business_profile.headline.startswith("Acme")
    assert created.features.customer_update.allowed_updates == ["email", "tax_id"]
    cancel = created.features.subscription_cancel
    assert (cancel.mode, cancel.proration_behavior) == ("immediately", "create_prorations")
    assert cancel.cancellation_reason.options == ["too_expensive", "other"]
    update = created.features.subscription_update
    assert update.enabled and update.default_allowed_updates == ["price", "quantity"]
    assert update.proration_behavior == "none" and update.trial_update_behavior == "end_trial"
    assert "products" not in update.to_dict()
    assert created.login_page.to_dict() == {"enabled": False, "url": None}
    assert created.metadata.to_dict() == {"team": "growth"}

    fetched = client.v1.billing_portal.configurations.retrieve(created.id)
    assert fetched.to_dict() == created.to_dict()

    updated = client.v1.billing_portal.configurations.update(
        created.id, {"name": "", "metadata": {"team": "", "tier": "gold"}, "business_profile": {"headline": ""}}
    )
    assert updated.name is None and updated.business_profile.headline is None
    assert updated.metadata.to_dict() == {"tier": "gold"}
    assert updated.business_profile.terms_of_service_url == "https://acme.example/terms"

    listed = client.v1.billing_portal.configurations.list()
    assert [c.id for c in listed.data] == [created.id] and listed.url == "/v1/billing_portal/configurations"

    created_event = Event.objects.get(type="billing_portal.configuration.created")
    assert created_event.data_object["id"] == created.id
    updated_event = Event.objects.get(type="billing_portal.configuration.updated")
    assert {"name", "metadata", "business_profile"} <= set(updated_event.previous_attributes)
    assert updated_event.previous_attributes["name"] == "Members"
    actions = set(
        AuditEntry.objects.filter(object_id=created.id, actor_type="api_key").values_list("action", flat=True)
    )
    assert actions == {"portal_configuration.create", "portal_configuration.update"}


def test_defaults_of_a_minimal_configuration(client):
    created = client.v1.billing_portal.configurations.create(minimal())
    features = created.features
    assert features.invoice_history.enabled is True
    assert features.customer_update.to_dict() == {"allowed_updates": [], "enabled": False}
    assert features.payment_method_update.to_dict() == {"enabled": False, "payment_method_configuration": None}
    assert features.subscription_cancel.mode == "at_period_end"
    assert features.subscription_cancel.proration_behavior == "none"
    assert features.subscription_cancel.cancellation_reason.options == [
        "too_expensive",
        "missing_features",
        "switched_service",
        "unused",
        "other",
    ]
    assert features.subscription_update.billing_cycle_anchor is None
    assert features.subscription_update.schedule_at_period_end.conditions == []
    assert features.pause_collection.to_dict() == {"behavior": "void", "enabled": False, "max_duration_days": None}
    assert created.business_profile.to_dict() == {
        "headline": None,
        "privacy_policy_url": None,
        "terms_of_service_url": None,
    }
    assert created.custom_text.to_dict() == {"cancel": None, "login": None, "overview": None, "update": None}
    assert created.customer_group.to_dict() == {"metadata": {}, "priority": 0}
    assert created.subscription_start.to_dict() == {"checkout_link": None}


def test_the_subscription_start_extension_takes_the_account_s_subscription_links(client, merchant):
    from checkout.services.links import LinkItemSpec, checkout_link_create
    from tests.factories.billing import ACTOR

    link = checkout_link_create(account=merchant, livemode=False, actor=ACTOR, items=[LinkItemSpec(price(merchant))])
    created = client.v1.billing_portal.configurations.create(minimal(subscription_start={"checkout_link": link.id}))
    assert created.subscription_start.checkout_link == link.id
    foreign = checkout_link_create(
        account=(other := PriceFactory()).account, livemode=False, actor=ACTOR, items=[LinkItemSpec(other)]
    )
    error = rejected(
        client.v1.billing_portal.configurations.update,
        created.id,
        {"subscription_start": {"checkout_link": foreign.id}},
    )
    assert (error.code, error.param) == ("resource_missing", "subscription_start[checkout_link]")
    cleared = client.v1.billing_portal.configurations.update(created.id, {"subscription_start": {"checkout_link": ""}})
    assert cleared.subscription_start.checkout_link is None


def test_legacy_module_style(legacy):
    created = legacy.billing_portal.Configuration.create(features={"invoice_history": {"enabled": True}})
    modified = legacy.billing_portal.Configuration.modify(created.id, name="Legacy")
    assert modified.name == "Legacy"
    assert legacy.billing_portal.Configuration.retrieve(created.id).name == "Legacy"
    assert [c.id for c in legacy.billing_portal.Configuration.list().data] == [created.id]


def test_features_are_required_on_create(client):
    error = rejected(client.v1.billing_portal.configurations.create, {"name": "No features"})
    assert error.code == "parameter_missing" and error.param == "features"


# ---------------------------------------------------------------------------------------------- products and expand


def test_products_are_left_out_unless_expanded(client, merchant):
    monthly = price(merchant)
    created = client.v1.billing_portal.configurations.create({"features": plan_changes((monthly.product, [monthly]))})
    assert "products" not in created.features.subscription_update.to_dict()
    expand = ["features.subscription_update.products"]
    again = client.v1.billing_portal.configurations.retrieve(created.id, {"expand": expand})
    assert [p.to_dict() for p in again.features.subscription_update.products] == [
        {
            "adjustable_quantity": {"enabled": False, "maximum": None, "minimum": 0},
            "prices": [monthly.pk],
            "product": monthly.product.pk,
            "add_on": False,  # our extension, beside Stripe's fields
        }
    ]
    created_expanded = client.v1.billing_portal.configurations.create(
        {"features": plan_changes((monthly.product, [monthly])), "expand": expand}
    )
    assert len(created_expanded.features.subscription_update.products) == 1
    updated = client.v1.billing_portal.configurations.update(created.id, {"name": "x", "expand": expand})
    assert updated.features.subscription_update.products[0].product == monthly.product.pk
    listed = client.v1.billing_portal.configurations.list({"expand": ["data.features.subscription_update.products"]})
    assert all(len(c.features.subscription_update.products) == 1 for c in listed.data)
    assert all(
        "products" not in c.features.subscription_update.to_dict()
        for c in client.v1.billing_portal.configurations.list().data
    )


def test_products_keep_their_order_and_adjustable_quantity(client, merchant):
    first, second = price(merchant), price(merchant)
    created = client.v1.billing_portal.configurations.create(
        {
            "features": {
                "subscription_update": {
                    "enabled": True,
                    "default_allowed_updates": ["price"],
                    "products": [
                        {
                            "product": second.product.pk,
                            "prices": [second.pk],
                            "adjustable_quantity": {"enabled": True, "minimum": 1, "maximum": 25},
                        },
                        {"product": first.product.pk, "prices": [first.pk]},
                    ],
                }
            },
            "expand": ["features.subscription_update.products"],
        }
    )
    products = created.features.subscription_update.products
    assert [p.product for p in products] == [second.product.pk, first.product.pk]
    assert products[0].adjustable_quantity.to_dict() == {"enabled": True, "maximum": 25, "minimum": 1}


def test_updating_products_replaces_the_list(client, merchant):
    a, b = price(merchant), price(merchant)
    created = client.v1.billing_portal.configurations.create({"features": plan_changes((a.product, [a]))})
    updated = client.v1.billing_portal.configurations.update(
        created.id,
        {
            "features": {"subscription_update": {"products": [{"product": b.product.pk, "prices": [b.pk]}]}},
            "expand": ["features.subscription_update.products"],
        },
    )
    assert [p.product for p in updated.features.subscription_update.products] == [b.product.pk]


# ---------------------------------------------------------------------------------------------- the rules


def test_same_product_same_interval_same_currency_is_rejected(client, merchant):
    regular = price(merchant, unit_amount=400)
    student = price(merchant, regular.product, unit_amount=300)
    yearly = price(merchant, regular.product, interval="year")
    error = rejected(
        client.v1.billing_portal.configurations.create,
        {"features": plan_changes((regular.product, [regular, yearly, student]))},
    )
    assert error.param == f"{PRODUCTS}[0][prices][2]"
    assert "billed monthly in EUR" in error.user_message and regular.pk in error.user_message
    assert not PortalConfiguration.objects.exists()


def test_another_product_may_reuse_the_interval_and_currency(client, merchant):
    regular = price(merchant)
    student = price(merchant)  # a separate student product, as Stripe's docs advise
    created = client.v1.billing_portal.configurations.create(
        {"features": plan_changes((regular.product, [regular]), (student.product, [student]))}
    )
    assert created.features.subscription_update.enabled


def test_the_same_product_in_another_currency_is_accepted(client, merchant):
    eur = price(merchant)
    usd = price(merchant, eur.product, currency="usd")
    created = client.v1.billing_portal.configurations.create(
        {"features": plan_changes((eur.product, [eur, usd])), "expand": ["features.subscription_update.products"]}
    )
    assert sorted(created.features.subscription_update.products[0].prices) == sorted([eur.pk, usd.pk])


def test_the_rule_holds_when_updating_too(client, merchant):
    monthly = price(merchant)
    other_monthly = price(merchant, monthly.product)
    created = client.v1.billing_portal.configurations.create({"features": plan_changes((monthly.product, [monthly]))})
    error = rejected(
        client.v1.billing_portal.configurations.update,
        created.id,
        {
            "features": {
                "subscription_update": {
                    "products": [{"product": monthly.product.pk, "prices": [monthly.pk, other_monthly.pk]}]
                }
            }
        },
    )
    assert error.param == f"{PRODUCTS}[0][prices][1]"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda merchant, product: price(merchant), "belongs to another product"),
        (lambda merchant, product: price(merchant, product, interval="", type="one_time"), "one-time price"),
        (lambda merchant, product: price(merchant, product, interval="year", active=False), "archived"),
    ],
    ids=["other-product", "one-time", "archived"],
)
def test_prices_must_belong_to_their_product_be_recurring_and_active(client, merchant, make, message):
    first, second = price(merchant), price(merchant)
    bad = make(merchant, second.product)
    error = rejected(
        client.v1.billing_portal.configurations.create,
        {"features": plan_changes((first.product, [first]), (second.product, [bad, second]))},
    )
    assert error.param == f"{PRODUCTS}[1][prices][0]" and message in error.user_message


def test_unknown_and_foreign_products_and_prices_are_missing(client, merchant, other_client):
    mine = price(merchant)  # exists, but the other account cannot see it
    error = rejected(
        other_client.v1.billing_portal.configurations.create,
        {"features": plan_changes((mine.product, [mine]))},
    )
    assert error.code == "resource_missing" and error.param == f"{PRODUCTS}[0][product]"
    error = rejected(
        client.v1.billing_portal.configurations.create,
        {
            "features": {
                "subscription_update": {
                    "enabled": True,
                    "default_allowed_updates": ["price"],
                    "products": [{"product": mine.product.pk, "prices": ["price_nope"]}],
                }
            }
        },
    )
    assert error.code == "resource_missing" and error.param == f"{PRODUCTS}[0][prices][0]"


def test_at_most_ten_products(client, merchant):
    prices = [price(merchant) for _ in range(11)]
    error = rejected(
        client.v1.billing_portal.configurations.create,
        {"features": plan_changes(*[(p.product, [p]) for p in prices])},
    )
    assert error.param == PRODUCTS
    created = client.v1.billing_portal.configurations.create(
        {"features": plan_changes(*[(p.product, [p]) for p in prices[:10]])}
    )
    assert created.features.subscription_update.enabled


def test_a_product_listed_twice_is_rejected(client, merchant):
    monthly = price(merchant)
    yearly = price(merchant, monthly.product, interval="year")
    error = rejected(
        client.v1.billing_portal.configurations.create,
        {"features": plan_changes((monthly.product, [monthly]), (monthly.product, [yearly]))},
    )
    assert error.param == f"{PRODUCTS}[1][product]"


def test_enabling_plan_changes_needs_products_and_allowed_updates(client, merchant):
    error = rejected(
        client.v1.billing_portal.configurations.create,
        {"features": {"subscription_update": {"enabled": True, "default_allowed_updates": ["price"]}}},
    )
    assert error.user_message == "Missing required param: features[subscription_update][products]."
    assert error.param == PRODUCTS and error.code == "parameter_missing"
    monthly = price(merchant)
    error = rejected(
        client.v1.billing_portal.configurations.create,
        {
            "features": {
                "subscription_update": {
                    "enabled": True,
                    "products": [{"product": monthly.product.pk, "prices": [monthly.pk]}],
                }
            }
        },
    )
    assert error.param == "features[subscription_update][default_allowed_updates]"
    # Disabled, nothing else is needed (Stripe's 2024-09-30 change).
    client.v1.billing_portal.configurations.create({"features": {"subscription_update": {"enabled": False}}})
    # Clearing the products of an enabled configuration is the same mistake.
    created = client.v1.billing_portal.configurations.create({"features": plan_changes((monthly.product, [monthly]))})
    error = rejected(
        client.v1.billing_portal.configurations.update,
        created.id,
        {"features": {"subscription_update": {"products": ""}}},
    )
    assert error.param == PRODUCTS


def test_cancel_prorations(client):
    error = rejected(
        client.v1.billing_portal.configurations.create,
        {
            "features": {
                "subscription_cancel": {"enabled": True, "mode": "immediately", "proration_behavior": "always_invoice"}
            }
        },
    )
    assert error.param == "features[subscription_cancel][proration_behavior]" and "always_invoice" in error.user_message
    error = rejected(
        client.v1.billing_portal.configurations.create,
        {"features": {"subscription_cancel": {"enabled": True, "proration_behavior": "create_prorations"}}},
    )
    assert error.param == "features[subscription_cancel][proration_behavior]" and "immediately" in error.user_message
    created = client.v1.billing_portal.configurations.create(
        {
            "features": {
                "subscription_cancel": {
                    "enabled": True,
                    "mode": "immediately",
                    "proration_behavior": "create_prorations",
                }
            }
        }
    )
    # Switching the mode back alone would leave an impossible combination.
    error = rejected(
        client.v1.billing_portal.configurations.update,
        created.id,
        {"features": {"subscription_cancel": {"mode": "at_period_end"}}},
    )
    assert error.param == "features[subscription_cancel][proration_behavior]"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"business_profile": {"headline": "x" * 61}}, "business_profile[headline]"),
        ({"name": "x" * 257}, "name"),
        ({"default_return_url": "javascript:alert(1)"}, "default_return_url"),
        ({"business_profile": {"terms_of_service_url": "not a url"}}, "business_profile[terms_of_service_url]"),
        ({"metadata": {"k" * 41: "v"}}, f"metadata[{'k' * 41}]"),
        ({"metadata": {"key": "v" * 501}}, "metadata[key]"),
        ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata"),
        (
            {"features": {"payment_method_update": {"enabled": True, "payment_method_configuration": "pmc_123"}}},
            "features[payment_method_update][payment_method_configuration]",
        ),
        (
            {"features": {"customer_update": {"enabled": True, "allowed_updates": ["email", "birthday"]}}},
            "features[customer_update][allowed_updates][1]",
        ),
        (
            {
                "features": {
                    "subscription_cancel": {"enabled": True, "cancellation_reason": {"enabled": True, "options": ""}}
                }
            },
            "features[subscription_cancel][cancellation_reason][options]",
        ),
        (
            {"features": {"pause_collection": {"enabled": True, "max_duration_days": 0}}},
            "features[pause_collection][max_duration_days]",
        ),
        ({"custom_text": {"overview": "x" * 2001}}, "custom_text[overview]"),
        ({"customer_group": {"metadata": {"k" * 41: "v"}}}, f"customer_group[metadata][{'k' * 41}]"),
        (
            {"features": {"customer_update": {"allowed_updates": ["email"]}}},
            "features[customer_update][enabled]",
        ),
    ],
)
def test_invalid_values_name_their_param(client, params, param):
    data = {"features": {"invoice_history": {"enabled": True}}}
    for key, value in params.items():
        data[key] = {**data.get(key, {}), **value} if key == "features" else value
    error = rejected(client.v1.billing_portal.configurations.create, data)
    assert error.param == param, error.user_message


def test_subscription_pause_is_refused_with_an_explanation(client):
    error = rejected(
        client.v1.billing_portal.configurations.create,
        {"features": {"invoice_history": {"enabled": True}, "subscription_pause": {"enabled": True}}},
    )
    assert error.param == "features[subscription_pause]"
    assert "removed" in error.user_message and "features[pause_collection]" in error.user_message
    created = client.v1.billing_portal.configurations.create(minimal())
    error = rejected(
        client.v1.billing_portal.configurations.update,
        created.id,
        {"features": {"subscription_pause": {"enabled": False}}},
    )
    assert error.param == "features[subscription_pause]"


def test_the_default_cannot_be_deactivated(client):
    first = client.v1.billing_portal.configurations.create(minimal(is_default=True))
    second = client.v1.billing_portal.configurations.create(minimal())
    assert first.is_default and not second.is_default
    error = rejected(client.v1.billing_portal.configurations.update, first.id, {"active": False})
    assert error.param == "active"
    assert client.v1.billing_portal.configurations.update(second.id, {"active": False}).active is False
    assert [c.id for c in client.v1.billing_portal.configurations.list({"active": False}).data] == [second.id]
    assert [c.id for c in client.v1.billing_portal.configurations.list({"is_default": True}).data] == [first.id]
    assert [c.id for c in client.v1.billing_portal.configurations.list({"is_default": False}).data] == [second.id]


def test_an_api_created_configuration_is_never_the_default_unless_asked(client):
    """Stripe makes a default only in its Dashboard; our ``is_default=true`` extension is the API's way."""
    first = client.v1.billing_portal.configurations.create(minimal())
    assert first.is_default is False
    assert client.v1.billing_portal.configurations.update(first.id, {"name": "Renamed"}).is_default is False
    assert client.v1.billing_portal.configurations.update(first.id, {"is_default": True}).is_default is True
    second = client.v1.billing_portal.configurations.create(minimal(is_default=True))
    assert second.is_default is True
    assert client.v1.billing_portal.configurations.retrieve(first.id).is_default is False
    error = rejected(client.v1.billing_portal.configurations.update, second.id, {"is_default": False})
    assert error.param == "is_default"
    assert client.v1.billing_portal.configurations.retrieve(second.id).is_default is True


def test_unknown_parameters_are_refused(client):
    error = rejected(client.v1.billing_portal.configurations.create, minimal(application="ca_123"))
    assert error.code == "parameter_unknown" and error.param == "application"


def test_a_refused_update_changes_nothing(client, merchant):
    created = client.v1.billing_portal.configurations.create(minimal(name="Before"))
    rejected(
        client.v1.billing_portal.configurations.update,
        created.id,
        {"name": "After", "features": {"subscription_cancel": {"proration_behavior": "create_prorations"}}},
    )
    assert client.v1.billing_portal.configurations.retrieve(created.id).name == "Before"
    assert not Event.objects.filter(type="billing_portal.configuration.updated").exists()


# ---------------------------------------------------------------------------------------------- login page


def test_login_page_url_appears_and_disappears(client, settings):
    created = client.v1.billing_portal.configurations.create(minimal(login_page={"enabled": True}))
    url = created.login_page.url
    assert created.login_page.enabled and url.startswith(f"{settings.PORTAL_BASE_URL}/p/login/")
    token = url.rsplit("/", 1)[1]
    assert len(token) >= 43  # 256 bits, URL-safe
    assert configuration_for_login_token(token=token).pk == created.id

    off = client.v1.billing_portal.configurations.update(created.id, {"login_page": {"enabled": False}})
    assert off.login_page.to_dict() == {"enabled": False, "url": None}
    assert configuration_for_login_token(token=token) is None
    assert PortalConfiguration.objects.get(pk=created.id).login_page_token == ""

    on_again = client.v1.billing_portal.configurations.update(created.id, {"login_page": {"enabled": True}})
    assert on_again.login_page.url and on_again.login_page.url != url
    unchanged = client.v1.billing_portal.configurations.update(created.id, {"login_page": {"enabled": True}})
    assert unchanged.login_page.url == on_again.login_page.url


# ---------------------------------------------------------------------------------------------- extensions


def test_extensions_round_trip(client):
    created = client.v1.billing_portal.configurations.create(
        {
            "features": {
                "invoice_history": {"enabled": True},
                "pause_collection": {"enabled": True, "behavior": "keep_as_draft", "max_duration_days": 90},
            },
            "custom_text": {"overview": "**Questions?** Write to [support](mailto:help@acme.example)."},
            "customer_group": {"metadata": {"segment": "enterprise"}, "priority": 10},
        }
    )
    assert created.features.pause_collection.to_dict() == {
        "behavior": "keep_as_draft",
        "enabled": True,
        "max_duration_days": 90,
    }
    assert created.custom_text.overview.startswith("**Questions?**") and created.custom_text.cancel is None
    assert created.customer_group.to_dict() == {"metadata": {"segment": "enterprise"}, "priority": 10}
    updated = client.v1.billing_portal.configurations.update(
        created.id,
        {
            "features": {"pause_collection": {"max_duration_days": ""}},
            "custom_text": {"overview": ""},
            "customer_group": {"metadata": ""},
        },
    )
    assert updated.features.pause_collection.max_duration_days is None
    assert updated.features.pause_collection.enabled is True
    assert updated.custom_text.overview is None and updated.customer_group.metadata.to_dict() == {}


# ---------------------------------------------------------------------------------------------- tenancy


def test_another_account_cannot_see_or_change_it(client, other_client):
    created = client.v1.billing_portal.configurations.create(minimal(name="Mine"))
    for call, args in (
        (other_client.v1.billing_portal.configurations.retrieve, (created.id,)),
        (other_client.v1.billing_portal.configurations.update, (created.id, {"name": "Theirs"})),
    ):
        with pytest.raises(stripe.InvalidRequestError) as error:
            call(*args)
        assert error.value.http_status == 404 and error.value.code == "resource_missing"
    assert other_client.v1.billing_portal.configurations.list().data == []
    assert client.v1.billing_portal.configurations.retrieve(created.id).name == "Mine"


def test_test_and_live_mode_are_separate(client, merchant, live_server):
    live = stripe.StripeClient(merchant.live_secret, base_addresses={"api": live_server.url}, max_network_retries=0)
    test_config = client.v1.billing_portal.configurations.create(minimal(is_default=True))
    live_config = live.v1.billing_portal.configurations.create(minimal(is_default=True))
    assert live_config.livemode is True and test_config.livemode is False
    # Each mode has its own default.
    assert test_config.is_default and live_config.is_default
    assert [c.id for c in live.v1.billing_portal.configurations.list().data] == [live_config.id]
    with pytest.raises(stripe.InvalidRequestError) as error:
        live.v1.billing_portal.configurations.retrieve(test_config.id)
    assert error.value.http_status == 404
    test_price = price(merchant)
    error = rejected(
        live.v1.billing_portal.configurations.update,
        live_config.id,
        {"features": plan_changes((test_price.product, [test_price]))},
    )
    assert error.code == "resource_missing" and error.param == f"{PRODUCTS}[0][product]"
