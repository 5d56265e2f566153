"""The API refuses metadata in the words the services use (``billing.metadata``): one problem, one English text,
the same whichever of them finds it and whatever language the request asks for."""

from urllib.parse import urlencode

import pytest

from billing.exceptions import InvalidRequest
from billing.services.common import validate_metadata
from tests.api.helpers import post_in_german
from tests.factories.billing import AccountFactory

LONG_KEY = "k" * 41
CASES = [
    (
        "metadata=plain",
        "plain",
        "metadata",
        "Invalid metadata: must be a set of key-value pairs.",
    ),
    (
        urlencode({f"metadata[k{i}]": "v" for i in range(51)}),
        {f"k{i}": "v" for i in range(51)},
        "metadata",
        "Invalid metadata: at most 50 keys are allowed.",
    ),
    (
        f"metadata[{LONG_KEY}]=v",
        {LONG_KEY: "v"},
        f"metadata[{LONG_KEY}]",
        f"Invalid metadata key '{LONG_KEY}': keys are at most 40 characters without square brackets.",
    ),
    (
        "metadata[colors][0]=red",
        {"colors": ["red"]},
        "metadata[colors]",
        "Invalid metadata value for 'colors': values must be text, not a list or an object. For several values, use "
        "one key for each.",
    ),
    (
        "metadata[note]=" + "x" * 501,
        {"note": "x" * 501},
        "metadata[note]",
        "Invalid metadata value for 'note': at most 500 characters.",
    ),
]


@pytest.mark.parametrize(("body", "metadata", "param", "english"), CASES)
def test_the_api_and_the_services_word_a_metadata_refusal_the_same(db, body, metadata, param, english):
    account = AccountFactory(name="Alpha")
    response = post_in_german(account, "/v1/customers", f"email=meta%40alpha.example&{body}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["message"], error["param"]) == (english, param)
    with pytest.raises(InvalidRequest) as refused:
        validate_metadata(metadata)
    assert (refused.value.message, refused.value.param) == (english, param)
