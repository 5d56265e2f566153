"""Customer-group rules as rows of key and value ("Add rule"), text values only, and the change page naming the
customers the configuration would get, as the portal resolves them."""

import pytest

from billing.exceptions import InvalidRequest
from billing.models import AuditEntry
from configurations.models import PortalConfiguration
from configurations.selectors import configuration_for_customer
from tests.configurations.helpers import post_data
from tests.configurations.test_admin import ACTOR, ADD, change_url, create
from tests.factories.billing import CustomerFactory

NAME = "customer_group_metadata"


def rows(*pairs) -> dict:
    data = {}
    for index, (key, value) in enumerate(pairs):
        data[f"{NAME}-key-{index}"] = key
        data[f"{NAME}-value-{index}"] = value
    return data


def test_the_rule_is_entered_as_rows_and_saved_as_text(staff_client):
    page = staff_client.get(ADD)
    html = page.content.decode()
    assert f'name="{NAME}-key-0"' in html and f'name="{NAME}-value-0"' in html
    assert "Add rule" in html and "configurations/metadata-rules.js" in html
    response = staff_client.post(ADD, {**post_data(page, name="Segment A"), **rows(("segment", "a"), ("plan", "gold"))})
    assert response.status_code == 302, response.context["adminform"].form.errors
    configuration = PortalConfiguration.objects.get(name="Segment A")
    assert configuration.customer_group_metadata == {"segment": "a", "plan": "gold"}

    edit = staff_client.get(change_url(configuration)).content.decode()
    assert 'value="segment"' in edit and 'value="gold"' in edit and f'name="{NAME}-key-2"' in edit  # one more row
    response = staff_client.post(
        change_url(configuration),
        {**post_data(staff_client.get(change_url(configuration))), **rows(("segment", "b"), ("", ""))},
    )
    assert response.status_code == 302
    configuration.refresh_from_db()
    assert configuration.customer_group_metadata == {"segment": "b"}
    assert AuditEntry.objects.filter(action="portal_configuration.update", actor_type="staff").exists()


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ((("segment", ""),), "The key “segment” has no value"),
        ((("", "a"),), "The value “a” has no key"),
        ((("segment", "a"), ("segment", "b")), "The key “segment” appears twice"),
        ((("seg[ment]", "a"),), "has square brackets"),
    ],
)
def test_incomplete_or_repeated_rows_are_form_errors(staff_client, pairs, message):
    page = staff_client.get(ADD)
    response = staff_client.post(ADD, {**post_data(page, name="Bad"), **rows(*pairs)})
    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors[NAME])
    assert not PortalConfiguration.objects.filter(name="Bad").exists()


def test_a_list_value_is_refused_not_stored_as_its_python_spelling(merchant):
    with pytest.raises(InvalidRequest) as refused:
        create(merchant, customer_group={"metadata": {"segment": ["a"]}})
    assert refused.value.param == "customer_group[metadata][segment]"
    assert "must be text, not a list" in refused.value.message
    assert not PortalConfiguration.objects.filter(customer_group_metadata__has_key="segment").exists()


def test_the_change_page_lists_the_customers_the_portal_would_give_it(staff_client, merchant, other_merchant):
    broad = create(merchant, name="Segment A", customer_group={"metadata": {"segment": "a"}})
    narrow = create(
        merchant, name="Gold A", customer_group={"metadata": {"segment": "a", "tier": "gold"}, "priority": 5}
    )
    plain = CustomerFactory(account=merchant, email="plain@alpha.example", metadata={"segment": "a"})
    gold = CustomerFactory(account=merchant, email="gold@alpha.example", metadata={"segment": "a", "tier": "gold"})
    CustomerFactory(account=merchant, email="b@alpha.example", metadata={"segment": "b"})
    CustomerFactory(account=other_merchant, email="stranger@beta.example", metadata={"segment": "a"})
    # The portal's own resolution agrees with the page.
    assert configuration_for_customer(customer=plain) == broad
    assert configuration_for_customer(customer=gold) == narrow

    page = staff_client.get(change_url(broad)).content.decode()
    assert "1 customer gets this configuration" in page and "plain@alpha.example" in page
    assert "gold@alpha.example" not in page and "stranger@beta.example" not in page
    page = staff_client.get(change_url(narrow)).content.decode()
    assert "gold@alpha.example" in page and "plain@alpha.example" not in page

    nobody = create(merchant, name="Nobody")
    assert "No rule:" in staff_client.get(change_url(nobody)).content.decode()
    assert ACTOR  # the helper's actor created the configurations
