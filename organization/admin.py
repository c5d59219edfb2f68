from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from import_export.admin import ImportExportModelAdmin

from common.clock import today

from .models import Bank, BankBranch, CountyPolicy, Region, RoleAssignment, ServiceUnit, User
from .resources import BankBranchResource, BankResource, RegionResource

admin.site.site_header = "扶贫小额信贷管理系统"
admin.site.site_title = "扶贫小额信贷管理系统"
admin.site.index_title = "系统管理"


@admin.register(Region)
class RegionAdmin(ImportExportModelAdmin):
    resource_classes = [RegionResource]
    list_display = ("code", "name", "level", "parent")
    list_filter = ("level",)
    search_fields = ("code", "name")
    raw_id_fields = ("parent",)


@admin.register(ServiceUnit)
class ServiceUnitAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "region")
    list_filter = ("kind",)
    search_fields = ("name", "region__code")
    raw_id_fields = ("region",)


class BankBranchInline(admin.TabularInline):
    model = BankBranch
    extra = 0
    filter_horizontal = ("counties",)


@admin.register(Bank)
class BankAdmin(ImportExportModelAdmin):
    resource_classes = [BankResource]
    list_display = ("code", "name")
    inlines = [BankBranchInline]


@admin.register(BankBranch)
class BankBranchAdmin(ImportExportModelAdmin):
    resource_classes = [BankBranchResource]
    list_display = ("code", "name", "bank")
    list_filter = ("bank",)
    filter_horizontal = ("counties",)


class RoleAssignmentInline(admin.TabularInline):
    model = RoleAssignment
    extra = 0
    raw_id_fields = ("unit", "branch")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [RoleAssignmentInline]
    list_display = ("username", "full_name", "is_active", "last_login")
    fieldsets = BaseUserAdmin.fieldsets + (("扶贫信贷", {"fields": ("full_name",)}),)


@admin.register(CountyPolicy)
class CountyPolicyAdmin(admin.ModelAdmin):
    """Rows already in force are read-only here too: a change is a new row with a later date."""

    list_display = (
        "county",
        "effective_from",
        "household_loan_cap",
        "township_npl_threshold",
        "village_npl_threshold",
    )
    list_filter = ("county",)
    readonly_fields = ("created_at", "created_by")

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.effective_from <= today():
            return [f.name for f in obj._meta.fields]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
