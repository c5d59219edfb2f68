"""Writes to the enterprise registry: registration, recognition and its history, benefit links."""

import datetime
from decimal import Decimal

import pytest

from common.errors import Forbidden
from enterprises import services
from enterprises.models import BenefitLink, Enterprise, RecognitionEvent
from enterprises.selectors import households_led
from enterprises.services import EnterpriseError
from enterprises.tests.factories import BenefitLinkFactory, EnterpriseFactory, credit_code_for
from households.tests.factories import HouseholdFactory

pytestmark = pytest.mark.django_db

D = datetime.date


def new_data(**changes) -> dict:
    data = {
        "name": "上蔡县甲镇绿源种植专业合作社",
        "credit_code": credit_code_for(900),
        "kind": "cooperative",
        "founded_on": D(2015, 3, 1),
        "township_code": "411722100",
        "legal_rep": "王大山",
        "contact_name": "王小山",
        "contact_phone": "13912345678",
    }
    data.update(changes)
    return data


def errors_of(exc_info) -> dict:
    return exc_info.value.errors


@pytest.fixture
def coop(regions):
    return EnterpriseFactory(township=regions["town_a"], founded_on=D(2015, 3, 1))


# --- registration ------------------------------------------------------------------------------


def test_county_staff_registers_a_cooperative(personas):
    e = services.enterprise_create(actor=personas["county_staff"], data=new_data())
    assert e.county_id == "411722" and e.township_id == "411722100"
    assert not e.recognized
    assert e.history.count() == 1 and e.history.first().history_user == personas["county_staff"]


def test_credit_code_is_normalised(personas):
    code = credit_code_for(901)
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in code.lower())
    e = services.enterprise_create(actor=personas["county_staff"], data=new_data(credit_code=full_width))
    assert e.credit_code == code


def test_township_officer_registers_in_own_township_only(personas):
    e = services.enterprise_create(actor=personas["township_a"], data=new_data())
    assert e.township_id == "411722100"
    with pytest.raises(EnterpriseError) as exc:
        services.enterprise_create(
            actor=personas["township_b"], data=new_data(credit_code=credit_code_for(902))
        )
    assert errors_of(exc)["township_code"] == ["乡镇代码“411722100”不存在或不在您的管辖范围内。"]


@pytest.mark.parametrize("persona", ["village_a1", "bank_x", "city", "nobody"])
def test_other_roles_cannot_register(personas, persona):
    with pytest.raises(Forbidden):
        services.enterprise_create(actor=personas[persona], data=new_data())
    assert not Enterprise.objects.exists()


def test_county_staff_cannot_register_in_another_county(personas, regions):
    with pytest.raises(EnterpriseError) as exc:
        services.enterprise_create(actor=personas["county_staff"], data=new_data(township_code="411721100"))
    assert "township_code" in errors_of(exc)


def test_every_problem_is_reported_at_once(personas, coop):
    with pytest.raises(EnterpriseError) as exc:
        services.enterprise_create(
            actor=personas["county_staff"],
            data=new_data(
                name="  ", credit_code=coop.credit_code, kind="farm", founded_on=D(2999, 1, 1),
                township_code="411722999", contact_phone="12345", legal_rep="",
            ),
        )  # fmt: skip
    errors = errors_of(exc)
    assert exc.value.code == "invalid"
    assert set(errors) == {
        "name",
        "credit_code",
        "kind",
        "founded_on",
        "township_code",
        "contact_phone",
        "legal_rep",
    }
    assert errors["credit_code"] == [f"统一社会信用代码“{coop.credit_code}”已登记，不能重复登记。"]
    assert "企业、农民专业合作社" in errors["kind"][0]
    assert errors["founded_on"] == ["成立日期不能晚于今天。"]


def test_bad_check_character_is_refused(personas):
    code = credit_code_for(903)
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    with pytest.raises(EnterpriseError) as exc:
        services.enterprise_create(actor=personas["county_staff"], data=new_data(credit_code=wrong))
    assert errors_of(exc)["credit_code"] == ["统一社会信用代码校验位不正确，请核对号码（可能有字符录错）。"]


