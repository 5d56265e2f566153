"""Statements written once per process from the models' metadata, for the few reads that happen on nearly every
request (the API key, the endpoints that hear an action's events, a page's subscriptions and items, the audit entry
and events every write records); what the ORM would build and compile again on every call. The rows come back as
the ORM makes them: its converters, then the instance ``Model.from_db`` would make."""

import functools
import inspect
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import Model, signals
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute


@dataclass(frozen=True)
class Column:
    col: object  # the ORM's column expression: its field and converters
    sql: str  # ``alias."column"``
    converters: tuple


@dataclass(frozen=True)
class Columns:
    """The concrete fields of a model as one statement selects them, with what making instances of them needs."""

    model: type
    columns: tuple[Column, ...]
    attnames: tuple[str, ...]
    converting: tuple[tuple[int, Column], ...]  # the columns whose values the ORM converts, by position
    plain: bool  # whether ``Model.__init__`` would only store the values (see ``_plain``)

    def __iter__(self):
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)


def columns(model, alias: str) -> Columns:
    """The concrete fields of ``model``, as selected from the table aliased ``alias``."""
    quote = connection.ops.quote_name
    selected = []
    for field in model._meta.concrete_fields:
        col = field.get_col(alias)
        converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        selected.append(Column(col, f"{alias}.{quote(field.column)}", tuple(converters)))
    return Columns(
        model,
        tuple(selected),
        tuple(column.col.target.attname for column in selected),
        tuple((index, column) for index, column in enumerate(selected) if column.converters),
        _plain(model),
    )


def _plain(model) -> bool:
    """Whether ``model(*values)`` would do nothing but store each value under its field's attribute: no
    ``__init__`` or ``from_db`` of its own, nobody listening to its init signals, and plain attributes (a foreign
    key's id attribute only drops a cached related row, which a new instance has none of)."""
    return (
        model.__init__ is Model.__init__
        and model.from_db.__func__ is Model.from_db.__func__
        and not signals.pre_init.has_listeners(model)
        and not signals.post_init.has_listeners(model)
        and all(
            type(inspect.getattr_static(model, field.attname, None)) in (DeferredAttribute, ForeignKeyDeferredAttribute)
            for field in model._meta.concrete_fields
        )
    )


def select_list(*groups: Columns) -> str:
    return ", ".join(column.sql for group in groups for column in group)


def instance(model, selected: Columns, values: tuple):
    """A ``model`` instance from the values the database sent for ``selected``: what ``Model.from_db`` makes, without
    its per-field work where that would only store the values (a page builds dozens of instances)."""
    if len(values) != len(selected.attnames):
        raise ValueError(f"{len(values)} values for {len(selected.attnames)} columns of {model.__name__}")
    values = list(values)
    for index, column in selected.converting:
        value = values[index]
        for convert in column.converters:
            value = convert(value, column.col, connection)
        values[index] = value
    if not selected.plain:
        return model.from_db(DEFAULT_DB_ALIAS, selected.attnames, values)
    obj = model.__new__(model)
    obj.__dict__.update(zip(selected.attnames, values, strict=True))
    obj._state = state = ModelState()
    state.adding, state.db = False, DEFAULT_DB_ALIAS
    return obj


