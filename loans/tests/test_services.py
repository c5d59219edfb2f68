"""The loan lifecycle through the services: workflow, eligibility refusals, maker-checker,
schedules stored at disbursement, repayments, extension, renewal, write-off, post-loan checks."""

import datetime
from decimal import Decimal

import pytest
import time_machine

from common.clock import today
from common.errors import Forbidden
from credit_rating.models import CreditLineFreeze
from enterprises.tests.factories import EnterpriseFactory
from households.models import HouseholdStatus
from households.tests.factories import HouseholdFactory
from loans import services
from loans.models import Breaker, Instalment, Loan, LoanStatus, PostLoanCheck
from loans.selectors import principal_outstanding_from_ledger
from organization.models import Role
from organization.tests.factories import UserFactory, assign, policy_in_force

from .factories import SHANGHAI, apply, fund_deposit, rate, recognise_and_link, walk

pytestmark = pytest.mark.django_db


def refused(code, fn, *args, **kwargs):
    with pytest.raises(services.LoanError) as caught:
        fn(*args, **kwargs)
    assert caught.value.code == code, caught.value.message
    return caught.value


# --- the happy path ----------------------------------------------------------------------------


BEFORE_2026 = datetime.datetime(2025, 12, 20, 10, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))


@time_machine.travel(BEFORE_2026, tick=False)
def test_household_loan_from_application_to_closing(lending, personas, banks):
    p = personas
    loan = apply(lending["a1"], actor=p["village_a1"], bank=banks["x"])
    assert loan.status == LoanStatus.DRAFT and loan.loan_no == f"L411722{loan.pk:07d}"
    assert loan.rate == Decimal("4.75")  # 24 months: the 1-5 year benchmark
    loan = walk(loan, to=LoanStatus.ACTIVE, personas=p, disbursed_on=datetime.date(2026, 1, 31))
    assert loan.maturity_date == datetime.date(2028, 1, 31)
    rows = list(loan.instalments.order_by("seq"))
    assert len(rows) == 8 and sum(r.principal_due for r in rows) == loan.amount
    assert rows[0].due_date == datetime.date(2026, 4, 30)
    events = list(loan.events.values_list("action", "from_status", "to_status"))
    assert events == [
        ("create", "", "draft"), ("submit", "draft", "submitted"),
        ("township-review", "submitted", "township_reviewed"),
        ("county-recommend", "township_reviewed", "recommended"), ("approve", "recommended", "approved"),
        ("disburse", "approved", "active"),
    ]  # fmt: skip

    owed = sum(r.principal_due + r.interest_due for r in rows)
    with time_machine.travel(datetime.date(2026, 3, 1), tick=False):
        services.repayment_post(actor=p["bank_x"], loan=loan, amount=Decimal("100.00"), paid_on=today())
    loan.refresh_from_db()
    assert loan.principal_outstanding == loan.amount  # interest first
    refused(  # dated ahead of today
        "invalid",
        services.repayment_post,
        actor=p["bank_x"],
        loan=loan,
        amount=Decimal(1),
        paid_on=datetime.date(2026, 3, 2),
    )
    with time_machine.travel(datetime.date(2027, 12, 1), tick=False):
        services.repayment_post(actor=p["bank_x"], loan=loan, amount=owed - 100, paid_on=today())
    loan.refresh_from_db()
    assert loan.status == LoanStatus.CLOSED and loan.closed_on == datetime.date(2027, 12, 1)
    assert loan.principal_outstanding == 0 == principal_outstanding_from_ledger(loan)
    assert not loan.instalments.filter(settled=False).exists()


def test_notice_period_is_fixed_at_recommendation_and_blocks_earlier_approval(
    lending, personas, banks, regions
):
    p = personas
    tomorrow = today() + datetime.timedelta(days=1)
    policy_in_force(
        actor=p["county_staff"],
        county=regions["shangcai"],
        effective_from=tomorrow,
        changes={"notice_period_days": 7},
    )
    with time_machine.travel(
        datetime.datetime.combine(tomorrow, datetime.time(9), tzinfo=SHANGHAI), tick=False
    ):
        loan = walk(
            apply(lending["a1"], actor=p["village_a1"], bank=banks["x"]),
            to=LoanStatus.RECOMMENDED,
            personas=p,
        )
        assert loan.notice_ends_on == tomorrow + datetime.timedelta(days=7)
        refused(
            "notice_period_not_over", services.loan_transition, actor=p["bank_x"], loan=loan, action="approve"
        )
    with time_machine.travel(
        datetime.datetime.combine(loan.notice_ends_on, datetime.time(9), tzinfo=SHANGHAI), tick=False
    ):
        assert services.loan_transition(actor=p["bank_x"], loan=loan, action="approve").status == "approved"