def test_county_code_must_match_the_township(personas):
    with pytest.raises(EnterpriseError) as exc:
        services.enterprise_create(actor=personas["county_staff"], data=new_data(county_code="411721"))
    assert "county_code" in errors_of(exc)
    e = services.enterprise_create(actor=personas["county_staff"], data=new_data(county_code="411722"))
    assert e.county_id == "411722"


def test_update_by_township_officer(personas, coop):
    services.enterprise_update(actor=personas["township_a"], enterprise=coop, data={"legal_rep": "赵四"})
    coop.refresh_from_db()
    assert coop.legal_rep == "赵四"
    assert coop.history.first().history_user == personas["township_a"]
    with pytest.raises(Forbidden):
        services.enterprise_update(actor=personas["township_b"], enterprise=coop, data={"legal_rep": "钱五"})
    with pytest.raises(Forbidden):
        services.enterprise_update(actor=personas["bank_x"], enterprise=coop, data={"legal_rep": "钱五"})


def test_moving_to_another_township_of_the_county(personas, coop):
    services.enterprise_update(
        actor=personas["county_staff"], enterprise=coop, data={"township_code": "411722101"}
    )
    coop.refresh_from_db()
    assert coop.township_id == "411722101" and coop.county_id == "411722"


def test_an_enterprise_with_links_cannot_leave_its_county(personas, households, coop):
    BenefitLinkFactory(enterprise=coop, household=households["a1"], created_by=personas["county_staff"])
    with pytest.raises(EnterpriseError) as exc:
        services.enterprise_update(
            actor=personas["admin"], enterprise=coop, data={"township_code": "411721100"}
        )
    assert errors_of(exc)["township_code"] == ["该企业已有利益联结，不能迁往其他县区。"]


# --- recognition -------------------------------------------------------------------------------


def test_recognise_and_withdraw_keep_the_history(personas, coop):
    staff = personas["county_staff"]
    services.enterprise_recognize(
        actor=staff, enterprise=coop, decision_no="蔡扶贫〔2017〕12号", decided_on=D(2017, 6, 1)
    )
    coop.refresh_from_db()
    assert (
        coop.recognized and coop.decision_no == "蔡扶贫〔2017〕12号" and coop.recognized_on == D(2017, 6, 1)
    )

    services.enterprise_withdraw_recognition(
        actor=staff, enterprise=coop, reason="未履行带贫协议", decided_on=D(2018, 1, 5)
    )
    coop.refresh_from_db()
    assert not coop.recognized and coop.decision_no == "" and coop.recognized_on is None

    services.enterprise_recognize(
        actor=staff, enterprise=coop, decision_no="蔡扶贫〔2019〕3号", decided_on=D(2019, 2, 1)
    )
    events = list(
        coop.recognition_events.order_by("id").values_list("action", "decision_no", "decided_on", "reason")
    )
    assert events == [
        ("recognize", "蔡扶贫〔2017〕12号", D(2017, 6, 1), ""),
        ("withdraw", "", D(2018, 1, 5), "未履行带贫协议"),
        ("recognize", "蔡扶贫〔2019〕3号", D(2019, 2, 1), ""),
    ]
    assert set(coop.recognition_events.values_list("actor", flat=True)) == {staff.pk}


@pytest.mark.parametrize("persona", ["township_a", "bank_x", "city", "village_a1"])
def test_only_county_staff_recognise(personas, coop, persona):
    with pytest.raises(Forbidden):
        services.enterprise_recognize(
            actor=personas[persona], enterprise=coop, decision_no="X", decided_on=D(2017, 6, 1)
        )
    assert not RecognitionEvent.objects.exists()


def test_county_staff_of_another_county_cannot_recognise(personas, regions):
    xiping = EnterpriseFactory(township=regions["town_x"])
    with pytest.raises(Forbidden):
        services.enterprise_recognize(
            actor=personas["county_staff"], enterprise=xiping, decision_no="X", decided_on=D(2017, 6, 1)
        )


