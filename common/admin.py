from django.contrib import admin

from .models import Job


class ReadOnlyAdminMixin:
    """For a ModelAdmin of rows that only the services write: listed and looked at in the admin,
    never added, changed or deleted there."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Background jobs, read-only: tasks write them."""

    list_display = ("id", "kind", "status", "progress", "created_by", "created_at", "finished_at")
    list_filter = ("kind", "status")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
