"""The key in the Authorization header selects the account and the mode: Bearer or Basic, a revoked or unknown key is
refused with Stripe's 401, and the look-up is one statement that loads the account with the key."""

import base64
import datetime as dt

import httpx
import pytest
import stripe
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api.auth import active_key
from billing.models import ApiKey
from billing.services.accounts import api_key_create


def test_the_test_key_and_the_live_key_select_the_mode(client, live_server, merchant):
    assert client.v1.customers.create({"email": "test@example.com"}).livemode is False
    live = stripe.StripeClient(merchant.live_secret, base_addresses={"api": live_server.url}, max_network_retries=0)
    assert live.v1.customers.list().data == []  # the test customer is not seen in live mode


def test_basic_auth_with_the_key_as_user_name(live_server, merchant):
    token = base64.b64encode(f"{merchant.test_secret}:".encode()).decode()
    response = httpx.get(f"{live_server.url}/v1/customers", headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 200 and response.json()["object"] == "list"


@pytest.mark.parametrize("state", ["revoked", "unknown"])
def test_a_revoked_or_unknown_key_is_refused(live_server, merchant, state):
    key, secret = api_key_create(account=merchant, livemode=False, name="old")
    if state == "revoked":
        ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    else:
        secret = secret[:-4] + "zzzz"
    refused = stripe.StripeClient(secret, base_addresses={"api": live_server.url}, max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError) as raised:
        refused.v1.customers.list()
    assert raised.value.http_status == 401
    assert raised.value.json_body["error"]["code"] == "api_key_invalid"
    assert secret not in raised.value.user_message and secret[-4:] in raised.value.user_message


def test_the_look_up_is_one_statement_with_the_account(db, merchant):
    key = ApiKey.objects.select_related("account").get(key_hash=ApiKey.hash(merchant.test_secret))
    with CaptureQueriesContext(connection) as captured:
        found = active_key(key.key_hash)
        assert found.account.name == merchant.name  # loaded with the key
    assert len(captured.captured_queries) == 1
    assert [getattr(found, f.attname) for f in ApiKey._meta.concrete_fields] == [
        getattr(key, f.attname) for f in ApiKey._meta.concrete_fields
    ]
    assert found.account.created == key.account.created and found.account.created.tzinfo is not None
    assert found.created.tzinfo is not None and found._state.adding is False and found._state.db == "default"
    assert active_key(ApiKey.hash("sk_test_nothing")) is None


def test_last_used_is_recorded_once_a_minute(client, merchant):
    key = ApiKey.objects.get(key_hash=ApiKey.hash(merchant.test_secret))
    assert key.last_used_at is None
    client.v1.customers.list()
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    client.v1.customers.list()
    key.refresh_from_db()
    assert key.last_used_at == first  # within the minute: not written again
    assert timezone.now() - first < dt.timedelta(minutes=1)
