"""Production settings pass Django's deployment checks; missing secrets fail at start-up."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x7Gq2-production-like-secret-key-with-plenty-of-entropy-93Jf0aLpQ81zVt",
    "ALLOWED_HOSTS": "billing.example.com",
    "PORTAL_BASE_URL": "https://billing.example.com",
    "VAULT_BASE_URL": "https://vault.billing.example.com",
    "DATABASE_URL": "sqlite:////tmp/deploy-check.sqlite3",
    "BILLING_ENCRYPTION_KEYS": "hDDbvHB4H0s9mAUbb2yRlDHITfK9KHx0fq3MJMc6uWM=",
}


def _manage(*args, env):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "SECURE_SSL_REDIRECT",
            "SESSION_COOKIE_SECURE",
            "CSRF_COOKIE_SECURE",
            "DEBUG",
            "SECRET_KEY",
            "BILLING_ENCRYPTION_KEYS",
            "VAULT_BASE_URL",
            "PORTAL_BASE_URL",
            "ALLOWED_HOSTS",
        }
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_without_encryption_keys():
    env = {k: v for k, v in PRODUCTION.items() if k != "BILLING_ENCRYPTION_KEYS"}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "billing.W001" in result.stdout + result.stderr
    assert "BILLING_ENCRYPTION_KEYS" in result.stdout + result.stderr


def test_check_deploy_warns_when_the_vault_shares_the_portals_origin():
    env = {k: v for k, v in PRODUCTION.items() if k != "VAULT_BASE_URL"}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "vault.W001" in result.stdout + result.stderr


def test_the_vault_host_is_served_and_make_run_gets_a_second_origin():
    show = "from django.conf import settings; print(settings.VAULT_BASE_URL, *settings.ALLOWED_HOSTS)"
    result = _manage("shell", "--no-imports", "-c", show, env=PRODUCTION)
    assert result.stdout.split() == [
        "https://vault.billing.example.com",
        "billing.example.com",
        "vault.billing.example.com",
    ]
    for portal, vault in (
        ("http://127.0.0.1:8000", "http://localhost:8000"),
        ("http://localhost:8000", "http://127.0.0.1:8000"),
    ):
        development = {"DEBUG": "1", "PORTAL_BASE_URL": portal, "DATABASE_URL": PRODUCTION["DATABASE_URL"]}
        result = _manage("shell", "--no-imports", "-c", show, env=development)
        assert result.stdout.split() == [vault, "127.0.0.1", "localhost"], result.stderr


def test_a_malformed_encryption_key_is_an_error():
    result = _manage("check", env={**PRODUCTION, "BILLING_ENCRYPTION_KEYS": "not-a-key"})
    assert result.returncode != 0
    assert "billing.E001" in result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
