"""Drop the ``varchar_pattern_ops`` twins Django gave indexed text columns on PostgreSQL, except where the code
matches by prefix (see ``config.postgresql.base``): databases created before that backend have them, new ones
never do."""

from django.db import migrations

from config.postgresql.base import PREFIX_MATCHED

PATTERN_TWINS = r"""
SELECT idx.relname, tab.relname, att.attname
FROM pg_index ix
JOIN pg_class idx ON idx.oid = ix.indexrelid
JOIN pg_class tab ON tab.oid = ix.indrelid
JOIN pg_namespace ns ON ns.oid = idx.relnamespace
JOIN pg_attribute att ON att.attrelid = ix.indrelid AND att.attnum = ix.indkey[0]
JOIN pg_opclass op ON op.oid = ix.indclass[0]
WHERE op.opcname IN ('varchar_pattern_ops', 'text_pattern_ops') AND ix.indnatts = 1
  AND idx.relname LIKE '%\_like' AND ns.nspname = current_schema()
"""


def drop_pattern_twins(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(PATTERN_TWINS)
        twins = cursor.fetchall()
    for index, table, column in twins:
        if (table, column) not in PREFIX_MATCHED:
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(index)}")


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0029_test_clock_labels"),
        ("api", "0002_german_admin_labels"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("checkout", "0004_german_admin_labels"),
        ("configurations", "0009_preview_origin_labels"),
        ("portal", "0003_german_admin_labels"),
        ("webhooks", "0002_german_admin_labels"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(drop_pattern_twins, migrations.RunPython.noop, elidable=True)]
