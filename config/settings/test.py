"""The test suite: DATABASE_URL if given (CI: PostgreSQL), else SQLite; eager Celery."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key")
os.environ.setdefault("PII_ENCRYPTION_KEYS", "dGVzdC1vbmx5LWZlcm5ldC1rZXktMzItYnl0ZXMtLS0=")
os.environ.setdefault("PII_HASH_KEY", "test-hmac-key")
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"

from .base import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# No limits in the suite (the fuzzing and the state machines send thousands of requests); the
# throttle tests put low rates back with override_settings.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {
        scope: "1000000/second"
        for scope in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]  # noqa: F405
    },
}
