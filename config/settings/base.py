"""Settings shared by every environment.

Environments differ only by environment variables (django-environ); a malformed variable fails
at start-up. local.py and test.py supply harmless defaults for the variables production requires.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()


def secret(name: str) -> str:
    """A required secret, read as is: django-environ would take a value starting with "$" for
    the name of another variable, and about one random key in fifty starts with "$"."""
    value = os.environ.get(name, "")
    if not value:
        raise ImproperlyConfigured(f"Set the {name} environment variable")
    return value


SECRET_KEY = secret("SECRET_KEY")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "axes",
    "import_export",
    "simple_history",
    # our apps, in dependency order
    "common",
    "imports",
    "organization",
    "households",
    "enterprises",
    "credit_rating",
    "loans",
    "subsidy",
    "risk_fund",
    "reporting",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "common.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "common.middleware.SessionTimeoutMiddleware",
    "organization.middleware.PasswordChangeRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # AxesMiddleware last, as django-axes asks.
    "axes.middleware.AxesMiddleware",
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
                "organization.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "organization.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sessions: 12 hours at most (cookie age, checked again by the middleware), 30 idle minutes.
SESSION_COOKIE_AGE = int(timedelta(hours=12).total_seconds())
SESSION_IDLE_TIMEOUT = int(timedelta(minutes=30).total_seconds())
# API tokens (POST /api/v1/auth/token/): a lifetime in all, and an idle limit.
API_TOKEN_TTL_HOURS = env.int("API_TOKEN_TTL_HOURS", default=12)
API_TOKEN_IDLE_MINUTES = env.int("API_TOKEN_IDLE_MINUTES", default=60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Security headers on every response, in every environment (production.py adds HSTS and HTTPS).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (common.security.ContentSecurityPolicyMiddleware). Scripts and style
# sheets only from our own static files: the templates have no inline <script> or <style>.
# Inline style *attributes* stay allowed (the progress bars set their width with one):
# 'unsafe-inline' in style-src covers them, and style-src-elem 'self' keeps <style> elements out
# in every browser that knows CSP level 3. Empty turns the header off.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "style-src-elem 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)
# The Swagger UI page (/api/v1/docs/) is drf-spectacular's template with an inline <style>;
# its script is served from our own origin (the split view), so only styles are relaxed there.
CONTENT_SECURITY_POLICY_API_DOCS = CONTENT_SECURITY_POLICY.replace(
    "style-src-elem 'self'", "style-src-elem 'self' 'unsafe-inline'"
)

# django-axes: 5 failures lock the (username, address) pair for 15 minutes.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

LANGUAGE_CODE = "zh-hans"
# Only Chinese: the admin, DRF and the forms speak it whatever language the browser asks for.
LANGUAGES = [("zh-hans", "简体中文")]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so an anonymous API caller gets 401 with a WWW-Authenticate header.
        # Our own (organization.tokens): stored hashed, ending after API_TOKEN_TTL_HOURS in all or
        # API_TOKEN_IDLE_MINUTES unused, revoked by logout and a password change.
        "organization.tokens.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        # 403 "password_change_required" until a user told to change the password has done so.
        "organization.tokens.PasswordChangeNotRequired",
    ],
    "DEFAULT_PAGINATION_CLASS": "common.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "common.schema.AutoSchema",
    "EXCEPTION_HANDLER": "common.api.exception_handler",
    "DEFAULT_FILTER_BACKENDS": [],
    # Rate limits (common.throttling): "N/second|minute|hour|day" each, from the environment.
    # A request over a limit is answered 429 {"code": "throttled", "detail": "...N秒后重试。"}
    # with a Retry-After header.
    "DEFAULT_THROTTLE_CLASSES": [
        "common.throttling.AnonRateThrottle",
        "common.throttling.UserRateThrottle",
        "common.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("THROTTLE_RATE_ANON", default="60/minute"),  # per client address
        "user": env("THROTTLE_RATE_USER", default="1200/minute"),  # per signed-in user
        "login": env("THROTTLE_RATE_LOGIN", default="10/minute"),  # POST /auth/token/
        "imports": env("THROTTLE_RATE_IMPORTS", default="30/hour"),  # POST /imports/
        "exports": env("THROTTLE_RATE_EXPORTS", default="60/hour"),  # the .xlsx routes
        "jobs": env("THROTTLE_RATE_JOBS", default="20/hour"),  # the daily job, pre-rating
    },
    # Proxies in front of the app that append to X-Forwarded-For; 0: the client address is
    # REMOTE_ADDR (a caller cannot dodge the per-address limit with a forged header).
    "NUM_PROXIES": env.int("THROTTLE_NUM_PROXIES", default=0),
}
# The throttle counts and the cached API schema. The default, local memory, is per process:
# with several web processes set CACHE_URL (django-environ), e.g. redis://redis:6379/1.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
SPECTACULAR_SETTINGS = {
    "TITLE": "扶贫小额信贷管理系统 API",
    "DESCRIPTION": "县级扶贫小额信贷服务：户档、评级授信、贷款、贴息、风险补偿金。",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/v1/schema/ and /api/v1/docs/: signed-in callers only (session or token); anonymous: 401.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from our own static files: these machines reach no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Celery. Without REDIS_URL (the quick start) tasks run eagerly, in-process.
REDIS_URL = env("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# With Redis down, sending a task must fail within a second or two (common.jobs.enqueue then marks
# the job failed) rather than hold the request: one retry, and a short connect timeout for a host
# that drops packets instead of refusing.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.2, "interval_max": 0.2}
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 1}
# Tasks report through their Job / ImportJob rows; nobody reads Celery's results. Storing none
# also keeps the web process off the result backend, whose pub/sub reconnects for 20 s (then
# raises) when Redis has gone away.
CELERY_TASK_IGNORE_RESULT = True
# The daily job retries a step whose database connection was lost this many times, pausing 1, 2,
# 4, ... (at most 30) seconds between (reporting.jobs.with_database_retries); then it fails.
DAILY_JOB_DB_RETRIES = env.int("DAILY_JOB_DB_RETRIES", default=6)
# Celery beat (CELERY_TIMEZONE above: crontab hours are Asia/Shanghai).
CELERY_BEAT_SCHEDULE = {
    # The daily job (DPD, classification, breakers, warnings, region rollups) for the day just begun.
    "nightly-daily-jobs": {
        "task": "reporting.tasks.nightly_daily_jobs",
        "schedule": crontab(hour=1, minute=30),
    },
    # Jobs of any kind whose process died (still "running" hours after they started) are marked failed.
    "fail-dead-jobs": {
        "task": "common.tasks.fail_dead_jobs",
        "schedule": crontab(minute="*/10"),
    },
    # Import jobs whose worker was lost are sent again.
    "requeue-stale-imports": {
        "task": "imports.tasks.requeue_stale_imports",
        "schedule": crontab(minute="*/10"),
    },
}

# Personal information (PIPL): Fernet keys (the first encrypts, all decrypt, for rotation) and
# the HMAC key that makes the lookup hashes.
PII_ENCRYPTION_KEYS = [key.strip() for key in secret("PII_ENCRYPTION_KEYS").split(",") if key.strip()]
PII_HASH_KEY = secret("PII_HASH_KEY")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True

# Upload limits for xlsx imports (ASVS 5.2.x): bytes uploaded, bytes unzipped, ratio, data rows.
IMPORT_MAX_UPLOAD_BYTES = env.int("IMPORT_MAX_UPLOAD_BYTES", default=30 * 1024 * 1024)
IMPORT_MAX_UNZIPPED_BYTES = env.int("IMPORT_MAX_UNZIPPED_BYTES", default=300 * 1024 * 1024)
IMPORT_MAX_COMPRESSION_RATIO = env.int("IMPORT_MAX_COMPRESSION_RATIO", default=100)
IMPORT_MAX_ROWS = env.int("IMPORT_MAX_ROWS", default=200_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
