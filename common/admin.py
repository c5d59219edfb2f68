from django.contrib import admin

from .audit import action_label, state_label
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


class ActionFilter(admin.SimpleListFilter):
    """The actions found in the trail, by their Chinese names."""

    title = "操作"
    parameter_name = "action"

    def lookups(self, request, model_admin):
        codes = AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct()
        return [(code, action_label(code)) for code in codes]

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The audit trail, to look things up: the services append to it, nobody edits it."""

    list_display = (
        "at",
        "who",
        "action_name",
        "object_type",
        "object_label",
        "object_id",
        "states",
        "region",
    )
    list_filter = ("object_type", ActionFilter, ("at", admin.DateFieldListFilter))
    fields = ("at", "actor", "actor_name", "action_name", "object_type", "object_id", "object_label", "region",
              "states", "detail")  # fmt: skip
    readonly_fields = ("action_name", "states")
    search_fields = ("=object_id", "object_label", "actor_name", "^region")  # ^: a county finds its villages
    list_select_related = False  # actor_name is the snapshot; the actor row is not needed
    show_full_result_count = False  # no second COUNT over a table that only grows
    # No date_hierarchy: its year list is a DISTINCT over every entry (2 s at 100,000 on SQLite).

    @admin.display(description="操作人")
    def who(self, entry: AuditEntry) -> str:
        return entry.who

    @admin.display(description="操作", ordering="action")
    def action_name(self, entry: AuditEntry) -> str:
        return action_label(entry.action)

    @admin.display(description="状态变化")
    def states(self, entry: AuditEntry) -> str:
        if not (entry.from_state or entry.to_state):
            return "—"
        from_, to = (state_label(entry.object_type, state) for state in (entry.from_state, entry.to_state))
        return f"{from_ or '—'} → {to or '—'}"
