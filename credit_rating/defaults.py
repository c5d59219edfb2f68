"""DOMAIN.md's default scorecard, after Lushi's nine headings: data, published per county by
services.scorecard_publish_default (seed_demo, the admin), never read as constants elsewhere."""

from decimal import Decimal

DEFAULT_INDICATORS = [
    # code, name, group, weight (points of 100), source, full_marks_at
    ("law_abiding", "遵纪守法", "品德", "8", "entered", None),
    ("family_harmony", "家庭和睦", "品德", "8", "entered", None),
    ("neighbourliness", "邻里团结", "品德", "8", "entered", None),
    ("responsibility", "责任意识", "信用", "8", "entered", None),
    ("credit_awareness", "信用观念", "信用", "8", "entered", None),
    ("repayment_security", "履约保障", "信用", "8", "entered", None),
    ("work_capacity", "劳动能力", "发展", "8", "entered", None),
    ("will_to_prosper", "致富愿望", "发展", "8", "entered", None),
    ("business_project", "致富项目", "发展", "8", "entered", None),
    ("labor_share", "劳动力占比", "档卡", "14", "labor_share", None),
    ("income", "人均纯收入", "档卡", "14", "income", "6000.00"),
]

DEFAULT_GRADES = [
    # grade, min score, credit line
    ("AAA", "90", "50000.00"),
    ("AA", "80", "40000.00"),
    ("A", "70", "30000.00"),
    ("B", "60", "0.00"),
    ("C", "0", "0.00"),
]


def default_indicators() -> list[dict]:
    return [
        {"code": code, "name": name, "group": group, "weight": Decimal(weight), "max_score": Decimal("10"),
         "source": source, "full_marks_at": Decimal(full) if full else None}
        for code, name, group, weight, source, full in DEFAULT_INDICATORS
    ]  # fmt: skip


def default_grades() -> list[dict]:
    return [{"grade": g, "min_score": Decimal(m), "credit_line": Decimal(c)} for g, m, c in DEFAULT_GRADES]
