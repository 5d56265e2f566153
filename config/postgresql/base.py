"""Django's PostgreSQL backend, except that primary keys and foreign keys get no ``varchar_pattern_ops`` twin.

Django gives every indexed or unique ``varchar`` column a second index (``…_like``) so that ``LIKE 'abc%'`` can use
an index under any collation. Our primary keys are opaque ids (``cus_…``) and foreign keys point at them: they are
only ever compared for equality, which the ordinary index serves. The twin only costs: every INSERT writes it, and
the planner of every new connection opens it for each table a query reads (about a third of all indexes). Other
text columns (event types, which webhook filters match by prefix) keep theirs. Selected in ``config.settings``
whenever ``DATABASE_URL`` names PostgreSQL; migration ``billing.0030`` drops the twins older databases have."""

from django.db.backends.postgresql import base, schema


def has_pattern_twin(field) -> bool:
    """Whether Django would give ``field`` a ``…_like`` index that this backend leaves out."""
    return field.primary_key or field.is_relation


class DatabaseSchemaEditor(schema.DatabaseSchemaEditor):
    def _create_like_index_sql(self, model, field):
        if has_pattern_twin(field):
            return None
        return super()._create_like_index_sql(model, field)


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor
