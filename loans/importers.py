"""The bank repayment file. Its columns are fixed now, so banks can get the template; the importer
that posts the repayments comes with the loan lifecycle."""

from imports.base import Column

REPAYMENT_COLUMNS = (
    Column("loan_no", "贷款编号", width=18, example="L411722000001"),
    Column("paid_on", "还款日期", width=14, example="2018-03-21"),
    Column("amount", "还款金额", width=14, example="1250.00"),
    Column("reference", "流水号", width=24, example="PSBC20180321000123"),
)
