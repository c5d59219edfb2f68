"""API of the household file (API.md "Households")."""

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import MoneySerializerField, paginated_response, paginated_schema
from common.security import no_store
from organization.permissions import can_view_full_pii

from . import exports, selectors, services
from .models import HouseholdStatus


class MemberOutputSerializer(serializers.Serializer):
    """birth_date only for callers who may see the household's full numbers (county staff of the
    county, the bank's own applicants and borrowers, admins): the masked ID number hides exactly
    the birth date's 8 digits. Every caller gets age."""

    name = serializers.CharField()
    relation = serializers.CharField()
    id_number_masked = serializers.CharField(
        source="id_masked", help_text="身份证号，仅显示后4位，如 **************123X。"
    )
    gender = serializers.CharField()
    birth_date = serializers.DateField(
        required=False,
        help_text="出生日期。仅对有权查看该户完整证件号的角色返回（本县县级工作人员、本行申请户和借款户的"
        "银行客户经理、管理员）；其他角色不返回此字段，只有 age。",
    )
    age = serializers.IntegerField(help_text="年龄（周岁，按今天计算）。所有角色都返回。")
    labor_capable = serializers.BooleanField()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("full_pii"):
            data.pop("birth_date", None)
        return data


class HouseholdOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    household_no = serializers.CharField()
    head_name = serializers.CharField()
    id_number_masked = serializers.CharField(
        source="head_id_masked", help_text="户主身份证号，仅显示后4位，如 **************123X。"
    )
    phone = serializers.CharField()
    village_code = serializers.CharField(source="village_id")
    village_name = serializers.CharField(source="village.name")
    member_count = serializers.IntegerField()
    labor_count = serializers.IntegerField()
    status = serializers.CharField()
    attribute = serializers.CharField()
    identification_standard = serializers.CharField()
    poverty_causes = serializers.ListField(child=serializers.CharField())
    per_capita_income = MoneySerializerField(allow_null=True)
    bank_name = serializers.CharField()
    bank_account_masked = serializers.CharField()


class HouseholdDetailOutputSerializer(HouseholdOutputSerializer):
    members = MemberOutputSerializer(many=True)


def detail_data(request, household) -> dict:
    """The household's detail for this caller: members' birth dates only with the full right."""
    context = {"full_pii": can_view_full_pii(request.user, household)}
    return HouseholdDetailOutputSerializer(household, context=context).data


class MemberInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=50)
    relation = serializers.CharField(max_length=20)
    id_number = serializers.CharField(max_length=40)
    gender = serializers.ChoiceField(choices=["male", "female"], required=False, allow_blank=True)
    labor_capable = serializers.BooleanField(required=False, default=False)


class HouseholdInputSerializer(serializers.Serializer):
    """Types only; the service checks the rules so that the API and the forms say the same."""

    household_no = serializers.CharField(max_length=40)
    village_code = serializers.CharField(max_length=12)
    head_name = serializers.CharField(max_length=50)
    head_id_number = serializers.CharField(max_length=40)
    phone = serializers.CharField(max_length=20, required=False, allow_blank=True)
    member_count = serializers.IntegerField(required=False, min_value=1, max_value=99)
    labor_count = serializers.IntegerField(required=False, min_value=0, max_value=99)
    status = serializers.CharField(max_length=20)
    attribute = serializers.CharField(max_length=20, required=False, allow_blank=True)
    identification_standard = serializers.CharField(max_length=20, required=False, allow_blank=True)
    poverty_causes = serializers.ListField(
        child=serializers.CharField(max_length=30), required=False, max_length=12
    )
    per_capita_income = serializers.DecimalField(
        max_digits=12, decimal_places=2, required=False, allow_null=True, min_value=0
    )
    bank_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    bank_account = serializers.CharField(max_length=40, required=False, allow_blank=True)
    members = MemberInputSerializer(many=True, required=False)


class HouseholdFilterSerializer(serializers.Serializer):
    region = serializers.CharField(required=False, max_length=12)
    status = serializers.ChoiceField(choices=HouseholdStatus.choices, required=False)
    q = serializers.CharField(required=False, max_length=50)


class HouseholdListCreateApi(APIView):
    FilterSerializer = HouseholdFilterSerializer

    @extend_schema(
        operation_id="households_list",
        parameters=[FilterSerializer],
        responses=paginated_schema(HouseholdOutputSerializer, "PaginatedHouseholdList"),
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        households = selectors.household_list(user=request.user, filters=filters.validated_data)
        return paginated_response(
            request=request, queryset=households, serializer_class=HouseholdOutputSerializer, view=self
        )

    @extend_schema(request=HouseholdInputSerializer, responses={201: HouseholdDetailOutputSerializer})
    def post(self, request):
        data = HouseholdInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        household = services.household_create(actor=request.user, data=data.validated_data)
        household = selectors.household_get_for_user(user=request.user, pk=household.pk)
        return Response(detail_data(request, household), status=status.HTTP_201_CREATED)


class HouseholdDetailApi(APIView):
    @extend_schema(responses=HouseholdDetailOutputSerializer)
    def get(self, request, pk):
        household = selectors.household_get_for_user(user=request.user, pk=pk)
        return Response(detail_data(request, household))

    @extend_schema(request=HouseholdInputSerializer, responses=HouseholdDetailOutputSerializer)
    def patch(self, request, pk):
        household = selectors.household_get_for_user(user=request.user, pk=pk)
        data = HouseholdInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.household_update(actor=request.user, household=household, data=data.validated_data)
        household = selectors.household_get_for_user(user=request.user, pk=pk)
        return Response(detail_data(request, household))


class HouseholdPiiApi(APIView):
    class OutputSerializer(serializers.Serializer):
        head_id_number = serializers.CharField()
        bank_account = serializers.CharField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request, pk):
        household = selectors.household_get_for_user(user=request.user, pk=pk)
        revealed = services.household_reveal_pii(
            actor=request.user, household=household, channel="api", ip_address=request.META.get("REMOTE_ADDR")
        )
        return no_store(Response(revealed))


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class HouseholdExportApi(APIView):
    """The household list, with the list's filters, as xlsx. ID and account numbers are masked
    unless the caller's role may see them in full (then each household is in the access log)."""

    throttle_scope = "exports"

    @extend_schema(
        operation_id="households_export",
        parameters=[HouseholdFilterSerializer],
        responses={(200, XLSX): OpenApiResponse(OpenApiTypes.BINARY, description="建档立卡户.xlsx")},
    )
    def get(self, request):
        filters = HouseholdFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        output = exports.export_households(
            user=request.user, filters=filters.validated_data, channel="api",
            ip_address=request.META.get("REMOTE_ADDR"),
        )  # fmt: skip
        return no_store(
            FileResponse(output, as_attachment=True, filename=exports.export_filename(), content_type=XLSX)
        )
