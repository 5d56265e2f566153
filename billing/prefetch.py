"""Prefetching without ``prefetch_related``: what a probe (an EXISTS flag read with the rows) already says is
empty, without a query; rows a query of one's own has read for many instances at once."""

import functools
from collections import defaultdict

from django.db import connection
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL


def mark_prefetched(instance, name: str, model, rows: list) -> None:
    """Mark the relation ``name`` of ``instance`` as prefetched with ``rows``, as ``prefetch_related`` leaves it:
    reading it (``.all()``, ``.exists()``) asks nothing, a ``.filter()`` of it still asks the database, and the rows
    of a reverse foreign key point back at ``instance``."""
    if not rows:
        loaded = _empty(model)
    else:
        manager = getattr(instance, name)
        loaded = manager.get_queryset()
        loaded._result_cache, loaded._prefetch_done = rows, True
        back = getattr(manager, "field", None)  # only a reverse foreign key's manager has one
        if back is not None:
            for row in rows:
                back.set_cached_value(row, instance)
    instance.__dict__.setdefault("_prefetched_objects_cache", {})[name] = loaded


def mark_prefetched_by(parents: list, name: str, model, rows: list, link: str) -> None:
    """Mark the relation ``name`` of each of ``parents`` as prefetched with those of ``rows`` whose ``link`` (the
    foreign key's attribute, ``subscription_id``) is its key, in their order: rows one query read for all of them."""
    grouped = defaultdict(list)
    for row in rows:
        grouped[getattr(row, link)].append(row)
    for parent in parents:
        mark_prefetched(parent, name, model, grouped[parent.pk])


def related_rows(instance, name: str):
    """``getattr(instance, name).all()``, without making the relation's manager where it was prefetched (rendering a
    page reads several relations of each of its rows; the manager would only hand back the prefetched rows)."""
    cached = instance.__dict__.get("_prefetched_objects_cache", {}).get(name)
    return cached if cached is not None else getattr(instance, name).all()


def mark_prefetched_empty(instance, name: str, model) -> None:
    """Mark a relation of ``instance`` as prefetched and empty (a probe found no rows): reading it asks nothing."""
    mark_prefetched(instance, name, model, [])


@functools.cache
def _empty(model):
    """One evaluated empty queryset per model, shared: reading it changes nothing, and whatever is chained on it
    (``.filter()``, ``.order_by()``) is a clone, empty too."""
    empty = model.objects.none()
    empty._result_cache, empty._prefetch_done = [], True
    return empty


@functools.cache
def related_exists(model, link: str, outer) -> RawSQL:
    """A probe: EXISTS (a row of ``model`` whose foreign key ``link`` is the outer query's row of ``outer``). Written
    out once per process from the models' table and column names (nothing from a request), where the ORM's
    ``Exists(model.objects.filter(link=OuterRef("pk")))`` is resolved and compiled again on every query."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    column = quote(model._meta.get_field(link).column)
    outer_pk = f"{quote(outer._meta.db_table)}.{quote(outer._meta.pk.column)}"
    sql = f"EXISTS (SELECT 1 FROM {table} WHERE {table}.{column} = {outer_pk})"  # noqa: S608
    return RawSQL(sql, (), output_field=BooleanField())  # noqa: S611
