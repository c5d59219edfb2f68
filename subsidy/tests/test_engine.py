"""The lines a batch computes, to the fen: household interest (share, rate ratio, every exclusion),
enterprise interest (day count on the principal matched to households led), guarantee fees; the
cached totals against the lines; recomputing gives the same lines. Runs on SQLite and PostgreSQL
(the engine's SQL differs only in date arithmetic)."""

import datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine

from common.money import money
from enterprises.tests.factories import BenefitLinkFactory, EnterpriseFactory
from households.tests.factories import HouseholdFactory
from loans import services as loan_services
from loans.tests.factories import rate
from organization.tests.factories import approved_city_policy, approved_policy
from risk_fund.models import BankAgreement
from subsidy import engine, selectors, services
from subsidy.models import SubsidyLine

from .factories import Q1_2024, make_loan, pay

pytestmark = pytest.mark.django_db

D = datetime.date
CHINA = datetime.timezone(datetime.timedelta(hours=8))
AGENCY = "上蔡县农业信贷融资担保有限公司"


@pytest.fixture
def w(regions, banks, personas):
    """Everything the tests below use, by short names."""
    return {"r": regions, "b": banks, "p": personas, "a1": regions["village_a1"], "x": banks["x"]}


def loan(w, **kwargs):
    kwargs.setdefault("bank", w["x"])
    return make_loan(kwargs.pop("area", w["a1"]), actor=w["p"]["admin"], **kwargs)


def repay(w, item, on, **kwargs):
    return pay(item, on=on, actor=w["p"]["bank_x" if item.bank_id == w["x"].pk else "bank_y"], **kwargs)


def compute(w, start=Q1_2024[0], bank=None, county="shangcai"):
    return services.batch_create(
        actor=w["p"]["admin"], county=w["r"][county], bank=bank or w["x"], period_start=start
    )


def lines_of(batch) -> dict:
    """(loan id, kind, excluded_reason) -> line."""
    return {(x.loan_id, x.kind, x.excluded_reason): x for x in batch.lines.all()}


def only(batch, item, kind="interest") -> SubsidyLine:
    found = [x for x in batch.lines.all() if x.loan_id == item.pk and x.kind == kind]
    assert len(found) == 1, found
    return found[0]


def assert_totals(batch):
    batch.refresh_from_db()
    assert batch.total_amount == selectors.lines_sum(batch)
    assert batch.line_count == batch.lines.count()
    assert batch.excluded_count == batch.lines.exclude(excluded_reason="").count()


# --- household interest ------------------------------------------------------------------------


def test_household_interest_paid_on_time_is_subsidised_in_full(w):
    item = loan(
        w
    )  # 30,000 at 4.75 %, disbursed 2023-11-15: the first quarter's interest falls due 2024-02-15
    repay(w, item, D(2024, 2, 15))
    line = only(compute(w), item)
    assert line.interest_paid == Decimal("364.17")  # 30,000 × 4.75 % × 92 / 360
    assert (line.amount, line.excluded_reason, line.payee) == (Decimal("364.17"), "", "邮储银行")
    assert (line.rate, line.loan_rate, line.share) == (Decimal("4.75"), Decimal("4.75"), Decimal("100"))


def test_only_repayments_dated_in_the_period_count_and_other_banks_and_counties_are_apart(w, households):
    before, after = loan(w, disbursed_on=D(2023, 9, 20)), loan(w, disbursed_on=D(2024, 1, 10))
    repay(w, before, D(2023, 12, 20))  # its first quarter, paid in the previous period
    repay(w, after, D(2024, 4, 10))  # in the next period
    other_bank = loan(w, bank=w["b"]["y"], area=w["r"]["village_x1"])
    repay(w, other_bank, D(2024, 2, 15))
    assert compute(w).lines.count() == 0
    batch_y = compute(w, bank=w["b"]["y"], county="xiping")
    assert [x.loan_id for x in batch_y.lines.all()] == [other_bank.pk]


