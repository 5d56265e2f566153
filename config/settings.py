"""Settings for the billing portal, read from the environment (see .env.example)."""

from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
from csp.constants import NONCE, NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# Production secrets have no default; development defaults apply only when DEBUG is on.
if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-insecure-secret-key-only-for-debug-mode-0123456789")
else:
    SECRET_KEY = env.str("SECRET_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")


def _vault_default(portal_base_url: str) -> str:
    """With DEBUG: the portal's scheme and port on the other name of this machine (127.0.0.1 <-> localhost), so that
    `make run` serves the vault from a second origin of the same server. Otherwise unset: the portal's own URL (one
    origin for both; `check --deploy` warns)."""
    parts = urlsplit(portal_base_url)
    other = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}.get(parts.hostname or "")
    if not DEBUG or other is None:
        return ""
    return urlunsplit(parts._replace(netloc=other + (f":{parts.port}" if parts.port else "")))


# The test gateway's hosted card and bank fields (vault/), framed by the portal's pages from their own origin. Its
# host is served as well as ALLOWED_HOSTS.
VAULT_BASE_URL = env.str("VAULT_BASE_URL", default=_vault_default(PORTAL_BASE_URL)).rstrip("/")
_vault_host = (urlsplit(VAULT_BASE_URL).hostname or "").lower()
if _vault_host and _vault_host not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(_vault_host)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_countries",
    "csp",
    "billing",
    "configurations",
    "portal",
    "webhooks",
    "api",
    "vault",
    "checkout",
]