# --- who may do what ---------------------------------------------------------------------------


def test_maker_checker_nobody_checks_what_they_submitted(lending, personas, banks, regions):
    p = personas
    loan = apply(lending["a1"], actor=p["county_staff"], bank=banks["x"])
    services.loan_transition(actor=p["county_staff"], loan=loan, action="submit")
    services.loan_transition(actor=p["township_a"], loan=loan, action="township-review")
    refused(
        "same_person_checker",
        services.loan_transition,
        actor=p["county_staff"],
        loan=loan,
        action="county-recommend",
    )
    # Someone holding two roles who reviewed at the township cannot approve at the bank.
    dual = assign(UserFactory(username="dual"), Role.TOWNSHIP_OFFICER, region=regions["town_a"])
    assign(dual, Role.BANK_OFFICER, branch=banks["branch_x"])
    county2 = assign(UserFactory(username="county2"), Role.COUNTY_STAFF, region=regions["shangcai"])
    neighbour = HouseholdFactory(village=regions["village_a2"])
    rate(neighbour, actor=p["county_staff"])
    third = apply(neighbour, actor=p["county_staff"], bank=banks["x"], amount="1000.00")
    third = services.loan_transition(actor=p["county_staff"], loan=third, action="submit")
    third = services.loan_transition(actor=dual, loan=third, action="township-review")
    third = services.loan_transition(actor=county2, loan=third, action="county-recommend")
    with time_machine.travel(
        datetime.datetime.combine(third.notice_ends_on, datetime.time(9), tzinfo=SHANGHAI), tick=False
    ):
        refused("same_person_checker", services.loan_transition, actor=dual, loan=third, action="approve")
        assert services.loan_transition(actor=p["bank_x"], loan=third, action="approve").status == "approved"


def test_roles_and_banks_are_enforced(lending, personas, banks):
    p = personas
    loan = apply(lending["a1"], actor=p["village_a1"], bank=banks["x"])
    with pytest.raises(Forbidden):
        services.loan_transition(actor=p["township_a"], loan=loan, action="submit")
    loan = walk(loan, to=LoanStatus.RECOMMENDED, personas=p)
    with pytest.raises(Forbidden):  # another bank's officer
        services.loan_transition(actor=p["bank_y"], loan=loan, action="approve")
    with pytest.raises(Forbidden):
        apply(lending["a1"], actor=p["township_a"], bank=banks["x"])


def test_invalid_transition_from_the_wrong_state(lending, personas, banks):
    p = personas
    loan = apply(lending["a1"], actor=p["village_a1"], bank=banks["x"])
    refused(
        "invalid_transition",
        services.loan_transition,
        actor=p["township_a"],
        loan=loan,
        action="township-review",
    )
    refused("invalid_transition", services.loan_disburse, actor=p["bank_x"], loan=loan, disbursed_on=today())
    refused("invalid_transition", services.loan_transition, actor=p["village_a1"], loan=loan, action="fly")


def test_reject_needs_a_reason_and_the_step_owner(lending, personas, banks):
    p = personas
    loan = walk(
        apply(lending["a1"], actor=p["village_a1"], bank=banks["x"]), to=LoanStatus.SUBMITTED, personas=p
    )
    refused("reason_required", services.loan_transition, actor=p["township_a"], loan=loan, action="reject")
    with pytest.raises(Forbidden):  # the county rejects at its own step, not at the township's
        services.loan_transition(actor=p["county_staff"], loan=loan, action="reject", comment="不符合")
    loan = services.loan_transition(actor=p["township_a"], loan=loan, action="reject", comment="项目不实")
    assert loan.status == LoanStatus.REJECTED and loan.events.last().comment == "项目不实"


def test_withdraw_before_disbursement(lending, personas, banks):
    p = personas
    loan = walk(
        apply(lending["a1"], actor=p["village_a1"], bank=banks["x"]), to=LoanStatus.SUBMITTED, personas=p
    )
    assert services.loan_transition(actor=p["village_a1"], loan=loan, action="withdraw").status == "withdrawn"


# --- every refusal code ------------------------------------------------------------------------


def submit(loan, personas):
    return services.loan_transition(actor=personas["village_a1"], loan=loan, action="submit")