def test_share_lowered_to_70_percent_from_a_date_inside_the_period_applies_by_repayment_date(w):
    """The row in force on each repayment's date: 100 % before 1 February 2024, 70 % from then (the
    city lowers its floor to 70 % and the county follows on the same day)."""
    approved_city_policy(city=w["r"]["city"], effective_from=D(2024, 2, 1), household_subsidy_share=70)
    approved_policy(county=w["r"]["shangcai"], effective_from=D(2024, 2, 1), household_subsidy_share=70)
    early = loan(w, disbursed_on=D(2023, 10, 20))  # due 2024-01-20: 30,000 × 4.75 % × 92 / 360 = 364.17
    repay(w, early, D(2024, 1, 20))
    late = loan(w)  # due 2024-02-15: 364.17 at 70 % = 254.919
    repay(w, late, D(2024, 2, 15))
    # Monthly: 20,000 at 4.75 % from 2023-12-10, due 10 Jan (31 days), 10 Feb (31), 10 Mar (29).
    monthly = loan(w, amount="20000.00", disbursed_on=D(2023, 12, 10), method="monthly_interest_bullet")
    for day in (D(2024, 1, 10), D(2024, 2, 10), D(2024, 3, 10)):
        repay(w, monthly, day)
    batch = compute(w)
    assert only(batch, early).amount == Decimal("364.17")
    assert (only(batch, late).amount, only(batch, late).share) == (Decimal("254.92"), Decimal("70"))
    line = only(batch, monthly)
    assert line.interest_paid == Decimal("81.81") + Decimal("81.81") + Decimal("76.53")
    # Rounded once per line: 81.81 + (81.81 + 76.53) × 70 % = 192.648
    assert line.amount == money(Decimal("81.81") + (Decimal("81.81") + Decimal("76.53")) * Decimal("0.7"))
    assert line.amount == Decimal("192.65")
    assert line.share == Decimal("80.2199")  # the interest-weighted share, shown in the basis
    assert batch.total_amount == Decimal("364.17") + Decimal("254.92") + Decimal("192.65")
    assert_totals(batch)


def test_a_loan_rate_above_the_benchmark_is_subsidised_at_the_benchmark(w):
    item = loan(w, rate="5.225")  # 30,000 × 5.225 % × 92 / 360 = 400.58
    repay(w, item, D(2024, 2, 15))
    line = only(compute(w), item)
    assert line.interest_paid == Decimal("400.58")
    assert line.amount == money(Decimal("400.58") * Decimal("4.75") / Decimal("5.225")) == Decimal("364.16")


def test_overdue_instalment_earns_nothing_and_is_listed_with_its_reason(w):
    """Interest of an instalment paid after its due date gets no subsidy (and the system records
    no penalty interest, so none can be subsidised): an excluded line of amount 0."""
    item = loan(w)
    repay(w, item, D(2024, 3, 1))  # due 2024-02-15
    line = only(compute(w), item)
    assert (line.excluded_reason, line.amount, line.interest_paid) == ("overdue", 0, Decimal("364.17"))


def test_a_repayment_covering_an_overdue_and_a_current_instalment_is_split(w):
    item = loan(w, disbursed_on=D(2023, 8, 15))  # due 2023-11-15 (92 days) and 2024-02-15 (92 days)
    first = item.instalments.get(seq=1).interest_due
    repay(w, item, D(2024, 2, 15), amount=first + item.instalments.get(seq=2).interest_due)
    found = lines_of(compute(w))
    assert found[(item.pk, "interest", "overdue")].interest_paid == first == Decimal("364.17")
    assert found[(item.pk, "interest", "overdue")].amount == 0
    assert found[(item.pk, "interest", "")].amount == Decimal("364.17")


