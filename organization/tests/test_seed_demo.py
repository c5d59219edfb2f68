import datetime
from collections import Counter
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import override_settings

from common import pii
from common.identity import parse_resident_id
from households.models import HEAD_RELATION, Household, HouseholdStatus, Member
from households.selectors import household_list
from loans.models import Loan
from loans.selectors import loan_list
from organization import demo_data
from organization.models import (
    Bank,
    BankBranch,
    CityPolicy,
    CountyPolicy,
    Region,
    Role,
    RoleAssignment,
    ServiceUnit,
    User,
)

COUNTIES = {
    "411702": "驿城区", "411721": "西平县", "411722": "上蔡县", "411723": "平舆县", "411724": "正阳县",
    "411725": "确山县", "411726": "泌阳县", "411727": "汝南县", "411728": "遂平县", "411729": "新蔡县",
}  # fmt: skip


def seed(households: int = 200) -> str:
    out = StringIO()
    call_command("seed_demo", households=households, stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def seeded_once(django_db_setup, django_db_blocker):
    """Seed once for the module, inside a transaction rolled back at its end; each test runs in
    its own savepoint within it (the `db` fixture), so what a test adds is undone after it."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            output = seed()
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            raise
    yield output
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


@pytest.fixture
def seeded(seeded_once, db):
    return seeded_once


def snapshot() -> dict:
    return {
        "regions": Region.objects.count(),
        "units": ServiceUnit.objects.count(),
        "banks": Bank.objects.count(),
        "branches": BankBranch.objects.count(),
        "branch_counties": BankBranch.counties.through.objects.count(),
        "policies": CountyPolicy.objects.count(),
        "users": User.objects.count(),
        "roles": RoleAssignment.objects.count(),
        "households": Household.objects.count(),
        "history": Household.history.count(),
        "members": Member.objects.count(),
        "passwords": sorted(User.objects.values_list("password", flat=True)),
    }


@pytest.mark.django_db
def test_region_tree_follows_the_6_3_3_rule(seeded):
    city = Region.objects.get(code="411700")
    assert (city.name, city.level) == ("驻马店市", Region.Level.CITY)
    counties = {r.code: r for r in Region.objects.filter(level=Region.Level.COUNTY)}
    assert {code: r.name for code, r in counties.items()} == COUNTIES
    assert all(r.parent_id == "411700" for r in counties.values())
    for code in COUNTIES:
        townships = list(Region.objects.filter(parent_id=code))
        assert len(townships) >= 5
        for township in townships:
            assert township.level == Region.Level.TOWNSHIP
            assert len(township.code) == 9 and township.code.startswith(code) and township.code.isdigit()
            villages = list(Region.objects.filter(parent_id=township.code))
            assert len(villages) == 10
            for village in villages:
                assert village.level == Region.Level.VILLAGE
                assert (
                    len(village.code) == 12
                    and village.code.startswith(township.code)
                    and village.code.isdigit()
                )
                assert village.name.endswith("村")
    # One service unit per region, of the kind its level asks for.
    units = {u.region_id: u for u in ServiceUnit.objects.select_related("region")}
    assert set(units) == set(Region.objects.values_list("code", flat=True))
    assert all(u.kind == ServiceUnit.KIND_FOR_LEVEL[u.region.level] for u in units.values())
    assert units["411700"].name == "驻马店市财政局"
    assert units["411722"].name == "上蔡县金融扶贫服务中心"
    assert units["411722100"].name.endswith("金融扶贫服务站")
    assert units["411722100201"].name.endswith("村金融扶贫服务部")


@pytest.mark.django_db
def test_banks_policies_and_users(seeded):
    assert set(Bank.objects.values_list("code", flat=True)) == {"PSBC", "HNRCU", "ABC"}
    for branch in (
        BankBranch.objects.exclude(code="HNRCU-411700").select_related("bank").prefetch_related("counties")
    ):
        (county,) = branch.counties.all()
        assert branch.code == f"{branch.bank.code}-{county.code}"
    # One city-level branch serves all ten counties.
    city_branch = BankBranch.objects.get(code="HNRCU-411700")
    assert (city_branch.bank.code, city_branch.name) == ("HNRCU", "河南省农村信用社联合社驻马店办事处")
    assert set(city_branch.counties.values_list("code", flat=True)) == set(COUNTIES)
    for code in COUNTIES:
        assert BankBranch.objects.filter(counties__code=code).values("bank").distinct().count() >= 2
    policies = CountyPolicy.objects.filter(status="approved")
    assert sorted(p.county_id for p in policies) == sorted(COUNTIES)
    assert {p.effective_from for p in policies} == {datetime.date(2017, 7, 19)}
    assert {p.household_loan_cap for p in policies} == {50000}
    (city,) = CityPolicy.objects.filter(status="approved")
    assert (city.city_id, city.status, city.household_loan_cap, city.township_npl_threshold) == (
        "411700", "approved", 50000, 5,
    )  # fmt: skip
    (pending,) = CountyPolicy.objects.filter(status="proposed")
    assert (pending.county_id, pending.notice_period_days, pending.created_by.username) == (
        "411722", 7, "county_411722",
    )  # fmt: skip
    assert pending.effective_from > datetime.date.today() - datetime.timedelta(days=1)
    (pending_city,) = CityPolicy.objects.filter(status="proposed")  # the city page's pending proposal
    assert (pending_city.city_id, pending_city.guarantee_fee_subsidy_household, pending_city.created_by.username) == (
        "411700", Decimal("1.20"), "city",
    )  # fmt: skip

    users = {u.username: u for u in User.objects.prefetch_related("role_assignments")}
    assert len(users) == 3 + 4 * len(COUNTIES)
    for user in users.values():
        assert user.check_password(demo_data.DEMO_PASSWORD)
        assert user.full_name
        assert len(user.role_assignments.all()) == 1
    assert users["admin"].is_superuser and users["admin"].is_staff
    assert users["admin"].role_assignments.get().role == Role.ADMIN
    assert users["city"].role_assignments.get().unit.region_id == "411700"
    assert users["county_411722"].role_assignments.get().unit.region_id == "411722"
    assert users["township_411722"].role_assignments.get().unit.region_id == "411722100"
    assert users["village_411722"].role_assignments.get().unit.region_id == "411722100201"
    branch = users["bank_411722"].role_assignments.get().branch
    assert list(branch.counties.values_list("code", flat=True)) == ["411722"]
    assert users["bank_411700"].role_assignments.get().branch.code == "HNRCU-411700"
    assert "bank_411700" in seeded and "河南省农村信用社联合社驻马店办事处" in seeded
    assert "演示用户" in seeded and "zmd-demo-2017" in seeded and "village_411722" in seeded


@pytest.mark.django_db
def test_households_and_members_are_valid(seeded):
    households = list(Household.objects.prefetch_related("members"))
    assert len(households) == 200
    file_date = datetime.date(2017, 7, 19)
    statuses = Counter(h.status for h in households)
    assert set(statuses) <= set(HouseholdStatus.values)
    assert statuses["poor"] > statuses["lifted"] > statuses["monitored"]
    seen_ids = set()
    for household in households:
        assert household.household_no == f"{household.village_id}{household.household_no[12:]}"
        assert len(household.household_no) == 17 and household.household_no.isdigit()
        members = list(household.members.all())
        assert 1 <= len(members) <= 6 and household.member_count == len(members)
        assert household.labor_count == sum(m.labor_capable for m in members)
        heads = [m for m in members if m.relation == HEAD_RELATION]
        assert len(heads) == 1
        head = heads[0]
        assert head.name == household.head_name and head.id_hash == household.head_id_hash
        assert 25 <= demo_data._age(head.birth_date, file_date) <= 70
        for member in members:
            resident = parse_resident_id(pii.decrypt(member.id_enc))
            assert resident.number[:6] == household.village_id[:6]
            assert (resident.gender, resident.birth_date) == (member.gender, member.birth_date)
            assert member.id_hash == pii.lookup_hash(resident.number)
            assert member.id_masked == pii.mask(resident.number)
            assert resident.number not in seen_ids
            seen_ids.add(resident.number)
            if member.relation == "配偶":
                assert member.gender != head.gender
            if member.relation in ("长子", "次子", "三子", "孙子", "父亲"):
                assert member.gender == "male"
            if member.relation in ("长女", "次女", "三女", "孙女", "母亲", "儿媳"):
                assert member.gender == "female"
            if member.relation.endswith(("子", "女")):
                assert member.birth_date > head.birth_date
        assert parse_resident_id(pii.decrypt(household.head_id_enc)).number == pii.decrypt(head.id_enc)
        assert len(household.phone) == 11 and household.phone.startswith("1")
        if household.status != HouseholdStatus.NON_POOR:
            assert 1 <= len(household.poverty_causes) <= 2
        assert 2000 <= household.per_capita_income <= 6000
        if household.bank_name:
            assert household.bank_account_masked and pii.decrypt(household.bank_account_enc).isdigit()
    assert sum(bool(h.bank_name) for h in households) > 150
    # Spread over every county.
    assert {h.village_id[:6] for h in households} == set(COUNTIES)


@pytest.mark.django_db
def test_running_again_changes_nothing_and_a_bigger_n_only_adds(seeded):
    before = snapshot()
    seed()
    assert snapshot() == before

    first = dict(Household.objects.values_list("household_no", "head_id_hash"))
    seed(households=230)
    after = snapshot()
    assert after["households"] == 230 and after["members"] > before["members"]
    assert {k: v for k, v in after.items() if k not in ("households", "members", "history")} == {
        k: v for k, v in before.items() if k not in ("households", "members", "history")
    }
    now = dict(Household.objects.values_list("household_no", "head_id_hash"))
    assert {no: now[no] for no in first} == first


def test_the_plan_is_deterministic_and_prefix_stable():
    small, large = demo_data.plan_households(40), demo_data.plan_households(120)
    assert small == demo_data.plan_households(40)
    assert small == large[:40]


@pytest.mark.django_db
def test_each_demo_user_sees_only_their_scope(seeded):
    users = {u.username: u for u in User.objects.all()}
    assert household_list(user=users["city"]).count() == 200
    assert household_list(user=users["admin"]).count() == 200
    for code in COUNTIES:
        checks = {
            f"county_{code}": code,
            f"township_{code}": f"{code}100",
            f"village_{code}": f"{code}100201",
        }
        for username, prefix in checks.items():
            villages = list(household_list(user=users[username]).values_list("village_id", flat=True))
            assert villages, username
            assert all(v.startswith(prefix) for v in villages), username
        served = set(
            BankBranch.objects.filter(staff__user=users[f"bank_{code}"]).values_list("counties", flat=True)
        )
        assert served == {code}
        villages = list(household_list(user=users[f"bank_{code}"]).values_list("village_id", flat=True))
        assert villages and all(v[:6] == code for v in villages)
        loans = loan_list(user=users[f"bank_{code}"])
        assert set(loans.values_list("county_id", flat=True).distinct()) <= {code}
    # The city-level branch's officer: every county's households, its bank's loans in every county.
    city_officer = users["bank_411700"]
    assert household_list(user=city_officer).count() == 200
    hnrcu = Loan.objects.filter(bank__code="HNRCU")
    assert hnrcu.values("county_id").distinct().count() > 1
    assert set(loan_list(user=city_officer).values_list("pk", flat=True)) == set(
        hnrcu.values_list("pk", flat=True)
    )


@pytest.mark.django_db
def test_refuses_production_settings_without_the_flag(seeded):
    with override_settings(SETTINGS_MODULE="config.settings.production"):
        with pytest.raises(CommandError, match="生产配置"):
            call_command("seed_demo", households=300, stdout=StringIO())
    assert Household.objects.count() == 200