def test_age_out_of_range(lending, personas, banks):
    from common.identity import parse_resident_id
    from common.testing import make_resident_id
    from households.services import member_instance

    household = lending["a1"]
    old = member_instance(
        household=household, name="老人", relation="父亲",
        resident=parse_resident_id(make_resident_id("411722", datetime.date(1950, 5, 1), 7)), labor_capable=False,
    )  # fmt: skip
    old.save()
    loan = apply(household, actor=personas["village_a1"], bank=banks["x"], borrower=old)
    error = refused("age_out_of_range", submit, loan, personas)
    assert "老人" in error.message and "18至65周岁" in error.message


def test_ineligible_status(lending, personas, banks):
    household = lending["a1"]
    household.status = HouseholdStatus.NON_POOR
    household.save()
    refused(
        "ineligible_status", submit, apply(household, actor=personas["village_a1"], bank=banks["x"]), personas
    )


def test_no_effective_rating_and_grade_too_low(lending, personas, banks):
    household = lending["a1"]
    rating = household.ratings.get()
    rating.valid_until = today() - datetime.timedelta(days=1)
    rating.save()
    loan = apply(household, actor=personas["village_a1"], bank=banks["x"])
    refused("no_effective_rating", submit, loan, personas)
    rating.valid_until, rating.grade = today(), "B"
    rating.save()
    refused("grade_too_low", submit, loan, personas)


def test_credit_line_and_product_cap_and_term(lending, personas, banks):
    p = personas
    refused(
        "exceeds_credit_line",
        submit,
        apply(lending["a1"], actor=p["village_a1"], bank=banks["x"], amount="45000.00"),
        p,
    )
    rating = lending["a1"].ratings.get()
    rating.credit_line = Decimal("60000.00")
    rating.save()
    refused(
        "exceeds_product_cap",
        submit,
        apply(lending["a1"], actor=p["village_a1"], bank=banks["x"], amount="55000.00"),
        p,
    )
    refused(
        "term_too_long",
        submit,
        apply(lending["a1"], actor=p["village_a1"], bank=banks["x"], term_months=48),
        p,
    )


def test_every_broken_rule_is_listed(lending, personas, banks):
    loan = apply(
        lending["a1"], actor=personas["village_a1"], bank=banks["x"], amount="55000.00", purpose="car"
    )
    error = refused("exceeds_credit_line", submit, loan, personas)
    codes = [r["code"] for r in error.errors["refusals"]]
    assert codes == ["exceeds_credit_line", "exceeds_product_cap", "non_productive_purpose"]


@pytest.mark.parametrize(
    "purpose", ["house_building", "house_buying", "car", "wedding", "wealth_management", "consumption"]
)
def test_non_productive_purpose(lending, personas, banks, purpose):
    loan = apply(lending["a1"], actor=personas["village_a1"], bank=banks["x"], purpose=purpose)
    refused("non_productive_purpose", submit, loan, personas)


def test_one_loan_per_household_across_members_and_banks(lending, personas, banks):
    p = personas
    walk(apply(lending["a1"], actor=p["village_a1"], bank=banks["x"]), to=LoanStatus.ACTIVE, personas=p)
    second = apply(lending["a1"], actor=p["county_staff"], bank=banks["x"], amount="1000.00")
    error = refused(
        "duplicate_household_loan",
        services.loan_transition,
        actor=p["county_staff"],
        loan=second,
        action="submit",
    )
    assert "一户只能有一笔" in error.message


def test_breaker_tripped_refuses_submit_and_approve(lending, personas, banks, regions):
    p = personas
    loan = walk(
        apply(lending["a1"], actor=p["village_a1"], bank=banks["x"]), to=LoanStatus.RECOMMENDED, personas=p
    )
    Breaker.objects.create(
        region=regions["village_a1"], level="village", state="tripped", npl_ratio=9, threshold=7
    )
    with time_machine.travel(
        datetime.datetime.combine(loan.notice_ends_on, datetime.time(9), tzinfo=SHANGHAI), tick=False
    ):
        error = refused(
            "breaker_tripped", services.loan_transition, actor=p["bank_x"], loan=loan, action="approve"
        )
    assert "甲一村" in error.message and "7.00%" in error.message
    Breaker.objects.create(
        region=regions["town_b"], level="township", state="tripped", npl_ratio=6, threshold=5
    )
    other = apply(lending["b1"], actor=p["county_staff"], bank=banks["x"])
    refused("breaker_tripped", services.loan_transition, actor=p["county_staff"], loan=other, action="submit")


