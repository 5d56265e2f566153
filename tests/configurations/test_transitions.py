"""Allowed plan transitions (our extension ``features[subscription_update][transitions]``) and add-on products:
validated once for the API and the admin, with errors that name the field; the rule's arithmetic."""

import pytest

from billing.audit import Actor
from billing.exceptions import InvalidRequest
from billing.models import Customer
from configurations.models import PortalConfiguration
from configurations.representations import configuration as render
from configurations.services.portal_configurations import configuration_create, configuration_update
from configurations.transitions import amount_per_year, transition_refusal
from tests.configurations.helpers import post_data
from tests.configurations.test_admin import ADD, GERMAN, change_url
from tests.factories.billing import PriceFactory

ACTOR = Actor.system("test")


def update_features(catalog, **extra) -> dict:
    return {
        "subscription_update": {
            "enabled": True,
            "default_allowed_updates": ["price"],
            "products": [
                {"product": catalog["basic"].pk, "prices": [catalog["basic_monthly"].pk, catalog["basic_yearly"].pk]},
                {"product": catalog["pro"].pk, "prices": [catalog["pro_monthly"].pk], "add_on": "true"},
            ],
            **extra,
        }
    }


def create(merchant, features) -> PortalConfiguration:
    return configuration_create(account=merchant, livemode=False, actor=ACTOR, data={"features": features})


def test_transitions_and_add_ons_are_stored_and_rendered(merchant, catalog):
    graph = {catalog["basic_monthly"].pk: [catalog["pro_monthly"].pk], catalog["pro_monthly"].pk: [""]}
    graph[catalog["pro_monthly"].pk] = [catalog["basic_monthly"].pk]  # a cycle is fine
    configuration = create(merchant, update_features(catalog, transitions={"mode": "graph", "graph": graph}))
    shown = render(configuration, include_products=True)["features"]["subscription_update"]
    assert shown["transitions"] == {"mode": "graph", "graph": graph}
    assert [entry["add_on"] for entry in shown["products"]] == [False, True]
    plain = render(create(merchant, update_features(catalog)))["features"]["subscription_update"]
    assert plain["transitions"] == {"mode": "any", "graph": {}}


@pytest.mark.parametrize(
    ("transitions", "param", "words"),
    [
        ({"mode": "sideways"}, "features[subscription_update][transitions][mode]", "must be one of any"),
        (
            {"mode": "graph", "graph": {"price_unknown": ["BASIC"]}},
            "features[subscription_update][transitions][graph][price_unknown]",
            "No such price: 'price_unknown'",
        ),
        (
            {"mode": "graph", "graph": {"BASIC": ["price_missing"]}},
            "features[subscription_update][transitions][graph][BASIC][0]",
            "No such price: 'price_missing'",
        ),
        ({"mode": "graph"}, "features[subscription_update][transitions][graph]", "mode]=graph needs"),
        ({"speed": "fast"}, "features[subscription_update][transitions][speed]", "unknown parameter"),
    ],
)
def test_bad_transitions_name_the_field(merchant, catalog, transitions, param, words):
    basic = catalog["basic_monthly"].pk
    transitions = {
        key: ({k.replace("BASIC", basic): [v.replace("BASIC", basic) for v in vs] for k, vs in value.items()})
        if key == "graph"
        else value
        for key, value in transitions.items()
    }
    param = param.replace("BASIC", basic)
    with pytest.raises(InvalidRequest) as raised:
        create(merchant, update_features(catalog, transitions=transitions))
    assert raised.value.param == param and words in raised.value.message
    assert not PortalConfiguration.objects.exists()


def test_another_accounts_price_in_the_graph_is_unknown(merchant, other_merchant, catalog):
    theirs = PriceFactory(account=other_merchant, product__account=other_merchant)
    configuration = create(merchant, update_features(catalog))
    with pytest.raises(InvalidRequest) as raised:
        configuration_update(
            configuration=configuration,
            actor=ACTOR,
            data={"features": {"subscription_update": {"transitions": {"graph": {theirs.pk: ""}}}}},
        )
    assert raised.value.code == "resource_missing" and theirs.pk in raised.value.message


def test_amounts_are_compared_per_year():
    month, year = PriceFactory.build(unit_amount=1000), PriceFactory.build(unit_amount=12000, recurring_interval="year")
    week = PriceFactory.build(unit_amount=700, recurring_interval="week")
    day = PriceFactory.build(unit_amount=100, recurring_interval="day")
    quarter = PriceFactory.build(unit_amount=3000, recurring_interval_count=3)
    assert amount_per_year(month) == amount_per_year(year) == amount_per_year(quarter)
    assert amount_per_year(week) == amount_per_year(day)


def test_the_rule_of_each_mode_and_the_customers_own_list(merchant, catalog):
    configuration = PortalConfiguration(account=merchant)
    customer = Customer(account=merchant, metadata={})
    basic, yearly, pro = catalog["basic_monthly"], catalog["basic_yearly"], catalog["pro_monthly"]
    same = PriceFactory(account=merchant, product=catalog["pro"], unit_amount=12000, recurring_interval="year")

    def refusals(mode, **graph):
        configuration.subscription_update_transitions_mode = mode
        configuration.subscription_update_transitions_graph = graph
        return [transition_refusal(configuration, customer, basic, target) for target in (yearly, pro, same, basic)]

    assert refusals("any") == ["", "", "", ""]
    assert refusals("upgrades_only") == ["upgrades_only", "", "upgrades_only", ""]
    assert refusals("no_lateral") == ["", "", "no_lateral", ""]
    assert refusals("graph", **{basic.pk: [pro.pk]}) == ["graph", "", "graph", ""]
    customer.metadata = {"portal_allowed_prices": f" {same.pk} ,{yearly.pk}"}
    assert refusals("upgrades_only") == ["", "customer", "", ""]


def test_the_admin_saves_transitions_and_add_ons(staff_client, merchant, catalog):
    from tests.configurations.test_admin import plan_change_form, product_row

    rows = [
        product_row(0, catalog["basic"], [catalog["basic_monthly"]]),
        product_row(1, catalog["pro"], [catalog["pro_monthly"]], add_on="on"),
    ]
    data = plan_change_form(
        staff_client,
        catalog,
        rows,
        subscription_update_transitions_mode="upgrades_only",
        subscription_update_transitions_graph="{}",
    )
    response = staff_client.post(ADD, data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    configuration = PortalConfiguration.objects.get()
    assert configuration.subscription_update_transitions_mode == "upgrades_only"
    assert [row.add_on for row in configuration.products.all()] == [False, True]


def test_the_admin_explains_an_unknown_price_in_the_graph(staff_client, merchant, catalog):
    configuration = create(merchant, update_features(catalog))
    form = staff_client.get(change_url(configuration))
    data = post_data(
        form,
        subscription_update_transitions_mode="graph",
        subscription_update_transitions_graph='{"price_nope": []}',
    )
    response = staff_client.post(change_url(configuration), data, **GERMAN)
    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors["subscription_update_transitions_graph"])
    assert "price_nope" in errors
    configuration.refresh_from_db()
    assert configuration.subscription_update_transitions_mode == "any"
