"""The service door: one transaction per action, run again once when PostgreSQL picks it as a deadlock victim."""

import threading

import pytest
from django.db import connection, connections

from billing.models import Customer
from billing.services.common import lock
from billing.services.door import service
from tests.factories.billing import CustomerFactory


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_deadlock_victim_runs_again_and_both_actions_complete(caplog):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (run through .ci/run)")
    first, second = CustomerFactory(), CustomerFactory()
    both_hold_one = threading.Barrier(2, timeout=10)
    attempts = {"a": 0, "b": 0}

    @service
    def rename_both(name: str, one: str, other: str) -> None:
        attempts[name] += 1
        lock(Customer, one)
        if attempts[name] == 1:
            both_hold_one.wait()  # each holds one row and now asks for the other's: a deadlock
        lock(Customer, other)
        Customer.objects.filter(pk__in=[one, other]).update(name=f"renamed by {name}")

    errors = []

    def run(name, one, other):
        try:
            rename_both(name, one, other)
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run, args=("a", first.pk, second.pk)),
        threading.Thread(target=run, args=("b", second.pk, first.pk)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(attempts.values()) == [1, 2]  # the victim ran once more
    assert "DeadlockDetected; running it again" in caplog.text
