"""Writes of the organization app: users with roles, dated policy rows."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from common.errors import Forbidden
from organization.models import CountyPolicy, Role, RoleAssignment, ServiceUnit, User
from organization.services import OrganizationError, policy_propose, role_assign, user_create
from organization.tests.factories import UserFactory, policy_in_force

pytestmark = pytest.mark.django_db

STRONG = "Xq7-pine-lantern-88"


@pytest.fixture
def today(time_machine):
    time_machine.move_to(datetime.datetime(2025, 3, 10, 23, 59, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False)
    return datetime.date(2025, 3, 10)


# --- user_create --------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["county_staff", "township_a", "bank_x", "city", "nobody"])
def test_user_create_refuses_non_admin(personas, persona):
    with pytest.raises(Forbidden):
        user_create(actor=personas[persona], username="x1", password=STRONG, roles=[{"role": "admin"}])
    assert not User.objects.filter(username="x1").exists()


def test_user_create_by_admin_role_and_by_superuser(personas, regions):
    user = user_create(
        actor=personas["admin"],
        username="clerk",
        password=STRONG,
        full_name="李四",
        roles=[{"role": "village_clerk", "region_code": "411722100201"}],
    )
    assert user.full_name == "李四" and user.check_password(STRONG)
    assert user.role_assignments.get().unit.region_id == "411722100201"

    root = UserFactory(username="root", is_superuser=True)
    assert user_create(actor=root, username="clerk2", password=STRONG, roles=[{"role": "admin"}]).pk


@pytest.mark.parametrize(
    ("role", "region_code"),
    [
        ("village_clerk", "411722100"),  # a township station, not a village desk
        ("township_officer", "411722100201"),
        ("township_officer", "411722"),
        ("county_staff", "411700"),
        ("city_finance", "411722"),
        ("village_clerk", None),
        ("village_clerk", "411722100299"),  # no such village
    ],
)
def test_role_at_wrong_unit_kind_is_rejected(personas, role, region_code):
    with pytest.raises(OrganizationError) as exc:
        user_create(
            actor=personas["admin"],
            username="misplaced",
            password=STRONG,
            roles=[{"role": role, "region_code": region_code}],
        )
    assert exc.value.code == "invalid"
    assert "roles" in exc.value.errors
    assert not User.objects.filter(username="misplaced").exists()


def test_bank_officer_needs_a_branch(personas):
    with pytest.raises(OrganizationError):
        user_create(actor=personas["admin"], username="b", password=STRONG, roles=[{"role": "bank_officer"}])


def test_bank_officer_by_bank_code_is_ambiguous_without_region(personas, regions, banks):
    from organization.tests.factories import BankBranchFactory

    BankBranchFactory(bank=banks["x"], code="PSBC-411721", counties=[regions["xiping"]])
    with pytest.raises(OrganizationError):
        user_create(
            actor=personas["admin"],
            username="b",
            password=STRONG,
            roles=[{"role": "bank_officer", "bank_code": "PSBC"}],
        )
    user = user_create(
        actor=personas["admin"],
        username="b",
        password=STRONG,
        roles=[{"role": "bank_officer", "bank_code": "PSBC", "region_code": "411721100201"}],
    )
    assert user.role_assignments.get().branch.code == "PSBC-411721"


def test_unknown_role_is_rejected(personas):
    with pytest.raises(OrganizationError):
        user_create(actor=personas["admin"], username="u", password=STRONG, roles=[{"role": "emperor"}])


def test_no_roles_is_rejected(personas):
    with pytest.raises(OrganizationError) as exc:
        user_create(actor=personas["admin"], username="u", password=STRONG, roles=[])
    assert "roles" in exc.value.errors


def test_weak_password_is_rejected(personas):
    with pytest.raises(OrganizationError) as exc:
        user_create(actor=personas["admin"], username="u", password="123", roles=[{"role": "admin"}])
    assert exc.value.errors["password"]


def test_admin_role_sits_at_no_unit(personas, regions):
    user = UserFactory(username="adm2")
    assignment = role_assign(user=user, role=Role.ADMIN, region_code="411722")
    assert assignment.unit is None and assignment.branch is None


def test_role_assignment_clean_refuses_mismatches(personas, regions, banks):
    user = personas["nobody"]
    desk = ServiceUnit.objects.get(region=regions["village_a1"])
    for bad in (
        RoleAssignment(user=user, role=Role.COUNTY_STAFF, unit=desk),
        RoleAssignment(user=user, role=Role.BANK_OFFICER, unit=desk),
        RoleAssignment(user=user, role=Role.ADMIN, branch=banks["branch_x"]),
        RoleAssignment(user=user, role=Role.VILLAGE_CLERK, unit=desk, branch=banks["branch_x"]),
    ):
        with pytest.raises(ValidationError):
            bad.full_clean()


# --- policy_create ------------------------------------------------------------------------------


def test_policy_create_copies_the_row_in_force(personas, regions, today):
    county = regions["shangcai"]
    first = policy_in_force(
        actor=personas["county_staff"],
        county=county,
        effective_from=datetime.date(2025, 4, 1),
        changes={"notice_period_days": 9, "household_loan_cap": Decimal("45000")},
    )
    second = policy_in_force(
        actor=personas["county_staff"],
        county=county,
        effective_from=datetime.date(2025, 6, 1),
        changes={"fund_share": Decimal("70"), "bank_share": Decimal("30")},
    )
    assert first.borrower_max_age == 65  # a default, copied from no row at all
    assert second.notice_period_days == 9 and second.household_loan_cap == Decimal("45000.00")
    assert second.fund_share == Decimal("70") and second.bank_share == Decimal("30")
    for field in set(CountyPolicy.POLICY_FIELDS) - {"fund_share", "bank_share"}:
        assert getattr(second, field) == getattr(first, field), field
    assert second.created_by == personas["county_staff"]


def test_policy_create_between_rows_copies_the_earlier_one(personas, regions, today):
    county, staff = regions["shangcai"], personas["county_staff"]
    policy_in_force(
        actor=staff, county=county, effective_from=datetime.date(2025, 4, 1), changes={"extension_limit": 2}
    )
    policy_in_force(
        actor=staff, county=county, effective_from=datetime.date(2025, 8, 1), changes={"extension_limit": 3}
    )
    middle = policy_propose(actor=staff, county=county, effective_from=datetime.date(2025, 5, 1), changes={})
    assert middle.extension_limit == 2


def test_policy_create_does_not_copy_another_county(personas, regions, today):
    policy_in_force(
        actor=personas["admin"],
        county=regions["xiping"],
        effective_from=datetime.date(2025, 4, 1),
        changes={"notice_period_days": 20},
    )
    row = policy_propose(
        actor=personas["county_staff"],
        county=regions["shangcai"],
        effective_from=datetime.date(2025, 4, 1),
        changes={},
    )
    assert row.notice_period_days == 5


@pytest.mark.parametrize(
    "day", [datetime.date(2025, 3, 10), datetime.date(2025, 3, 9), datetime.date(2020, 1, 1)]
)
def test_policy_create_refuses_dates_up_to_today(personas, regions, today, day):
    with pytest.raises(OrganizationError) as exc:
        policy_propose(
            actor=personas["county_staff"], county=regions["shangcai"], effective_from=day, changes={}
        )
    assert "effective_from" in exc.value.errors
    assert not CountyPolicy.objects.exists()


def test_policy_create_tomorrow_is_fine(personas, regions, today):
    row = policy_propose(
        actor=personas["county_staff"],
        county=regions["shangcai"],
        effective_from=datetime.date(2025, 3, 11),
        changes={},
    )
    assert row.pk


def test_today_follows_the_clock(personas, regions, time_machine):
    """The same date is refused on one day and accepted the day before."""
    day = datetime.date(2025, 3, 10)
    time_machine.move_to(datetime.datetime(2025, 3, 10, 0, 1, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False)
    with pytest.raises(OrganizationError):
        policy_propose(
            actor=personas["county_staff"], county=regions["shangcai"], effective_from=day, changes={}
        )
    # 2025-03-09 23:59 in Shanghai is 15:59 UTC: "today" is the local date, not the UTC one.
    time_machine.move_to(datetime.datetime(2025, 3, 9, 23, 59, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False)
    assert policy_propose(
        actor=personas["county_staff"], county=regions["shangcai"], effective_from=day, changes={}
    )


def test_policy_create_refuses_unknown_fields(personas, regions, today):
    with pytest.raises(OrganizationError) as exc:
        policy_propose(
            actor=personas["county_staff"],
            county=regions["shangcai"],
            effective_from=datetime.date(2025, 4, 1),
            changes={"interest_rate": 1, "created_by": None},
        )
    assert "created_by" in exc.value.message and "interest_rate" in exc.value.message
    assert not CountyPolicy.objects.exists()


def test_policy_create_refuses_a_second_row_on_a_day(personas, regions, today):
    kwargs = {"county": regions["shangcai"], "effective_from": datetime.date(2025, 4, 1), "changes": {}}
    policy_propose(actor=personas["county_staff"], **kwargs)
    with pytest.raises(OrganizationError) as exc:
        policy_propose(actor=personas["county_staff"], **kwargs)
    assert "effective_from" in exc.value.errors


@pytest.mark.parametrize(
    "changes",
    [
        {"borrower_min_age": 66},
        {"fund_share": Decimal("90"), "bank_share": Decimal("20")},
        {"settlement_period_months": 13},
        {"min_grade": "Z"},
    ],
)
def test_policy_create_refuses_impossible_values(personas, regions, today, changes):
    with pytest.raises(OrganizationError):
        policy_propose(
            actor=personas["county_staff"],
            county=regions["shangcai"],
            effective_from=datetime.date(2025, 4, 1),
            changes=changes,
        )
    assert not CountyPolicy.objects.exists()


@pytest.mark.parametrize("persona", ["township_a", "village_a1", "bank_x", "city", "nobody"])
def test_policy_create_refuses_non_county_staff(personas, regions, today, persona):
    with pytest.raises(Forbidden):
        policy_propose(
            actor=personas[persona],
            county=regions["shangcai"],
            effective_from=datetime.date(2025, 4, 1),
            changes={},
        )


def test_policy_create_refuses_staff_of_another_county(personas, regions, today):
    with pytest.raises(Forbidden):
        policy_propose(
            actor=personas["county_staff"],
            county=regions["xiping"],
            effective_from=datetime.date(2025, 4, 1),
            changes={},
        )
