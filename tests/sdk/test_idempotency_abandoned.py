"""A request that died with its process (a web worker killed mid-request) leaves its Idempotency-Key in progress;
a retry after a while learns what happened instead of being refused for a day."""

import datetime as dt

from api.idempotency import fingerprint
from api.models import IdempotencyRecord
from billing import clock, context
from billing.audit import Actor
from billing.models import Customer
from billing.services.customers import customer_create


def _died_holding(merchant, key: str) -> IdempotencyRecord:
    return IdempotencyRecord.objects.create(
        account=merchant,
        livemode=False,
        key=key,
        fingerprint="unknown",
        created=clock.now() - dt.timedelta(minutes=3),
    )


def test_a_retry_runs_when_the_dead_request_wrote_nothing(client, merchant):
    record = _died_holding(merchant, "died-before-writing")
    record.fingerprint = fingerprint("POST", "/v1/customers", {"email": "ada@example.com"})
    record.save()
    created = client.v1.customers.create({"email": "ada@example.com"}, {"idempotency_key": "died-before-writing"})
    assert Customer.objects.filter(account=merchant, email="ada@example.com").count() == 1
    record.refresh_from_db()
    assert record.status == IdempotencyRecord.Status.DONE and created.id in record.response_body


def test_a_retry_learns_what_the_dead_request_wrote_and_writes_nothing(client, merchant):
    with context.bound(request_id="req_dead", idempotency_key="died-after-commit"):
        written = customer_create(account=merchant, livemode=False, actor=Actor.system("test"), email="bo@example.com")
    record = _died_holding(merchant, "died-after-commit")
    record.fingerprint = fingerprint("POST", "/v1/customers", {"email": "bo@example.com"})
    record.save()

    replayed = client.v1.customers.create({"email": "bo@example.com"}, {"idempotency_key": "died-after-commit"})
    assert replayed.id == written.id
    assert Customer.objects.filter(account=merchant, email="bo@example.com").count() == 1
    again = client.v1.customers.create({"email": "bo@example.com"}, {"idempotency_key": "died-after-commit"})
    assert again.id == written.id  # stored now: later retries are plain replays
