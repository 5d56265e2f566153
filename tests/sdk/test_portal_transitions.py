"""Our extensions of the portal configuration through the official SDK: features[subscription_update][transitions]
(mode and graph) and add-on products; an unknown price in the graph is a clear error, never a 500."""

import pytest
import stripe

from tests.factories.billing import PriceFactory, ProductFactory


def _catalog(merchant):
    basic, pro, storage = (ProductFactory(account=merchant, name=name) for name in ("Basic", "Pro", "Storage"))
    return {
        "basic": PriceFactory(account=merchant, product=basic, unit_amount=1000),
        "pro": PriceFactory(account=merchant, product=pro, unit_amount=2000),
        "storage": PriceFactory(account=merchant, product=storage, unit_amount=300),
    }


def _features(prices, **transitions) -> dict:
    return {
        "subscription_update": {
            "enabled": True,
            "default_allowed_updates": ["price", "quantity"],
            "products": [
                {"product": prices["basic"].product_id, "prices": [prices["basic"].pk]},
                {"product": prices["pro"].product_id, "prices": [prices["pro"].pk]},
                {"product": prices["storage"].product_id, "prices": [prices["storage"].pk], "add_on": True},
            ],
            **({"transitions": transitions} if transitions else {}),
        }
    }


def test_modes_and_graph_through_the_sdk(client, merchant):
    prices = _catalog(merchant)
    created = client.v1.billing_portal.configurations.create(
        {"features": _features(prices, mode="upgrades_only"), "expand": ["features.subscription_update.products"]}
    )
    update = created.features.subscription_update
    assert update.transitions.mode == "upgrades_only" and update.transitions.graph.to_dict() == {}
    assert [entry.add_on for entry in update.products] == [False, False, True]

    graph = {prices["basic"].pk: [prices["pro"].pk], prices["pro"].pk: [prices["basic"].pk]}
    updated = client.v1.billing_portal.configurations.update(
        created.id, {"features": {"subscription_update": {"transitions": {"mode": "graph", "graph": graph}}}}
    )
    assert updated.features.subscription_update.transitions.mode == "graph"
    assert updated.features.subscription_update.transitions.graph.to_dict() == graph
    fetched = client.v1.billing_portal.configurations.retrieve(created.id)
    assert fetched.features.subscription_update.transitions.graph.to_dict() == graph

    back = client.v1.billing_portal.configurations.update(
        created.id, {"features": {"subscription_update": {"transitions": {"mode": "no_lateral"}}}}
    )
    assert back.features.subscription_update.transitions.mode == "no_lateral"


@pytest.mark.parametrize(
    ("transitions", "param"),
    [
        ({"mode": "graph", "graph": {"price_unknown": ["BASIC"]}}, "[graph][price_unknown]"),
        ({"mode": "graph", "graph": {"BASIC": ["price_unknown"]}}, "[graph][BASIC][0]"),
        ({"mode": "graph"}, "[graph]"),
        ({"mode": "sideways"}, "[mode]"),
    ],
)
def test_bad_transitions_answer_a_clear_error(client, merchant, transitions, param):
    prices = _catalog(merchant)
    basic = prices["basic"].pk
    if "graph" in transitions:
        transitions["graph"] = {
            key.replace("BASIC", basic): [value.replace("BASIC", basic) for value in values]
            for key, values in transitions["graph"].items()
        }
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.billing_portal.configurations.create({"features": _features(prices, **transitions)})
    error = raised.value
    assert error.http_status == 400
    assert error.param == "features[subscription_update][transitions]" + param.replace("BASIC", basic)
    assert error.user_message
