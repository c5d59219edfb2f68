"""API of interest subsidies (API.md "Interest subsidy"): settlement batches, their lines, the
workflow (approve, mark-paid; recompute and cancel for drafts) and the payment list as xlsx.
Reads through the selectors (404 outside scope), writes through the services (SubsidyError 400,
Forbidden 403 for those who may read a batch but not run it)."""

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import MoneySerializerField, paginated_response, paginated_schema
from common.api import action_view as common_action_view
from common.clock import today
from organization.models import Bank
from organization.selectors import region_get_for_user

from . import exports, selectors, services
from .basis import line_basis
from .models import BatchStatus, ExclusionReason, LineKind

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class SubsidyBatchEventOutputSerializer(serializers.Serializer):
    action = serializers.CharField()
    actor = serializers.CharField(source="actor.username")
    at = serializers.DateTimeField()
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    comment = serializers.CharField()


class SubsidyBatchOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    county = serializers.CharField(source="county_id")
    county_name = serializers.CharField(source="county.name")
    bank = serializers.CharField(source="bank.code")
    bank_name = serializers.CharField(source="bank.name")
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    total_amount = MoneySerializerField()
    line_count = serializers.IntegerField()
    excluded_count = serializers.IntegerField()
    computed_at = serializers.DateTimeField()
    approved_at = serializers.DateTimeField()
    paid_on = serializers.DateField()
    payment_reference = serializers.CharField()


class SubsidyBatchDetailOutputSerializer(SubsidyBatchOutputSerializer):
    events = serializers.SerializerMethodField()

    @extend_schema_field(SubsidyBatchEventOutputSerializer(many=True))
    def get_events(self, batch) -> list[dict]:
        return SubsidyBatchEventOutputSerializer(selectors.batch_events(batch), many=True).data


class SubsidyBasisSerializer(serializers.Serializer):
    kind = serializers.CharField()
    interest_paid = serializers.CharField(allow_null=True)
    principal = serializers.CharField(allow_null=True)
    days = serializers.IntegerField(allow_null=True)
    day_basis = serializers.IntegerField(allow_null=True)
    rate = serializers.CharField(allow_null=True)
    loan_rate = serializers.CharField(allow_null=True)
    share = serializers.CharField(allow_null=True)
    households_led = serializers.IntegerField(allow_null=True)
    cap_per_household = serializers.CharField(allow_null=True)


class SubsidyLineOutputSerializer(serializers.Serializer):
    loan = serializers.IntegerField(source="loan_id")
    loan_no = serializers.CharField(source="loan.loan_no")
    borrower = serializers.CharField(source="loan.borrower_name")
    kind = serializers.CharField()
    payee = serializers.CharField()
    amount = MoneySerializerField()
    basis = serializers.SerializerMethodField()
    excluded_reason = serializers.CharField()
    excluded_reason_label = serializers.CharField(source="get_excluded_reason_display")

    @extend_schema_field(SubsidyBasisSerializer)
    def get_basis(self, line) -> dict:
        return line_basis(line)


def _detail(request, batch) -> dict:
    return SubsidyBatchDetailOutputSerializer(
        selectors.batch_get_for_user(user=request.user, pk=batch.pk)
    ).data