def test_fund_leverage(lending, personas, banks, regions):
    p = personas
    county = regions["shangcai"]
    fund_deposit(county, actor=p["admin"], amount=Decimal("-19997000.00"))  # balance 3,000 → cap 30,000
    loan = apply(lending["a1"], actor=p["village_a1"], bank=banks["x"], amount="30000.00")
    loan = submit(loan, p)
    assert loan.status == LoanStatus.SUBMITTED
    loan2 = apply(lending["b1"], actor=p["county_staff"], bank=banks["x"], amount="30000.00")
    walk(loan, to=LoanStatus.ACTIVE, personas=p)
    error = refused(
        "fund_leverage_exceeded",
        services.loan_transition,
        actor=p["county_staff"],
        loan=loan2,
        action="submit",
    )
    assert "剩余额度0.00元" in error.message


def test_enterprise_loan_rules_and_rate(lending, personas, banks, regions):
    p = personas
    coop = EnterpriseFactory(
        kind="cooperative",
        founded_on=today() - datetime.timedelta(days=365),
        county=regions["shangcai"],
        township=regions["town_a"],
    )
    loan = services.loan_create(
        actor=p["county_staff"], enterprise=coop, bank=banks["x"], amount=Decimal("100000.00"), term_months=12,
        purpose="processing", repayment_method="bullet", rate=Decimal("4.70"),
    )  # fmt: skip
    assert loan.rate == Decimal("4.70") and loan.area_id == "411722100"
    error = refused(
        "enterprise_not_recognized",
        services.loan_transition,
        actor=p["county_staff"],
        loan=loan,
        action="submit",
    )
    assert {r["code"] for r in error.errors["refusals"]} == {
        "enterprise_not_recognized",
        "cooperative_too_young",
        "exceeds_linkage_cap",
    }
    refused(
        "rate_too_high",
        services.loan_create,
        actor=p["county_staff"],
        enterprise=coop,
        bank=banks["x"],
        amount=Decimal("1000.00"),
        term_months=12,
        purpose="processing",
        repayment_method="bullet",
        rate=Decimal("4.79"),
    )  # fmt: skip  4.35 × 1.1 = 4.785


def test_enterprise_loan_within_its_linkage_cap(lending, personas, banks, regions):
    p = personas
    company = EnterpriseFactory(kind="company", county=regions["shangcai"], township=regions["town_a"])
    recognise_and_link(company, [lending["a1"], lending["b1"]], actor=p["county_staff"])
    loan = services.loan_create(
        actor=p["county_staff"], enterprise=company, bank=banks["x"], amount=Decimal("200000.00"), term_months=12,
        purpose="processing", repayment_method="bullet",
    )  # fmt: skip
    assert services.loan_transition(actor=p["county_staff"], loan=loan, action="submit").status == "submitted"
    over = services.loan_create(
        actor=p["county_staff"], enterprise=company, bank=banks["x"], amount=Decimal("200000.01"), term_months=12,
        purpose="processing", repayment_method="bullet",
    )  # fmt: skip
    refused(
        "exceeds_linkage_cap", services.loan_transition, actor=p["county_staff"], loan=over, action="submit"
    )


# --- repayments --------------------------------------------------------------------------------


@pytest.fixture
def active_loan(lending, personas, banks):
    with time_machine.travel(BEFORE_2026, tick=False):
        loan = apply(
            lending["a1"], actor=personas["village_a1"], bank=banks["x"], amount="10000.00", term_months=6
        )
        return walk(loan, to=LoanStatus.ACTIVE, personas=personas, disbursed_on=datetime.date(2026, 1, 1))


def test_allocation_interest_first_then_principal_oldest_first(active_loan, personas):
    first, second = active_loan.instalments.order_by("seq")
    assert first.principal_due == 0 and second.principal_due == Decimal("10000.00")
    paid = first.interest_due + second.interest_due + 5
    repayment = services.repayment_post(
        actor=personas["bank_x"], loan=active_loan, amount=paid, paid_on=datetime.date(2026, 4, 1)
    )
    assert (
        repayment.interest_part == first.interest_due + second.interest_due and repayment.principal_part == 5
    )
    first.refresh_from_db(), second.refresh_from_db()
    assert first.settled and not second.settled and second.principal_paid == 5
    active_loan.refresh_from_db()
    assert (
        active_loan.principal_outstanding
        == Decimal("9995.00")
        == principal_outstanding_from_ledger(active_loan)
    )


