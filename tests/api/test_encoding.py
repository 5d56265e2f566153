from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stripe._encode import _api_encode

from api.encoding import EncodingError, parse_pairs, parse_query


def test_indexed_lists_nested_dicts_and_blank_values():
    parsed = parse_query(
        "features[subscription_update][products][0][prices][0]=price_1&features[subscription_update][products][0][product]=prod_1"
        "&expand[]=customer&expand[]=latest_invoice&metadata[0]=zero&pause_collection=&active=true"
    )
    assert parsed == {
        "features": {"subscription_update": {"products": [{"prices": ["price_1"], "product": "prod_1"}]}},
        "expand": ["customer", "latest_invoice"],
        "metadata": {"0": "zero"},
        "pause_collection": "",
        "active": "true",
    }


def test_rails_style_appended_objects():
    parsed = parse_query("items[][price]=a&items[][quantity]=2&items[][price]=b")
    assert parsed == {"items": [{"price": "a", "quantity": "2"}, {"price": "b"}]}


@pytest.mark.parametrize("query", ["a=1&a[b]=2", "a[b]=2&a=1", "a[]=1&a[b]=2", "a]=1", "[a]=1", "a[b]]=1"])
def test_conflicting_or_malformed_keys_are_refused(query):
    with pytest.raises(EncodingError):
        parse_query(query)


def test_limits():
    with pytest.raises(EncodingError):
        parse_query("a" + "[b]" * 20 + "=1")
    with pytest.raises(EncodingError):
        parse_query("&".join(f"k{i}=1" for i in range(2500)))


keys = st.from_regex(r"[a-z_]{1,8}", fullmatch=True).filter(lambda k: k != "metadata")
scalars = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=4),
        st.dictionaries(keys, children, min_size=1, max_size=4),
    ),
    max_leaves=12,
)


def _clean(container):
    if isinstance(container, dict):
        return {k: v for k, v in container.items() if v not in ({}, [])}
    return [v for v in container if v not in ({}, [])]


def _scalar(value, raw):
    # The SDK sends a bool held directly by a list as str(value) ("False"), elsewhere lowercased.
    if isinstance(value, bool):
        return str(value) if raw else str(value).lower()
    return str(value)


def _dict_value(value):
    if isinstance(value, list):
        return _clean([_list_element(e) for e in value])
    if isinstance(value, dict):
        return _clean({k: _dict_value(v) for k, v in value.items()})
    return _scalar(value, raw=False)


def _list_element(value):
    # The SDK re-encodes a list element that is a list as a dict of its indexes.
    if isinstance(value, list):
        return _clean([_dict_value(v) for v in value])
    if isinstance(value, dict):
        return _clean({k: _dict_value(v) for k, v in value.items()})
    return _scalar(value, raw=True)


@given(st.dictionaries(keys, values, min_size=1, max_size=5))
def test_round_trip_with_the_sdk_encoder(params):
    encoded = urlencode(list(_api_encode(params)))
    assert parse_query(encoded) == _dict_value(params)


def test_metadata_keys_stay_strings():
    assert parse_pairs([("metadata[1]", "a"), ("metadata[0]", "b")]) == {"metadata": {"1": "a", "0": "b"}}


def test_nul_characters_are_refused():
    with pytest.raises(EncodingError):
        parse_query("email=a%00b")


def test_nul_in_a_path_id_is_a_404(db):
    from django.test import Client

    from billing.services.accounts import api_key_create
    from tests.factories.billing import AccountFactory

    _, secret = api_key_create(account=AccountFactory(), livemode=False)
    response = Client().get("/v1/customers/cus_a%00b", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "resource_missing"
