"""The soak, CI-sized: bench/soak.py for 30 s with 6 clients and one 8-second broker outage, in a subprocess, on a
database of its own (the test database's server, ``<name>_soak``) and a redis-server of its own.

What a merchant relies on through a broker outage: a committed write answers its success (no 5xx), a write
answered with success is in the database, no request fails on a deadlock, and every event reaches the webhook
endpoint once the queues have drained. No timings are asserted.

The outage starts at 8 s; beat's first webhook sweep comes about a minute after the load starts and sends again
what the outage lost (events whose hand-off failed, delivery messages the broker dropped, attempts it caught in
flight once their lease has run out). The run shortens that lease (``WEBHOOK_LEASE_SECONDS=15``, production: 60)
so the first sweep finds them within the drain; every other setting is production's. The harness starts the
Celery worker again if it exits on its own, as a process manager does in production.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--clients", "6", "--seconds", "30", "--broker-outage-at", "8", "--broker-outage-seconds", "8"]
ARGS += ["--kill-web-worker-at", "-1", "--kill-celery-worker-at", "-1", "--drain-seconds", "40"]
# An attempt the outage caught in flight is sent again once its lease runs out: a short lease lets the first sweep
# after the load (beat's, every minute) find it within the drain.
ARGS += ["--setting", "WEBHOOK_LEASE_SECONDS=15"]
TIMEOUT = 300
MUST_BE_ZERO = ("5xx_on_committed_writes", "lost_writes", "deadlock_errors", "undelivered_events")

services = [
    pytest.mark.services,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="the soak creates its database on the test database's PostgreSQL server (DATABASE_URL)",
    ),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="the soak runs a redis-server of its own"),
]


def _soak_database_url() -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_soak"))


def _soak(logs: Path) -> dict:
    env = {**os.environ, "BENCH_DATABASE_URL": _soak_database_url()}
    process = subprocess.Popen(
        [sys.executable, "bench/soak.py", *ARGS, "--log-dir", str(logs)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)  # the soak stops what it started and drops its database
        out, err = process.communicate(timeout=60)
        pytest.fail(f"the soak did not finish within {TIMEOUT} s:\n{err[-3000:]}")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert process.returncode == 0 and lines, f"the soak failed ({process.returncode}):\n{err[-3000:]}"
    return json.loads(lines[-1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@pytest.mark.services
@services[1]
@services[2]
def test_soak_through_a_broker_outage_answers_every_committed_write_and_delivers_every_event(tmp_path):
    result = _soak(tmp_path)

    assert [fault["fault"] for fault in result["faults"]] == ["broker_down", "broker_up"]
    assert result["writes"] > 0 and result["committed_writes"] > 0 and not result["harness_errors"]
    evidence = {key: value for key, value in result.items() if key not in ("operations", "faults", "settings")}
    assert {key: result[key] for key in MUST_BE_ZERO} == dict.fromkeys(MUST_BE_ZERO, 0), (
        json.dumps(evidence, indent=1)[:6000] + "\n--- Celery worker's log:\n" + _tail(tmp_path / "celery-worker.log")
    )


GUNICORN_LOG = """\
[2026-01-31 10:00:00 +0000] [100] [INFO] Booting worker with pid: 101
_subscription_update_door: DeadlockDetected; running it again
API POST /v1/subscriptions/sub_0mx96yy0i2x4wrbp3weormqb4 failed
Traceback (most recent call last):
  File "/app/django/db/backends/utils.py", line 105, in _execute
    return self.cursor.execute(sql, params)
psycopg.errors.DeadlockDetected: deadlock detected
DETAIL:  Process 1 waits for ShareLock on transaction 2; blocked by process 3.
HINT:  See server log for query details.

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/app/api/router.py", line 101, in dispatch
    body = op.handler(ctx, params, **kwargs)
django.db.utils.OperationalError: deadlock detected
DETAIL:  Process 1 waits for ShareLock on transaction 2; blocked by process 3.
Internal Server Error: /v1/subscriptions/sub_0mx96yy0i2x4wrbp3weormqb4
Bad Request: /v1/subscriptions/sub_0mx96q93a6p8cb2frapwjjek4
Internal Server Error: /p/
Traceback (most recent call last):
  File "/app/portal/views/overview.py", line 20, in overview
ValueError: something else
"""


def test_the_soak_reads_failed_requests_and_their_deadlocks_from_gunicorns_log(tmp_path):
    from bench import soak

    log = tmp_path / "gunicorn.log"
    log.write_text(GUNICORN_LOG)

    errors = soak.server_errors(log)

    # The door's retry that succeeded is not an error; the API's traceback counts once, not again for Django's line.
    assert errors == [
        {
            "path": "/v1/subscriptions/sub_0mx96yy0i2x4wrbp3weormqb4",
            "exception": "django.db.utils.OperationalError: deadlock detected",
            "deadlock": True,
        },
        {"path": "/p/", "exception": "ValueError: something else", "deadlock": False},
    ]
