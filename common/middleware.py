import time

from django.conf import settings
from django.contrib.auth import logout


class SessionTimeoutMiddleware:
    """Ends a browser session after SESSION_IDLE_TIMEOUT idle seconds or SESSION_COOKIE_AGE in all.

    Django's cookie age alone gives one or the other, not both, so we keep two timestamps.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = int(time.time())
            started = request.session.setdefault("_started_at", now)
            last_seen = request.session.get("_last_seen", now)
            if now - last_seen > settings.SESSION_IDLE_TIMEOUT or now - started > settings.SESSION_COOKIE_AGE:
                logout(request)
            else:
                request.session["_last_seen"] = now
        return self.get_response(request)


def start_session_clock(sender, request, user, **kwargs):
    """Start both timers at log-in itself (connected in CommonConfig.ready)."""
    if hasattr(request, "session"):
        request.session["_started_at"] = request.session["_last_seen"] = int(time.time())
