"""The CSV export's default separator follows the staff member's language: ``;`` where ``,`` is the decimal mark."""

import pytest

from billing.exports import default_delimiter


@pytest.mark.parametrize(("language", "delimiter"), [("en", ","), ("en-us", ","), (None, ",")])
def test_comma_where_the_decimal_mark_is_a_point(language, delimiter):
    assert default_delimiter(language) == delimiter


@pytest.mark.parametrize("language", ["de", "de-at", "fr", "fr-ch", "es", "it", "nl", "NL"])
def test_semicolon_where_the_decimal_mark_is_a_comma(language):
    assert default_delimiter(language) == ";"
