"""households.services: every validation rule, history, permissions, the PII log."""

import datetime
import re
from decimal import Decimal

import pytest
from stdnum.cn import ric

from common import pii
from common.errors import Forbidden
from common.testing import make_resident_id
from households.models import HEAD_RELATION, Household, Member, PiiAccessLog
from households.services import HouseholdError, household_create, household_reveal_pii, household_update
from households.tests.factories import HouseholdFactory

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u4e00-\u9fff]")
HEAD_ID = make_resident_id("411722", datetime.date(1980, 5, 6), 11)
WIFE_ID = make_resident_id("411722", datetime.date(1982, 7, 8), 12, male=False)
SON_ID = make_resident_id("411722", datetime.date(2010, 1, 2), 13)


def with_check(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "0")


def data(**changes) -> dict:
    base = {
        "household_no": "S-0001",
        "village_code": "411722100201",
        "head_name": "王五",
        "head_id_number": HEAD_ID,
        "status": "poor",
    }
    base.update(changes)
    return base


def members(*rows) -> list[dict]:
    default = [
        {
            "name": "王五",
            "relation": HEAD_RELATION,
            "id_number": HEAD_ID,
            "gender": "male",
            "labor_capable": True,
        },
        {"name": "赵六", "relation": "配偶", "id_number": WIFE_ID, "gender": "female", "labor_capable": True},
        {"name": "王小", "relation": "子女", "id_number": SON_ID, "gender": "male"},
    ]
    for index, change in rows:
        default[index] = default[index] | change
    return default


def refused(actor, field, **changes) -> list[str]:
    """household_create refuses with an error on `field`, in Chinese; returns the messages."""
    with pytest.raises(HouseholdError) as exc:
        household_create(actor=actor, data=data(**changes))
    assert exc.value.code == "invalid"
    assert field in exc.value.errors, exc.value.errors
    assert all(CJK.search(m) for m in exc.value.errors[field]), exc.value.errors[field]
    assert not Household.objects.filter(household_no="S-0001").exists()
    return exc.value.errors[field]


@pytest.fixture
def clerk(personas):
    return personas["village_a1"]


# --- a valid household --------------------------------------------------------------------------


def test_create_minimal(clerk):
    household = household_create(actor=clerk, data=data())
    assert household.village_id == "411722100201"
    assert pii.decrypt(household.head_id_enc) == HEAD_ID
    assert household.head_id_masked == "*" * 14 + HEAD_ID[-4:]
    head = household.members.get()
    assert (head.relation, head.gender, head.birth_date) == (HEAD_RELATION, "male", datetime.date(1980, 5, 6))
    assert household.history.get().history_user == clerk


def test_create_with_members_counts_them(clerk):
    household = household_create(actor=clerk, data=data(members=members()))
    assert household.member_count == 3 and household.labor_count == 2
    assert [m.gender for m in household.members.all()] == ["male", "female", "male"]


def test_create_by_county_staff_and_admin(personas):
    assert household_create(actor=personas["county_staff"], data=data(village_code="411722101201")).pk
    assert household_create(
        actor=personas["admin"],
        data=data(household_no="S-0002", village_code="411721100201", head_id_number=WIFE_ID),
    ).pk


# --- the ID number ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    ["", "4117221980050600", "4117221980050600111", "41172219800506001X1"],
)
def test_id_length(clerk, number):
    field = "head_id_number"
    messages = refused(clerk, field, head_id_number=number)
    if number:
        assert "18位" in messages[0]


def test_id_check_character(clerk):
    wrong = HEAD_ID[:-1] + ("0" if HEAD_ID[-1] != "0" else "1")
    assert "校验位" in refused(clerk, "head_id_number", head_id_number=wrong)[0]


def test_id_letters(clerk):
    refused(clerk, "head_id_number", head_id_number="41172219800506A011")


@pytest.mark.parametrize("birth", ["19800230", "19801301", "19800000", "18990101", "20991231"])
def test_id_impossible_birth_date(clerk, birth):
    number = with_check(f"411722{birth}001")
    assert "出生日期" in refused(clerk, "head_id_number", head_id_number=number)[0]


def test_id_full_width_digits_are_normalised(clerk):
    full = HEAD_ID.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    household = household_create(actor=clerk, data=data(head_id_number=f" {full} "))
    assert pii.decrypt(household.head_id_enc) == HEAD_ID
    assert household.head_id_hash == pii.lookup_hash(HEAD_ID)


def test_id_lower_case_x_is_normalised(clerk):
    body = next(
        b for b in (f"411722198005060{n:02d}" for n in range(100)) if ric.calc_check_digit(b + "0") == "X"
    )
    household = household_create(actor=clerk, data=data(head_id_number=body + "x"))
    assert pii.decrypt(household.head_id_enc) == body + "X"


