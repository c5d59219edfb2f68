"""What a line was computed from, for the API (a dict of fixed keys) and the pages (a sentence)."""

from decimal import Decimal

from .models import LineKind, SubsidyLine


def percent_text(value: Decimal | None) -> str | None:
    """4.7500 → "4.75", 5.2250 → "5.225", 100 → "100.00": at least two places, as API.md writes rates."""
    if value is None:
        return None
    whole, _, places = format(Decimal(value).normalize(), "f").partition(".")
    return f"{whole}.{places.ljust(2, '0')}"


def _money(value) -> str | None:
    return None if value is None else f"{value:.2f}"


def line_basis(line: SubsidyLine) -> dict:
    """principal, days, rate and share, and what else the kind uses; null where it does not apply.
    rate: the benchmark rate (household interest), the subsidy rate a year (day-counted lines)."""
    return {
        "kind": line.kind,
        "interest_paid": _money(line.interest_paid),
        "principal": _money(line.principal),
        "days": line.days,
        "day_basis": line.day_basis,
        "rate": percent_text(line.rate),
        "loan_rate": percent_text(line.loan_rate),
        "share": percent_text(line.share.quantize(Decimal("0.01")) if line.share is not None else None),
        "households_led": line.households_led,
        "cap_per_household": _money(line.cap_per_household),
    }


def basis_text(line: SubsidyLine) -> str:
    if line.interest_paid is not None:
        text = f"实付利息 {line.interest_paid:,} 元"
        if line.rate is not None and line.loan_rate and line.rate < line.loan_rate:
            text += f" × 基准利率 {percent_text(line.rate)}% ÷ 贷款利率 {percent_text(line.loan_rate)}%"
        return text + f" × 贴息比例 {percent_text(line.share.quantize(Decimal('0.01')))}%"
    what = "本金" if line.kind == LineKind.GUARANTEE_FEE else "对应带贫本金"
    text = f"{what} {line.principal:,} 元 × {percent_text(line.rate)}% × {line.days}/{line.day_basis} 天"
    if line.households_led is not None:
        text += f"（带贫 {line.households_led} 户 × 每户 {line.cap_per_household:,} 元与本金余额孰低）"
    return text
