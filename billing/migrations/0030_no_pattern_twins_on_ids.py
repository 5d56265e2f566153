"""Drop the ``varchar_pattern_ops`` twin Django gave every primary and foreign key on PostgreSQL (see
``config.postgresql.base``): databases created before that backend have them, new ones never do."""

from django.db import migrations

from config.postgresql.base import has_pattern_twin


def drop_pattern_twins(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for model in apps.get_models(include_auto_created=True):
        if not model._meta.managed or model._meta.proxy:
            continue
        for field in model._meta.local_fields:
            db_type = field.db_type(schema_editor.connection) or ""
            if has_pattern_twin(field) and db_type.startswith(("varchar", "text")):
                name = schema_editor._create_index_name(model._meta.db_table, [field.column], suffix="_like")
                schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0029_test_clock_labels"),
        ("api", "0002_german_admin_labels"),
        ("checkout", "0004_german_admin_labels"),
        ("configurations", "0009_preview_origin_labels"),
        ("portal", "0003_german_admin_labels"),
        ("webhooks", "0002_german_admin_labels"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(drop_pattern_twins, migrations.RunPython.noop, elidable=True)]
