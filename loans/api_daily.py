"""API of the circuit breakers (API.md "Daily jobs and circuit breakers"; POST /jobs/daily/ is
reporting.api's: the daily job ends with the region rollups). One class per operation; reads
through the scoped breaker selectors (404 outside scope), writes through loans.daily (LoanError
400, Forbidden 403)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import MoneySerializerField, paginated_response, paginated_schema
from organization.models import Region

from . import daily
from .models import Breaker


class BreakerOutputSerializer(serializers.Serializer):
    region_code = serializers.CharField(source="region_id")
    region_name = serializers.CharField(source="region.name")
    level = serializers.CharField()
    npl_ratio = serializers.DecimalField(max_digits=6, decimal_places=2)
    threshold = serializers.DecimalField(max_digits=6, decimal_places=2)
    state = serializers.CharField()
    resumable = serializers.BooleanField()
    since = serializers.DateTimeField(allow_null=True)
    principal_outstanding = MoneySerializerField()
    npl_principal = MoneySerializerField()
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
