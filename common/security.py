"""Content-Security-Policy for every response (Django 5.2 has no built-in CSP).

The policy is the CONTENT_SECURITY_POLICY setting (a header value; empty turns it off). A view
that needs another policy sets the header itself, or is wrapped in `content_security_policy()`;
the middleware never overwrites a header already set.
"""

from functools import wraps

from django.conf import settings
from django.utils.cache import add_never_cache_headers

HEADER = "Content-Security-Policy"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", "")
        if policy and HEADER not in response:
            response[HEADER] = policy
        return response


def content_security_policy(policy: str):
    """A view decorator: this view's responses carry `policy` instead of the site-wide one."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            response = view(request, *args, **kwargs)
            response[HEADER] = policy
            return response

        return wrapped

    return decorator


def no_store(response):
    """Keep a response out of every cache, the browser's and any proxy's (full ID and account
    numbers: the PII reveal, the household export): Cache-Control no-store (with Django's other
    never-cache directives and Expires) and, for HTTP/1.0 caches, Pragma: no-cache."""
    add_never_cache_headers(response)
    response["Pragma"] = "no-cache"
    return response
