"""GET /api/v1/jobs/{id}/: the progress of a background job (API.md "Daily jobs")."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .jobs import job_get_for_user


class JobDetailApi(APIView):
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        kind = serializers.CharField()
        status = serializers.CharField()
        progress = serializers.IntegerField()
        processed = serializers.IntegerField()
        total = serializers.IntegerField()
        result = serializers.JSONField()
        message = serializers.CharField()
        created_at = serializers.DateTimeField()
        finished_at = serializers.DateTimeField(allow_null=True)

    @extend_schema(operation_id="jobs_retrieve", responses=OutputSerializer)
    def get(self, request, pk):
        job = job_get_for_user(user=request.user, pk=pk)
        return Response(self.OutputSerializer(job).data)
