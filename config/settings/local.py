"""The demo / developer machine: SQLite, eager Celery, fixed demo-only keys."""

import os

# Demo-only values, used when the environment gives none. Never used in production.
os.environ.setdefault("SECRET_KEY", "demo-only-secret-key-not-for-production-7f3a9c2e")
os.environ.setdefault("PII_ENCRYPTION_KEYS", "ZGVtby1vbmx5LWZlcm5ldC1rZXktMzItYnl0ZXMtLTA=")
os.environ.setdefault("PII_HASH_KEY", "demo-only-hmac-key")
os.environ.setdefault("DEBUG", "true")

from .base import *  # noqa: E402,F403
