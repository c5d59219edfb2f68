"""Two kinds of import through the importer framework (imports.base): the enterprise registry
("enterprises", one row per enterprise, matched by its credit code) and the benefit links
("enterprise_links", one row per link). Every row is checked with the services' own clean_*
functions, so a file says what the API and the forms say; commit() writes through the services.

Import the enterprises first: a link row names its enterprise by credit code and its household by
户编号, and both must exist already.
"""

import datetime
import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

from common.money import money
from common.spreadsheets import cell_text
from imports.base import Column, Counts, ErrorReport, Importer, Row
from organization.models import Role
from organization.scoping import scope_for

from . import services
from .credit_code import parse_credit_code
from .models import BenefitLink, Enterprise, EnterpriseKind, LinkMode
from .permissions import can_edit_enterprise_in, can_manage_links_in

PROGRESS_EVERY = 200
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")

# Kind and mode cells may hold the Chinese label (what the template's drop-down offers), a common
# short form, or the API value.
KIND_WORDS = {
    **{label: value for value, label in EnterpriseKind.choices},
    **{value: value for value in EnterpriseKind.values},
    "公司": EnterpriseKind.COMPANY,
    "合作社": EnterpriseKind.COOPERATIVE,
    "专业合作社": EnterpriseKind.COOPERATIVE,
}
MODE_WORDS = {
    **{label: value for value, label in LinkMode.choices},
    **{value: value for value in LinkMode.values},
    **{label.replace("+", "＋"): value for value, label in LinkMode.choices},
}


def date_cell(value):
    """A date from a date cell or text such as 2016-03-01, 2016/3/1, 2016.3.1, 2016年3月1日 or
    20160301; anything else is returned as text for the service to refuse."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    text = cell_text(value)
    if not text:
        return None
    if re.fullmatch(r"\d{8}", text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    match = _DATE.match(text)
    if match:
        try:
            return datetime.date(*map(int, match.groups()))
        except ValueError:
            return text
    return text


def _report(report: ErrorReport, row: Row, errors: dict, headers: dict, keys: dict | None = None) -> None:
    """Service errors {field: [message]} as report rows naming the file's column and value."""
    keys = keys or {}
    for field, messages in errors.items():
        key = keys.get(field, field)
        header = headers.get(key, "")
        for message in messages:
            report.add(row.number, header, row.values.get(key, ""), message)


class _Plan:
    def __init__(self):
        self.items: list[tuple[str, object, dict]] = []  # (action, instance, data)
        self.counts = Counts()


class EnterpriseImporter(Importer):
    kind = "enterprises"
    label = "带贫企业名录"
    roles = (Role.COUNTY_STAFF, Role.TOWNSHIP_OFFICER)  # who may upload (imports.services.may_import)
    columns = [
        Column("name", "企业名称", width=34, example="上蔡县甲镇绿源种植专业合作社"),
        Column("credit_code", "统一社会信用代码", width=24, example="93411722MA40000016"),
        Column("kind", "类型", choices=tuple(EnterpriseKind.labels), width=16),
        Column("founded_on", "成立日期", example="2015-03-01"),
        Column("township_code", "乡镇代码", width=12, example="411722100"),
        Column("legal_rep", "法定代表人", width=12),
        Column("contact_name", "联系人", required=False, width=12),
        Column("contact_phone", "联系电话", required=False, example="13800138000"),
    ]

    def check(self, rows: list[Row], report: ErrorReport) -> _Plan:
        headers = {c.key: c.header for c in self.columns}
        plan = _Plan()
        seen: dict[str, int] = {}
        for index, row in enumerate(rows, start=1):
            if index % PROGRESS_EVERY == 0:
                self.progress(index)
            data = {
                "name": cell_text(row.values.get("name")),
                "credit_code": cell_text(row.values.get("credit_code")),
                "kind": KIND_WORDS.get(cell_text(row.values.get("kind")), cell_text(row.values.get("kind"))),
                "founded_on": date_cell(row.values.get("founded_on")),
                "township_code": cell_text(row.values.get("township_code")),
                "legal_rep": cell_text(row.values.get("legal_rep")),
            }
            for optional in ("contact_name", "contact_phone"):
                if optional in row.values:
                    data[optional] = cell_text(row.values.get(optional))

            existing = None
            try:
                code = parse_credit_code(data["credit_code"]) if data["credit_code"] else ""
            except ValidationError:
                code = ""  # the service reports it below
            if code:
                if code in seen:
                    report.add(
                        row.number, headers["credit_code"], row.values.get("credit_code"),
                        f"与第{seen[code]}行的统一社会信用代码重复。",
                    )  # fmt: skip
                    continue
                seen[code] = row.number
                existing = Enterprise.objects.filter(credit_code=code).first()
                if existing is not None and not can_edit_enterprise_in(self.actor, existing.township_id):
                    report.add(
                        row.number, headers["credit_code"], row.values.get("credit_code"),
                        "该统一社会信用代码已由其他辖区登记，您无权修改。",
                    )  # fmt: skip
                    continue

            errors = services.Errors()
            values = services.clean_enterprise(data, actor=self.actor, instance=existing, errors=errors)
            if errors:
                _report(report, row, errors, headers)
                continue
            if existing is None:
                plan.items.append(("create", None, data))
                plan.counts.created += 1
            elif any(getattr(existing, k) != v for k, v in values.items()):
                plan.items.append(("update", existing, data))
                plan.counts.updated += 1
            else:
                plan.counts.unchanged += 1
        self.progress(len(rows))
        return plan

    def commit(self, plan: _Plan) -> Counts:
        for action, instance, data in plan.items:
            if action == "create":
                services.enterprise_create(actor=self.actor, data=data)
            else:
                services.enterprise_update(actor=self.actor, enterprise=instance, data=data)
        return plan.counts


