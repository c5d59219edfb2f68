"""Reads of the risk compensation fund. The loans app asks `leverage_refusal` at submission and
approval, the daily job `leverage_for` (both called inside their functions: loans must not import
this app at module level); the subsidy app asks `agreement_for`."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum
from django.http import Http404

from common.money import money, percent
from organization.models import Region
from organization.scoping import bank_loans_q, prefix_q, scope_for
from organization.selectors import policy_for, region_get_for_user

from .models import BankAgreement, ClaimStatus, CompensationClaim, FundEntry, Recovery

# --- bank agreements ---------------------------------------------------------------------------


def agreement_for(county_code: str, bank_id: int, on: datetime.date) -> BankAgreement | None:
    """The agreement of the county with the bank in force on `on`: the one that started last on or
    before it (a new agreement supersedes the older ones), unless it has ended; else None."""
    latest = (
        BankAgreement.objects.filter(county_id=county_code, bank_id=bank_id, valid_from__lte=on)
        .order_by("-valid_from")
        .first()
    )
    if latest is None or (latest.valid_until is not None and latest.valid_until < on):
        return None
    return latest


def agreements_in_force(county_code: str, *, on: datetime.date) -> list[BankAgreement]:
    """One per bank at most: agreement_for of each bank, in one query."""
    latest: dict[int, BankAgreement] = {}
    for agreement in BankAgreement.objects.filter(county_id=county_code, valid_from__lte=on).select_related(
        "bank"
    ):
        if agreement.bank_id not in latest or agreement.valid_from > latest[agreement.bank_id].valid_from:
            latest[agreement.bank_id] = agreement
    return [a for a in latest.values() if a.valid_until is None or a.valid_until >= on]


def agreement_list(county_code: str) -> QuerySet[BankAgreement]:
    return (
        BankAgreement.objects.filter(county_id=county_code)
        .select_related("bank")
        .order_by("bank__code", "-valid_from")
    )


@dataclass(frozen=True)
class Shares:
    """Who bears a loss, in percent (fund + guarantee + bank = 100), and from which agreement
    (None: the county policy's fund_share and bank_share)."""

    fund: Decimal
    guarantee: Decimal
    bank: Decimal
    guarantee_agency: str = ""
    agreement: BankAgreement | None = None

    @property
    def percents(self) -> tuple[Decimal, Decimal, Decimal]:
        return (self.fund, self.guarantee, self.bank)


def shares_for(county_code: str, bank_id: int, *, on: datetime.date) -> Shares:
    agreement = agreement_for(county_code, bank_id, on)
    if agreement is not None:
        return Shares(agreement.fund_share, agreement.guarantee_share, agreement.bank_share,
                      agreement.guarantee_agency, agreement)  # fmt: skip
    policy = policy_for(county_code, on=on)
    # A policy whose shares leave a gap puts it on the bank, so that the shares add up to 100.
    return Shares(policy.fund_share, Decimal("0.00"), 100 - policy.fund_share)


# --- the ledger and the leverage cap -----------------------------------------------------------


def fund_balance(county_code: str, *, on: datetime.date) -> Decimal:
    """Sum of the fund's ledger rows up to `on`."""
    total = FundEntry.objects.filter(county_id=county_code, received_on__lte=on).aggregate(s=Sum("amount"))[
        "s"
    ]
    return money(total or 0)


def ledger(county_code: str) -> QuerySet[FundEntry]:
    return (
        FundEntry.objects.filter(county_id=county_code)
        .select_related("created_by")
        .order_by("received_on", "id")
    )


def _covered_loans(county_codes=None):
    """Disbursed loans not yet compensated: the fund stands behind them."""
    from loans.models import OUTSTANDING_STATUSES, Loan

    loans = Loan.objects.filter(status__in=OUTSTANDING_STATUSES)
    paid = CompensationClaim.objects.filter(status=ClaimStatus.PAID)
    if county_codes is not None:
        loans, paid = loans.filter(county_id__in=county_codes), paid.filter(county_id__in=county_codes)
    return loans.exclude(pk__in=paid.values("loan_id"))


def committed(county_codes) -> dict[str, Decimal]:
    """{county: amount of loans approved by a bank and not yet disbursed}: the fund stands behind
    them from approval, so they count toward the leverage cap (DOMAIN.md "Leverage")."""
    from loans.models import Loan, LoanStatus

    loans = Loan.objects.filter(status=LoanStatus.APPROVED)
    if county_codes is not None:
        loans = loans.filter(county_id__in=list(county_codes))
    rows = loans.values_list("county_id").annotate(s=Sum("amount")).order_by()
    return {code: money(total or 0) for code, total in rows}


def written_off_principal(county_code: str) -> Decimal:
    """Principal the county's banks have written off (核销), shown beside the fund's figures."""
    from loans.models import Loan

    total = Loan.objects.filter(county_id=county_code).aggregate(s=Sum("written_off_principal"))["s"]
    return money(total or 0)


def written_off_by_county(county_codes) -> dict[str, Decimal]:
    """{county: principal written off} of the counties (all when None), in one GROUP BY; counties
    without a write-off are left out."""
    from loans.models import Loan

    loans = Loan.objects.filter(written_off_principal__gt=0)
    if county_codes is not None:
        loans = loans.filter(county_id__in=list(county_codes))
    rows = loans.values_list("county_id").annotate(s=Sum("written_off_principal")).order_by()
    return {code: money(total or 0) for code, total in rows}


def fund_lock(county_code: str) -> None:
    """The county fund's lock (its county row), held to the end of the transaction: leverage
    checks and payouts of one county run one after the other, so two approvals can never pass
    the cap together."""
    Region.objects.select_for_update().filter(pk=county_code).first()


def covered_outstanding(county_code: str) -> Decimal:
    """Principal outstanding of the county's disbursed loans that the fund covers (a compensated
    loan is no longer covered: the fund has paid its share)."""
    total = _covered_loans([county_code]).aggregate(s=Sum("principal_outstanding"))["s"]
    return money(total or 0)


@dataclass(frozen=True)
class Leverage:
    balance: Decimal
    covered_outstanding: Decimal
    multiple: Decimal
    cap: Decimal  # multiple × balance
    warning_ratio: Decimal  # percent of the cap
    committed: Decimal = Decimal("0.00")  # approved, not yet disbursed

    @property
    def used(self) -> Decimal:
        """What the cap is measured against: principal outstanding plus commitments."""
        return self.covered_outstanding + self.committed

    @property
    def headroom(self) -> Decimal:
        return max(self.cap - self.used, Decimal("0.00"))

    @property
    def used_percent(self) -> Decimal:
        return percent(self.used, self.cap) if self.cap > 0 else Decimal("100.00")

    @property
    def warning(self) -> bool:
        """Past the warning line, compared exactly (89.999 % is not 90 %)."""
        return self.cap <= 0 or self.used * 100 >= self.cap * self.warning_ratio

    @property
    def over_cap(self) -> bool:
        return self.used > self.cap


def leverage_multiple(county_code: str, *, on: datetime.date) -> Decimal:
    """The policy's multiple, unless bank agreements are in force: then the lowest of theirs (the
    cap every agreement allows)."""
    multiples = [a.leverage_multiple for a in agreements_in_force(county_code, on=on)]
    return min(multiples) if multiples else policy_for(county_code, on=on).leverage_multiple


def _leverage(
    county_code: str, balance: Decimal, covered: Decimal, on: datetime.date, committed_amount: Decimal
) -> Leverage:
    multiple = leverage_multiple(county_code, on=on)
    return Leverage(
        balance=balance,
        covered_outstanding=covered,
        multiple=multiple,
        cap=money(max(balance, Decimal(0)) * multiple),
        warning_ratio=policy_for(county_code, on=on).leverage_warning_ratio,
        committed=committed_amount,
    )


def leverage_for(county_code: str, *, on: datetime.date) -> Leverage:
    return _leverage(
        county_code, fund_balance(county_code, on=on), covered_outstanding(county_code), on,
        committed([county_code]).get(county_code, Decimal("0.00")),
    )  # fmt: skip


def leverage_refusal(
    county_code: str, *, amount: Decimal, on: datetime.date, exclude_loan_id: int | None = None
) -> str | None:
    """Why a loan of `amount` would break the fund's leverage cap, or None. `exclude_loan_id`: the
    loan being approved or disbursed, already among the commitments if approved."""
    from loans.models import Loan, LoanStatus

    lev = leverage_for(county_code, on=on)
    if lev.balance <= 0:
        return "本县风险补偿金尚未存入，暂不能发放扶贫小额信贷。请县财政先存入风险补偿金。"
    approved = Loan.objects.filter(pk=exclude_loan_id, status=LoanStatus.APPROVED)
    own = (approved.values_list("amount", flat=True).first() if exclude_loan_id else None) or Decimal(0)
    others = lev.used - own
    if others + amount > lev.cap:
        return (
            f"本县风险补偿金余额{lev.balance:,}元，按{lev.multiple:g}倍放大上限为{lev.cap:,}元，"
            f"已发放未结清{lev.covered_outstanding:,}元、已审批待放款{lev.committed:,}元，"
            f"剩余额度{money(max(lev.cap - others, 0)):,}元，不足本笔{money(amount):,}元。"
            "请待县财政补充风险补偿金后再办理。"
        )
    return None


def leverage_by_county(*, on: datetime.date, counties=None) -> dict[str, Leverage]:
    """The leverage of every county with a fund or covered loans (or of `counties`): balances and
    covered principal in two GROUP BYs."""
    entries = FundEntry.objects.filter(received_on__lte=on)
    if counties is not None:
        entries = entries.filter(county_id__in=list(counties))
    balances = dict(entries.values_list("county_id").annotate(s=Sum("amount")).order_by())
    covered = dict(
        _covered_loans(None if counties is None else list(counties))
        .values_list("county_id")
        .annotate(s=Sum("principal_outstanding"))
        .order_by()
    )
    commitments = committed(None if counties is None else list(counties))
    codes = sorted(set(balances) | set(covered) | set(commitments))
    return {
        code: _leverage(code, money(balances.get(code) or 0), money(covered.get(code) or 0), on,
                        commitments.get(code, Decimal("0.00")))
        for code in codes
    }  # fmt: skip


def leverage_warnings(*, on: datetime.date, counties=None) -> list[tuple[Region, Leverage]]:
    """Counties past the warning share of their cap (or past the cap), for the daily job and the
    dashboard: [(county, leverage)] by code."""
    levels = {code: lev for code, lev in leverage_by_county(on=on, counties=counties).items() if lev.warning}
    regions = Region.objects.in_bulk(list(levels))
    return [(regions[code], levels[code]) for code in sorted(levels) if code in regions]


# --- who sees which fund -----------------------------------------------------------------------


def fund_county_for_user(*, user, code: str) -> Region:
    """The county whose fund the user may read, or 404 like a missing one. County staff, township
    and village roles read their own county's fund (the latter two read-only), the city reads
    every county, bank officers the counties their branch serves."""
    region = region_get_for_user(user=user, code=code, include_ancestors=True)
    if region.level != Region.Level.COUNTY:
        raise Http404
    return region


def fund_list(*, user) -> QuerySet[Region]:
    """The counties whose funds the user may read."""
    from organization.selectors import region_list

    return region_list(user=user, level=Region.Level.COUNTY)


# --- claims ------------------------------------------------------------------------------------


def claim_scope_q(user) -> Q:
    """The claims on loans the user sees: region roles those of their area, bank officers their
    own bank's in the counties their branch serves."""
    scope = scope_for(user)
    if scope.everything:
        return Q()
    return prefix_q("loan__area__code", scope.region_prefixes) | bank_loans_q(
        scope, "loan__bank_id", "loan__county_id"
    )


def claim_list(*, user, filters: dict | None = None) -> QuerySet[CompensationClaim]:
    """filters: county, bank (code), status, loan (id)."""
    filters = filters or {}
    claims = CompensationClaim.objects.filter(claim_scope_q(user)).select_related(
        "loan__household", "loan__enterprise", "loan__borrower", "bank", "county", "filed_by", "verified_by",
        "paid_by",
    )  # fmt: skip
    if filters.get("county"):
        claims = claims.filter(county_id=filters["county"])
    if filters.get("bank"):
        claims = claims.filter(bank__code=filters["bank"])
    if filters.get("status"):
        claims = claims.filter(status=filters["status"])
    if filters.get("loan"):
        claims = claims.filter(loan_id=filters["loan"])
    return claims.order_by("-id")


def claim_get_for_user(*, user, pk) -> CompensationClaim:
    try:
        return claim_list(user=user).get(pk=pk)
    except (CompensationClaim.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def live_claim(loan) -> CompensationClaim | None:
    """The loan's claim that is not rejected (at most one), or None."""
    return CompensationClaim.objects.filter(loan=loan).exclude(status=ClaimStatus.REJECTED).first()


def claim_history(claim: CompensationClaim) -> QuerySet:
    """The claim's timeline: its audit trail (claims keep no event table), oldest first. Read for a
    claim the caller got through claim_get_for_user."""
    from common.audit import audit_trail

    return audit_trail(obj_type="claim", obj_id=claim.pk)


def compensated(loan) -> bool:
    """Has the fund paid its share of the loan's loss?"""
    return CompensationClaim.objects.filter(loan=loan, status=ClaimStatus.PAID).exists()


def recoveries_of(claim: CompensationClaim) -> QuerySet[Recovery]:
    return claim.recoveries.select_related("recorded_by").order_by("received_on", "id")


def recovered(claim: CompensationClaim) -> dict[str, Decimal]:
    """What came back so far, in total and per party."""
    sums = claim.recoveries.aggregate(
        amount=Sum("amount"), fund=Sum("fund_part"), guarantee=Sum("guarantee_part"), bank=Sum("bank_part")
    )
    return {k: money(v or 0) for k, v in sums.items()}


@dataclass(frozen=True)
class Loss:
    dpd: int
    principal: Decimal
    interest: Decimal

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest


def loss_of(loan, *, on: datetime.date) -> Loss:
    """Days past due on `on` (from the oldest unpaid instalment due before it, as the daily job
    counts), principal outstanding, and the interest fallen due on or before `on` and not paid."""
    open_items = loan.instalments.filter(settled=False)
    oldest = (
        open_items.filter(due_date__lt=on).order_by("due_date").values_list("due_date", flat=True).first()
    )
    unpaid = [i.interest_due - i.interest_paid for i in open_items.filter(due_date__lte=on)]
    return Loss(
        dpd=(on - oldest).days if oldest else 0,
        principal=loan.principal_outstanding,
        interest=money(sum(unpaid, Decimal(0))),
    )


def claimable_loans(*, user, on: datetime.date):
    """The user's bank's loans that may be claimed on `on` by the daily job's DPD (the service
    counts again): past the county's compensation_min_dpd, without a live claim."""
    from loans.models import OUTSTANDING_STATUSES, Loan, LoanStatus
    from loans.selectors import loan_list

    scope = scope_for(user)
    if not scope.bank_counties and not scope.everything:
        return Loan.objects.none()
    loans = loan_list(user=user).filter(status__in=(*OUTSTANDING_STATUSES, LoanStatus.WRITTEN_OFF))
    if not scope.everything:
        loans = loans.filter(bank_loans_q(scope))
    counties = loans.filter(dpd__gt=0).values_list("county_id", flat=True).distinct().order_by()
    past = Q(pk__in=[])
    for code in counties:
        past |= Q(county_id=code, dpd__gte=policy_for(code, on=on).compensation_min_dpd)
    live = CompensationClaim.objects.exclude(status=ClaimStatus.REJECTED).values("loan_id")
    return loans.filter(past).exclude(pk__in=live).select_related("township").order_by("-dpd", "id")
