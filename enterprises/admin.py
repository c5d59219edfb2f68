from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from common.admin import ReadOnlyAdminMixin

from .models import BenefitLink, Enterprise, RecognitionEvent


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RecognitionEventInline(_ReadOnlyInline):
    model = RecognitionEvent
    fields = ("decided_on", "action", "decision_no", "reason", "actor", "at")
    readonly_fields = fields


class BenefitLinkInline(_ReadOnlyInline):
    model = BenefitLink
    fields = ("household", "mode", "start_date", "end_date", "annual_benefit", "created_by", "end_reason")
    readonly_fields = fields


@admin.register(Enterprise)
class EnterpriseAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    """Read-only here: writes go through enterprises.services (credit code check, scope,
    recognition history), from the pages, the API or the importer."""

    list_display = ("name", "credit_code", "kind", "township", "founded_on", "recognized", "recognized_on")
    list_filter = ("kind", "recognized", "county")
    search_fields = ("name", "credit_code", "legal_rep")
    list_select_related = ("township",)
    inlines = [RecognitionEventInline, BenefitLinkInline]


@admin.register(RecognitionEvent)
class RecognitionEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("decided_on", "enterprise", "action", "decision_no", "actor", "at")
    list_filter = ("action",)
    search_fields = ("enterprise__name", "decision_no")
    list_select_related = ("enterprise", "actor")


@admin.register(BenefitLink)
class BenefitLinkAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("enterprise", "household", "mode", "start_date", "end_date", "annual_benefit")
    list_filter = ("mode",)
    search_fields = ("enterprise__name", "household__household_no", "household__head_name")
    list_select_related = ("enterprise", "household")
    raw_id_fields = ("enterprise", "household")