class EnterpriseLinkImporter(Importer):
    kind = "enterprise_links"
    label = "带贫企业利益联结"
    roles = (Role.COUNTY_STAFF,)
    columns = [
        Column("credit_code", "统一社会信用代码", width=24, example="93411722MA40000016"),
        Column("household_no", "户编号", width=22),
        Column("mode", "联结方式", choices=tuple(LinkMode.labels), width=16),
        Column("start_date", "开始日期", example="2017-01-01"),
        Column("end_date", "结束日期", required=False, example="2019-12-31（长期可留空）"),
        Column(
            "annual_benefit",
            "年收益",
            aliases=("约定年收益", "年收益（元）", "约定年收益（元）"),
            example="3000",
        ),  # fmt: skip
    ]

    def _enterprise(self, raw, cache: dict) -> tuple[Enterprise | None, str]:
        """The enterprise a row names, or None and why not."""
        try:
            code = parse_credit_code(raw)
        except ValidationError as exc:
            return None, exc.messages[0]
        if code not in cache:
            enterprise = Enterprise.objects.filter(credit_code=code).first()
            if enterprise is None or not scope_for(self.actor).covers_region(enterprise.township_id):
                cache[code] = (
                    None,
                    f"统一社会信用代码“{code}”未登记或不在您的管辖范围内；请先导入企业名录。",
                )
            elif not can_manage_links_in(self.actor, enterprise.county_id):
                cache[code] = (None, "只有本县金融扶贫服务中心可以登记利益联结。")
            else:
                cache[code] = (enterprise, "")
        return cache[code]

    def check(self, rows: list[Row], report: ErrorReport) -> _Plan:
        headers = {c.key: c.header for c in self.columns}
        plan = _Plan()
        enterprises: dict = {}
        pending: list[dict] = []
        for index, row in enumerate(rows, start=1):
            if index % PROGRESS_EVERY == 0:
                self.progress(index)
            raw_code = cell_text(row.values.get("credit_code"))
            if not raw_code:
                report.add(row.number, headers["credit_code"], "", "此项为必填项。")
                continue
            enterprise, problem = self._enterprise(raw_code, enterprises)
            if enterprise is None:
                report.add(row.number, headers["credit_code"], row.values.get("credit_code"), problem)
                continue
            mode = cell_text(row.values.get("mode"))
            data = {
                "household_no": cell_text(row.values.get("household_no")),
                "mode": MODE_WORDS.get(mode, mode),
                "start_date": date_cell(row.values.get("start_date")),
                "end_date": date_cell(row.values.get("end_date")),
                "annual_benefit": cell_text(row.values.get("annual_benefit")),
            }
            if self._already_there(enterprise, data):
                plan.counts.unchanged += 1
                continue
            errors = services.Errors()
            values = services.clean_link(data, enterprise=enterprise, errors=errors, pending=pending)
            if errors:
                _report(report, row, errors, headers)
                continue
            pending.append(values)
            plan.items.append(("create", enterprise, data))
            plan.counts.created += 1
        self.progress(len(rows))
        return plan

    @staticmethod
    def _already_there(enterprise: Enterprise, data: dict) -> bool:
        """The same link imported before: counted as unchanged, so a file can be imported twice."""
        start, end = data["start_date"], data["end_date"]
        if not isinstance(start, datetime.date) or not (end is None or isinstance(end, datetime.date)):
            return False
        try:
            benefit = money(Decimal(data["annual_benefit"].replace(",", "")))
        except (InvalidOperation, ValueError):
            return False
        return BenefitLink.objects.filter(
            enterprise=enterprise, household__household_no=data["household_no"], mode=data["mode"],
            start_date=start, end_date=end, annual_benefit=benefit,
        ).exists()  # fmt: skip

    def commit(self, plan: _Plan) -> Counts:
        for _, enterprise, data in plan.items:
            services.link_create(actor=self.actor, enterprise=enterprise, data=data)
        return plan.counts
