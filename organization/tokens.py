"""API tokens: issued by POST /auth/token/, stored as SHA-256 digests only (organization.AccessToken),
checked by TokenAuthentication below. A token ends after API_TOKEN_TTL_HOURS in all, after
API_TOKEN_IDLE_MINUTES without use, or when revoked (organization.services: logout, password
change or reset, deactivation)."""

import datetime
import hashlib
import secrets

from django.conf import settings
from rest_framework import authentication, exceptions, permissions

from common.clock import now

from .models import AccessToken

# last_used_at is written at most this often, not on every request.
TOUCH_EVERY = datetime.timedelta(minutes=1)


def token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def ttl() -> datetime.timedelta:
    return datetime.timedelta(hours=settings.API_TOKEN_TTL_HOURS)


def idle_limit() -> datetime.timedelta:
    return datetime.timedelta(minutes=settings.API_TOKEN_IDLE_MINUTES)


def token_issue(*, user) -> tuple[str, AccessToken]:
    """A new random token for the user: (the key, shown once; the stored row with its digest)."""
    key = secrets.token_urlsafe(32)
    moment = now()
    row = AccessToken.objects.create(
        user=user, key_hash=token_hash(key), created_at=moment, last_used_at=moment, expires_at=moment + ttl()
    )
    return key, row


class TokenExpired(exceptions.AuthenticationFailed):
    error_code = "token_expired"  # common.api.exception_handler keeps this code and the message


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's "Authorization: Token <key>", looked up by the key's digest. Refused with 401: an
    unknown or revoked key, a token past expires_at or idle too long, an inactive user."""

    model = AccessToken

    def authenticate_credentials(self, key):
        row = AccessToken.objects.select_related("user").filter(key_hash=token_hash(key)).first()
        if row is None or row.revoked_at is not None:
            raise exceptions.AuthenticationFailed("令牌无效或已注销，请重新登录。")
        moment = now()
        if moment >= row.expires_at:
            raise TokenExpired("令牌已过期，请重新登录。")
        if moment - row.last_used_at > idle_limit():
            raise TokenExpired("令牌长时间未使用已失效，请重新登录。")
        if not row.user.is_active:
            raise exceptions.AuthenticationFailed("账号已停用。")
        if moment - row.last_used_at >= TOUCH_EVERY:
            AccessToken.objects.filter(pk=row.pk).update(last_used_at=moment)
            row.last_used_at = moment
        return row.user, row


class PasswordChangeRequired(exceptions.PermissionDenied):
    error_code = "password_change_required"


class PasswordChangeNotRequired(permissions.BasePermission):
    """A default permission of every API view: a user whose password must be changed (first login,
    after an admin's reset) gets 403 "password_change_required" everywhere but the password and
    logout endpoints (which use IsAuthenticated alone)."""

    def has_permission(self, request, view):
        if getattr(request.user, "must_change_password", False):
            raise PasswordChangeRequired(
                "请先修改密码：POST /api/v1/auth/password/，或在网页 /password/ 修改。"
            )
        return True