MIDDLEWARE = [
    "portal.middleware.CustomDomainMiddleware",
    "vault.middleware.VaultHostMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "config.postgresql"  # no LIKE twin where nothing matches by prefix
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
# The cache lives in its own Redis database (REDIS_CACHE_URL, default: REDIS_URL's server, database 1),
# so clearing it can never drop queued Celery tasks.
REDIS_CACHE_URL = env.str("REDIS_CACHE_URL", default="")
if REDIS_URL and not REDIS_CACHE_URL:
    REDIS_CACHE_URL = urlunsplit(urlsplit(REDIS_URL)._replace(path="/1"))
_TEST_PROCESS = env.str("PYTEST_XDIST_WORKER", default="")
if REDIS_URL and _TEST_PROCESS.startswith("gw"):
    # Parallel test processes (gw0, gw1, …) clear the cache between tests: each uses its own database, numbered
    # after the shared one.
    _cache = urlsplit(REDIS_CACHE_URL)
    _database = int(_cache.path.strip("/") or 0) + 1 + int(_TEST_PROCESS[2:])
    REDIS_CACHE_URL = urlunsplit(_cache._replace(path=f"/{_database % 16}"))
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_CACHE_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# Each language in its own name: the portal's language switch lists them as they are.
LANGUAGES = [
    ("en", "English"),
    ("de", "Deutsch"),
    ("fr", "Français"),
    ("es", "Español"),
    ("it", "Italiano"),
    ("nl", "Nederlands"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="billing@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery: eager (in-process) when no broker is configured, so `make run` needs no Redis.
# The broker: REDIS_URL's Redis, or another broker Celery speaks (RabbitMQ: amqp://user:password@host:5672//).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL == "memory://"
CELERY_TASK_EAGER_PROPAGATES = True
# Level of Celery's line per task run: quiet (WARNING) in eager mode, where tasks run inside requests and commands
# such as seed_demo, INFO for workers.
CELERY_TASK_LOG_LEVEL = env.str("CELERY_TASK_LOG_LEVEL", default="WARNING" if CELERY_TASK_ALWAYS_EAGER else "INFO")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis hands a task whose worker died (unacknowledged) to another worker after this many seconds; every task here
# is short and safe to run twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=300)}
# After the broker failed to take a task, a process stops trying for this many seconds (requests never wait on it).
BROKER_PAUSE_SECONDS = env.int("BROKER_PAUSE_SECONDS", default=10)
# A worker keeps its database connections for this many tasks (Celery's Django fixup would otherwise open and
# close one around every task); config/celery.py closes a connection that broke during a task at once.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_BEAT_SCHEDULE = {
    "billing-cycle": {"task": "billing.tasks.run_billing_cycle", "schedule": 60.0},
    "webhooks-sweep": {"task": "webhooks.tasks.sweep", "schedule": 60.0},
    "webhooks-purge-events": {"task": "webhooks.tasks.purge_events", "schedule": 3600.0},
    "checkout-sweep": {"task": "checkout.tasks.sweep_sessions", "schedule": 60.0},
    "test-clocks-expiry": {"task": "billing.tasks.delete_expired_test_clocks", "schedule": 3600.0},
}
# Webhook tasks (also billing's by-name fan-out) go to WEBHOOK_QUEUE, billing's to BILLING_QUEUE; the routers read
# them on each call.
CELERY_TASK_ROUTES = ("webhooks.queue.route_task", "billing.tasks.route_task")

# Billing
BILLING_GATEWAY = env.str("BILLING_GATEWAY", default="billing.gateways.test.TestGateway")
# Where the Stripe and Mollie adapters send their API calls; empty: the processors' own (api.stripe.com,
# api.mollie.com). Only for a local stand-in of the processor (stripe-mock, tests); never in production.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="").rstrip("/")
MOLLIE_API_ENDPOINT = env.str("MOLLIE_API_ENDPOINT", default="").rstrip("/")
# Fernet keys (comma-separated) that encrypt payment processor secrets at rest: the first encrypts, all decrypt.
# Unset: one key derived from SECRET_KEY (`check --deploy` warns). Rotate with `manage.py rotate_processor_keys`.
BILLING_ENCRYPTION_KEYS = [key for key in env.list("BILLING_ENCRYPTION_KEYS", default=[]) if key.strip()]
# Dunning: days after the first failed attempt on which a renewal is retried; then `unpaid`.
BILLING_RETRY_DAYS = [int(d) for d in env.list("BILLING_RETRY_DAYS", default=["1", "3", "7"])]
# An `incomplete` subscription whose first invoice stays unpaid this long expires.
BILLING_INCOMPLETE_EXPIRY_HOURS = env.int("BILLING_INCOMPLETE_EXPIRY_HOURS", default=23)
# The Celery queue of the billing cycle's planner and batches.
BILLING_QUEUE = env.str("BILLING_QUEUE", default="celery")
# Subscriptions (or invoices, or charges) per billing-cycle batch task.
BILLING_CYCLE_BATCH_SIZE = env.int("BILLING_CYCLE_BATCH_SIZE", default=200)
# A pass of the billing cycle (and its queued batches) expires after this long; the next pass re-plans what is left.
BILLING_CYCLE_RUN_TIMEOUT_SECONDS = env.int("BILLING_CYCLE_RUN_TIMEOUT_SECONDS", default=7200)
# Processor calls a billing-cycle batch keeps in flight at once (threads; they do no database work).
BILLING_PROCESSOR_CONCURRENCY = env.int("BILLING_PROCESSOR_CONCURRENCY", default=16)
# A charge still pending this long after it was started lost its processor call; the cycle sends it again.
BILLING_PAYMENT_PENDING_SECONDS = env.int("BILLING_PAYMENT_PENDING_SECONDS", default=300)
# The test gateway's answer time in milliseconds (benchmarks imitate a real processor with it).
BILLING_TEST_GATEWAY_LATENCY_MS = env.int("BILLING_TEST_GATEWAY_LATENCY_MS", default=0)
# Operator fees (DESIGN §10, billing/fees.py), per account and calendar month of live invoices.
# Finalized invoices that cost nothing, counted from the start of each month.
FEE_FREE_INVOICES_PER_MONTH = env.int("FEE_FREE_INVOICES_PER_MONTH", default=25)
# Share of the volume of subscription invoices beyond the free ones, as a decimal fraction (0.005 = 0.5 %).
FEE_RECURRING_RATE = Decimal(env.str("FEE_RECURRING_RATE", default="0.005"))
# Share of the volume of all other (one-off) invoices beyond the free ones (0.004 = 0.4 %).
FEE_ONE_OFF_RATE = Decimal(env.str("FEE_ONE_OFF_RATE", default="0.004"))

# Webhooks (webhooks/, DESIGN §8)
# The Celery queue of the webhook tasks (fan-out, deliveries, sweeper).
WEBHOOK_QUEUE = env.str("WEBHOOK_QUEUE", default="celery")
# Let test-mode endpoints reach private, loopback and link-local addresses (development only).
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Requests a worker process has in flight to one endpoint at once while it sends a batch.
WEBHOOK_MAX_CONCURRENCY_PER_ENDPOINT = env.int("WEBHOOK_MAX_CONCURRENCY_PER_ENDPOINT", default=8)
# Seconds between automatic attempts. Live: the last delay repeats until 3 days after the first attempt.
_WEBHOOK_LIVE_DELAYS = ["60", "300", "1800", "7200", "18000", "36000", "36000", "43200"]
WEBHOOK_RETRY_DELAYS_LIVE = [int(s) for s in env.list("WEBHOOK_RETRY_DELAYS_LIVE", default=_WEBHOOK_LIVE_DELAYS)]
# Test mode: one retry per entry (three tries over 2.5 hours by default).
WEBHOOK_RETRY_DELAYS_TEST = [int(s) for s in env.list("WEBHOOK_RETRY_DELAYS_TEST", default=["1800", "7200"])]
# A claimed attempt blocks other attempts of its delivery this long (more than the timeout); a batch hands back,
# unsent, what it could not send and record within it.
WEBHOOK_LEASE_SECONDS = env.int("WEBHOOK_LEASE_SECONDS", default=60)
# The sweeper (every minute) queues a due delivery again once its task has not run this long after being queued,
# and fans out an event once its hand-off to the fan-out is this late: what the broker lost goes out with the next
# sweep. A message that is only slow (a long queue) then meets a duplicate, which finds nothing left to do.
WEBHOOK_REQUEUE_SECONDS = env.int("WEBHOOK_REQUEUE_SECONDS", default=10)
WEBHOOK_OUTBOX_GRACE_SECONDS = env.int("WEBHOOK_OUTBOX_GRACE_SECONDS", default=10)
WEBHOOK_EVENT_RETENTION_DAYS = env.int("WEBHOOK_EVENT_RETENTION_DAYS", default=30)

# Portal login page, emailed links requested within the window: per client IP, per email address and IP together (a
# stranger elsewhere cannot lock a customer out), and per email address over all IPs (a cap against inbox floods).
PORTAL_LOGIN_RATE_PER_IP = env.int("PORTAL_LOGIN_RATE_PER_IP", default=20)
PORTAL_LOGIN_RATE_PER_EMAIL_AND_IP = env.int("PORTAL_LOGIN_RATE_PER_EMAIL_AND_IP", default=5)
PORTAL_LOGIN_RATE_PER_EMAIL = env.int("PORTAL_LOGIN_RATE_PER_EMAIL", default=50)
PORTAL_LOGIN_RATE_WINDOW_MINUTES = env.int("PORTAL_LOGIN_RATE_WINDOW_MINUTES", default=15)

# No-code Checkout links (/l/<slug>): sessions one client IP may start per hour; 0 disables the limit.
CHECKOUT_LINK_RATE_PER_IP = env.int("CHECKOUT_LINK_RATE_PER_IP", default=60)

# API: requests per second per key (Stripe's limits); 0 disables the limit.
API_RATE_LIMIT_LIVE = env.int("API_RATE_LIMIT_LIVE", default=100)
API_RATE_LIMIT_TEST = env.int("API_RATE_LIMIT_TEST", default=25)

# Security
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
# How many proxies in front of the app append to X-Forwarded-For: the client is the address the outermost one saw
# (per-IP rate limits). 0: the direct peer (REMOTE_ADDR); never trust the header without a proxy that sets it.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "weasyprint": {"level": "WARNING"},
        # Celery's line per task run ("Task … succeeded in …").
        "celery.app.trace": {"level": CELERY_TASK_LOG_LEVEL},
    },
}
