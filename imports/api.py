"""API of imports (API.md "Imports"): upload a file, follow its job, fetch the error workbook and
the blank templates."""

from pathlib import PurePath

from django.http import FileResponse, Http404, HttpResponse
from django.urls import reverse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from common.spreadsheets import Limits

from . import registry, selectors, services
from .models import ImportJob
from .templates_xlsx import build_template

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Multipart framing around the file: a request longer than the file limit plus this is refused
# before its body is read.
MULTIPART_SLACK = 64 * 1024


def error_report_filename(job: ImportJob) -> str:
    stem = PurePath(job.original_name).stem or "导入文件"
    return f"错误报告-{stem}.xlsx"


def template_filename(spec: registry.TemplateSpec) -> str:
    return f"{spec.label}导入模板.xlsx"


def xlsx_download(content: bytes, filename: str) -> HttpResponse:
    """An xlsx as an attachment; the Chinese filename goes in filename*=UTF-8''... (RFC 6266)."""
    response = HttpResponse(content, content_type=XLSX)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


def error_report_response(job: ImportJob) -> FileResponse:
    if not job.error_report:
        raise Http404("该导入没有错误报告。")
    try:
        handle = job.error_report.open("rb")
    except FileNotFoundError:
        raise Http404("错误报告文件已不存在。") from None
    response = FileResponse(
        handle, as_attachment=True, filename=error_report_filename(job), content_type=XLSX
    )
    response["Cache-Control"] = "private, no-store"  # the uploaded rows: ID and account numbers
    return response


def _parse_bool(value, default: bool) -> bool | None:
    """true/false as a form sends them; None for anything else."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on", "是"):
        return True
    if text in ("false", "0", "no", "off", "否"):
        return False
    return None


class ImportCreateApi(APIView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    throttle_scope = "imports"

    class InputSerializer(serializers.Serializer):
        kind = serializers.CharField(max_length=30, help_text="households | repayments | ...")
        file = serializers.FileField(help_text="the .xlsx workbook", allow_empty_file=True)
        dry_run = serializers.BooleanField(
            default=True, help_text="true (default): check only, write nothing"
        )

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        status = serializers.CharField()
        url = serializers.CharField()

    @extend_schema(
        operation_id="imports_create",
        request={"multipart/form-data": InputSerializer},
        responses={202: OutputSerializer},
    )
    def post(self, request):
        limits = Limits.from_settings()
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limits.max_upload_bytes + MULTIPART_SLACK:
            raise services.ImportError_(
                "file_too_large",
                f"文件过大，上限为{limits.max_upload_bytes / 1024 / 1024:.0f} MB。",
                {"file": ["文件过大。"]},
            )
        dry_run = _parse_bool(request.data.get("dry_run"), True)
        if dry_run is None:
            raise services.ImportError_(
                "invalid", "输入有误，请检查标出的字段。", {"dry_run": ["应为 true 或 false。"]}
            )
        data = self.InputSerializer(
            data={"kind": request.data.get("kind"), "file": request.data.get("file"), "dry_run": dry_run}
        )
        data.is_valid(raise_exception=True)
        job = services.import_create(
            actor=request.user,
            kind=data.validated_data["kind"],
            uploaded=data.validated_data["file"],
            dry_run=data.validated_data["dry_run"],
        )
        job.refresh_from_db()  # eager Celery (the demo, tests) has run it already
        url = request.build_absolute_uri(reverse("import-detail", args=[job.pk]))
        return Response({"id": job.pk, "status": job.status, "url": url}, status=status.HTTP_202_ACCEPTED)


class ImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    column = serializers.CharField()
    value = serializers.CharField(allow_blank=True)
    message = serializers.CharField()


class ImportJobOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    dry_run = serializers.BooleanField()
    total_rows = serializers.IntegerField()
    processed_rows = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    error_count = serializers.IntegerField()
    errors = ImportErrorSerializer(many=True)
    error_report_url = serializers.SerializerMethodField()
    # beyond API.md
    phase = serializers.CharField()
    message = serializers.CharField()
    original_name = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    rows_per_second = serializers.IntegerField(allow_null=True)

    def get_error_report_url(self, job) -> str | None:
        if not job.error_report:
            return None
        path = reverse("import-error-report", args=[job.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class ImportDetailApi(APIView):
    @extend_schema(operation_id="imports_retrieve", responses=ImportJobOutputSerializer)
    def get(self, request, pk):
        job = selectors.import_get_for_user(user=request.user, pk=pk)
        return Response(ImportJobOutputSerializer(job, context={"request": request}).data)


class ImportErrorReportApi(APIView):
    throttle_scope = "exports"

    @extend_schema(operation_id="imports_error_report", responses={(200, XLSX): OpenApiTypes.BINARY})
    def get(self, request, pk):
        job = selectors.import_get_for_user(user=request.user, pk=pk)
        return error_report_response(job)


class ImportTemplateApi(APIView):
    """Any signed-in user: a blank template holds nothing but headers and drop-down lists."""

    @extend_schema(operation_id="imports_template", responses={(200, XLSX): OpenApiTypes.BINARY})
    def get(self, request, kind):
        spec = registry.template(kind)
        if spec is None:
            raise Http404
        return xlsx_download(build_template(spec), template_filename(spec))
