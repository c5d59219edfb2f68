"""The importer framework: what a kind of import (household file, bank repayment file, ...) must
provide. The runner (imports.services.import_run) does everything common: safe reading, header
matching by name, formula-cell refusal, progress, all-or-nothing commit, the error workbook.

A new kind is one small class:

    class RepaymentImporter(Importer):
        kind = "repayments"
        label = "银行还款文件"
        columns = [Column("loan_no", "贷款编号"), Column("paid_on", "还款日期"), ...]

        def check(self, rows, report):   # validate every row, plan the writes
            ...
            return plan                   # anything; handed back to commit()

        def commit(self, plan):           # write; runs inside one transaction
            return Counts(created=..., updated=..., unchanged=...)

and one line in its app's AppConfig.ready(): `imports.registry.register(RepaymentImporter)`.
"""

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    key: str  # the name the importer uses
    header: str  # the Chinese header in the file, matched by name
    required: bool = True  # the header must be present
    choices: tuple[str, ...] = ()  # drop-down list in the template
    multiple: bool = False  # several choices in one cell, separated by 、 (the drop-down only suggests)
    width: int = 14  # template column width
    aliases: tuple[str, ...] = ()  # other headers accepted for this column
    example: str = ""  # shown in the template's second row comment


@dataclass
class Row:
    number: int  # the row's number in Excel (the header is row 1)
    values: dict  # column key -> raw cell value


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class ErrorReport:
    """Errors of a file, in row order. Every error names row, column (header) and value."""

    errors: list = field(default_factory=list)

    def add(self, row: int, column: str, value, message: str) -> None:
        self.errors.append(
            {"row": row, "column": column, "value": "" if value is None else str(value), "message": message}
        )

    def __bool__(self) -> bool:
        return bool(self.errors)

    def __len__(self) -> int:
        return len(self.errors)


class Importer:
    kind: str = ""
    label: str = ""
    columns: list[Column] = []

    def __init__(self, *, actor, progress: Callable[[int], None] | None = None):
        self.actor = actor
        self._progress = progress or (lambda processed: None)

    def header_of(self, key: str) -> str:
        return next(c.header for c in self.columns if c.key == key)

    def progress(self, processed_rows: int) -> None:
        """Call now and then from check(); the runner throttles the writes."""
        self._progress(processed_rows)

    def check(self, rows: list[Row], report: ErrorReport):
        """Validate every row (report every problem, not only the first) and return a plan of
        the writes, with plan.counts a Counts of what commit would do (used by dry runs)."""
        raise NotImplementedError

    def commit(self, plan) -> Counts:
        """Carry out the plan. Runs inside one transaction: an exception writes nothing."""
        raise NotImplementedError
