"""Idempotency-Key for POSTs that move money: the first answer is stored and replayed; a replay
posts nothing. Two concurrent requests with the same key: the second one's INSERT of the key waits
on the unique index until the first commits, then fails, and it replays the stored answer."""

import hashlib
import json

from django.db import IntegrityError, transaction
from rest_framework.response import Response

from .models import IdempotencyRecord
from .services import LoanError

HEADER = "Idempotency-Key"


def _digest(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def idempotent(request, *, scope: str, handler) -> Response:
    """Run `handler()` (which returns a Response) once per (user, key). A refused request stores
    nothing (its transaction rolls back), so it can be retried with the same key."""
    key = (request.headers.get(HEADER) or "").strip()
    if not key:
        return handler()
    if len(key) > 100:
        raise LoanError("invalid", f"{HEADER}不超过100个字符。")
    digest = _digest(request.data)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    user=request.user, key=key, scope=scope, request_digest=digest, status_code=0, response={}
                )
        except IntegrityError:
            return _replay(request.user, key, scope, digest)
        response = handler()
        record.status_code, record.response = (
            response.status_code,
            json.loads(json.dumps(response.data, default=str)),
        )
        record.save(update_fields=["status_code", "response"])
        return response


def _replay(user, key: str, scope: str, digest: str) -> Response:
    record = IdempotencyRecord.objects.get(user=user, key=key)
    if record.scope != scope or record.request_digest != digest:
        raise LoanError("idempotency_key_reused", f"{HEADER}“{key}”已用于另一笔不同的请求，请换一个新的键。")
    response = Response(record.response, status=record.status_code)
    response["Idempotent-Replayed"] = "true"
    return response
