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
