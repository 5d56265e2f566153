"""Shared fixtures. Under REQUIRE_SERVICES=1 (CI) a skipped test fails the run."""

import asyncio
import datetime as dt
import os

import pytest

from billing.audit import Actor

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_SERVICES and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped under REQUIRE_SERVICES=1: {report.longrepr}"


def pytest_sessionstart(session):
    if REQUIRE_SERVICES:
        url = os.environ.get("DATABASE_URL", "")
        if not url.startswith(("postgres", "postgresql")):
            raise pytest.UsageError("REQUIRE_SERVICES=1 needs DATABASE_URL pointing at PostgreSQL")
        if not os.environ.get("REDIS_URL"):
            raise pytest.UsageError("REQUIRE_SERVICES=1 needs REDIS_URL")


def _migrations_digest() -> str:
    """What the migrated schema depends on: every migration file of the project and Django's version."""
    import hashlib
    from pathlib import Path

    import django

    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(django.get_version().encode())
    for path in sorted(root.glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker, django_db_modify_db_settings):
    """On PostgreSQL the schema is migrated once into a template database named after the migrations, and each
    test process (xdist worker, or a later run such as the ``services`` part) copies it with ``CREATE DATABASE …
    TEMPLATE`` instead of migrating again (about a minute each). Elsewhere (SQLite) pytest-django's own set-up."""
    import fcntl
    import tempfile
    from pathlib import Path

    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    if connection.vendor != "postgresql":
        with django_db_blocker.unblock():
            config = setup_databases(
                verbosity=request.config.option.verbose,
                interactive=False,
                aliases={"default"},
                serialized_aliases=set(),
            )
        yield
        with django_db_blocker.unblock():
            teardown_databases(config, verbosity=request.config.option.verbose)
        return

    from django.conf import settings

    creation = connection.creation
    original_name = connection.settings_dict["NAME"]
    test_name = creation._get_test_db_name()
    template = f"{original_name}_template_{_migrations_digest()}"[:63]
    quote = connection.ops.quote_name
    lock_path = Path(tempfile.gettempdir()) / f"{template}.lock"
    with django_db_blocker.unblock(), lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with creation._nodb_cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template])
                built = cursor.fetchone() is not None
            if not built:
                # Migrate under a scratch name and rename when complete, so an interrupted build is never used.
                scratch = f"{template[:55]}_build"
                connection.settings_dict["TEST"]["NAME"] = scratch
                creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
                connection.close()
                settings.DATABASES["default"]["NAME"] = connection.settings_dict["NAME"] = original_name
                connection.settings_dict["TEST"]["NAME"] = test_name
                with creation._nodb_cursor() as cursor:
                    cursor.execute(f"ALTER DATABASE {quote(scratch)} RENAME TO {quote(template)}")
                    # Templates of earlier migrations are of no further use.
                    cursor.execute(
                        "SELECT datname FROM pg_database WHERE datname LIKE %s AND datname <> %s",
                        [f"{original_name}_template_%", template],
                    )
                    for (stale,) in cursor.fetchall():
                        cursor.execute(f"DROP DATABASE IF EXISTS {quote(stale)}")
            with creation._nodb_cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS {quote(test_name)}")
                cursor.execute(f"CREATE DATABASE {quote(test_name)} TEMPLATE {quote(template)}")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
        connection.close()
        settings.DATABASES["default"]["NAME"] = connection.settings_dict["NAME"] = test_name
    yield
    with django_db_blocker.unblock():
        creation.destroy_test_db(original_name, verbosity=0)


# Content types and permissions are rows every test database starts with; Django's flush deletes and recreates them.
_KEPT_BY_FLUSH = {"django_content_type", "auth_permission"}


def _empty_the_tables(connection) -> None:
    """Delete the rows of every table that has any (one query finds them, one deletes them, in one transaction
    whose foreign keys are checked at commit) and keep the content types and permissions. Django's flush
    truncates every table and recreates those rows after each transactional test: about 3 s on PostgreSQL, where
    TRUNCATE replaces each table's files, against a few milliseconds for the handful of tables a test wrote."""
    from django.db import transaction

    quote = connection.ops.quote_name
    tables = sorted(
        set(connection.introspection.django_table_names(only_existing=True, include_views=False)) - _KEPT_BY_FLUSH
    )
    probe = " UNION ALL ".join(
        f"SELECT * FROM (SELECT {i} FROM {quote(t)} LIMIT 1) AS t{i}" for i, t in enumerate(tables)
    )
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(probe)
        written = [tables[index] for (index,) in cursor.fetchall()]
        for table in written:
            cursor.execute(f"DELETE FROM {quote(table)}")


@pytest.fixture(scope="session", autouse=True)
def _quick_flush():
    """Transactional tests (``transactional_db``, ``live_server``) end by emptying only the tables they wrote."""
    from django.db import connections
    from django.test import TransactionTestCase

    flush = TransactionTestCase._fixture_teardown

    def _fixture_teardown(self):
        if self.available_apps is not None or self.serialized_rollback or self.reset_sequences:
            return flush(self)
        for alias in self._databases_names(include_mirrors=False):
            _empty_the_tables(connections[alias])

    TransactionTestCase._fixture_teardown = _fixture_teardown
    yield
    TransactionTestCase._fixture_teardown = flush


@pytest.fixture(scope="session", autouse=True)
def _end_stray_database_sessions(django_db_setup, django_db_blocker):
    """live_server threads and the benchmarks' gunicorn workers may still hold a connection to the test database
    when the run ends; end them, so that pytest-django can drop the database instead of warning."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the default language: a request in another one (the locale middleware activates it
    in the thread that served it) does not carry over into the next test."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _tasks_in_process(settings):
    """Celery tasks run in the test even when REDIS_URL is set (CI), as under `make run`; the real-worker
    tests send to their own queue explicitly."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture
def actor():
    return Actor.system("test")


@pytest.fixture
def account(db):
    from tests.factories.billing import AccountFactory

    return AccountFactory()


@pytest.fixture
def t0():
    """A fixed moment to travel to: Jan 31 2026, 10:00 UTC (a month-end anchor)."""
    return dt.datetime(2026, 1, 31, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def _chromium():
    """One Chromium per test process, started by the first test that asks for ``browser``.

    Playwright's sync API runs its event loop in a greenlet of this thread, and while it lives the thread counts
    as running that loop (Django would then refuse the ORM in every later test). So the loop is marked running
    only while a browser test runs (``browser`` below) and hidden in between; nothing drives Playwright then."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    loop = asyncio.get_running_loop()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    finally:
        asyncio.events._set_running_loop(None)
    yield chromium, loop
    asyncio.events._set_running_loop(loop)
    try:
        chromium.close()
        playwright.stop()
    finally:
        asyncio.events._set_running_loop(None)


@pytest.fixture
def browser(_chromium, monkeypatch):
    """The process's Chromium for one test; the contexts and pages the test opened are closed after it."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    chromium, loop = _chromium
    asyncio.events._set_running_loop(loop)
    try:
        yield chromium
        for context in chromium.contexts:
            context.close()
    finally:
        asyncio.events._set_running_loop(None)
