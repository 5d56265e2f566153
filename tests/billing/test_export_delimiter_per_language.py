"""The CSV export's default separator follows the staff member's language: ``;`` where ``,`` is the decimal mark,
and then the amounts are written with a decimal comma."""

import csv
import io

import pytest

from billing.exports import BOM, HEADER, csv_chunks, default_delimiter


@pytest.mark.parametrize(("language", "delimiter"), [("en", ","), ("en-us", ","), (None, ",")])
def test_comma_where_the_decimal_mark_is_a_point(language, delimiter):
    assert default_delimiter(language) == delimiter


@pytest.mark.parametrize("language", ["de", "de-at", "fr", "fr-ch", "es", "it", "nl", "NL"])
def test_semicolon_where_the_decimal_mark_is_a_comma(language):
    assert default_delimiter(language) == ";"


def _row(amount: str) -> tuple[str, ...]:
    cells = dict.fromkeys(HEADER, "x")
    cells["amount"] = amount
    return tuple(cells[name] for name in HEADER)


def test_semicolon_export_writes_amounts_with_a_decimal_comma():
    text = "".join(csv_chunks([_row("149.00"), _row("12.345"), _row("500")], delimiter=";"))
    rows = list(csv.reader(io.StringIO(text.removeprefix(BOM)), delimiter=";"))
    assert [row[HEADER.index("amount")] for row in rows[1:]] == ["149,00", "12,345", "500"]
    # Only the amount: other cells keep their points.
    assert rows[1][HEADER.index("customer_email")] == "x"


def test_comma_export_keeps_the_decimal_point():
    text = "".join(csv_chunks([_row("149.00")], delimiter=","))
    rows = list(csv.reader(io.StringIO(text.removeprefix(BOM))))
    assert rows[1][HEADER.index("amount")] == "149.00"