class BatchListCreateApi(APIView):
    class FilterSerializer(serializers.Serializer):
        county = serializers.CharField(required=False, max_length=6)
        bank = serializers.CharField(required=False, max_length=20)
        status = serializers.ChoiceField(choices=BatchStatus.choices, required=False)
        period_start = serializers.DateField(required=False)

    class InputSerializer(serializers.Serializer):
        county = serializers.CharField(max_length=6)
        bank = serializers.CharField(max_length=20, help_text="银行代码")
        period_start = serializers.DateField()
        period_end = serializers.DateField()

    @extend_schema(
        operation_id="subsidy_batches_list",
        parameters=[FilterSerializer],
        responses=paginated_schema(SubsidyBatchOutputSerializer, "PaginatedSubsidyBatchList"),
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        batches = selectors.batch_list(user=request.user, filters=filters.validated_data)
        return paginated_response(
            request=request, queryset=batches, serializer_class=SubsidyBatchOutputSerializer, view=self
        )

    @extend_schema(request=InputSerializer, responses={201: SubsidyBatchDetailOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        county = region_get_for_user(user=request.user, code=v["county"])
        bank = Bank.objects.filter(code=v["bank"]).first()
        if bank is None:
            raise services.SubsidyError(
                "invalid", f"未知的银行代码“{v['bank']}”。", {"bank": ["未知的银行。"]}
            )
        batch = services.batch_create(
            actor=request.user,
            county=county,
            bank=bank,
            period_start=v["period_start"],
            period_end=v["period_end"],
        )
        return Response(_detail(request, batch), status=status.HTTP_201_CREATED)


class BatchDetailApi(APIView):
    @extend_schema(responses=SubsidyBatchDetailOutputSerializer)
    def get(self, request, pk):
        return Response(
            SubsidyBatchDetailOutputSerializer(selectors.batch_get_for_user(user=request.user, pk=pk)).data
        )


class BatchLinesApi(APIView):
    class FilterSerializer(serializers.Serializer):
        excluded = serializers.BooleanField(required=False, allow_null=True, default=None)
        kind = serializers.ChoiceField(choices=LineKind.choices, required=False)
        excluded_reason = serializers.ChoiceField(choices=ExclusionReason.choices, required=False)

    @extend_schema(
        operation_id="subsidy_batch_lines",
        parameters=[FilterSerializer],
        responses=paginated_schema(SubsidyLineOutputSerializer, "PaginatedSubsidyLineList"),
    )
    def get(self, request, pk):
        batch = selectors.batch_get_for_user(user=request.user, pk=pk)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        v = filters.validated_data
        lines = selectors.batch_lines(batch, excluded=v.get("excluded"), kind=v.get("kind"))
        if v.get("excluded_reason"):
            lines = lines.filter(excluded_reason=v["excluded_reason"])
        return paginated_response(
            request=request, queryset=lines, serializer_class=SubsidyLineOutputSerializer, view=self
        )


class BatchCommentInputSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class BatchReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class BatchMarkPaidInputSerializer(serializers.Serializer):
    paid_on = serializers.DateField(required=False, help_text="默认今天")
    reference = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")


# action -> (input serializer, what to do); every action answers with the batch.
ACTIONS = {
    "recompute": (None, lambda user, batch, data: services.batch_recompute(actor=user, batch=batch)),
    "approve": (
        BatchCommentInputSerializer,
        lambda user, batch, data: services.batch_approve(actor=user, batch=batch, comment=data["comment"]),
    ),
    "mark-paid": (
        BatchMarkPaidInputSerializer,
        lambda user, batch, data: services.batch_mark_paid(
            actor=user, batch=batch, paid_on=data.get("paid_on") or today(), reference=data["reference"]
        ),
    ),
    "cancel": (
        BatchReasonInputSerializer,
        lambda user, batch, data: services.batch_cancel(actor=user, batch=batch, reason=data["reason"]),
    ),
}


def action_view(action: str):
    """POST /subsidy/batches/{id}/<action>/, each with its own schema entry."""
    return common_action_view(
        action,
        ACTIONS,
        name="Batch",
        operation="subsidy_batches",
        get_object=selectors.batch_get_for_user,
        output_serializer=SubsidyBatchDetailOutputSerializer,
        respond=_detail,
    )


class BatchExportApi(APIView):
    throttle_scope = "exports"

    @extend_schema(
        operation_id="subsidy_batches_export",
        responses={(200, XLSX): OpenApiResponse(OpenApiTypes.BINARY, description="贴息拨付清单.xlsx")},
    )
    def get(self, request, pk):
        batch = selectors.batch_get_for_user(user=request.user, pk=pk)
        content = exports.batch_workbook(batch)
        return FileResponse(
            iter([content]), as_attachment=True, filename=exports.export_filename(batch), content_type=XLSX
        )
