from django.shortcuts import redirect
from django.urls import reverse

# What a user who must change the password may still reach: the password page, logging out,
# the static files. The API answers 403 "password_change_required" itself (organization.tokens).
ALLOWED_PREFIXES = ("/static/", "/api/")


class PasswordChangeRequiredMiddleware:
    """Sends a signed-in page user whose must_change_password is set (first login, an admin's
    reset) to /password/ until the password is changed."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.must_change_password:
            allowed = (reverse("password-change"), reverse("logout"), reverse("login"))
            if request.path not in allowed and not request.path.startswith(ALLOWED_PREFIXES):
                return redirect("password-change")
        return self.get_response(request)
