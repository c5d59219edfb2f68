"""Content-Security-Policy for every response (Django 5.2 has no built-in CSP).

The policy is the CONTENT_SECURITY_POLICY setting (a header value; empty turns it off). A view
that needs another policy sets the header itself, or is wrapped in `content_security_policy()`;
the middleware never overwrites a header already set.
"""

from functools import wraps

from django.conf import settings

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