def test_extension_interest_earns_nothing(w):
    item = loan(w, disbursed_on=D(2022, 12, 31), term_months=12, rate="4.35")
    for seq in range(1, 4):
        repay(w, item, item.instalments.get(seq=seq).due_date, seq=seq)
    last = item.instalments.get(seq=4)
    repay(w, item, last.due_date, amount=last.interest_due)  # 2023-12-31: interest only
    # The bank extends on the maturity date; an extension re-checks the rating on its day, so the
    # household holds one valid then.
    with time_machine.travel(datetime.datetime(2023, 12, 31, 12, tzinfo=CHINA), tick=False):
        rate(item.household, actor=w["p"]["admin"])
        loan_services.loan_extend(actor=w["p"]["bank_x"], loan=item, months=6, reason="受灾")
    extension = item.instalments.get(in_extension=True, seq=5)
    assert extension.due_date == D(2024, 3, 31)
    repay(w, item, D(2024, 3, 31), amount=extension.interest_due)
    line = only(compute(w), item)
    assert (line.excluded_reason, line.amount, line.interest_paid) == ("extended", 0, extension.interest_due)


def test_other_fiscal_subsidy_and_loans_outside_the_caps_are_excluded(w):
    other = loan(w, other_subsidy=True)
    too_big = loan(w, amount="60000.00")
    too_long = loan(w, term_months=48)
    for item in (other, too_big, too_long):
        repay(w, item, D(2024, 2, 15))
    batch = compute(w)
    assert only(batch, other).excluded_reason == "other_subsidy"
    assert only(batch, too_big).excluded_reason == "outside_caps"
    assert only(batch, too_long).excluded_reason == "outside_caps"
    assert batch.total_amount == 0 and batch.excluded_count == 3
    assert_totals(batch)


def test_caps_are_those_in_force_on_the_disbursement_date(w):
    approved_city_policy(city=w["r"]["city"], effective_from=D(2023, 6, 1), household_loan_cap=80000)
    approved_policy(county=w["r"]["shangcai"], effective_from=D(2023, 6, 1), household_loan_cap=80000)
    approved_policy(county=w["r"]["shangcai"], effective_from=D(2023, 12, 1), household_loan_cap=50000)
    raised = loan(w, amount="60000.00")  # disbursed 2023-11-15 under the 80,000 cap
    repay(w, raised, D(2024, 2, 15))
    line = only(compute(w), raised)
    assert (line.excluded_reason, line.amount) == ("", Decimal("728.33"))  # 60,000 × 4.75 % × 92 / 360


# --- enterprise interest -----------------------------------------------------------------------


@pytest.fixture
def enterprise(w):
    """An enterprise of township A leading three households since 2023."""
    made = EnterpriseFactory(township=w["r"]["town_a"])
    for _ in range(3):
        BenefitLinkFactory(enterprise=made, household=HouseholdFactory(village=w["a1"]),
                           created_by=w["p"]["admin"], start_date=D(2023, 1, 1))  # fmt: skip
    return made


def enterprise_loan(w, enterprise, **kwargs):
    kwargs.setdefault("amount", "500000.00")
    return loan(w, area=enterprise.township, enterprise=enterprise, **kwargs)


def test_enterprise_interest_is_two_percent_a_year_on_the_principal_matched_to_households_led(w, enterprise):
    whole = enterprise_loan(w, enterprise)  # 500,000, capped at 3 × 100,000
    repay(w, whole, D(2024, 2, 15))
    late_start = enterprise_loan(w, enterprise, amount="200000.00", disbursed_on=D(2024, 2, 10))
    batch = compute(w)
    line = only(batch, whole)
    assert (line.principal, line.days, line.day_basis, line.households_led) == (
        Decimal("300000.00"),
        91,
        360,
        3,
    )
    assert line.amount == money(Decimal(300000) * Decimal("0.02") * 91 / 360) == Decimal("1516.67")
    line = only(batch, late_start)  # 200,000 < the cap; from 11 February to 31 March
    assert (line.principal, line.days) == (Decimal("200000.00"), 50)
    assert line.amount == Decimal("555.56")
    assert_totals(batch)


