"""The OpenAPI document describes the API, and no generated request makes it answer 5xx."""

import functools

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given, settings

from billing.services.accounts import api_key_create
from config.wsgi import application
from tests.factories.billing import AccountFactory, CustomerFactory


@functools.cache
def _loaded_schema():
    """The served document, loaded once per test process (the fuzz test runs once per operation)."""
    return schemathesis.openapi.from_wsgi("/v1/openapi.json", application)


@pytest.fixture
def api_schema(db):
    # Calling the WSGI app directly fires request_finished, which would close the test's database
    # connection; Django's test client disconnects these handlers in the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield _loaded_schema()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_document_lists_every_operation(db):
    from api.router import OPERATIONS

    document = Client().get("/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    listed = {(path, method.upper()) for path, methods in document["paths"].items() for method in methods}
    assert listed == {(op.path, op.method) for op in OPERATIONS}


@pytest.fixture
def secret(db):
    account = AccountFactory()
    CustomerFactory(account=account)
    _, secret = api_key_create(account=account, livemode=False)
    return secret


def _operations() -> list[tuple[str, str]]:
    import config.urls  # noqa: F401  (the resources register their operations when the URLs load)
    from api.router import OPERATIONS

    return [(op.method, op.path) for op in OPERATIONS]


# One test per operation, so that parallel test processes share the work.
@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda value: value)
def test_no_server_errors(api_schema, secret, method, path):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    def run(case):
        response = case.call(headers={"Authorization": f"Bearer {secret}"})
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"
        if response.status_code >= 400:
            assert set(response.json()["error"]) >= {"type", "message"}

    run()
