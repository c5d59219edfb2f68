from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from import_export.admin import ImportExportModelAdmin

from .models import Bank, BankBranch, CityPolicy, CountyPolicy, Region, RoleAssignment, ServiceUnit, User
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


class ReadOnlyPolicyAdmin(admin.ModelAdmin):
    """Policy rows are read here only: a change is proposed and approved by two people on the
    policy pages (/policies/), which check the city's envelope and write the audit trail."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CountyPolicy)
class CountyPolicyAdmin(ReadOnlyPolicyAdmin):
    list_display = ("county", "effective_from", "status", "household_loan_cap", "created_by", "reviewed_by")
    list_filter = ("status", "county")


@admin.register(CityPolicy)
class CityPolicyAdmin(ReadOnlyPolicyAdmin):
    list_display = (
        "city", "effective_from", "status", "household_loan_cap", "township_npl_threshold", "village_npl_threshold",
        "created_by", "reviewed_by",
    )  # fmt: skip
    list_filter = ("status", "city")