def test_enterprise_loan_exclusions(w, enterprise):
    overdue = enterprise_loan(w, enterprise)  # nothing paid on 2024-02-15
    other = enterprise_loan(w, enterprise, other_subsidy=True)
    alone = EnterpriseFactory(township=w["r"]["town_a"])
    no_households = enterprise_loan(w, alone)
    repay(w, no_households, D(2024, 2, 15))
    paid_late = enterprise_loan(w, enterprise)
    repay(w, paid_late, D(2024, 2, 20))
    on_time_last_period = enterprise_loan(w, enterprise, disbursed_on=D(2023, 8, 15))
    repay(w, on_time_last_period, D(2023, 11, 15))
    repay(w, on_time_last_period, D(2024, 2, 15))
    batch = compute(w)
    assert only(batch, overdue).excluded_reason == "overdue"
    assert only(batch, paid_late).excluded_reason == "overdue"
    assert only(batch, other).excluded_reason == "other_subsidy"
    assert only(batch, no_households).excluded_reason == "no_households_led"
    assert only(batch, on_time_last_period).amount == Decimal("1516.67")
    assert_totals(batch)


def test_enterprise_days_stop_at_closing(w, enterprise):
    item = enterprise_loan(w, enterprise, term_months=3, disbursed_on=D(2023, 11, 15))  # one instalment
    repay(w, item, D(2024, 2, 15))  # all of it: closes the loan
    item.refresh_from_db()
    assert item.status == "closed"
    line = only(compute(w), item)
    assert line.days == 46  # 1 January to 15 February
    assert line.amount == money(Decimal(300000) * Decimal("0.02") * 46 / 360)


# --- guarantee fees ----------------------------------------------------------------------------


def agreement(w, **fields):
    fields = {"guarantee_agency": AGENCY, "guarantee_fee_subsidized": True, "guarantee_fee_rate": Decimal("2.00"),
              "valid_from": D(2017, 1, 1), **fields}  # fmt: skip
    return BankAgreement.objects.create(
        county=w["r"]["shangcai"], bank=w["x"], created_by=w["p"]["admin"], **fields
    )


def test_no_guarantee_fee_lines_without_an_agreement_with_a_subsidised_agency(w):
    loan(w)
    assert compute(w).lines.count() == 0
    agreement(w, guarantee_fee_subsidized=False)
    assert compute(w, start=D(2024, 4, 1)).lines.count() == 0


def test_guarantee_fee_is_paid_to_the_agency_on_the_principal_outstanding(w, enterprise):
    agreement(w)
    household = loan(w)
    business = enterprise_loan(w, enterprise)
    outside = loan(w, amount="60000.00")
    closing = loan(w, term_months=3, rate="4.35")
    repay(w, closing, D(2024, 2, 15))  # repaid in full: 1 January to 15 February
    batch = compute(w)
    line = only(batch, household, "guarantee_fee")
    assert (line.payee, line.principal, line.days, line.rate) == (
        AGENCY,
        Decimal("30000.00"),
        91,
        Decimal("1.5"),
    )
    assert line.amount == money(Decimal(30000) * Decimal("0.015") * 91 / 360) == Decimal("113.75")
    assert only(batch, business, "guarantee_fee").amount == money(
        Decimal(500000) * Decimal("0.005") * 91 / 360
    )
    assert only(batch, outside, "guarantee_fee").excluded_reason == "outside_caps"
    assert only(batch, closing, "guarantee_fee").days == 46
    assert only(batch, closing, "interest").amount == Decimal("333.50")  # 30,000 × 4.35 % × 92 / 360
    totals = {(t["kind"], t["payee"]): t["amount"] for t in selectors.batch_totals(batch)}
    assert totals[("guarantee_fee", AGENCY)] == Decimal("113.75") + Decimal("631.94") + Decimal("57.50")
    assert_totals(batch)


