"""Users and their role assignments are in the audit trail, whether made by the service (the API,
the demo data) or through the admin; a password's value never is."""

import pytest

from common.models import AuditEntry
from organization.models import Role, RoleAssignment, ServiceUnit, User
from organization.services import role_assign, user_create

pytestmark = pytest.mark.django_db

STRONG = "Xq7-pine-lantern-88"
ADMIN = "/admin/organization/user/"


def trail(**filters) -> list[tuple]:
    entries = AuditEntry.objects.filter(object_type__in=["user", "role_assignment"], **filters).order_by("id")
    return [(e.object_type, e.action, e.object_label, e.region, e.actor_id) for e in entries]


def test_user_create_records_the_user_and_each_role(personas):
    admin = personas["admin"]
    user = user_create(
        actor=admin, username="clerk", password=STRONG, full_name="李四",
        roles=[{"role": "village_clerk", "region_code": "411722100201"}],
    )  # fmt: skip
    assert trail() == [
        ("user", "create", "clerk", "", admin.pk),
        ("role_assignment", "assign", f"clerk {Role.VILLAGE_CLERK.label}", "411722100201", admin.pk),
    ]
    entry = AuditEntry.objects.get(object_type="user")
    assert entry.object_id == str(user.pk) and entry.detail["full_name"] == "李四"
    assert STRONG not in str(list(AuditEntry.objects.values_list("detail", flat=True)))


def test_a_role_assigned_by_a_script_is_a_system_entry(personas):
    role_assign(user=personas["nobody"], role=Role.ADMIN)
    assert trail() == [("role_assignment", "assign", f"nobody {Role.ADMIN.label}", "", None)]


def test_the_admin_records_a_changed_user_and_added_and_removed_roles(admin_client, personas, regions):
    user = personas["township_b"]
    kept = user.role_assignments.get()
    desk = ServiceUnit.objects.get(region=regions["village_a1"])
    form = {
        "username": user.username, "full_name": "王五", "is_active": "on", "last_login_0": "",
        "last_login_1": "", "date_joined_0": "2024-01-01", "date_joined_1": "00:00:00",
        "role_assignments-TOTAL_FORMS": "2", "role_assignments-INITIAL_FORMS": "1",
        "role_assignments-MIN_NUM_FORMS": "0", "role_assignments-MAX_NUM_FORMS": "1000",
        "role_assignments-0-id": kept.pk, "role_assignments-0-user": user.pk,
        "role_assignments-0-role": kept.role, "role_assignments-0-unit": kept.unit_id,
        "role_assignments-0-DELETE": "on",
        "role_assignments-1-user": user.pk, "role_assignments-1-role": Role.VILLAGE_CLERK,
        "role_assignments-1-unit": desk.pk,
    }  # fmt: skip
    response = admin_client.post(f"{ADMIN}{user.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    actor = personas["admin"].pk
    assert trail() == [
        ("user", "change", "town_b", "", actor),
        ("role_assignment", "unassign", f"town_b {Role.TOWNSHIP_OFFICER.label}", "411722101", actor),
        ("role_assignment", "assign", f"town_b {Role.VILLAGE_CLERK.label}", "411722100201", actor),
    ]
    assert AuditEntry.objects.filter(object_type="user").get().detail["changed"] == [
        "date_joined",
        "full_name",
    ]
    assert list(RoleAssignment.objects.filter(user=user).values_list("role", flat=True)) == [
        Role.VILLAGE_CLERK
    ]
    assert User.objects.get(pk=user.pk).full_name == "王五"