def test_recognition_refusals(personas, coop):
    staff = personas["county_staff"]
    with pytest.raises(EnterpriseError) as exc:
        services.enterprise_recognize(actor=staff, enterprise=coop, decision_no=" ", decided_on=D(2014, 1, 1))
    assert errors_of(exc) == {
        "decision_no": ["请填写认定文件的文号。"],
        "decided_on": ["认定日期不能早于企业成立日期（2015-03-01）。"],
    }
    with pytest.raises(EnterpriseError) as exc:
        services.enterprise_recognize(actor=staff, enterprise=coop, decision_no="A", decided_on=D(2999, 1, 1))
    assert errors_of(exc) == {"decided_on": ["认定日期不能晚于今天。"]}

    services.enterprise_recognize(actor=staff, enterprise=coop, decision_no="A", decided_on=D(2017, 6, 1))
    with pytest.raises(EnterpriseError) as exc:
        services.enterprise_recognize(actor=staff, enterprise=coop, decision_no="B", decided_on=D(2017, 7, 1))
    assert exc.value.code == "already_recognized"

    with pytest.raises(EnterpriseError) as exc:
        services.enterprise_withdraw_recognition(
            actor=staff, enterprise=coop, reason="", decided_on=D(2017, 5, 1)
        )
    assert errors_of(exc) == {
        "reason": ["请填写撤销认定的理由。"],
        "decided_on": ["撤销日期不能早于上一次认定的日期（2017-06-01）。"],
    }


def test_withdrawing_an_unrecognised_enterprise_is_refused(personas, coop):
    with pytest.raises(EnterpriseError) as exc:
        services.enterprise_withdraw_recognition(actor=personas["county_staff"], enterprise=coop, reason="x")
    assert exc.value.code == "not_recognized"


def test_withdraw_defaults_to_today(personas, coop):
    from common.clock import today

    services.enterprise_recognize(
        actor=personas["county_staff"], enterprise=coop, decision_no="A", decided_on=D(2017, 6, 1)
    )
    services.enterprise_withdraw_recognition(actor=personas["county_staff"], enterprise=coop, reason="停业")
    assert coop.recognition_events.order_by("-id").first().decided_on == today()


# --- benefit links -----------------------------------------------------------------------------


def link(actor, enterprise, target, **changes):
    data = {
        "household": target.pk,
        "mode": "employment",
        "start_date": D(2017, 1, 1),
        "end_date": D(2019, 12, 31),
        "annual_benefit": Decimal("3000"),
    }
    data.update(changes)
    return services.link_create(actor=actor, enterprise=enterprise, data=data)


def test_link_a_poor_household_of_the_county(personas, households, coop):
    created = link(personas["county_staff"], coop, households["b1"])  # another township, same county
    assert created.household == households["b1"] and created.created_by == personas["county_staff"]
    assert created.annual_benefit == Decimal("3000.00")


@pytest.mark.parametrize("status", ["poor", "lifted", "monitored"])
def test_every_registered_poor_status_may_be_linked(personas, regions, coop, status):
    household = HouseholdFactory(village=regions["village_a2"], status=status)
    assert link(personas["county_staff"], coop, household).pk


def test_household_of_another_county_is_refused(personas, households, coop):
    with pytest.raises(EnterpriseError) as exc:
        link(personas["county_staff"], coop, households["x1"])
    assert errors_of(exc) == {
        "household": ["户不存在，或不在本企业所在的上蔡县：只能与本县的建档立卡户建立利益联结。"]
    }


def test_missing_household_says_the_same_as_another_county(personas, households, coop):
    with pytest.raises(EnterpriseError) as exc:
        link(personas["county_staff"], coop, households["x1"], household=999999)
    assert errors_of(exc)["household"][0].startswith("户不存在，或不在本企业所在的上蔡县")


def test_non_poor_household_is_refused(personas, regions, coop):
    rich = HouseholdFactory(village=regions["village_a1"], status="non_poor", head_name="钱多")
    with pytest.raises(EnterpriseError) as exc:
        link(personas["county_staff"], coop, rich)
    assert errors_of(exc) == {
        "household": [f"钱多（{rich.household_no}）是非贫困户，只能与未脱贫、已脱贫或监测户建立利益联结。"]
    }


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (D(2019, 12, 31), None),  # starts on the last day of the first
        (D(2016, 1, 1), D(2017, 1, 1)),  # ends on the first day
        (D(2018, 1, 1), D(2018, 6, 30)),  # inside
        (D(2016, 1, 1), None),  # covers it, open-ended
    ],
)
def test_overlapping_links_of_the_same_household_are_refused(personas, households, coop, start, end):
    staff = personas["county_staff"]
    link(staff, coop, households["a1"])
    with pytest.raises(EnterpriseError) as exc:
        link(staff, coop, households["a1"], start_date=start, end_date=end, mode="production")
    assert errors_of(exc)["start_date"] == [
        f"本企业与{households['a1'].head_name}（{households['a1'].household_no}）已有2017-01-01至2019-12-31"
        "的利益联结，时间重叠，不能重复登记。"
    ]
    assert BenefitLink.objects.count() == 1