def test_the_same_id_as_head_of_two_households(clerk):
    household_create(actor=clerk, data=data())
    with pytest.raises(HouseholdError) as exc:
        household_create(actor=clerk, data=data(household_no="S-0002"))
    assert "head_id_number" in exc.value.errors


def test_the_same_id_as_head_even_written_full_width(clerk):
    household_create(actor=clerk, data=data())
    full = HEAD_ID.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    with pytest.raises(HouseholdError) as exc:
        household_create(actor=clerk, data=data(household_no="S-0002", head_id_number=full))
    assert "head_id_number" in exc.value.errors


def test_a_member_id_already_in_another_household(clerk, regions):
    other = HouseholdFactory(village=regions["village_a1"], head_id_number=SON_ID)
    with pytest.raises(HouseholdError) as exc:
        household_create(actor=clerk, data=data(members=members()))
    assert any("另一户" in m for m in exc.value.errors["members"])
    assert Member.objects.filter(household=other).count() == 1


# --- members ------------------------------------------------------------------------------------


def test_gender_contradicting_the_id(clerk):
    with pytest.raises(HouseholdError) as exc:
        household_create(actor=clerk, data=data(members=members((1, {"gender": "male"}))))
    assert any("性别" in m for m in exc.value.errors["members"])


def test_member_without_gender_takes_the_ids(clerk):
    household = household_create(actor=clerk, data=data(members=members((1, {"gender": ""}))))
    assert household.members.get(relation="配偶").gender == "female"


@pytest.mark.parametrize(
    "rows",
    [
        [(0, {"relation": "本人"})],  # no head
        [(1, {"relation": HEAD_RELATION})],  # two heads
    ],
)
def test_exactly_one_head(clerk, rows):
    with pytest.raises(HouseholdError) as exc:
        household_create(actor=clerk, data=data(members=members(*rows)))
    assert any("户主" in m for m in exc.value.errors["members"])


def test_head_member_must_carry_the_head_id(clerk):
    rows = members((0, {"relation": "配偶"}), (1, {"relation": HEAD_RELATION}))
    with pytest.raises(HouseholdError) as exc:
        household_create(actor=clerk, data=data(members=rows))
    assert "members" in exc.value.errors


def test_the_same_id_twice_in_one_household(clerk):
    with pytest.raises(HouseholdError) as exc:
        household_create(actor=clerk, data=data(members=members((2, {"id_number": WIFE_ID, "gender": ""}))))
    assert any("重复" in m for m in exc.value.errors["members"])


@pytest.mark.parametrize("change", [{"name": " "}, {"relation": ""}, {"id_number": "123"}])
def test_member_fields(clerk, change):
    with pytest.raises(HouseholdError) as exc:
        household_create(actor=clerk, data=data(members=members((2, change))))
    assert "members" in exc.value.errors


# --- place --------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["411722100299", "411722100", "411722", "abc"])
def test_unknown_village(clerk, code):
    refused(clerk, "village_code", village_code=code)


@pytest.mark.parametrize(
    ("persona", "code"),
    [
        ("village_a1", "411722100202"),  # the neighbouring village
        ("village_a1", "411722101201"),
        ("county_staff", "411721100201"),  # another county
    ],
)
def test_village_outside_the_actors_scope(personas, persona, code):
    refused(personas[persona], "village_code", village_code=code)


# A township officer sees its villages' households but does not file them; a bank and the city read.
@pytest.mark.parametrize("persona", ["township_a", "bank_x", "city", "nobody"])
def test_roles_that_file_no_households_are_refused(personas, persona):
    with pytest.raises(Forbidden):
        household_create(actor=personas[persona], data=data(village_code="411722100201"))
    assert not Household.objects.filter(household_no="S-0001").exists()


# --- other fields -------------------------------------------------------------------------------


@pytest.mark.parametrize("income", ["-0.01", "abc", "NaN", "Infinity", "1e12"])
def test_bad_income(clerk, income):
    refused(clerk, "per_capita_income", per_capita_income=income)


def test_income_is_rounded_to_cents(clerk):
    household = household_create(actor=clerk, data=data(per_capita_income="3200.456"))
    assert household.per_capita_income == Decimal("3200.46")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "rich"),
        ("status", ""),
        ("attribute", "special"),
        ("identification_standard", "galactic"),
        ("poverty_causes", ["illness", "bad_luck"]),
        ("poverty_causes", "illness"),
    ],
)
def test_unknown_choices(clerk, field, value):
    refused(clerk, field, **{field: value})


