"""API plumbing shared by every app: pagination, the one error shape {"code", "detail", "errors"}
and the views of a workflow's actions."""

import math

from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import ApplicationError, Forbidden


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


_CODES = {
    exceptions.NotAuthenticated: ("not_authenticated", "请先登录。"),
    exceptions.AuthenticationFailed: ("authentication_failed", "用户名或密码错误，或令牌无效。"),
    exceptions.PermissionDenied: ("permission_denied", "您没有执行该操作的权限。"),
    exceptions.NotFound: ("not_found", "未找到。"),
    exceptions.MethodNotAllowed: ("method_not_allowed", "不支持该请求方法。"),
    exceptions.Throttled: ("throttled", "请求过于频繁，请稍后再试。"),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", "不支持的内容类型。"),
    exceptions.ParseError: ("parse_error", "请求内容无法解析。"),
}


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        body = {"code": exc.code, "detail": exc.message, "errors": exc.errors}
        code = status.HTTP_403_FORBIDDEN if isinstance(exc, Forbidden) else status.HTTP_400_BAD_REQUEST
        return Response(body, status=code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {"code": "invalid", "detail": "输入有误，请检查标出的字段。", "errors": errors}
        return response
    if isinstance(exc, exceptions.Throttled):
        response.data = {"code": "throttled", "detail": throttled_detail(exc.wait), "errors": {}}
        return response
    code, detail = "error", str(getattr(exc, "detail", exc))
    for klass, (known_code, known_detail) in _CODES.items():
        if isinstance(exc, klass):
            code, detail = known_code, known_detail
            break
    if getattr(exc, "error_code", None):  # a refusal with its own code and message (organization.tokens)
        code, detail = exc.error_code, str(exc.detail)
    response.data = {"code": code, "detail": detail, "errors": {}}
    return response


def throttled_detail(wait: float | None) -> str:
    """The 429 message: when to try again, in whole seconds (DRF also sets Retry-After)."""
    if wait is None:
        return "请求过于频繁，请稍后再试。"
    return f"请求过于频繁，请在{max(1, math.ceil(wait))}秒后重试。"


def paginated_response(*, request, queryset, serializer_class, view):
    """One page of `queryset` as {"count","next","previous","results"}."""
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


def paginated_schema(serializer_class, name: str):
    """The OpenAPI shape of paginated_response, for @extend_schema(responses=...)."""
    return inline_serializer(
        name,
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        },
    )


def action_view(
    action: str,
    actions: dict,
    *,
    name: str,
    operation: str,
    get_object,
    output_serializer,
    respond,
    created: tuple[str, ...] = (),
    doc: str | None = None,
    workflow=None,
):
    """The view of POST .../{pk}/<action>/: one route per action of a workflow, each with its own
    schema entry (operation_id "<operation>_<action>", its own request body).

    `actions` maps an action to (input serializer or None, perform(user, obj, data)). The view
    gets the object in the caller's scope (get_object(user=, pk=): 404 outside it), checks the
    body with the input serializer (none: no body, data {}), performs the action and answers with
    (with a `workflow`, its role and state checks come before the body's: a caller who may not take
    the step is told so, 403, whatever the body says)
    respond(request, result), serialized as output_serializer: 201 for the actions in `created`,
    else 200. The view class is "<name><Action>Api" ("mark-paid": "MarkPaid"), documented by `doc`."""
    input_serializer, perform = actions[action]
    code = status.HTTP_201_CREATED if action in created else status.HTTP_200_OK

    @extend_schema(
        operation_id=f"{operation}_{action.replace('-', '_')}",
        request=input_serializer,
        responses={code: output_serializer},
    )
    def post(self, request, pk):
        obj = get_object(user=request.user, pk=pk)
        if workflow is not None and action in workflow.steps:
            workflow.check(request.user, obj, action)
        data = {}
        if input_serializer is not None:
            checked = input_serializer(data=request.data)
            checked.is_valid(raise_exception=True)
            data = checked.validated_data
        return Response(respond(request, perform(request.user, obj, data)), status=code)

    view = type(f"{name}{action.title().replace('-', '')}Api", (APIView,), {"post": post, "__doc__": doc})
    return view.as_view()


def MoneySerializerField(**kwargs) -> serializers.DecimalField:  # noqa: N802 (reads like a field class)
    """Money in and out of the API: a string with two places ("50000.00"), like MoneyField."""
    return serializers.DecimalField(max_digits=14, decimal_places=2, **kwargs)


def IdSerializerField(**kwargs) -> serializers.IntegerField:  # noqa: N802 (reads like a field class)
    """An object's id in a filter: a positive 64-bit integer, so a huge number is a 400 and not an
    overflow in the database driver."""
    return serializers.IntegerField(min_value=1, max_value=2**63 - 1, **kwargs)
