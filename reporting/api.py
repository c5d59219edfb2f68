"""API of the dashboards, the county assessment, their exports and the daily job (API.md
"Dashboards and assessment", "Daily jobs and circuit breakers"). One class per operation; reads go
through reporting.selectors (404 outside scope, ReportingError 400), served from the rollup
snapshots. Money is a string with two decimals, ratios strings of percentages with two decimals."""

from django.core.cache import cache
from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from common.clock import today
from loans.services import LoanError
from organization.models import Region
from organization.selectors import region_get_for_user

from . import exports, jobs, selectors

MONEY = {"max_digits": 20, "decimal_places": 2}
XLSX_RESPONSE = {(200, exports.XLSX): OpenApiResponse(OpenApiTypes.BINARY, description="xlsx")}


class FiguresSerializer(serializers.Serializer):
    region = serializers.CharField()
    name = serializers.CharField()
    level = serializers.CharField()
    registered_households = serializers.IntegerField()
    borrowed_households_cumulative = serializers.IntegerField()
    borrowed_households_current = serializers.IntegerField()
    coverage_cumulative = serializers.DecimalField(**MONEY)
    coverage_current = serializers.DecimalField(**MONEY)
    rated_households = serializers.IntegerField()
    rating_coverage = serializers.DecimalField(**MONEY)
    principal_outstanding = serializers.DecimalField(**MONEY)
    npl_principal = serializers.DecimalField(**MONEY)
    npl_ratio = serializers.DecimalField(**MONEY, help_text="不良贷款余额 / 贷款余额（核销本金不在其中）")
    written_off_principal = serializers.DecimalField(**MONEY, help_text="截至数据日期累计核销的本金")
    subsidy_paid = serializers.DecimalField(**MONEY)
    fund_balance = serializers.DecimalField(**MONEY, allow_null=True)
    # Beyond API.md's list:
    households = serializers.IntegerField(help_text="建档户数（全部状态），评级授信面的分母")
    covered_outstanding = serializers.DecimalField(**MONEY, allow_null=True)
    leverage_cap = serializers.DecimalField(**MONEY, allow_null=True)
    leverage_used = serializers.DecimalField(**MONEY, allow_null=True)


class TargetSerializer(serializers.Serializer):
    indicator = serializers.CharField()
    value = serializers.DecimalField(**MONEY)
    strict = serializers.BooleanField()
    due_on = serializers.DateField()
    actual = serializers.DecimalField(**MONEY)
    progress = serializers.DecimalField(**MONEY)
    reached = serializers.BooleanField()
    pace_per_day = serializers.DecimalField(max_digits=12, decimal_places=4, allow_null=True)
    projected_on = serializers.DateField(allow_null=True)
    on_track = serializers.BooleanField()


class DashboardSerializer(FiguresSerializer):
    as_of = serializers.DateField()
    children = FiguresSerializer(many=True)
    target = TargetSerializer(allow_null=True)


class DashboardFilterSerializer(serializers.Serializer):
    region = serializers.CharField(required=False, max_length=12)
    as_of = serializers.DateField(required=False)


def dashboard_cache_key(version: tuple) -> str:
    """The cache key of a dashboard_version: its parts in ISO form, so that the key holds no space
    (computed_at's str() has one, which memcached refuses) and stays well under 250 characters."""
    code, pk, as_of, computed_at = version
    return f"reporting:dashboard:{code}:{pk}:{as_of.isoformat()}:{computed_at.isoformat()}"


class DashboardApi(APIView):
    """A region's figures and its child regions' on a snapshot date (the latest on or before
    `as_of`; the latest when omitted). `region` defaults to the caller's own (the city, the county...).

    The answer is the same for everyone who may see the region (scope is a prefix: whoever sees a
    region sees its children), so its JSON is cached by the snapshot row it shows, as the daily job
    last wrote it (id and computed_at in the key: a recomputed date is never served stale), for
    CACHE_SECONDS at most (target rows and the earlier snapshots the target's pace reads may change
    meanwhile). A request is then three small queries: the token, the caller's roles, the row."""

    CACHE_SECONDS = 600

    @extend_schema(
        operation_id="dashboard", parameters=[DashboardFilterSerializer], responses=DashboardSerializer
    )
    def get(self, request):
        params = DashboardFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        version = selectors.dashboard_version(
            user=request.user,
            region_code=params.validated_data.get("region"),
            as_of=params.validated_data.get("as_of"),
        )
        key = dashboard_cache_key(version)
        body = cache.get(key)
        if body is None:
            data = selectors.dashboard(user=request.user, version=version)
            body = JSONRenderer().render(DashboardSerializer(data).data)
            cache.set(key, body, self.CACHE_SECONDS)
        return HttpResponse(body, content_type="application/json")


class TrendSerializer(FiguresSerializer):
    as_of = serializers.DateField()


