"""On PostgreSQL a text column has a ``varchar_pattern_ops`` twin only where the code matches it by prefix
(``config.postgresql``): ids, foreign keys, statuses, digests and e-mail addresses have one index each, and
migration ``billing.0030`` drops the twins an older database has."""

import importlib
import re
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection

from config.postgresql.base import PREFIX_MATCHED

PATTERN_INDEXED = """
SELECT t.relname, a.attname
FROM pg_index i
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
JOIN pg_opclass o ON o.oid = i.indclass[0]
WHERE o.opcname IN ('varchar_pattern_ops', 'text_pattern_ops')
"""
PRODUCT_APPS = ("api", "billing", "checkout", "configurations", "portal", "vault", "webhooks")


def _pattern_indexed() -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(PATTERN_INDEXED)
        return set(cursor.fetchall())


def _needs_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (run through .ci/run)")


@pytest.mark.django_db
def test_only_the_prefix_matched_columns_have_a_pattern_twin():
    _needs_postgresql()
    assert _pattern_indexed() == set(PREFIX_MATCHED)


def test_every_prefix_match_in_the_code_is_on_a_listed_column():
    """A new ``__startswith`` filter on another column needs its twin: add the column to ``PREFIX_MATCHED``."""
    columns = {column for _table, column in PREFIX_MATCHED}
    found = set()
    for app in PRODUCT_APPS:
        for path in (Path(settings.BASE_DIR) / app).rglob("*.py"):
            found |= set(re.findall(r"(\w+)__i?startswith\b", path.read_text()))
    # ``billing_reason`` is matched inside a CASE over one invoice's rows, never to find rows.
    assert found - {"billing_reason"} <= columns


@pytest.mark.django_db(transaction=True)
def test_the_migration_drops_the_twins_an_older_database_has():
    _needs_postgresql()
    migration = importlib.import_module("billing.migrations.0030_pattern_twins_only_for_prefix_matches")
    twins = (("billing_customer", "id"), ("billing_invoice", "customer_id"), ("billing_subscription", "status"))
    with connection.schema_editor() as editor:
        for table, column in twins:
            name = editor._create_index_name(table, [column], suffix="_like")
            editor.execute(f'CREATE INDEX "{name}" ON "{table}" ("{column}" varchar_pattern_ops)')
    assert set(twins) <= _pattern_indexed()

    with connection.schema_editor() as editor:
        migration.drop_pattern_twins(apps, editor)

    assert _pattern_indexed() == set(PREFIX_MATCHED)
