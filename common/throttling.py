"""API rate limits (DRF throttling), the rates in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]:

- every API request: "user" per signed-in user, "anon" per client address for anonymous callers;
- the expensive routes on top, per user (per address when anonymous), by the view's
  `throttle_scope`: "login" (POST /auth/token/), "imports" (uploads), "exports" (the xlsx
  routes), "jobs" (the daily job, pre-rating).

DRF's throttle classes read their rates once, when rest_framework.throttling is imported; these
read them on each request, so override_settings (the throttle tests) and a changed setting take
effect. The counts live in Django's default cache (settings.CACHES, CACHE_URL).
"""

from rest_framework import throttling
from rest_framework.settings import api_settings


class _LiveRates:
    def get_rate(self):
        self.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
        return super().get_rate()


class AnonRateThrottle(_LiveRates, throttling.AnonRateThrottle):
    """Anonymous callers, per client address (scope "anon")."""


class UserRateThrottle(_LiveRates, throttling.UserRateThrottle):
    """Signed-in callers, per user (scope "user"); anonymous ones are left to AnonRateThrottle."""

    def allow_request(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return True
        return super().allow_request(request, view)


class ScopedRateThrottle(_LiveRates, throttling.ScopedRateThrottle):
    """The view's `throttle_scope`, per user (per address when anonymous); none: no limit."""