class DashboardTrendApi(APIView):
    """A region's snapshots over time, oldest first, for the trend charts."""

    class FilterSerializer(serializers.Serializer):
        region = serializers.CharField(max_length=12)
        start = serializers.DateField(required=False)
        end = serializers.DateField(required=False)

    @extend_schema(
        operation_id="dashboard_trend", parameters=[FilterSerializer], responses=TrendSerializer(many=True)
    )
    def get(self, request):
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        rows = selectors.dashboard_trend(
            user=request.user, region_code=params.validated_data["region"],
            start=params.validated_data.get("start"), end=params.validated_data.get("end"),
        )  # fmt: skip
        return Response(TrendSerializer(rows, many=True).data)


class DashboardExportApi(APIView):
    """The dashboard tables of a region as xlsx, one sheet per level from the region's down."""

    throttle_scope = "exports"

    @extend_schema(
        operation_id="dashboard_export", parameters=[DashboardFilterSerializer], responses=XLSX_RESPONSE
    )
    def get(self, request):
        params = DashboardFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        code = params.validated_data.get("region") or selectors.home_region(user=request.user).code
        output, filename = exports.dashboard_workbook(
            user=request.user, region_code=code, as_of=params.validated_data.get("as_of")
        )
        return FileResponse(output, as_attachment=True, filename=filename, content_type=exports.XLSX)


class MonthlyReportApi(APIView):
    """The city's monthly report workbook (city finance office, admin; 404 for anyone who cannot
    see the whole city)."""

    throttle_scope = "exports"

    class FilterSerializer(serializers.Serializer):
        month = serializers.RegexField(
            r"^(19|20)\d{2}-(0[1-9]|1[0-2])$", error_messages={"invalid": "请用 YYYY-MM 格式。"}
        )
        region = serializers.CharField(required=False, max_length=12)

    @extend_schema(operation_id="reports_monthly", parameters=[FilterSerializer], responses=XLSX_RESPONSE)
    def get(self, request):
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        output, filename = exports.monthly_report(
            user=request.user,
            month=params.validated_data["month"],
            region_code=params.validated_data.get("region"),
        )
        return FileResponse(output, as_attachment=True, filename=filename, content_type=exports.XLSX)


class AssessmentResultSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    county = serializers.CharField()
    name = serializers.CharField()
    score = serializers.DecimalField(**MONEY)
    indicators = serializers.DictField(child=serializers.DecimalField(**MONEY))
    scores = serializers.DictField(child=serializers.DecimalField(**MONEY))
    target = TargetSerializer(allow_null=True)
    flags = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))
    flagged = serializers.BooleanField()


class AssessmentSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    as_of = serializers.DateField()
    weights = serializers.DictField()
    results = AssessmentResultSerializer(many=True)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["weights"] = {
            k: v if k == "timeliness_days" else f"{v:.2f}" for k, v in instance["weights"].items()
        }
        return data


class AssessmentApi(APIView):
    """The counties ranked on the assessment's indicators for a year (default: this year), with
    their flags (通报). Every county for the city and an admin; the others see their own rows."""

    class FilterSerializer(serializers.Serializer):
        year = serializers.IntegerField(required=False, min_value=2000, max_value=2100)

    @extend_schema(operation_id="assessment", parameters=[FilterSerializer], responses=AssessmentSerializer)
    def get(self, request):
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = selectors.assessment(user=request.user, year=params.validated_data.get("year") or today().year)
        return Response(AssessmentSerializer(data).data)


class DailyJobStartApi(APIView):
    """POST /jobs/daily/: county staff run the daily job (the loans app's steps, then the region
    rollups) for their county (or the `county` given), an admin for every county."""

    throttle_scope = "jobs"

    class InputSerializer(serializers.Serializer):
        as_of = serializers.DateField(required=False)
        county = serializers.CharField(required=False, min_length=6, max_length=6)

        def validate_as_of(self, value):
            # A later day would count every loan as overdue by then and trip breakers that only
            # county staff can close again.
            if value > today():
                raise serializers.ValidationError("日终任务的日期不能晚于今天。")
            return value

    class OutputSerializer(serializers.Serializer):
        job_id = serializers.IntegerField()

    @extend_schema(
        operation_id="jobs_daily_create", request=InputSerializer, responses={202: OutputSerializer}
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        county = data.validated_data.get("county")
        if county:
            region = region_get_for_user(user=request.user, code=county)  # 404 outside scope
            if region.level != Region.Level.COUNTY:
                raise LoanError("invalid", "请选择一个县（区）。", {"county": ["不是县（区）代码。"]})
        job = jobs.daily_job_start(
            actor=request.user, as_of=data.validated_data.get("as_of") or today(), county=county
        )
        return Response({"job_id": job.pk}, status=status.HTTP_202_ACCEPTED)