def test_overpayment_and_duplicate_reference_and_bank(active_loan, personas):
    p = personas
    owed = sum(i.principal_due + i.interest_due for i in active_loan.instalments.all())
    refused(
        "overpayment",
        services.repayment_post,
        actor=p["bank_x"],
        loan=active_loan,
        amount=owed + Decimal("0.01"),
        paid_on=today(),
    )
    services.repayment_post(
        actor=p["bank_x"], loan=active_loan, amount=Decimal(10), paid_on=today(), reference="T1"
    )
    refused(
        "duplicate_reference",
        services.repayment_post,
        actor=p["bank_x"],
        loan=active_loan,
        amount=Decimal(10),
        paid_on=today(),
        reference="T1",
    )
    with pytest.raises(Forbidden):
        services.repayment_post(actor=p["bank_y"], loan=active_loan, amount=Decimal(10), paid_on=today())
    assert active_loan.repayments.count() == 1


# --- after disbursement ------------------------------------------------------------------------


def test_extension_once_moves_the_principal_and_marks_the_period(active_loan, personas):
    p = personas
    refused("reason_required", services.loan_extend, actor=p["bank_x"], loan=active_loan, months=3, reason="")
    loan = services.loan_extend(actor=p["bank_x"], loan=active_loan, months=3, reason="受灾延期")
    assert loan.maturity_date == datetime.date(2026, 10, 1) and loan.extension_count == 1
    rows = list(loan.instalments.order_by("seq"))
    assert sum(r.principal_due for r in rows) == loan.amount
    assert [r.in_extension for r in rows] == [False, False, True]
    assert rows[1].principal_due == 0 and rows[2].principal_due == loan.amount
    refused("extension_limit", services.loan_extend, actor=p["bank_x"], loan=loan, months=3, reason="再延")


def test_renewal_is_a_new_application_disbursed_after_the_old_closes(active_loan, personas):
    p = personas
    renewal = services.loan_renew(actor=p["village_a1"], loan=active_loan)
    assert (
        renewal.status == LoanStatus.DRAFT
        and renewal.renewed_from_id == active_loan.pk
        and renewal.renewal_count == 1
    )
    renewal = walk(renewal, to=LoanStatus.APPROVED, personas=p)  # the old loan does not count as a duplicate
    refused(
        "invalid_transition", services.loan_disburse, actor=p["bank_x"], loan=renewal, disbursed_on=today()
    )
    refused("renewal_limit", services.loan_renew, actor=p["village_a1"], loan=active_loan)


def unchanged(loan) -> tuple:
    loan.refresh_from_db()
    return (loan.status, loan.principal_outstanding, loan.written_off_principal, loan.events.count())


def test_a_healthy_loan_cannot_be_written_off(active_loan, personas):
    before = unchanged(active_loan)
    refused("write_off_not_allowed", services.loan_write_off, actor=personas["bank_x"], loan=active_loan,
            reason="deceased")  # fmt: skip
    refused(
        "invalid_reason", services.loan_write_off, actor=personas["bank_x"], loan=active_loan, reason="测试"
    )
    assert unchanged(active_loan) == before


@pytest.mark.parametrize(
    "grounds",
    [{"classification": "loss"}, {"dpd": 360}],
    ids=["loss-class", "360-days-overdue"],
)
def test_write_off_is_proposed_by_the_bank_and_approved_by_a_second_person(active_loan, personas, grounds):
    p = personas
    Loan.objects.filter(pk=active_loan.pk).update(**grounds)
    loan = services.loan_write_off(
        actor=p["bank_x"], loan=active_loan, reason="借款人死亡或失踪，依法追偿后仍无法收回"
    )
    assert (loan.status, loan.write_off_reason) == (LoanStatus.WRITE_OFF_PROPOSED, "deceased")
    outstanding = loan.principal_outstanding
    refused(
        "same_person_checker",
        services.loan_transition,
        actor=p["bank_x"],
        loan=loan,
        action="write-off-approve",
    )
    with pytest.raises(Forbidden):
        services.loan_transition(actor=p["village_a1"], loan=loan, action="write-off-approve")
    loan = services.loan_transition(actor=p["county_staff"], loan=loan, action="write-off-approve")
    assert (loan.status, loan.principal_outstanding, loan.written_off_principal, loan.written_off_on) == (
        LoanStatus.WRITTEN_OFF, 0, outstanding, today(),
    )  # fmt: skip
    assert principal_outstanding_from_ledger(loan) == 0


