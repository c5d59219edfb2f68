"""API of the daily job and the circuit breakers (API.md "Daily jobs and circuit breakers"). One
class per operation; reads through the scoped breaker selectors (404 outside scope), writes
through loans.daily (LoanError 400, Forbidden 403)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import paginated_response, paginated_schema
from common.clock import today
from organization.models import Region
from organization.selectors import region_get_for_user

from . import daily
from .models import Breaker
from .services import LoanError


class DailyJobStartApi(APIView):
    """County staff run it for their county (or the `county` given), an admin for every county."""

    class InputSerializer(serializers.Serializer):
        as_of = serializers.DateField(required=False)
        county = serializers.CharField(required=False, min_length=6, max_length=6)

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
        job = daily.daily_job_start(
            actor=request.user, as_of=data.validated_data.get("as_of") or today(), county=county
        )
        return Response({"job_id": job.pk}, status=status.HTTP_202_ACCEPTED)


class BreakerOutputSerializer(serializers.Serializer):
    region_code = serializers.CharField(source="region_id")
    region_name = serializers.CharField(source="region.name")
    level = serializers.CharField()
    npl_ratio = serializers.DecimalField(max_digits=6, decimal_places=2)
    threshold = serializers.DecimalField(max_digits=6, decimal_places=2)
    state = serializers.CharField()
    resumable = serializers.BooleanField()
    since = serializers.DateTimeField(allow_null=True)
    principal_outstanding = serializers.DecimalField(max_digits=14, decimal_places=2)
    npl_principal = serializers.DecimalField(max_digits=14, decimal_places=2)
    computed_on = serializers.DateField(allow_null=True)


class BreakerListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        county = serializers.CharField(required=False, max_length=6)
        state = serializers.ChoiceField(choices=Breaker.State.choices, required=False)
        level = serializers.ChoiceField(
            choices=[(Region.Level.VILLAGE, "行政村"), (Region.Level.TOWNSHIP, "乡镇")], required=False
        )

    @extend_schema(
        operation_id="breakers_list",
        parameters=[FilterSerializer],
        responses=paginated_schema(BreakerOutputSerializer, "PaginatedBreakerList"),
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        breakers = daily.breaker_list(user=request.user, filters=filters.validated_data)
        return paginated_response(
            request=request, queryset=breakers, serializer_class=BreakerOutputSerializer, view=self
        )


class BreakerResumeApi(APIView):
    @extend_schema(operation_id="breakers_resume", request=None, responses=BreakerOutputSerializer)
    def post(self, request, region_code):
        daily.breaker_get_for_user(user=request.user, region_code=region_code)  # 404 outside scope
        breaker = daily.breaker_resume(actor=request.user, region_code=region_code)
        return Response(BreakerOutputSerializer(breaker).data)