def test_poverty_causes_deduplicated(clerk):
    household = household_create(actor=clerk, data=data(poverty_causes=["illness", "illness", "lack_funds"]))
    assert household.poverty_causes == ["illness", "lack_funds"]


@pytest.mark.parametrize("phone", ["12345", "23912345678", "1391234567", "139123456789", "phone"])
def test_bad_phone(clerk, phone):
    refused(clerk, "phone", phone=phone)


@pytest.mark.parametrize(
    "phone", ["13912345678", "0396-1234567", "03961234567", "１３９１２３４５６７８", ""]
)
def test_good_phone(clerk, phone):
    household = household_create(actor=clerk, data=data(phone=phone))
    assert household.phone == phone.translate(str.maketrans("０１２３４５６７８９", "0123456789"))


@pytest.mark.parametrize("name", ["", "   ", None])
def test_empty_head_name(clerk, name):
    refused(clerk, "head_name", head_name=name)


@pytest.mark.parametrize("number", ["", "   "])
def test_empty_household_no(clerk, number):
    refused(clerk, "household_no", household_no=number)


def test_household_no_taken(clerk, regions):
    HouseholdFactory(village=regions["village_a1"], household_no="S-0001")
    with pytest.raises(HouseholdError) as exc:
        household_create(actor=clerk, data=data(household_no=" S-0001 "))
    assert "已存在" in exc.value.errors["household_no"][0]
    assert Household.objects.count() == 1


def test_labor_count_more_than_member_count(clerk):
    refused(clerk, "labor_count", member_count=2, labor_count=3)


def test_labor_count_more_than_members_listed(clerk):
    with pytest.raises(HouseholdError) as exc:
        household_create(actor=clerk, data=data(members=members(), labor_count=4))
    assert "labor_count" in exc.value.errors


@pytest.mark.parametrize(
    ("field", "value"),
    [("member_count", 0), ("member_count", 100), ("labor_count", -1), ("member_count", "three")],
)
def test_counts_out_of_range(clerk, field, value):
    refused(clerk, field, **{field: value})


def test_bad_bank_account(clerk):
    refused(clerk, "bank_account", bank_account="6228-48")


def test_bank_account_with_dashes_and_spaces_is_normalised(clerk):
    household = household_create(actor=clerk, data=data(bank_account="6228 4800-1234 5678 901"))
    assert pii.decrypt(household.bank_account_enc) == "6228480012345678901"
    assert household.bank_account_masked == "6228***********8901"


def test_all_errors_come_together(clerk):
    with pytest.raises(HouseholdError) as exc:
        household_create(
            actor=clerk, data=data(phone="x", status="rich", head_id_number="1", village_code="1")
        )
    assert {"phone", "status", "head_id_number", "village_code"} <= set(exc.value.errors)


# --- update -------------------------------------------------------------------------------------


@pytest.fixture
def household(clerk):
    return household_create(actor=clerk, data=data(members=members(), phone="13912345678"))


def test_update_keeps_history_with_the_actor(personas, household):
    household_update(actor=personas["county_staff"], household=household, data={"status": "lifted"})
    history = list(household.history.order_by("history_date"))
    assert [h.status for h in history] == ["poor", "lifted"]
    assert [h.history_user for h in history] == [personas["village_a1"], personas["county_staff"]]
    assert history[-1].history_type == "~"
    assert not hasattr(history[-1], "head_id_enc")  # ciphertexts stay out of the history table


@pytest.mark.parametrize("persona", ["township_a", "township_b", "bank_x", "city", "nobody"])
def test_update_refuses_non_editors(personas, household, persona):
    with pytest.raises(Forbidden):
        household_update(actor=personas[persona], household=household, data={"status": "lifted"})
    household.refresh_from_db()
    assert household.status == "poor"
    assert household.history.count() == 1


def test_update_validates_like_create(clerk, household):
    with pytest.raises(HouseholdError) as exc:
        household_update(actor=clerk, household=household, data={"phone": "bad", "head_name": " "})
    assert {"phone", "head_name"} <= set(exc.value.errors)


def test_update_may_keep_its_own_head_id(clerk, household):
    """Its own number and 户编号 are no clash with itself, and the head's member row stays one row."""
    household_update(
        actor=clerk, household=household, data={"head_id_number": HEAD_ID, "household_no": "S-0001"}
    )
    household.refresh_from_db()
    assert household.head_id_hash == pii.lookup_hash(HEAD_ID)
    assert household.members.filter(relation=HEAD_RELATION).count() == 1
    assert household.members.count() == 3


def test_update_to_another_households_head_id_is_refused(clerk, household, regions):
    other = HouseholdFactory(village=regions["village_a1"])
    with pytest.raises(HouseholdError) as exc:
        household_update(
            actor=clerk, household=household, data={"head_id_number": pii.decrypt(other.head_id_enc)}
        )
    assert "head_id_number" in exc.value.errors