def test_open_ended_link_blocks_any_later_one(personas, households, coop):
    staff = personas["county_staff"]
    link(staff, coop, households["a1"], end_date=None)
    with pytest.raises(EnterpriseError) as exc:
        link(staff, coop, households["a1"], start_date=D(2030, 1, 1), end_date=None)
    assert "2017-01-01至长期" in errors_of(exc)["start_date"][0]


def test_consecutive_links_and_other_enterprises_are_fine(personas, regions, households, coop):
    staff = personas["county_staff"]
    link(staff, coop, households["a1"])
    link(staff, coop, households["a1"], start_date=D(2020, 1, 1), end_date=None)
    other = EnterpriseFactory(township=regions["town_b"])
    link(staff, other, households["a1"])  # another enterprise may lead the same household
    assert BenefitLink.objects.count() == 3


def test_link_field_checks(personas, households, coop):
    with pytest.raises(EnterpriseError) as exc:
        link(
            personas["county_staff"], coop, households["a1"], mode="charity", start_date=D(2014, 1, 1),
            end_date=D(2013, 1, 1), annual_benefit=Decimal("-1"),
        )  # fmt: skip
    errors = errors_of(exc)
    assert "生产带动、劳务增收、产权入股+劳务" in errors["mode"][0]
    assert errors["start_date"] == ["开始日期不能早于企业成立日期（2015-03-01）。"]
    assert errors["end_date"] == ["结束日期不能早于开始日期。"]
    assert errors["annual_benefit"] == ["约定年收益不能为负数或过大。"]


@pytest.mark.parametrize("persona", ["township_a", "bank_x", "city"])
def test_only_county_staff_link(personas, households, coop, persona):
    with pytest.raises(Forbidden):
        link(personas[persona], coop, households["a1"])
    assert not BenefitLink.objects.exists()


def test_end_a_link_early(personas, households, coop):
    staff = personas["county_staff"]
    created = link(staff, coop, households["a1"])
    services.link_end(actor=staff, link=created, end_date=D(2018, 6, 30), reason="农户外出务工")
    created.refresh_from_db()
    assert (
        created.end_date == D(2018, 6, 30)
        and created.ended_by == staff
        and created.end_reason == "农户外出务工"
    )
    with pytest.raises(EnterpriseError) as exc:
        services.link_end(actor=staff, link=created, end_date=D(2019, 1, 1))
    assert "只能提前终止" in errors_of(exc)["end_date"][0]
    with pytest.raises(EnterpriseError) as exc:
        services.link_end(actor=staff, link=created, end_date=D(2016, 1, 1))
    assert "不能早于联结开始日期" in errors_of(exc)["end_date"][0]
    with pytest.raises(Forbidden):
        services.link_end(actor=personas["township_a"], link=created, end_date=D(2018, 1, 1))


def test_households_led_counts_links_in_force(personas, regions, households, coop):
    staff = personas["county_staff"]
    second = HouseholdFactory(village=regions["village_a2"])
    link(staff, coop, households["a1"], start_date=D(2017, 1, 1), end_date=D(2017, 12, 31))
    link(staff, coop, households["a1"], start_date=D(2018, 1, 1), end_date=None)  # same household again
    link(staff, coop, second, start_date=D(2017, 6, 1), end_date=D(2018, 5, 31))
    assert households_led(coop, on=D(2016, 12, 31)) == 0
    assert households_led(coop, on=D(2017, 1, 1)) == 1
    assert households_led(coop, on=D(2017, 12, 31)) == 2
    assert households_led(coop, on=D(2018, 1, 1)) == 2  # a1 counted once
    assert households_led(coop, on=D(2018, 5, 31)) == 2
    assert households_led(coop, on=D(2018, 6, 1)) == 1
