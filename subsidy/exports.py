"""A batch as the xlsx payment list the county treasury pays from: 拨付清单 (one row per paying
line, a total row), 汇总 (the batch and a total per payee: the bank for interest, which credits
its borrowers; the guarantee agency for guarantee fees) and 不予补贴 (the excluded lines and why).
Every text cell goes through escape_formula, so a name typed as "=HYPERLINK(...)" stays text
(CWE-1236). Written in openpyxl's write-only mode: a county's batch of any size in little memory."""

import io

from openpyxl import Workbook

from common.spreadsheets import escape_formula

from . import selectors
from .basis import basis_text, percent_text
from .models import SettlementBatch

DETAIL = ("序号", "贷款编号", "借款人", "所在地", "贷款类型", "补贴类型", "收款单位", "本期实付利息（元）",
          "计息本金（元）", "计息天数", "年利率或补贴年率（%）", "贴息比例（%）", "补贴金额（元）", "计算依据")  # fmt: skip
EXCLUDED = ("序号", "贷款编号", "借款人", "所在地", "补贴类型", "不予补贴原因", "本期实付利息（元）", "计息本金（元）", "计算依据")  # fmt: skip
WIDTHS = (6, 18, 24, 16, 10, 12, 24, 14, 14, 10, 12, 12, 14, 60)


def export_filename(batch: SettlementBatch) -> str:
    return f"贴息拨付清单-{batch.county_id}-{batch.bank.code}-{batch.period_start:%Y%m%d}.xlsx"


def _row(values) -> list:
    return [escape_formula(v) for v in values]


def _who(line) -> tuple[str, str, str]:
    loan = line.loan
    return loan.borrower_name, loan.area.name, "带贫企业贷款" if loan.enterprise_id else "户贷"


def batch_workbook(batch: SettlementBatch) -> bytes:
    workbook = Workbook(write_only=True)
    detail = workbook.create_sheet("拨付清单")
    for index, width in enumerate(WIDTHS):
        detail.column_dimensions[chr(ord("A") + index)].width = width
    detail.freeze_panes = "A2"
    detail.append(DETAIL)
    for n, line in enumerate(selectors.batch_lines(batch, excluded=False).iterator(chunk_size=2000), start=1):
        name, place, loan_kind = _who(line)
        detail.append(_row((
            n, line.loan.loan_no, name, place, loan_kind, line.get_kind_display(), line.payee, line.interest_paid,
            line.principal, line.days, percent_text(line.rate), percent_text(line.share), line.amount,
            basis_text(line),
        )))  # fmt: skip
    detail.append(
        _row(("合计", "", "", "", "", "", "", None, None, None, None, None, batch.total_amount, ""))
    )

    summary = workbook.create_sheet("汇总")
    summary.column_dimensions["A"].width = 28
    summary.column_dimensions["B"].width = 40
    for label, value in (
        ("县区", f"{batch.county.name}（{batch.county_id}）"), ("贷款银行", batch.bank.name),
        ("结算期", f"{batch.period_start:%Y-%m-%d} 至 {batch.period_end:%Y-%m-%d}"), ("批次", f"#{batch.pk}"),
        ("状态", batch.get_status_display()), ("补贴合计（元）", batch.total_amount),
        ("明细条数（含不予补贴）", batch.line_count), ("不予补贴条数", batch.excluded_count),
        ("拨付日期", batch.paid_on), ("拨付凭证号", batch.payment_reference),
    ):  # fmt: skip
        summary.append(_row((label, value)))
    summary.append([])
    summary.append(("收款单位", "补贴类型", "笔数", "金额（元）"))
    for row in selectors.batch_totals(batch):
        if row["paying"]:
            summary.append(_row((row["payee"], row["kind_label"], row["paying"], row["amount"])))

    excluded = workbook.create_sheet("不予补贴")
    excluded.freeze_panes = "A2"
    excluded.append(EXCLUDED)
    for n, line in enumerate(selectors.batch_lines(batch, excluded=True).iterator(chunk_size=2000), start=1):
        name, place, _ = _who(line)
        excluded.append(_row((
            n, line.loan.loan_no, name, place, line.get_kind_display(), line.get_excluded_reason_display(),
            line.interest_paid, line.principal, basis_text(line),
        )))  # fmt: skip

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