def rows_where(
    model,
    field: str,
    values: list,
    order_by: tuple[str, ...],
    *,
    related: tuple[str, ...] = (),
    flags: tuple = (),
    matching: tuple = (),
    excluding: tuple = (),
    bounds: tuple = (),
    having: tuple = (),
    missing: tuple[str, ...] = (),
    limit: int | None = None,
) -> list:
    """``model.objects.select_related(*related).annotate(**flags).filter(<field>__in=values, …).exclude(…)
    .order_by(*order_by)[:limit]``, the statement written once per process, shape and number of values.

    ``related``: paths of foreign keys (``"price"``, ``"price__product"``) or reverse one-to-one relations
    (``"account__branding"``), joined (outer joins for those that may be empty, which leave the relation ``None``,
    or missing, as the ORM leaves it); ``field`` is a column of the model or of one of them. ``flags``:
    ``(name, RawSQL)`` pairs of boolean expressions over the model's table (``billing.prefetch.related_exists``), set
    on each row as attributes. ``matching`` and ``excluding``: ``(field, values)`` pairs, the rows whose field has
    one of the values kept, or left out. ``bounds``: ``(field, operator, value)`` triples (``"<"``, ``"<="``,
    ``">"``, ``">="``). ``having``: ``(model, link, field, values)``, the rows that have a row of that model (whose
    foreign key ``link`` points at them) with one of the values in its ``field``. ``missing``: fields that must be
    null."""
    if not values:
        return []
    statement, selected, joins, prepared = _rows_where_statement(
        connection.vendor,
        model,
        field,
        len(values),
        order_by,
        related,
        flags,
        _shape(matching),
        _shape(excluding),
        tuple((name, operator) for name, operator, _value in bounds),
        tuple((other, link, name, len(listed)) for other, link, name, listed in having),
        tuple(missing),
        limit is not None,
    )
    given = [
        *values,
        *(value for _, listed in (*matching, *excluding) for value in listed),
        *(value for _name, _operator, value in bounds),
        *(value for *_, listed in having for value in listed),
        *([limit] if limit is not None else []),
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement, [prepare(value) for prepare, value in zip(prepared, given, strict=True)])
        rows = cursor.fetchall()
    loaded = []
    for row in rows:
        start = len(selected)
        obj = instance(model, selected, row[:start])
        reached = {"": obj}
        for path, descriptor_field, related_model, related_columns, pk_index, back in joins:
            parent, end = reached[path.rpartition("__")[0]], start + len(related_columns)
            values_of_related = row[start:end]
            reached[path] = None
            if parent is not None and values_of_related[pk_index] is not None:
                reached[path] = instance(related_model, related_columns, values_of_related)
                if back is not None:  # a reverse one-to-one's row knows its parent, as the ORM leaves it
                    back.set_cached_value(reached[path], parent)
            if parent is not None:
                descriptor_field.set_cached_value(parent, reached[path])
            start = end
        for (name, _), value in zip(flags, row[start:], strict=True):
            setattr(obj, name, bool(value))
        loaded.append(obj)
    return loaded


