"""Fixtures for the webhook tests: a local receiver, endpoints made through the services, events from
real billing services, an injectable DNS resolver and an httpx mock transport."""

import httpx
import pytest

from billing.audit import Actor
from billing.services.customers import customer_update
from tests.factories.billing import AccountFactory, CustomerFactory
from tests.webhooks.receiver import Receiver
from webhooks import sending, services, ssrf
from webhooks.services import webhook_endpoint_create

ACTOR = Actor.system("test")
PUBLIC_IP = "93.184.216.34"


@pytest.fixture(autouse=True)
def _deliver_in_process(settings):
    """Celery eager even when REDIS_URL is set (CI): the fan-out and the deliveries run in the test.
    The real-worker tests (test_worker.py) switch this off."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture
def allow_private(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True


@pytest.fixture
def receiver(allow_private):
    with Receiver() as running:
        yield running
    sending.close_clients()


@pytest.fixture
def account(db):
    return AccountFactory()


@pytest.fixture
def customer(account):
    return CustomerFactory(account=account)


def make_endpoint(account, url, *, livemode=False, enabled_events=("*",), **kwargs):
    return webhook_endpoint_create(
        account=account, livemode=livemode, url=url, enabled_events=list(enabled_events), actor=ACTOR, **kwargs
    )


@pytest.fixture
def endpoint(account, receiver):
    return make_endpoint(account, receiver.url)


@pytest.fixture
def change_customer(django_capture_on_commit_callbacks):
    """Update a customer through the billing service and run its on-commit work (fan-out, delivery)."""

    def change(customer, **fields):
        fields.setdefault("name", f"{customer.name} (changed)")
        with django_capture_on_commit_callbacks(execute=True):
            customer_update(customer=customer, actor=ACTOR, **fields)
        customer.refresh_from_db()
        return customer

    return change


@pytest.fixture
def public_dns():
    """Every host name resolves to one public address (and deliveries go to the mock transport)."""
    with ssrf.using_resolver(lambda host, port: [PUBLIC_IP]):
        yield PUBLIC_IP


class MockReceiver:
    """An httpx MockTransport that records requests and answers with ``status`` (or ``respond(request)``)."""

    def __init__(self):
        self.requests: list[httpx.Request] = []
        self.status = 200
        self.respond = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if self.respond is not None:
            return self.respond(request)
        return httpx.Response(self.status, text="ok" if self.status < 300 else "nope")


@pytest.fixture
def mock_http(public_dns):
    mock = MockReceiver()
    sending.use_transport(httpx.MockTransport(mock.handler))
    yield mock
    sending.use_transport(None)


@pytest.fixture
def run_sweep(django_capture_on_commit_callbacks):
    """The beat's sweeper, with its on-commit enqueues executed (Celery eager: they deliver)."""

    def run(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return services.sweep(**kwargs)

    return run