def test_a_write_off_sent_back_leaves_the_loan_active(active_loan, personas):
    Loan.objects.filter(pk=active_loan.pk).update(classification="loss")
    loan = services.loan_write_off(actor=personas["bank_x"], loan=active_loan, reason="disaster")
    refused("reason_required", services.loan_transition, actor=personas["county_staff"], loan=loan,
            action="write-off-reject")  # fmt: skip
    loan = services.loan_transition(actor=personas["county_staff"], loan=loan, action="write-off-reject",
                                    comment="请先追偿")  # fmt: skip
    assert (loan.status, loan.write_off_reason, loan.written_off_principal) == (LoanStatus.ACTIVE, "", 0)


def test_post_loan_check_finding_non_productive_use_freezes_the_credit_line(active_loan, personas):
    p = personas
    services.post_loan_check_record(
        actor=p["township_a"], loan=active_loan, tier="township", checked_on=today(), finding="normal"
    )
    assert not CreditLineFreeze.objects.exists()
    with pytest.raises(Forbidden):
        services.post_loan_check_record(
            actor=p["township_b"], loan=active_loan, tier="township", checked_on=today(), finding="normal"
        )
    services.post_loan_check_record(
        actor=p["county_staff"], loan=active_loan, tier="county", checked_on=today(),
        finding=PostLoanCheck.Finding.NON_PRODUCTIVE, note="贷款用于购车",
    )  # fmt: skip
    assert CreditLineFreeze.objects.get(household=active_loan.household, lifted_at__isnull=True)


def test_cached_outstanding_matches_the_ledger_after_many_repayments(active_loan, personas):
    for amount in ("37.10", "400.00", "2500.55", "1.01"):
        services.repayment_post(
            actor=personas["bank_x"], loan=active_loan, amount=Decimal(amount), paid_on=today()
        )
    active_loan.refresh_from_db()
    assert active_loan.principal_outstanding == principal_outstanding_from_ledger(active_loan)
    assert Instalment.objects.filter(loan=active_loan, settled=True).count() >= 1


# --- return for correction (退回修改) -----------------------------------------------------------


def test_a_returned_application_is_corrected_and_submitted_again(lending, personas, banks):
    from loans.selectors import work_queue

    p = personas
    loan = walk(
        apply(lending["a1"], actor=p["village_a1"], bank=banks["x"]), to=LoanStatus.SUBMITTED, personas=p
    )
    refused("reason_required", services.loan_transition, actor=p["township_a"], loan=loan, action="return")
    with pytest.raises(Forbidden):  # the step's reviewer returns it, not another
        services.loan_transition(actor=p["county_staff"], loan=loan, action="return", comment="请补充")
    loan = services.loan_transition(
        actor=p["township_a"], loan=loan, action="return", comment="请补充养殖证明"
    )
    assert loan.status == LoanStatus.RETURNED and services.last_return(loan).comment == "请补充养殖证明"
    assert loan in work_queue(user=p["village_a1"])["submit"]
    with pytest.raises(Forbidden):
        services.loan_update(actor=p["township_a"], loan=loan, changes={"amount": Decimal("20000.00")})
    loan = services.loan_update(actor=p["village_a1"], loan=loan, changes={"amount": Decimal("20000.00")})
    assert loan.amount == Decimal("20000.00") and loan.events.last().action == "edit"
    loan = services.loan_transition(actor=p["village_a1"], loan=loan, action="submit")
    # The township that returned it reviews it again (a return is not work on the application).
    loan = services.loan_transition(actor=p["township_a"], loan=loan, action="township-review")
    assert loan.status == LoanStatus.TOWNSHIP_REVIEWED
    refused(
        "invalid_transition",
        services.loan_update,
        actor=p["village_a1"],
        loan=loan,
        changes={"term_months": 12},
    )


def test_an_application_refused_at_submission_stays_an_editable_draft(lending, personas, banks):
    p = personas
    loan = apply(lending["a1"], actor=p["village_a1"], bank=banks["x"], amount="45000.00")  # line: 40,000
    refused(
        "exceeds_credit_line", services.loan_transition, actor=p["village_a1"], loan=loan, action="submit"
    )
    loan.refresh_from_db()
    assert loan.status == LoanStatus.DRAFT and services.may_edit(p["village_a1"], loan)
    loan = services.loan_update(actor=p["village_a1"], loan=loan, changes={"amount": Decimal("40000.00")})
    assert (
        services.loan_transition(actor=p["village_a1"], loan=loan, action="submit").status
        == LoanStatus.SUBMITTED
    )
