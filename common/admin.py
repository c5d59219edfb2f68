from django.contrib import admin

from .models import AuditEntry, Job


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


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The audit trail, to look things up: the services append to it, nobody edits it."""

    list_display = ("at", "who", "action", "object_type", "object_label", "object_id", "states", "region")
    list_filter = ("object_type", "action", ("at", admin.DateFieldListFilter))
    search_fields = ("=object_id", "object_label", "actor_name", "^region")  # ^: a county finds its villages
    list_select_related = False  # actor_name is the snapshot; the actor row is not needed
    show_full_result_count = False  # no second COUNT over a table that only grows
    # No date_hierarchy: its year list is a DISTINCT over every entry (2 s at 100,000 on SQLite).

    @admin.display(description="操作人")
    def who(self, entry: AuditEntry) -> str:
        return entry.who

    @admin.display(description="状态变化")
    def states(self, entry: AuditEntry) -> str:
        if not (entry.from_state or entry.to_state):
            return "—"
        return f"{entry.from_state or '—'} → {entry.to_state or '—'}"