def test_guarantee_subsidy_never_exceeds_the_fee_the_agency_charges(w):
    agreement(w, guarantee_fee_rate=Decimal("1.00"))
    item = loan(w)
    assert only(compute(w), item, "guarantee_fee").rate == Decimal("1.00")


def test_guarantee_subsidy_rates_are_the_city_policy_rows(w, enterprise):
    """1.5 % / 0.5 % are the city's dated rows, not constants: a city row from 2024 changes them."""
    approved_city_policy(city=w["r"]["city"], effective_from=D(2023, 12, 1),
                         guarantee_fee_subsidy_household=Decimal("1.20"),
                         guarantee_fee_subsidy_enterprise=Decimal("0.40"))  # fmt: skip
    agreement(w)
    household, business = loan(w), enterprise_loan(w, enterprise)
    batch = compute(w)
    assert only(batch, household, "guarantee_fee").rate == Decimal("1.20")
    assert only(batch, household, "guarantee_fee").amount == money(
        Decimal(30000) * Decimal("0.012") * 91 / 360
    )
    assert only(batch, business, "guarantee_fee").rate == Decimal("0.40")


def test_a_stricter_city_cap_excludes_a_loan_an_older_county_row_allowed(w):
    """The county's own row (50,000) is older than the city's ceiling of 25,000 from 2023-11-01:
    the city wins for loans disbursed from then on."""
    approved_policy(county=w["r"]["shangcai"], effective_from=D(2023, 1, 1), household_loan_cap=50000)
    approved_city_policy(city=w["r"]["city"], effective_from=D(2023, 11, 1), household_loan_cap=25000)
    item = loan(w)  # 30,000 disbursed 2023-11-15
    repay(w, item, D(2024, 2, 15))
    assert only(compute(w), item).excluded_reason == "outside_caps"


def test_a_county_share_below_the_city_floor_is_lifted_to_the_floor(w):
    approved_policy(county=w["r"]["shangcai"], effective_from=D(2023, 1, 1), household_subsidy_share=70)
    item = loan(w)
    repay(w, item, D(2024, 2, 15))
    assert only(compute(w), item).share == Decimal("100")


# --- recomputing -------------------------------------------------------------------------------


def snapshot(batch):
    return sorted(
        batch.lines.values_list("loan_id", "kind", "excluded_reason", "amount", "principal", "days")
    )


def test_recompute_gives_the_same_lines_and_no_duplicates_then_picks_up_new_repayments(w, enterprise):
    agreement(w)
    on_time, late = loan(w), loan(w)
    repay(w, on_time, D(2024, 2, 15))
    repay(w, late, D(2024, 3, 20))
    enterprise_loan(w, enterprise)
    batch = compute(w)
    before = snapshot(batch)
    assert len(before) == batch.line_count == 6
    services.batch_recompute(actor=w["p"]["county_staff"], batch=batch)
    assert snapshot(batch) == before and batch.lines.count() == 6
    assert_totals(batch)
    extra = loan(w, disbursed_on=D(2023, 12, 5))
    repay(w, extra, D(2024, 3, 5))
    services.batch_recompute(actor=w["p"]["county_staff"], batch=batch)
    assert len(snapshot(batch)) == 8
    assert_totals(batch)


def test_the_sql_rounding_is_half_up_as_common_money_rounds():
    """(2n + d) // 2d, the engine's integer rounding of n / d, against Decimal's ROUND_HALF_UP."""
    assert engine.half_up("n", "d") == "((2 * (n) + (d)) / (2 * (d)))"
    for n, d in ((5, 10), (4, 10), (15, 10), (25, 10), (14999, 10000), (15000, 10000), (7, 3), (0, 9)):
        assert (2 * n + d) // (2 * d) == (Decimal(n) / d).quantize(Decimal(1), rounding=ROUND_HALF_UP)
