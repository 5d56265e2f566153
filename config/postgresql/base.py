"""Django's PostgreSQL backend, except that a text column gets a ``varchar_pattern_ops`` twin only where the code
matches it by prefix.

Django gives every indexed or unique ``varchar`` column a second index (``…_like``) so that ``LIKE 'abc%'`` can use
an index under any collation. Only a prefix match (``__startswith``) can use it: equality and ``IN`` use the
ordinary index, and ``contains`` / ``icontains`` (searches) cannot use either. Our ids, foreign keys, statuses,
digests and e-mail addresses are compared for equality only, so their twins only cost: every INSERT writes them,
and the planner of every new connection opens each index of every table a query reads. ``PREFIX_MATCHED`` lists
the columns the code does match by prefix; they keep their twin. Selected in ``config.settings`` whenever
``DATABASE_URL`` names PostgreSQL; migration ``billing.0030`` drops the twins older databases have."""

from django.db.backends.postgresql import base, schema

# (table, column) of every column matched with ``__startswith``: event types (a webhook endpoint's "customer.*")
# and the idempotency keys of invoice payments (``in_…``).
PREFIX_MATCHED = frozenset({("billing_event", "type"), ("billing_charge", "idempotency_key")})


def has_pattern_twin(model, field) -> bool:
    """Whether ``field`` of ``model`` keeps the ``…_like`` index Django would give it."""
    return (model._meta.db_table, field.column) in PREFIX_MATCHED


class DatabaseSchemaEditor(schema.DatabaseSchemaEditor):
    def _create_like_index_sql(self, model, field):
        if not has_pattern_twin(model, field):
            return None
        return super()._create_like_index_sql(model, field)


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor
