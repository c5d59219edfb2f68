"""API of the organization app: token, me, regions, banks, users, policies (API.md)."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from common.clock import today
from common.errors import ApplicationError

from . import selectors, services
from .models import CountyPolicy, Region, Role


class TokenApi(APIView):
    """POST /auth/token/ {"username","password"} -> {"token"}. django-axes counts failures."""

    authentication_classes = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    @extend_schema(
        request=InputSerializer, responses=inline_serializer("Token", {"token": serializers.CharField()})
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
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


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


class PolicySerializer(serializers.ModelSerializer):
    county = serializers.CharField(source="county_id")

    class Meta:
        model = CountyPolicy
        fields = ("id", "county", "effective_from", *CountyPolicy.POLICY_FIELDS)


class PolicyListCreateApi(APIView):
    class FilterSerializer(serializers.Serializer):
        county = serializers.CharField(max_length=6)

    class InputSerializer(serializers.ModelSerializer):
        county = serializers.CharField(max_length=6)

        class Meta:
            model = CountyPolicy
            fields = ("county", "effective_from", *CountyPolicy.POLICY_FIELDS)
            extra_kwargs = {f: {"required": False} for f in CountyPolicy.POLICY_FIELDS}
            # No unscoped unique-together check here: the service checks the date after the scope,
            # so an outsider learns nothing about another county's rows.
            validators: list = []

    @extend_schema(parameters=[FilterSerializer], responses=PolicySerializer(many=True))
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rows = selectors.policy_list(user=request.user, county_code=filters.validated_data["county"])
        return Response(PolicySerializer(rows, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: PolicySerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        county = selectors.region_get_for_user(
            user=request.user, code=values.pop("county"), include_ancestors=True
        )
        row = services.policy_create(
            actor=request.user, county=county, effective_from=values.pop("effective_from"), changes=values
        )
        return Response(PolicySerializer(row).data, status=status.HTTP_201_CREATED)


class PolicyCurrentApi(APIView):
    class FilterSerializer(serializers.Serializer):
        county = serializers.CharField(max_length=6)
        on = serializers.DateField(required=False)

    @extend_schema(parameters=[FilterSerializer], responses=PolicySerializer)
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        county = selectors.region_get_for_user(
            user=request.user, code=filters.validated_data["county"], include_ancestors=True
        )
        row = selectors.policy_for(county, on=filters.validated_data.get("on") or today())
        return Response(PolicySerializer(row).data)
