from django.contrib import admin

from common.admin import ReadOnlyAdminMixin

from .models import ImportJob


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: jobs are made by uploads and run by the worker (imports.services)."""

    list_display = (
        "id", "original_name", "kind", "dry_run", "status", "phase", "total_rows", "created", "updated",
        "unchanged", "error_count", "created_by", "created_at", "finished_at",
    )  # fmt: skip
    list_filter = ("status", "kind", "dry_run")
    search_fields = ("original_name", "created_by__username")
    date_hierarchy = "created_at"
    list_select_related = ("created_by",)
    exclude = ("errors",)  # up to 1,000 rows of uploaded values: see the job page instead

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "errors"]
