"""API of the organization app: token, me, regions, banks, users, policies (API.md)."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from common.clock import today
from common.errors import ApplicationError

from . import selectors, services, tokens
from .models import CITY_ONLY, AccessToken, CityPolicy, CountyPolicy, Region, Role


class TokenApi(APIView):
    """POST /auth/token/ {"username","password"} -> {"token"}. django-axes counts failures."""

    authentication_classes = []
    throttle_scope = "login"
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    @extend_schema(
        request=InputSerializer,
        responses=inline_serializer(
            "Token", {"token": serializers.CharField(), "expires_at": serializers.DateTimeField()}
        ),
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request._request, **data.validated_data)
        if getattr(request._request, "axes_locked_out", False):
            # django-axes has counted the attempt; answer in the API's error shape, not with the
            # HTML page its middleware would put in place of this response.
            request._request.axes_locked_out = False
            return Response(
                {
                    "code": "locked_out",
                    "detail": "登录连续失败次数过多，该账号在本地址已锁定15分钟。",
                    "errors": {},
                },
                status=status.HTTP_429_TOO_MANY_REQUESTS,
            )
        if user is None or not user.is_active:
            raise ApplicationError("invalid_credentials", "用户名或密码错误；连续失败5次将锁定15分钟。")
        key, row = tokens.token_issue(user=user)
        return Response({"token": key, "expires_at": row.expires_at})


class LogoutApi(APIView):
    """POST /auth/logout/: the caller's token is revoked (204). Allowed while a password change
    is pending."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        if isinstance(request.auth, AccessToken):
            services.tokens_revoke(user=request.user, token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeApi(APIView):
    """POST /auth/password/ {"old_password","new_password"} -> 204; every token of the user,
    this one included, is revoked: log in again with the new password."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        old_password = serializers.CharField(max_length=128, trim_whitespace=False)
        new_password = serializers.CharField(max_length=128, trim_whitespace=False)

    @extend_schema(request=InputSerializer, responses={204: None})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_change(user=request.user, **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    class OutputSerializer(serializers.Serializer):
        username = serializers.CharField()
        full_name = serializers.CharField()
        roles = inline_serializer(
            "MeRole",
            {
                "role": serializers.CharField(),
                "org_unit": serializers.CharField(),
                "region_code": serializers.CharField(allow_null=True),
                "bank_code": serializers.CharField(allow_null=True),
            },
            many=True,
        )

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return Response(_user_payload(request.user))


def _user_payload(user) -> dict:
    roles = [
        {
            "role": a.role,
            "org_unit": a.org_unit_name,
            "region_code": a.unit.region_id if a.unit_id else None,
            "bank_code": a.branch.bank.code if a.branch_id else None,
        }
        for a in user.role_assignments.select_related("unit", "branch__bank")
    ]
    if user.is_superuser and not any(r["role"] == Role.ADMIN for r in roles):
        roles.append({"role": Role.ADMIN, "org_unit": "系统", "region_code": None, "bank_code": None})
    return {"username": user.username, "full_name": user.full_name, "roles": roles}


class RegionOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Region
        fields = ("code", "name", "level", "parent")


class RegionListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        parent = serializers.CharField(required=False, max_length=12)
        level = serializers.ChoiceField(choices=Region.Level.choices, required=False)

    @extend_schema(parameters=[FilterSerializer], responses=RegionOutputSerializer(many=True))
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        regions = selectors.region_list(user=request.user, **filters.validated_data)
        return Response(RegionOutputSerializer(regions, many=True).data)


class RegionDetailApi(APIView):
    @extend_schema(responses=RegionOutputSerializer)
    def get(self, request, code):
        region = selectors.region_get_for_user(user=request.user, code=code, include_ancestors=True)
        return Response(RegionOutputSerializer(region).data)


class BankListApi(APIView):
    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField()
        name = serializers.CharField()
        counties = serializers.SerializerMethodField()

        def get_counties(self, bank) -> list[str]:
            return sorted({c.code for branch in bank.branches.all() for c in branch.counties.all()})

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request):
        return Response(self.OutputSerializer(selectors.bank_list(user=request.user), many=True).data)


class UserCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=128, trim_whitespace=False)
        full_name = serializers.CharField(max_length=50, required=False, default="")
        roles = inline_serializer(
            "UserRoleInput",
            {
                "role": serializers.ChoiceField(choices=Role.choices),
                "region_code": serializers.CharField(required=False, allow_null=True, max_length=12),
                "bank_code": serializers.CharField(required=False, allow_null=True, max_length=30),
            },
            many=True,
        )

    @extend_schema(request=InputSerializer, responses={201: MeApi.OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_create(actor=request.user, **data.validated_data)
        return Response(_user_payload(user), status=status.HTTP_201_CREATED)


# --- policy rows -----------------------------------------------------------------------------------

ErrorSerializer = inline_serializer(
    "Error",
    {"code": serializers.CharField(), "detail": serializers.CharField(), "errors": serializers.DictField()},
)


def error_responses(**described: str) -> dict:
    """The refusals of a route for its schema: status -> the error shape, described by its codes."""
    statuses = {"400": 400, "403": 403, "404": 404}
    return {
        statuses[k.removeprefix("s")]: OpenApiResponse(ErrorSerializer, description=v)
        for k, v in described.items()
    }


POLICY_ERRORS_400 = (
    "`invalid`：字段有误或生效日期不晚于今天、该日期已有一条政策；`city_owned`：县级政策不能设定熔断不良率"
    "（由市级设定）；`outside_city_envelope`：超出市级上限/低于市级下限（信息中写明市级数值，如"
    "“户贷额度上限不能超过市级上限50,000元。”）"
)
REVIEW_ERRORS_400 = (
    "`invalid_state`：该调整已批准或已驳回；`same_person`：提出人不能复核自己的调整；`too_late`：生效日期已到，"
    "不能再批准；`outside_city_envelope`：批准时已超出当日市级政策的范围"
)
NOT_FOUND = "`not_found`：不存在，或不在您的辖区"


class PolicySerializer(serializers.ModelSerializer):
    county = serializers.CharField(source="county_id")
    created_by = serializers.CharField(source="created_by.username", default=None)
    reviewed_by = serializers.CharField(source="reviewed_by.username", default=None)

    class Meta:
        model = CountyPolicy
        fields = ("id", "county", "effective_from", "status", *CountyPolicy.POLICY_FIELDS,
                  "created_by", "created_at", "reviewed_by", "reviewed_at", "review_note")  # fmt: skip


class PolicyCurrentSerializer(serializers.ModelSerializer):
    """What policy_for returns: the county's numbers inside the city's envelope, with the city's
    breaker thresholds and guarantee-fee subsidy rates."""

    county = serializers.CharField(source="county_id")
    guarantee_fee_subsidy_household = serializers.DecimalField(max_digits=6, decimal_places=2)
    guarantee_fee_subsidy_enterprise = serializers.DecimalField(max_digits=6, decimal_places=2)
    city_policy = serializers.IntegerField(source="city_policy.pk", allow_null=True)

    class Meta:
        model = CountyPolicy
        fields = ("id", "county", "effective_from", *CountyPolicy.POLICY_FIELDS, *CITY_ONLY, "city_policy")


class PolicyListCreateApi(APIView):
    """GET: a county's rows (all statuses). POST: propose a county row (县中心工作人员或管理员); it
    answers 201 with the row in status `proposed`, in force only once another person approves it
    (`POST /policies/{id}/approve/`). The breaker thresholds are the city's, and the household cap
    and term, the enterprise subsidy rate (ceilings) and the household subsidy share (a floor)
    must stay inside the city's row in force on the date."""

    class FilterSerializer(serializers.Serializer):
        county = serializers.CharField(max_length=6)

    class InputSerializer(serializers.ModelSerializer):
        county = serializers.CharField(max_length=6)

        class Meta:
            model = CountyPolicy
            # The city's fields are accepted here only to be refused by name (city_owned).
            fields = ("county", "effective_from", *CountyPolicy.POLICY_FIELDS)
            extra_kwargs = {f: {"required": False} for f in CountyPolicy.POLICY_FIELDS}
            # No unscoped unique-together check here: the service checks the date after the scope,
            # so an outsider learns nothing about another county's rows.
            validators: list = []

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: PolicySerializer(many=True), **error_responses(s404=NOT_FOUND)},
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rows = selectors.policy_list(user=request.user, county_code=filters.validated_data["county"])
        return Response(PolicySerializer(rows, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: PolicySerializer,
            **error_responses(
                s400=POLICY_ERRORS_400, s403="`permission_denied`：不是本县工作人员或管理员", s404=NOT_FOUND
            ),
        },
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        county = selectors.region_get_for_user(
            user=request.user, code=values.pop("county"), include_ancestors=True
        )
        row = services.policy_propose(
            actor=request.user, county=county, effective_from=values.pop("effective_from"), changes=values
        )
        return Response(PolicySerializer(row).data, status=status.HTTP_201_CREATED)


class PolicyCurrentApi(APIView):
    class FilterSerializer(serializers.Serializer):
        county = serializers.CharField(max_length=6)
        on = serializers.DateField(required=False)

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: PolicyCurrentSerializer, **error_responses(s404=NOT_FOUND)},
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        county = selectors.region_get_for_user(
            user=request.user, code=filters.validated_data["county"], include_ancestors=True
        )
        row = selectors.policy_for(county, on=filters.validated_data.get("on") or today())
        return Response(PolicyCurrentSerializer(row).data)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


def _review_view(*, name: str, operation: str, get, perform, output, who: str, approve: bool):
    """POST .../{id}/approve/ or /reject/ of a policy row: 404 outside the caller's area."""

    @extend_schema(
        operation_id=operation,
        request=None if approve else ReasonSerializer,
        responses={
            200: output,
            **error_responses(
                s400=REVIEW_ERRORS_400 if approve else "`invalid_state`：该调整已批准或已驳回",
                s403=f"`permission_denied`：不是{who}", s404=NOT_FOUND,
            ),
        },
    )  # fmt: skip
    def post(self, request, pk):
        row = get(user=request.user, pk=pk)
        if approve:
            row = perform(actor=request.user, policy=row)
        else:
            data = ReasonSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            row = perform(actor=request.user, policy=row, reason=data.validated_data["reason"])
        return Response(output(row).data)

    doc = ("批准" if approve else "驳回") + f"一条待复核的政策调整（{who}；批准者不能是提出人）。"
    return type(name, (APIView,), {"post": post, "__doc__": doc}).as_view()


class CityPolicySerializer(serializers.ModelSerializer):
    city = serializers.CharField(source="city_id")
    created_by = serializers.CharField(source="created_by.username", default=None)
    reviewed_by = serializers.CharField(source="reviewed_by.username", default=None)

    class Meta:
        model = CityPolicy
        fields = ("id", "city", "effective_from", "status", *CityPolicy.POLICY_FIELDS,
                  "created_by", "created_at", "reviewed_by", "reviewed_at", "review_note")  # fmt: skip


