"""The billing cycle task runs on a real Celery worker over Redis against the real database."""

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from billing.models import Invoice
from billing.tasks import run_billing_cycle
from tests.billing.helpers import subscribed

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    return (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_billing_cycle_task_renews_on_a_real_worker(settings):
    """Beat's task plans the pass on the worker, which then takes the batch it queued itself."""
    if not os.environ.get("REDIS_URL") or connection.vendor != "postgresql":
        pytest.skip("needs REDIS_URL and PostgreSQL (run through .ci/run)")
    now = dt.datetime.now(dt.UTC)
    subscription = subscribed(now - dt.timedelta(days=40))  # one renewal is due
    queue = f"test-{uuid.uuid4().hex}"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "0",
        "BILLING_QUEUE": queue,
        "WEBHOOK_QUEUE": queue,
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "--pool", "solo", "-l", "warning"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        run_billing_cycle.apply_async(queue=queue)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and Invoice.objects.filter(subscription=subscription).count() < 2:
            time.sleep(0.25)
        assert worker.poll() is None, worker.stdout.read()
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=30)
    renewal = Invoice.objects.filter(subscription=subscription, billing_reason="subscription_cycle").get()
    assert renewal.status == "paid", output
    subscription.refresh_from_db()
    assert subscription.current_period_end > now


def test_beat_schedules_the_billing_cycle_every_minute(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["billing-cycle"]
    assert schedule["task"] == run_billing_cycle.name and schedule["schedule"] == 60.0
