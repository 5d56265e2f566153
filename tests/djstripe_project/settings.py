"""Settings of the dj-stripe test project: dj-stripe's own tables in their own SQLite file, its Stripe client
pointed at the server under test. Everything comes from the environment set by tests/test_djstripe.py."""

import os

SECRET_KEY = "djstripe-test-project-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "djstripe",
    "tests.djstripe_project",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "tests.djstripe_project.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["DJSTRIPE_DATABASE"],
        # Our deliveries arrive in parallel: each transaction takes the write lock when it starts (and waits for
        # it), instead of failing with "database is locked" when two upgrade their read locks at once.
        "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The tables are made from the models (``migrate --run-syncdb``), as pytest-django's --nomigrations does: dj-stripe's
# history of migrations takes about a minute to replay and has no part in what the test checks.
MIGRATION_MODULES = {"djstripe": None}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "djstripe": {"handlers": ["stderr"], "level": "WARNING"},
        "django.request": {"handlers": ["stderr"], "level": "ERROR"},
    },
}

# dj-stripe, configured as its documentation says, with the API host moved to our server.
STRIPE_API_HOST = os.environ.get("STRIPE_API_HOST", "")
STRIPE_TEST_SECRET_KEY = os.environ.get("STRIPE_TEST_SECRET_KEY", "")
STRIPE_LIVE_MODE = False
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
SILENCED_SYSTEM_CHECKS = ["djstripe.W002"]  # STRIPE_API_HOST is the point of this project