class CityPolicyListCreateApi(APIView):
    """GET: a city's rows (anyone whose area lies in the city). POST: propose a city row
    (市财政局/金融办 of the city or an admin): the ceilings of its counties' household cap and term
    and enterprise subsidy rate, the floor of the household subsidy share, the breaker thresholds
    and the guarantee-fee subsidy rates. In force once another 市财政局/金融办 user or an admin
    approves it."""

    class FilterSerializer(serializers.Serializer):
        city = serializers.CharField(max_length=6)

    class InputSerializer(serializers.ModelSerializer):
        city = serializers.CharField(max_length=6)

        class Meta:
            model = CityPolicy
            fields = ("city", "effective_from", *CityPolicy.POLICY_FIELDS)
            extra_kwargs = {f: {"required": False} for f in CityPolicy.POLICY_FIELDS}
            validators: list = []

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: CityPolicySerializer(many=True), **error_responses(s404=NOT_FOUND)},
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rows = selectors.city_policy_list(user=request.user, city_code=filters.validated_data["city"])
        return Response(CityPolicySerializer(rows, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: CityPolicySerializer,
            **error_responses(
                s400="`invalid`：字段有误、不是市级区划，或生效日期不晚于今天、该日期已有一条政策",
                s403="`permission_denied`：不是本市财政局/金融办或管理员",
                s404=NOT_FOUND,
            ),
        },
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        city = selectors.region_get_for_user(
            user=request.user, code=values.pop("city"), include_ancestors=True
        )
        row = services.city_policy_propose(
            actor=request.user, city=city, effective_from=values.pop("effective_from"), changes=values
        )
        return Response(CityPolicySerializer(row).data, status=status.HTTP_201_CREATED)


COUNTY_REVIEWERS = "本县另一位工作人员或管理员"
CITY_REVIEWERS = "本市财政局/金融办另一位工作人员或管理员"
policy_approve_view = _review_view(
    name="PolicyApproveApi", operation="policies_approve", get=selectors.policy_get_for_user,
    perform=services.policy_approve, output=PolicySerializer, who=COUNTY_REVIEWERS, approve=True,
)  # fmt: skip
policy_reject_view = _review_view(
    name="PolicyRejectApi", operation="policies_reject", get=selectors.policy_get_for_user,
    perform=services.policy_reject, output=PolicySerializer, who=COUNTY_REVIEWERS, approve=False,
)  # fmt: skip
city_policy_approve_view = _review_view(
    name="CityPolicyApproveApi", operation="city_policies_approve", get=selectors.city_policy_get_for_user,
    perform=services.city_policy_approve, output=CityPolicySerializer, who=CITY_REVIEWERS, approve=True,
)  # fmt: skip
city_policy_reject_view = _review_view(
    name="CityPolicyRejectApi", operation="city_policies_reject", get=selectors.city_policy_get_for_user,
    perform=services.city_policy_reject, output=CityPolicySerializer, who=CITY_REVIEWERS, approve=False,
)  # fmt: skip