def test_update_labor_count_against_stored_member_count(clerk, household):
    with pytest.raises(HouseholdError) as exc:
        household_update(actor=clerk, household=household, data={"labor_count": 4})
    assert "labor_count" in exc.value.errors


def test_update_members_keeps_their_own_ids(clerk, household):
    rows = members()[:2]
    household_update(actor=clerk, household=household, data={"members": rows, "member_count": 2})
    assert household.members.count() == 2


def test_update_head_name_follows_to_the_member_row(clerk, household):
    household_update(actor=clerk, household=household, data={"head_name": "王大"})
    assert household.members.get(relation=HEAD_RELATION).name == "王大"


def test_county_staff_moves_a_household_within_the_county(personas, household):
    household_update(
        actor=personas["county_staff"], household=household, data={"village_code": "411722101201"}
    )
    household.refresh_from_db()
    assert household.village_id == "411722101201"


# --- PII ----------------------------------------------------------------------------------------


def test_reveal_logs_each_call(personas, banks, household):
    from loans.tests.factories import apply

    apply(household, actor=personas["admin"], bank=banks["x"])  # bank X's applicant
    for _ in range(3):
        revealed = household_reveal_pii(
            actor=personas["bank_x"], household=household, channel="web", ip_address="10.0.0.9"
        )
    assert revealed == {"head_id_number": HEAD_ID, "bank_account": ""}
    assert (
        PiiAccessLog.objects.filter(user=personas["bank_x"], household=household, channel="web").count() == 3
    )


@pytest.mark.parametrize("persona", ["village_a1", "township_a", "city", "bank_y", "nobody"])
def test_reveal_refused_and_not_logged(personas, household, persona):
    with pytest.raises(Forbidden):
        household_reveal_pii(actor=personas[persona], household=household)
    assert not PiiAccessLog.objects.exists()


def test_bank_officer_is_refused_a_household_that_is_not_its_banks_applicant(personas, banks, household):
    """Bank X's branch serves the county and sees the household, but it has applied to no bank."""
    with pytest.raises(Forbidden):
        household_reveal_pii(actor=personas["bank_x"], household=household)
    assert not PiiAccessLog.objects.exists()


# --- the head's ID against the member rows ------------------------------------------------------


def test_create_head_who_is_a_member_of_another_household(clerk, regions):
    """The head is a member too: the rule "a member ID already in another household" holds for it
    even when no member list is given (else the database refuses the member row: a 500)."""
    other = household_create(actor=clerk, data=data(household_no="S-OTHER", members=members()))
    with pytest.raises(HouseholdError) as exc:
        household_create(
            actor=clerk, data=data(household_no="S-0002", head_id_number=SON_ID, head_name="王小")
        )
    assert "head_id_number" in exc.value.errors
    assert Member.objects.filter(household=other).count() == 3


def test_update_head_to_a_member_of_another_household(clerk, household, regions):
    other = HouseholdFactory(
        village=regions["village_a1"], head_id_number=make_resident_id("411722", datetime.date(1990, 1, 1), 5)
    )
    child = make_resident_id("411722", datetime.date(2015, 6, 1), 6)
    household_update(
        actor=clerk,
        household=other,
        data={
            "members": [
                {
                    "name": other.head_name,
                    "relation": HEAD_RELATION,
                    "id_number": pii.decrypt(other.head_id_enc),
                },
                {"name": "孩子", "relation": "子女", "id_number": child},
            ]
        },
    )
    with pytest.raises(HouseholdError) as exc:
        household_update(actor=clerk, household=household, data={"head_id_number": child})
    assert "head_id_number" in exc.value.errors


def test_update_head_to_another_member_of_the_same_household_without_members(clerk, household):
    """The wife becomes the head: the member list must say so, else two rows would carry her ID."""
    with pytest.raises(HouseholdError) as exc:
        household_update(
            actor=clerk, household=household, data={"head_id_number": WIFE_ID, "head_name": "赵六"}
        )
    assert "head_id_number" in exc.value.errors


def test_update_head_to_the_wife_with_the_member_list(clerk, household):
    rows = members((0, {"relation": "配偶"}), (1, {"relation": HEAD_RELATION}))
    household_update(
        actor=clerk,
        household=household,
        data={"head_id_number": WIFE_ID, "head_name": "赵六", "members": rows},
    )
    household.refresh_from_db()
    assert pii.decrypt(household.head_id_enc) == WIFE_ID
    assert household.members.get(relation=HEAD_RELATION).name == "赵六"
