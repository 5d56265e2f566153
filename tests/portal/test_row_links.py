"""The links of a list's rows (``{% row_url %}``) are the URLs ``{% url %}`` gives, reversed once per process."""

import pytest
from django.urls import NoReverseMatch, reverse

from portal.templatetags.portal_format import row_url


@pytest.mark.parametrize(
    ("view_name", "args"),
    [
        ("portal:hosted_invoice", ["Ab3_-x9"]),
        ("portal:hosted_invoice_pdf", ["Ab3_-x9"]),
        ("portal:invoice_pay", ["in_0mxcfspvlbffr5fd5n3safabz"]),
        ("portal:brand_image", ["acct_1", "logo", "0a1b2c"]),
        ("portal:overview", []),
        ("portal:hosted_invoice", ["a bé?&"]),  # quoted by reversing: reversed again, not filled in
    ],
)
def test_row_links_are_what_reversing_gives(view_name, args):
    assert row_url(view_name, *args) == reverse(view_name, args=args)
    assert row_url(view_name, *args) == reverse(view_name, args=args)  # the second time from the split URL


def test_a_row_link_that_does_not_reverse_fails_as_reversing_does():
    with pytest.raises(NoReverseMatch):
        row_url("portal:hosted_invoice", "a/b")
