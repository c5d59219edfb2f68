"""Demo data of the fund for `manage.py seed_demo`, after the loans demo (which deposits the first
tranche in every county and runs the daily job, so loans past due have their DPD):

- a bank agreement for every county and bank serving it, from the deposit date (80 : 20, 10×);
  上蔡县 shares the loss of its demo bank three ways with a guarantee company;
- in 上蔡县, for its most overdue loan of that bank: a claim filed by the bank, verified by the
  county and paid (by the admin: the verifier may not pay), with a partial recovery; and a second
  claim filed only, for the county user to verify.

Idempotent: agreements that exist are kept, and the claims are made only if the county has none.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from common.clock import today
from common.money import money
from organization.demo_data import ALL_COUNTY_CODES
from organization.models import Bank, User
from organization.selectors import policy_for

from . import services
from .models import BankAgreement, CompensationClaim

AGREEMENTS_FROM = datetime.date(2017, 8, 1)
CLAIM_COUNTY = "411722"  # 上蔡县
GUARANTOR = "上蔡县中小企业融资担保有限公司"
THREE_WAY = {"fund_share": Decimal(70), "guarantee_share": Decimal(10), "bank_share": Decimal(20)}


@dataclass
class FundSeedResult:
    agreements_created: int = 0
    claims_created: int = 0
    recoveries_created: int = 0

    def summary(self) -> str:
        return (
            f"风险补偿金：本次新增合作协议 {self.agreements_created} 份、代偿申请 {self.claims_created} 件、"
            f"追偿收回 {self.recoveries_created} 笔。"
        )


def seed() -> FundSeedResult:
    result = FundSeedResult()
    admin = User.objects.filter(username="admin").first()
    if admin is None:
        return result
    with transaction.atomic():
        for county in ALL_COUNTY_CODES:
            _seed_agreements(county, admin, result)
        _seed_claims(admin, result)
    return result


def _demo_bank(county: str) -> Bank | None:
    officer = User.objects.filter(username=f"bank_{county}").first()
    assignment = officer.role_assignments.select_related("branch__bank").first() if officer else None
    return assignment.branch.bank if assignment else None


def _seed_agreements(county: str, admin, result: FundSeedResult) -> None:
    actor = User.objects.filter(username=f"county_{county}").first() or admin
    three_way_bank = _demo_bank(county) if county == CLAIM_COUNTY else None
    for bank in Bank.objects.filter(branches__counties=county).distinct().order_by("code"):
        if BankAgreement.objects.filter(county_id=county, bank=bank).exists():
            continue
        terms = dict(THREE_WAY, guarantee_agency=GUARANTOR, guarantee_fee_rate=Decimal("1.00"),
                     guarantee_fee_subsidized=True) if bank == three_way_bank else {}  # fmt: skip
        services.agreement_create(
            actor=actor, county_code=county, bank=bank, valid_from=AGREEMENTS_FROM,
            reference=f"{county}-{bank.code}-2017", **terms,
        )  # fmt: skip
        result.agreements_created += 1


def _seed_claims(admin, result: FundSeedResult) -> None:
    from loans.models import Loan, LoanStatus

    if CompensationClaim.objects.filter(county_id=CLAIM_COUNTY).exists():
        return
    users = {
        u.username: u
        for u in User.objects.filter(username__in=[f"bank_{CLAIM_COUNTY}", f"county_{CLAIM_COUNTY}"])
    }
    bank_officer, county_staff = users.get(f"bank_{CLAIM_COUNTY}"), users.get(f"county_{CLAIM_COUNTY}")
    bank = _demo_bank(CLAIM_COUNTY)
    if not (bank_officer and county_staff and bank):
        return
    min_dpd = policy_for(CLAIM_COUNTY, on=today()).compensation_min_dpd
    loans = list(
        Loan.objects.filter(
            county_id=CLAIM_COUNTY, bank=bank, status=LoanStatus.ACTIVE, dpd__gte=min_dpd
        ).order_by("-dpd", "id")[:2]
    )
    if not loans:
        return
    claim = services.claim_file(actor=bank_officer, loan=loans[0])
    claim = services.claim_verify(actor=county_staff, claim=claim)
    claim = services.claim_pay(actor=admin, claim=claim)
    result.claims_created += 1
    services.recovery_record(
        actor=bank_officer, loan=claim.loan, amount=money(claim.loss * Decimal("0.3")), received_on=today()
    )
    result.recoveries_created += 1
    if len(loans) > 1:
        services.claim_file(actor=bank_officer, loan=loans[1])
        result.claims_created += 1
