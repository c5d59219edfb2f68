from django.contrib import admin
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from import_export.admin import ImportExportModelAdmin

from . import services
from .models import Bank, BankBranch, CityPolicy, CountyPolicy, Region, RoleAssignment, ServiceUnit, User
from .resources import BankBranchResource, BankResource, RegionResource
from .services import audit_assignment, audit_user

admin.site.site_header = "扶贫小额信贷管理系统"
admin.site.site_title = "扶贫小额信贷管理系统"
admin.site.index_title = "系统管理"

_site_password_change = admin.site.password_change


def _password_change(request, extra_context=None):
    """The admin's own “修改密码” page: once saved, services.password_changed (the flag is
    cleared, the user's API tokens end), as on /password/."""
    response = _site_password_change(request, extra_context)
    if request.method == "POST" and response.status_code == 302:
        services.password_changed(user=request.user)
    return response


admin.site.password_change = _password_change


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
    """A user added here must change the password at the first login; a password set here
    (“重置密码”) does the same and, like a deactivation, ends the user's API tokens
    (organization.services)."""

    inlines = [RoleAssignmentInline]
    list_display = ("username", "full_name", "is_active", "must_change_password", "last_login")
    fieldsets = BaseUserAdmin.fieldsets + (("扶贫信贷", {"fields": ("full_name", "must_change_password")}),)

    def save_model(self, request, obj, form, change):
        """A new user must change the password at first login; a deactivation ends the user's
        tokens; the trail gets the creation or the fields changed (never a password's value)."""
        if not change:
            obj.must_change_password = True
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            services.user_deactivate(actor=request.user, user=obj)
        changed = [name for name in form.changed_data if name not in ("password1", "password2")]
        if not change or changed:
            audit_user(actor=request.user, user=obj, action="change" if change else "create",
                       changed=changed if change else None)  # fmt: skip

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:  # the form was saved
            user = self.get_object(request, id)
            services.password_reset(actor=request.user, user=user)
            if user.pk == request.user.pk:
                update_session_auth_hash(request, user)
        return response

    # Every save through the admin is in the audit trail: the user (the fields changed, never a
    # password's value) and each role assignment added, changed or removed.

    def save_formset(self, request, form, formset, change):
        # Removed ones are recorded first, while they still have their ids.
        for removed in formset.deleted_forms:
            if removed.instance.pk is not None:
                audit_assignment(actor=request.user, assignment=removed.instance, action="unassign")
        super().save_formset(request, form, formset, change)
        for assignment in formset.new_objects:
            audit_assignment(actor=request.user, assignment=assignment, action="assign")
        for assignment, _fields in formset.changed_objects:
            audit_assignment(actor=request.user, assignment=assignment, action="change")

    def delete_model(self, request, obj):
        audit_user(actor=request.user, user=obj, action="delete")
        super().delete_model(request, obj)


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
