"""The bank repayment file (kind "repayments"): one row per repayment, 贷款编号 还款日期 还款金额
流水号, posted through loans.services.repayment_post with channel "file".

Only officers of the loan's bank (and admins) may post it; a loan of another bank reads exactly
like an unknown loan number. A 流水号 the bank has posted before is skipped and counted as
unchanged (so the same file uploaded twice posts nothing the second time), provided the row says
what was posted then; the same 流水号 twice in one file, and a 流水号 posted before for another
loan, date or amount, are errors. All or nothing: one bad row and nothing is posted.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.utils.timezone import localtime

from common.clock import today
from common.errors import ApplicationError
from common.identity import invisible_characters, invisible_refusal
from common.money import CENT
from common.spreadsheets import cell_text
from enterprises.importers import date_cell
from imports.base import Column, Counts, ErrorReport, Importer, Row
from organization.models import Role
from organization.scoping import bank_loans_q, scope_for, serves_bank_loan

from . import services
from .models import Instalment, Loan, LoanStatus, Repayment

REPAYMENT_COLUMNS = (
    Column("loan_no", "贷款编号", width=18, example="L411722000001"),
    Column("paid_on", "还款日期", width=14, example="2018-03-21"),
    Column("amount", "还款金额", width=14, example="1250.00"),
    Column("reference", "流水号", width=24, example="PSBC20180321000123"),
)

PROGRESS_EVERY = 200
LOOKUP_CHUNK = 500  # values per IN (...) query
AMOUNT_LIMIT = Decimal("1e12")  # MoneyField: 14 digits, 2 of them decimals
REFERENCE_MAX = Repayment._meta.get_field("reference").max_length


class _Bad(Exception):
    """A cell that cannot be read: its message goes to the report."""


@dataclass
class _Posting:
    row: int
    loan: Loan
    paid_on: datetime.date
    amount: Decimal
    reference: str
    amount_cell: str  # as the file shows it, for the report


@dataclass
class RepaymentPlan:
    postings: list[_Posting] = field(default_factory=list)  # in posting order
    counts: Counts = field(default_factory=Counts)


# --- reading cells ------------------------------------------------------------------------------


def _amount(raw) -> Decimal:
    """Yuan with at most two decimals, from a number or numeric text (floats through repr, so
    0.1 stays 0.1)."""
    if raw in ("", None):
        raise _Bad("还款金额不能为空。")
    if isinstance(raw, (bool, datetime.date)):
        raise _Bad("还款金额须为数字，如1250.00。")
    text = repr(raw) if isinstance(raw, float) else cell_text(raw).replace(",", "").removesuffix("元")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _Bad("还款金额须为数字，如1250.00。") from None
    if not value.is_finite():
        raise _Bad("还款金额须为数字，如1250.00。")
    if value <= 0:
        raise _Bad("还款金额须大于0。")
    if value != value.quantize(CENT):
        raise _Bad("还款金额最多两位小数（精确到分）。")
    if value >= AMOUNT_LIMIT:
        raise _Bad("还款金额过大，请核对。")
    return value.quantize(CENT)


def _paid_on(raw, *, on: datetime.date) -> datetime.date:
    value = date_cell(raw)
    if value is None:
        raise _Bad("还款日期不能为空。")
    if not isinstance(value, datetime.date):
        raise _Bad("还款日期无法识别，请填写如2018-03-21的日期。")
    if value > on:
        raise _Bad(f"还款日期晚于今天（{on:%Y-%m-%d}），不能登记尚未发生的还款。")
    return value


def _chunks(values: list, size: int = LOOKUP_CHUNK):
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --- the importer -------------------------------------------------------------------------------


class RepaymentImporter(Importer):
    kind = "repayments"
    label = "银行还款文件"
    roles = (Role.BANK_OFFICER,)  # and admins (imports.services.may_import)
    columns = list(REPAYMENT_COLUMNS)

    def check(self, rows: list[Row], report: ErrorReport) -> RepaymentPlan:
        header = {c.key: c.header for c in self.columns}
        plan = RepaymentPlan()
        day = today()
        texts = [
            (cell_text(row.values.get("loan_no")).upper(), cell_text(row.values.get("reference")))
            for row in rows
        ]
        loans = self._loans({loan_no for loan_no, _ in texts if loan_no})
        posted = self._posted({loan.bank_id for loan in loans.values()}, {ref for _, ref in texts if ref})
        seen: dict[tuple[int, str], int] = {}  # (bank, 流水号) -> the row it first appeared on

        for index, (row, (loan_no, reference)) in enumerate(zip(rows, texts, strict=True), start=1):
            if index % PROGRESS_EVERY == 0:
                self.progress(index)

            def bad(key: str, message: str, row=row) -> None:
                report.add(row.number, header[key], cell_text(row.values.get(key)), message)

            loan = loans.get(loan_no)
            if not loan_no:
                bad("loan_no", "贷款编号不能为空。")
            elif loan is None:
                bad("loan_no", f"贷款编号“{loan_no}”不存在，或不是本行发放的贷款。")
            try:
                paid_on = _paid_on(row.values.get("paid_on"), on=day)
            except _Bad as exc:
                paid_on = None
                bad("paid_on", str(exc))
            try:
                amount = _amount(row.values.get("amount"))
            except _Bad as exc:
                amount = None
                bad("amount", str(exc))
            if not reference:
                bad("reference", "流水号不能为空：同一流水号只入账一次，重复上传的文件靠它识别。")
            elif len(reference) > REFERENCE_MAX:
                bad("reference", f"流水号不超过{REFERENCE_MAX}个字符。")
                reference = ""
            elif invisible_characters(reference):  # repayment_post refuses them too, but per file
                bad("reference", invisible_refusal("流水号"))
                reference = ""
            if loan is None or not reference:
                continue

            key = (loan.bank_id, reference)
            if key in seen:
                bad("reference", f"与第{seen[key]}行的流水号重复：同一笔还款只能出现一次。")
                continue
            seen[key] = row.number
            earlier = posted.get(key)
            if earlier is not None:
                if paid_on is not None and amount is not None:
                    if (earlier.loan_id, earlier.paid_on, earlier.amount) == (loan.pk, paid_on, amount):
                        plan.counts.unchanged += 1  # posted before: skipped
                    elif not serves_bank_loan(self.actor, earlier.loan.bank_id, earlier.loan.county_id):
                        # posted on a loan of another county: refused without naming that loan
                        bad("reference", f"流水号{reference}已登记过，不重复入账。请核对。")
                    else:
                        bad(
                            "reference",
                            f"流水号{reference}已于{localtime(earlier.posted_at):%Y-%m-%d}入账（贷款{earlier.loan.loan_no}，"
                            f"{earlier.paid_on:%Y-%m-%d}还款{earlier.amount:,}元），与本行不一致。请核对；"
                            "已入账的还款不会重复登记，也不会被修改。",
                        )  # fmt: skip
                continue

            if loan.status != LoanStatus.ACTIVE:
                bad(
                    "loan_no",
                    f"贷款{loan.loan_no}当前为“{loan.get_status_display()}”，只有已放款未结清的贷款才能登记还款。",
                )
                continue
            if paid_on is not None and paid_on < loan.disbursed_on:
                bad("paid_on", f"还款日期早于该笔贷款的放款日期{loan.disbursed_on:%Y-%m-%d}。")
                continue
            if paid_on is not None and amount is not None:
                plan.postings.append(
                    _Posting(
                        row.number, loan, paid_on, amount, reference, cell_text(row.values.get("amount"))
                    )
                )

        plan.postings.sort(key=lambda p: (p.loan.pk, p.paid_on, p.row))
        self._refuse_overpayment(plan.postings, report, header)
        plan.counts.created = len(plan.postings)
        self.progress(len(rows))
        return plan

    def commit(self, plan: RepaymentPlan) -> Counts:
        """Every posting through the repayment service, in one transaction (the runner's): by loan,
        then date, then file order. A refusal now (another upload or a teller got there first)
        undoes the whole file and names the row."""
        for posting in plan.postings:
            try:
                services.repayment_post(
                    actor=self.actor, loan=posting.loan, amount=posting.amount, paid_on=posting.paid_on,
                    reference=posting.reference, channel=Repayment.Channel.FILE,
                )  # fmt: skip
            except ApplicationError as exc:
                raise ApplicationError(exc.code, f"第{posting.row}行：{exc.message}", exc.errors) from exc
        return plan.counts

    # --- lookups, a few queries for the whole file ----------------------------------------------

    def _loans(self, loan_nos: set[str]) -> dict[str, Loan]:
        """The loans the uploader may post repayments to, by number: those of their own bank in the
        counties their branch serves (another county's number reads as one that does not exist)."""
        scope = scope_for(self.actor)
        mine = Loan.objects.all() if scope.everything else Loan.objects.filter(bank_loans_q(scope))
        found = {}
        for chunk in _chunks(sorted(loan_nos)):
            found.update((loan.loan_no, loan) for loan in mine.filter(loan_no__in=chunk))
        return found

    @staticmethod
    def _posted(bank_ids: set[int], references: set[str]) -> dict[tuple[int, str], Repayment]:
        found = {}
        for chunk in _chunks(sorted(references)):
            earlier = Repayment.objects.filter(bank_id__in=bank_ids, reference__in=chunk).select_related(
                "loan"
            )
            found.update(((r.bank_id, r.reference), r) for r in earlier)
        return found

    @staticmethod
    def _owed(loan_ids: list[int]) -> dict[int, Decimal]:
        """Principal and interest still owed per loan, counted as repayment_post counts it."""
        owed: dict[int, Decimal] = defaultdict(Decimal)
        for chunk in _chunks(loan_ids):
            for item in Instalment.objects.filter(loan_id__in=chunk, settled=False):
                owed[item.loan_id] += (
                    item.principal_due - item.principal_paid + item.interest_due - item.interest_paid
                )
        return owed

    def _refuse_overpayment(self, postings: list[_Posting], report: ErrorReport, header: dict) -> None:
        """The rows of one loan may add up to what it still owes, not more: the row that goes over
        is reported, with the file's total for the loan."""
        owed = self._owed(sorted({p.loan.pk for p in postings}))
        by_loan: dict[int, list[_Posting]] = defaultdict(list)
        for posting in postings:
            by_loan[posting.loan.pk].append(posting)
        for loan_id, items in by_loan.items():
            limit, running = owed[loan_id], Decimal(0)
            total = sum((p.amount for p in items), Decimal(0))
            for posting in items:
                running += posting.amount
                if running > limit:
                    report.add(
                        posting.row, header["amount"], posting.amount_cell,
                        f"贷款{posting.loan.loan_no}在本文件中的还款合计{total:,}元，超过尚欠本息{limit:,}元"
                        f"（加上本行后超出）。请核对金额。",
                    )  # fmt: skip
                    break
