"""The official stripe SDK pointed at our live_server."""

import pytest
import stripe

from billing.services.accounts import api_key_create
from tests.factories.billing import AccountFactory


@pytest.fixture
def merchant(db):
    account = AccountFactory()
    _, test_secret = api_key_create(account=account, livemode=False)
    _, live_secret = api_key_create(account=account, livemode=True)
    account.test_secret, account.live_secret = test_secret, live_secret
    return account


@pytest.fixture
def client(live_server, merchant) -> stripe.StripeClient:
    return stripe.StripeClient(merchant.test_secret, base_addresses={"api": live_server.url}, max_network_retries=0)


@pytest.fixture
def other_client(live_server, db) -> stripe.StripeClient:
    account = AccountFactory()
    _, secret = api_key_create(account=account, livemode=False)
    return stripe.StripeClient(secret, base_addresses={"api": live_server.url}, max_network_retries=0)


@pytest.fixture
def legacy(live_server, merchant):
    """The module-level SDK style: stripe.api_key / stripe.api_base."""
    saved = stripe.api_key, stripe.api_base, stripe.max_network_retries
    stripe.api_key, stripe.api_base, stripe.max_network_retries = merchant.test_secret, live_server.url, 0
    yield stripe
    stripe.api_key, stripe.api_base, stripe.max_network_retries = saved