@functools.cache
def _rows_where_statement(
    vendor: str,
    model,
    field: str,
    count: int,
    order_by: tuple[str, ...],
    related: tuple[str, ...],
    flags: tuple,
    matching: tuple,
    excluding: tuple,
    bounds: tuple,
    having: tuple,
    missing: tuple,
    limited: bool,
) -> tuple[str, list, list, list]:
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    selected = columns(model, table)
    joins, join_sql, aliases = [], [], {"": (model, table, False)}
    for path in related:
        parent_path, _, name = path.rpartition("__")
        parent_model, parent_alias, parent_outer = aliases[parent_path]
        relation = parent_model._meta.get_field(name)
        related_model, alias = relation.related_model, quote(f"r{len(joins)}")
        if relation.concrete:  # a foreign key of the parent
            outer, back = parent_outer or relation.null, None
            on = f"{alias}.{quote(relation.target_field.column)} = {parent_alias}.{quote(relation.column)}"
        elif relation.one_to_one:  # a reverse one-to-one: the other row's key points at the parent
            outer, back = True, relation.field
            on = f"{alias}.{quote(back.column)} = {parent_alias}.{quote(back.target_field.column)}"
        else:
            raise ValueError(f"{path}: only foreign keys and reverse one-to-one relations are joined")
        aliases[path] = (related_model, alias, outer)
        related_columns = columns(related_model, alias)
        pk_index = [column.col.target for column in related_columns].index(related_model._meta.pk)
        joins.append((path, relation, related_model, related_columns, pk_index, back))
        join_sql.append(
            f" {'LEFT OUTER' if outer else 'INNER'} JOIN {quote(related_model._meta.db_table)} {alias} ON {on}"
        )

    def model_field(name: str):
        """A field of the model, or of a joined row (``portalconfigurationproduct__configuration``), and its
        table's alias."""
        path, _, name = name.rpartition("__")
        owner, alias, _outer = aliases[path]
        return owner._meta.get_field(name), alias

    def column(name: str) -> str:
        found, alias = model_field(name)
        return f"{alias}.{quote(found.column)}"

    ordering = ", ".join(
        f"{column(name.removeprefix('-'))} {'DESC' if name.startswith('-') else 'ASC'}" for name in order_by
    )

    def among(name: str, count: int) -> str:
        return f"{column(name)} IN ({', '.join(['%s'] * count)})"

    def having_one(other, link: str, name: str, count: int) -> str:
        other_table = quote(other._meta.db_table)
        link_column = quote(other._meta.get_field(link).column)
        listed = ", ".join(["%s"] * count)
        return (
            f"EXISTS (SELECT 1 FROM {other_table} WHERE {other_table}.{link_column} = "  # noqa: S608
            f"{table}.{quote(model._meta.pk.column)} AND {other_table}.{quote(other._meta.get_field(name).column)} "
            f"IN ({listed}))"
        )

    conditions = [among(field, count), *(among(name, count) for name, count in matching)]
    conditions += [f"NOT ({among(name, count)})" for name, count in excluding]
    if any(operator not in COMPARISONS for _name, operator in bounds):
        raise ValueError(f"bounds compare with one of {COMPARISONS}")
    conditions += [f"{column(name)} {operator} %s" for name, operator in bounds]
    conditions += [having_one(*condition) for condition in having]
    conditions += [f"{column(name)} IS NULL" for name in missing]
    # How each parameter goes to the database, in order: as its field prepares it (a datetime for SQLite, say).
    prepared = [model_field(field)[0]] * count
    prepared += [model_field(name)[0] for name, count in (*matching, *excluding) for _ in range(count)]
    prepared += [model_field(name)[0] for name, _operator in bounds]
    prepared += [other._meta.get_field(name) for other, _link, name, count in having for _ in range(count)]
    prepared = [functools.partial(_prepare, found) for found in prepared]
    if limited:
        prepared.append(int)
    selects = [select_list(selected, *(join[3] for join in joins)), *(expression.sql for _, expression in flags)]
    # Names from the models' metadata and expressions written from them; the values are parameters.
    statement = (
        f"SELECT {', '.join(selects)} FROM {table}{''.join(join_sql)} "  # noqa: S608
        f"WHERE {' AND '.join(conditions)}"
        + (f" ORDER BY {ordering}" if ordering else "")
        + (" LIMIT %s" if limited else "")
    )
    return statement, selected, joins, prepared


COMPARISONS = ("<", "<=", ">", ">=")


def _shape(pairs: tuple) -> tuple:
    """``(field, values)`` pairs as a statement's shape: each field with its number of values."""
    return tuple((name, len(listed)) for name, listed in pairs)


def _prepare(field, value):
    """``value`` as the ORM sends it to the database for a lookup on ``field`` (a foreign key: as its target)."""
    if field.is_relation:
        field = field.target_field
    return field.get_db_prep_value(value, connection, prepared=False)


INSERT_ROWS = 16


def insert(model, objs: list) -> None:
    """``model.objects.bulk_create(objs)`` where nothing reads a key the database generates back: the statement
    written once per process, model and number of rows (every write through a service door records an audit entry
    and its events). More than ``INSERT_ROWS`` rows go through ``bulk_create``, which splits them into batches the
    database accepts; one statement per row count is kept only for the few rows a single action writes."""
    if not objs:
        return
    if len(objs) > INSERT_ROWS:
        model.objects.bulk_create(objs)
        return
    statement, fields = _insert_statement(connection.vendor, model, len(objs))
    params = [field.get_db_prep_save(field.pre_save(obj, True), connection) for obj in objs for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
    for obj in objs:
        obj._state.adding, obj._state.db = False, DEFAULT_DB_ALIAS


@functools.cache
def _insert_statement(vendor: str, model, count: int) -> tuple[str, list]:
    quote = connection.ops.quote_name
    # A key the database generates (an auto-increment id) is left to it, as bulk_create does.
    fields = [field for field in model._meta.concrete_fields if not (field.primary_key and field.db_returning)]
    row = f"({', '.join(['%s'] * len(fields))})"
    # Names from the model's metadata; every value is a parameter.
    statement = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "  # noqa: S608
        f"VALUES {', '.join([row] * count)}"
    )
    return statement, fields
