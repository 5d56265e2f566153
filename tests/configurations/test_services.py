"""The configuration services: the rules (shared by API and admin), the default swap, login links, customer groups."""

import threading
from types import SimpleNamespace

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.utils import translation

from billing.audit import Actor
from billing.exceptions import InvalidRequest, StateConflict
from billing.models import AuditEntry, Event
from configurations.models import PortalConfiguration
from configurations.selectors import configuration_for_customer, configuration_for_login_token, default_configuration
from configurations.services.portal_configurations import (
    configuration_create,
    configuration_make_default,
    configuration_set_login_page,
    configuration_update,
)
from configurations.services.validation import configuration_validate
from tests.factories.billing import AccountFactory, CustomerFactory

ACTOR = Actor.system("test")
MINIMAL = {"features": {"invoice_history": {"enabled": True}}}


def create(account, livemode=False, **data):
    return configuration_create(account=account, livemode=livemode, actor=ACTOR, data={**MINIMAL, **data})


def plan_changes(*entries) -> dict:
    return {
        "features": {
            "subscription_update": {
                "enabled": True,
                "default_allowed_updates": ["price"],
                "products": [{"product": product.pk, "prices": [p.pk for p in prices]} for product, prices in entries],
            }
        }
    }


# ---------------------------------------------------------------------------------------------- rules


def test_one_price_per_interval_and_currency_per_product(merchant, catalog):
    basic = catalog["basic"]
    with pytest.raises(InvalidRequest) as error:
        configuration_validate(
            account=merchant,
            livemode=False,
            data=plan_changes(
                (basic, [catalog["basic_monthly"], catalog["basic_yearly"], catalog["basic_monthly_student"]])
            ),
        )
    assert error.value.param == "features[subscription_update][products][0][prices][2]"
    # Another product may use the same interval and currency.
    cleaned = configuration_validate(
        account=merchant,
        livemode=False,
        data=plan_changes((basic, [catalog["basic_monthly"]]), (catalog["pro"], [catalog["pro_monthly"]])),
    )
    assert [spec.product for spec in cleaned.products] == [basic, catalog["pro"]]


def test_messages_read_in_the_active_language_and_stay_english_for_the_api(merchant, catalog):
    """``localized`` (the admin, the portal) follows the active language, names of prices and intervals too;
    ``message`` (the API) is English whatever the language."""
    basic = catalog["basic"]
    data = plan_changes((basic, [catalog["basic_monthly"], catalog["basic_monthly_student"]]))
    with translation.override("de"):
        with pytest.raises(InvalidRequest) as error:
            configuration_validate(account=merchant, livemode=False, data=data)
        assert "hat bereits einen monatlich abgerechneten Preis in EUR" in error.value.localized
        assert "Intervall month" not in error.value.localized
    assert error.value.message.startswith(f"Product “Basic” ({basic.pk}) already has a price billed monthly in EUR: ")
    assert str(error.value) == error.value.message
    with translation.override("de"):
        with pytest.raises(InvalidRequest) as error:
            configuration_validate(
                account=merchant, livemode=False, data={"features": {"subscription_update": {"enabled": True}}}
            )
        # Stripe's wording stays recognisable: the param name is never translated.
        assert "features[subscription_update][products]" in error.value.localized
        assert error.value.localized != "Missing required param: features[subscription_update][products]."
    assert error.value.message == "Missing required param: features[subscription_update][products]."


def test_validation_reads_only_the_tenants_rows(merchant, other_merchant, catalog):
    with pytest.raises(InvalidRequest) as error:
        configuration_validate(
            account=other_merchant, livemode=False, data=plan_changes((catalog["basic"], [catalog["basic_monthly"]]))
        )
    assert error.value.code == "resource_missing"
    with pytest.raises(InvalidRequest) as error:
        configuration_validate(
            account=merchant, livemode=True, data=plan_changes((catalog["basic"], [catalog["basic_monthly"]]))
        )
    assert error.value.code == "resource_missing"


def test_a_refused_update_leaves_no_trace(merchant, catalog):
    configuration = create(merchant, **plan_changes((catalog["basic"], [catalog["basic_monthly"]])))
    events_before = Event.objects.count()
    with pytest.raises(InvalidRequest):
        configuration_update(
            configuration=configuration,
            actor=ACTOR,
            data={
                "name": "Changed",
                **plan_changes((catalog["basic"], [catalog["basic_monthly"], catalog["basic_monthly_student"]])),
            },
        )
    configuration.refresh_from_db()
    assert configuration.name == "" and [row.product_id for row in configuration.products.all()] == [
        catalog["basic"].pk
    ]
    assert list(configuration.products.get().prices.all()) == [catalog["basic_monthly"]]
    assert Event.objects.count() == events_before


def test_an_update_that_changes_nothing_records_nothing(merchant):
    configuration = create(merchant, name="Same")
    count = Event.objects.count(), AuditEntry.objects.count()
    configuration_update(configuration=configuration, actor=ACTOR, data={"name": "Same", **MINIMAL})
    assert (Event.objects.count(), AuditEntry.objects.count()) == count


# ---------------------------------------------------------------------------------------------- default


def test_the_first_active_configuration_of_a_mode_is_the_default(merchant):
    inactive = create(merchant, active=False)
    assert not inactive.is_default
    first, second = create(merchant), create(merchant)
    live = create(merchant, livemode=True)
    assert first.is_default and not second.is_default and live.is_default
    assert default_configuration(account=merchant, livemode=False) == first


def test_make_default_swaps_in_one_step(merchant):
    first, second = create(merchant), create(merchant)
    configuration_make_default(configuration=second, actor=ACTOR)
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.is_default and not first.is_default
    updates = Event.objects.filter(type="billing_portal.configuration.updated")
    assert {e.data_object["id"]: e.previous_attributes["is_default"] for e in updates} == {
        first.pk: True,
        second.pk: False,
    }
    assert AuditEntry.objects.filter(action="portal_configuration.make_default").count() == 2
    # Making the default the default again changes nothing.
    configuration_make_default(configuration=second, actor=ACTOR)
    assert updates.count() == 2


def test_an_inactive_configuration_cannot_become_the_default(merchant):
    create(merchant)
    inactive = create(merchant, active=False)
    with pytest.raises(StateConflict):
        configuration_make_default(configuration=inactive, actor=ACTOR)


def test_the_database_refuses_two_defaults(merchant):
    first, second = create(merchant), create(merchant)
    second.is_default = True
    with pytest.raises(IntegrityError), transaction.atomic():
        second.save(update_fields=["is_default"])
    assert first.is_default


@pytest.mark.django_db(transaction=True)
def test_concurrent_make_default_leaves_exactly_one_default():
    """Two staff members make two different configurations the default at the same moment."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises every write, so there is no race to test")
    account = AccountFactory()
    configurations = [create(account) for _ in range(5)]
    barrier = threading.Barrier(4)
    errors: list[Exception] = []

    def make_default(configuration):
        try:
            barrier.wait(timeout=10)
            configuration_make_default(configuration=configuration, actor=ACTOR)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    for _ in range(3):
        threads = [threading.Thread(target=make_default, args=(c,)) for c in configurations[1:]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert errors == []
        defaults = PortalConfiguration.objects.filter(account=account, livemode=False, is_default=True)
        assert defaults.count() == 1
        assert defaults.get() in configurations[1:]


# ---------------------------------------------------------------------------------------------- login link


def test_login_link_token_is_new_each_time_it_is_switched_on(merchant):
    configuration = create(merchant, login_page={"enabled": True})
    first_token = configuration.login_page_token
    assert len(first_token) >= 43
    configuration = configuration_set_login_page(configuration=configuration, actor=ACTOR, enabled=False)
    assert configuration.login_page_token == "" and configuration.login_page_url is None
    assert configuration_for_login_token(token=first_token) is None
    configuration = configuration_set_login_page(configuration=configuration, actor=ACTOR, enabled=True)
    assert configuration.login_page_token not in ("", first_token)
    assert configuration_for_login_token(token=configuration.login_page_token) == configuration
    assert configuration_for_login_token(token="") is None


def test_a_login_link_of_an_inactive_configuration_does_not_work(merchant):
    create(merchant)
    configuration = create(merchant, login_page={"enabled": True})
    configuration = configuration_update(configuration=configuration, actor=ACTOR, data={"active": False})
    assert configuration_for_login_token(token=configuration.login_page_token) is None


# ---------------------------------------------------------------------------------------------- customer groups


def test_a_customer_group_rule_picks_the_configuration(merchant):
    default = create(merchant)
    create(merchant, customer_group={"metadata": {"segment": "enterprise"}, "priority": 1})
    enterprise_eu = create(
        merchant, customer_group={"metadata": {"segment": "enterprise", "region": "eu"}, "priority": 5}
    )
    create(
        merchant,
        active=False,
        customer_group={"metadata": {"segment": "enterprise", "region": "eu"}, "priority": 9},
    )
    eu = CustomerFactory(account=merchant, metadata={"segment": "enterprise", "region": "eu"})
    us = CustomerFactory(account=merchant, metadata={"segment": "enterprise", "region": "us"})
    nobody = CustomerFactory(account=merchant, metadata={})
    assert configuration_for_customer(customer=eu) == enterprise_eu
    assert configuration_for_customer(customer=us).customer_group_priority == 1
    assert configuration_for_customer(customer=nobody) == default


# ---------------------------------------------------------------------------------------------- API expand


def test_configuration_ids_are_expandable_within_the_tenant(merchant, other_merchant):
    import api.resources  # noqa: F401  (registers the billing_portal.configuration renderer)
    from api import expand

    configuration = create(merchant)
    mine = expand.apply(
        {"object": "billing_portal.session", "configuration": configuration.pk},
        ["configuration"],
        SimpleNamespace(account=merchant, livemode=False),
    )
    assert mine["configuration"]["object"] == "billing_portal.configuration"
    assert "products" not in mine["configuration"]["features"]["subscription_update"]
    theirs = expand.apply(
        {"object": "billing_portal.session", "configuration": configuration.pk},
        ["configuration"],
        SimpleNamespace(account=other_merchant, livemode=False),
    )
    assert theirs["configuration"] == configuration.pk
