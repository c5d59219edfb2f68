from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from common.admin import ReadOnlyAdminMixin
from organization.scoping import is_admin

from .models import Household, Member, PiiAccessLog


class MemberInline(admin.TabularInline):
    """Birth dates only for admins (who may see full numbers anyway); other staff see age: the
    masked ID number hides exactly the birth date's digits."""

    model = Member
    extra = 0
    fields = ("name", "relation", "id_masked", "gender", "birth_date", "labor_capable")
    readonly_fields = (*fields, "age")
    can_delete = False

    def get_fields(self, request, obj=None):
        if is_admin(request.user):
            return self.fields
        return tuple("age" if name == "birth_date" else name for name in self.fields)

    @admin.display(description="年龄（周岁）")
    def age(self, member):
        return member.age


@admin.register(Household)
class HouseholdAdmin(SimpleHistoryAdmin):
    """Read-only here: household writes go through households.services (validation, encryption)."""

    list_display = ("household_no", "head_name", "head_id_masked", "village", "status", "member_count")
    list_filter = ("status", "attribute")
    search_fields = ("household_no", "head_name")
    inlines = [MemberInline]
    list_select_related = ("village",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


@admin.register(PiiAccessLog)
class PiiAccessLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("at", "user", "household", "fields", "channel", "ip_address")
    list_filter = ("channel",)
    raw_id_fields = ("household", "user")
