"""Moving PortalSession from the portal app into configurations changes Django's state only: the table, its rows
and the permissions granted on the model stay where they are."""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from configurations.models import PortalSession
from tests.factories.billing import AccountFactory, CustomerFactory
from tests.factories.portal import full_configuration, session_url

BEFORE = [("configurations", "0001_initial"), ("portal", "0001_initial")]
AFTER = [("configurations", "0002_portalsession"), ("portal", "0002_portalsession_moved")]


def _migrate(targets=None):
    """Migrate to ``targets`` (default: every app's latest migration); the apps of the resulting state."""
    executor = MigrationExecutor(connection)
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


def test_the_model_keeps_its_table():
    assert PortalSession._meta.db_table == "portal_portalsession"


@pytest.mark.django_db(transaction=True)
def test_the_move_runs_no_sql():
    """sqlmigrate shows no statement for either migration (the content type is moved in Python)."""
    executor = MigrationExecutor(connection)
    for app_label, name in AFTER:
        migration = executor.loader.get_migration(app_label, name)
        statements = executor.loader.collect_sql([(migration, False)])
        assert [s for s in statements if not s.lstrip().startswith("--")] == [], (app_label, name)


@pytest.mark.django_db(transaction=True)
def test_existing_sessions_and_permissions_survive_the_move():
    customer = CustomerFactory(account=AccountFactory())
    full_configuration(customer.account)
    session_url(customer)
    session_id = PortalSession.objects.get().pk
    try:
        old_apps = _migrate(BEFORE)
        ContentType.objects.clear_cache()
        old_type = ContentType.objects.get_or_create(app_label="portal", model="portalsession")[0]
        ContentType.objects.filter(app_label="configurations", model="portalsession").exclude(pk=old_type.pk).delete()
        permission = Permission.objects.get_or_create(
            content_type=old_type, codename="view_portalsession", defaults={"name": "Can view portal session"}
        )[0]
        assert list(old_apps.get_model("portal", "PortalSession").objects.values_list("pk", flat=True)) == [session_id]
    finally:
        new_apps = _migrate()
        ContentType.objects.clear_cache()
    assert list(new_apps.get_model("configurations", "PortalSession").objects.values_list("pk", flat=True)) == [
        session_id
    ]
    assert PortalSession.objects.get().pk == session_id
    moved = ContentType.objects.get_for_model(PortalSession)
    assert moved.pk == old_type.pk
    assert Permission.objects.get(pk=permission.pk).content_type_id == moved.pk
