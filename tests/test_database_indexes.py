"""On PostgreSQL an identifier has one index: no ``varchar_pattern_ops`` twin on a primary or foreign key
(``config.postgresql``), and migration ``billing.0030`` drops the twins an older database has."""

import importlib

import pytest
from django.apps import apps
from django.db import connection

from config.postgresql.base import has_pattern_twin

PATTERN_INDEXED = """
SELECT t.relname, a.attname
FROM pg_index i
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
JOIN pg_opclass o ON o.oid = i.indclass[0]
WHERE o.opcname IN ('varchar_pattern_ops', 'text_pattern_ops')
"""


def _pattern_indexed() -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(PATTERN_INDEXED)
        return set(cursor.fetchall())


def _identifiers() -> set[tuple[str, str]]:
    return {
        (model._meta.db_table, field.column)
        for model in apps.get_models(include_auto_created=True)
        for field in model._meta.local_fields
        if has_pattern_twin(field)
    }


def _needs_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (run through .ci/run)")


@pytest.mark.django_db
def test_primary_and_foreign_keys_have_no_pattern_twin_and_other_text_columns_keep_theirs():
    _needs_postgresql()
    pattern_indexed = _pattern_indexed()
    assert pattern_indexed & _identifiers() == set()
    assert ("billing_customer", "id") not in pattern_indexed and (
        "billing_invoice",
        "customer_id",
    ) not in pattern_indexed
    assert ("auth_user", "username") in pattern_indexed  # a unique name, not an identifier: Django's default stays


@pytest.mark.django_db(transaction=True)
def test_the_migration_drops_the_twins_an_older_database_has():
    _needs_postgresql()
    migration = importlib.import_module("billing.migrations.0030_no_pattern_twins_on_ids")
    twins = (("billing_customer", "id"), ("billing_invoice", "customer_id"))
    with connection.schema_editor() as editor:
        for table, column in twins:
            name = editor._create_index_name(table, [column], suffix="_like")
            editor.execute(f'CREATE INDEX "{name}" ON "{table}" ("{column}" varchar_pattern_ops)')
    assert set(twins) <= _pattern_indexed()

    with connection.schema_editor() as editor:
        migration.drop_pattern_twins(apps, editor)

    assert _pattern_indexed() & _identifiers() == set()
    assert ("auth_user", "username") in _pattern_indexed()
