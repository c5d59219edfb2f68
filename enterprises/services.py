"""Every write to the enterprise registry goes through here: the API, the browser forms, the
importers and the demo seed.

Validation gives the same Chinese messages on every channel: problems are collected per field and
raised together as one EnterpriseError("invalid", ..., errors={field: [message, ...]}). The
importers call the clean_* functions row by row without writing.
"""

import datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction

from common.clock import today
from common.errors import ApplicationError, Forbidden
from common.identity import normalize_phone, validate_phone
from common.money import money
from households.models import Household, HouseholdStatus
from organization.models import Region

from .credit_code import parse_credit_code
from .models import BenefitLink, Enterprise, EnterpriseKind, LinkMode, RecognitionEvent
from .permissions import (
    can_edit_enterprise_in,
    can_manage_links_in,
    can_recognize_in,
    can_register_enterprises,
)


class EnterpriseError(ApplicationError):
    pass


# Households an enterprise may lead: registered poor households, lifted or not, and monitored ones.
LINKABLE_STATUSES = (HouseholdStatus.POOR, HouseholdStatus.LIFTED, HouseholdStatus.MONITORED)
REQUIRED_ON_CREATE = ("name", "credit_code", "kind", "founded_on", "township_code", "legal_rep")
EARLIEST_DATE = datetime.date(1949, 10, 1)
MAX_BENEFIT = Decimal("1e10")


class Errors(dict):
    def add(self, field: str, message: str) -> None:
        self.setdefault(field, []).append(message)

    def raise_if_any(self, message: str = "企业信息有误，请检查标出的字段。") -> None:
        if self:
            raise EnterpriseError("invalid", message, errors=dict(self))


def _fmt(day: datetime.date | None) -> str:
    return day.isoformat() if day else "长期"


def _as_date(errors: Errors, field: str, value, label: str) -> datetime.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value).strip())
    except ValueError:
        errors.add(field, f"{label}格式不正确，应为 YYYY-MM-DD。")
        return None


# --- the registry ------------------------------------------------------------------------------


def clean_enterprise(data: dict, *, actor, instance: Enterprise | None, errors: Errors) -> dict:
    """Check each given field; return the cleaned values keyed by model field."""
    out: dict = {}
    for field in REQUIRED_ON_CREATE if instance is None else ():
        if data.get(field) in (None, ""):
            errors.add(field, "此项为必填项。")

    for field, label, limit in (("name", "企业名称", 100), ("legal_rep", "法定代表人", 50)):
        if field in data:
            value = " ".join(str(data.get(field) or "").split())
            if not value and field not in errors:
                errors.add(field, f"{label}不能为空。")
            elif len(value) > limit:
                errors.add(field, f"{label}不能超过{limit}个字。")
            out[field] = value

    if data.get("credit_code") not in (None, ""):
        try:
            code = parse_credit_code(data["credit_code"])
        except ValidationError as exc:
            errors.add("credit_code", exc.messages[0])
        else:
            clash = Enterprise.objects.filter(credit_code=code).exclude(pk=getattr(instance, "pk", None))
            if clash.exists():
                errors.add("credit_code", f"统一社会信用代码“{code}”已登记，不能重复登记。")
            out["credit_code"] = code

    if data.get("kind") not in (None, ""):
        if data["kind"] not in EnterpriseKind.values:
            errors.add("kind", f"类型“{data['kind']}”不在可选范围内：{'、'.join(EnterpriseKind.labels)}。")
        else:
            out["kind"] = data["kind"]

    if data.get("founded_on") not in (None, ""):
        founded = _as_date(errors, "founded_on", data["founded_on"], "成立日期")
        if founded is not None:
            if founded > today():
                errors.add("founded_on", "成立日期不能晚于今天。")
            elif founded < EARLIEST_DATE:
                errors.add("founded_on", "成立日期不合理。")
            else:
                out["founded_on"] = founded

    if data.get("township_code") not in (None, ""):
        code = str(data["township_code"]).strip()
        township = Region.objects.filter(code=code, level=Region.Level.TOWNSHIP).first()
        if township is None or not can_edit_enterprise_in(actor, code):
            errors.add("township_code", f"乡镇代码“{code}”不存在或不在您的管辖范围内。")
        else:
            out["township"] = township
            out["county_id"] = township.parent_id
            if (
                data.get("county_code") not in (None, "")
                and str(data["county_code"]).strip() != township.parent_id
            ):
                errors.add("county_code", f"乡镇“{township.name}”不属于县区代码“{data['county_code']}”。")
            if instance is not None and township.parent_id != instance.county_id and instance.links.exists():
                errors.add("township_code", "该企业已有利益联结，不能迁往其他县区。")
    elif data.get("county_code") not in (None, "") and instance is not None:
        if str(data["county_code"]).strip() != instance.county_id:
            errors.add("county_code", "县区由所在乡镇决定；更换县区请修改乡镇代码。")

    if "contact_name" in data:
        value = " ".join(str(data.get("contact_name") or "").split())
        if len(value) > 50:
            errors.add("contact_name", "联系人不能超过50个字。")
        out["contact_name"] = value
    if "contact_phone" in data:
        try:
            validate_phone(str(data.get("contact_phone") or ""))
        except ValidationError as exc:
            errors.add("contact_phone", exc.messages[0])
        out["contact_phone"] = normalize_phone(str(data.get("contact_phone") or ""))

    if instance is not None and "founded_on" in out and instance.recognized_on:
        if out["founded_on"] > instance.recognized_on:
            errors.add("founded_on", "成立日期不能晚于带贫认定日期。")
    return out


def _apply(enterprise: Enterprise, values: dict) -> None:
    for field, value in values.items():
        setattr(enterprise, field, value)


@transaction.atomic
def enterprise_create(*, actor, data: dict) -> Enterprise:
    if not can_register_enterprises(actor):
        raise Forbidden("您没有登记带贫企业的权限。")
    errors = Errors()
    values = clean_enterprise(data, actor=actor, instance=None, errors=errors)
    errors.raise_if_any()
    enterprise = Enterprise()
    _apply(enterprise, values)
    enterprise._history_user = actor
    enterprise.save()
    return enterprise


@transaction.atomic
def enterprise_update(*, actor, enterprise: Enterprise, data: dict) -> Enterprise:
    enterprise = Enterprise.objects.select_for_update().get(pk=enterprise.pk)
    if not can_edit_enterprise_in(actor, enterprise.township_id):
        raise Forbidden("您没有修改该企业信息的权限。")
    errors = Errors()
    values = clean_enterprise(data, actor=actor, instance=enterprise, errors=errors)
    errors.raise_if_any()
    changed = {k: v for k, v in values.items() if getattr(enterprise, k) != v}
    if changed:
        _apply(enterprise, changed)
        enterprise._history_user = actor
        enterprise.save()
    return enterprise


# --- recognition -------------------------------------------------------------------------------


def _last_event(enterprise: Enterprise) -> RecognitionEvent | None:
    return enterprise.recognition_events.order_by("-decided_on", "-id").first()


def _check_decision_date(
    errors: Errors, enterprise: Enterprise, decided_on, label: str
) -> datetime.date | None:
    day = _as_date(errors, "decided_on", decided_on, label)
    if day is None:
        if "decided_on" not in errors:
            errors.add("decided_on", "此项为必填项。")
        return None
    if day > today():
        errors.add("decided_on", f"{label}不能晚于今天。")
    elif day < enterprise.founded_on:
        errors.add("decided_on", f"{label}不能早于企业成立日期（{enterprise.founded_on:%Y-%m-%d}）。")
    else:
        last = _last_event(enterprise)
        if last is not None and day < last.decided_on:
            errors.add(
                "decided_on",
                f"{label}不能早于上一次{last.get_action_display()}的日期（{last.decided_on:%Y-%m-%d}）。",
            )
    return day


@transaction.atomic
def enterprise_recognize(*, actor, enterprise: Enterprise, decision_no: str, decided_on) -> Enterprise:
    """The county's decision that the enterprise is 带贫: document number and date."""
    enterprise = Enterprise.objects.select_for_update().get(pk=enterprise.pk)
    if not can_recognize_in(actor, enterprise.county_id):
        raise Forbidden("只有本县金融扶贫服务中心可以认定带贫企业。")
    if enterprise.recognized:
        raise EnterpriseError(
            "already_recognized",
            f"该企业已于{enterprise.recognized_on:%Y-%m-%d}认定为带贫企业（{enterprise.decision_no}）；"
            "如需重新认定，请先撤销原认定。",
        )
    errors = Errors()
    number = " ".join(str(decision_no or "").split())
    if not number:
        errors.add("decision_no", "请填写认定文件的文号。")
    elif len(number) > 100:
        errors.add("decision_no", "文号不能超过100个字。")
    day = _check_decision_date(errors, enterprise, decided_on, "认定日期")
    errors.raise_if_any("认定信息有误，请检查标出的字段。")

    RecognitionEvent.objects.create(
        enterprise=enterprise, action=RecognitionEvent.Action.RECOGNIZE, decision_no=number, decided_on=day,
        actor=actor,
    )  # fmt: skip
    enterprise.recognized, enterprise.decision_no, enterprise.recognized_on = True, number, day
    enterprise._history_user = actor
    enterprise.save(update_fields=["recognized", "decision_no", "recognized_on", "updated_at"])
    return enterprise


@transaction.atomic
def enterprise_withdraw_recognition(
    *, actor, enterprise: Enterprise, reason: str, decided_on=None, decision_no: str = ""
) -> Enterprise:
    """Withdraw the recognition (from `decided_on`, default today), with a reason."""
    enterprise = Enterprise.objects.select_for_update().get(pk=enterprise.pk)
    if not can_recognize_in(actor, enterprise.county_id):
        raise Forbidden("只有本县金融扶贫服务中心可以撤销带贫企业认定。")
    if not enterprise.recognized:
        raise EnterpriseError("not_recognized", "该企业目前未被认定为带贫企业，无需撤销。")
    errors = Errors()
    text = str(reason or "").strip()
    if not text:
        errors.add("reason", "请填写撤销认定的理由。")
    number = " ".join(str(decision_no or "").split())
    if len(number) > 100:
        errors.add("decision_no", "文号不能超过100个字。")
    day = _check_decision_date(errors, enterprise, decided_on or today(), "撤销日期")
    errors.raise_if_any("撤销信息有误，请检查标出的字段。")

    RecognitionEvent.objects.create(
        enterprise=enterprise, action=RecognitionEvent.Action.WITHDRAW, decision_no=number, decided_on=day,
        reason=text, actor=actor,
    )  # fmt: skip
    enterprise.recognized, enterprise.decision_no, enterprise.recognized_on = False, "", None
    enterprise._history_user = actor
    enterprise.save(update_fields=["recognized", "decision_no", "recognized_on", "updated_at"])
    return enterprise


# --- benefit links -----------------------------------------------------------------------------


def _find_household(data: dict) -> Household | None:
    value = data.get("household")
    if isinstance(value, Household):
        return value
    if value not in (None, ""):
        try:
            return Household.objects.filter(pk=int(value)).first()
        except (TypeError, ValueError):
            return None
    number = str(data.get("household_no") or "").strip()
    return Household.objects.filter(household_no=number).first() if number else None


def clean_link(
    data: dict, *, enterprise: Enterprise, errors: Errors, pending: list[dict] | tuple = ()
) -> dict:
    """Check one link of `enterprise`; `pending` are links checked earlier in the same batch (an
    import file), so two rows of one file cannot overlap either. Returns the cleaned values."""
    out: dict = {"enterprise": enterprise}
    household_field = "household_no" if "household_no" in data and "household" not in data else "household"
    if data.get("household") in (None, "") and data.get("household_no") in (None, ""):
        errors.add(household_field, "请选择带动的建档立卡户。")
        household = None
    else:
        household = _find_household(data)
        if household is None or household.village_id[:6] != enterprise.county_id:
            county = Region.objects.filter(code=enterprise.county_id).values_list("name", flat=True).first()
            errors.add(
                household_field,
                f"户不存在，或不在本企业所在的{county or enterprise.county_id}：只能与本县的建档立卡户建立利益联结。",
            )
            household = None
        elif household.status not in LINKABLE_STATUSES:
            errors.add(
                household_field,
                f"{household.head_name}（{household.household_no}）是{household.get_status_display()}，"
                "只能与未脱贫、已脱贫或监测户建立利益联结。",
            )
            household = None
    out["household"] = household

    mode = data.get("mode")
    if mode in (None, ""):
        errors.add("mode", "此项为必填项。")
    elif mode not in LinkMode.values:
        errors.add("mode", f"联结方式“{mode}”不在可选范围内：{'、'.join(LinkMode.labels)}。")
    else:
        out["mode"] = mode

    start = _as_date(errors, "start_date", data.get("start_date"), "开始日期")
    if start is None and "start_date" not in errors:
        errors.add("start_date", "此项为必填项。")
    end = _as_date(errors, "end_date", data.get("end_date"), "结束日期")
    if start is not None and start < enterprise.founded_on:
        errors.add("start_date", f"开始日期不能早于企业成立日期（{enterprise.founded_on:%Y-%m-%d}）。")
    if start is not None and end is not None and end < start:
        errors.add("end_date", "结束日期不能早于开始日期。")
    out["start_date"], out["end_date"] = start, end

    raw = data.get("annual_benefit")
    if raw in (None, ""):
        errors.add("annual_benefit", "请填写约定年收益（元），没有现金收益的填 0。")
    else:
        try:
            if isinstance(raw, float):
                raw = repr(raw)
            amount = Decimal(str(raw).replace(",", "").strip())
        except InvalidOperation:
            errors.add("annual_benefit", "约定年收益应为数字。")
        else:
            if not amount.is_finite() or amount < 0 or amount >= MAX_BENEFIT:
                errors.add("annual_benefit", "约定年收益不能为负数或过大。")
            else:
                out["annual_benefit"] = money(amount)

    if household is not None and start is not None and (end is None or end >= start):
        existing = (
            enterprise.links.filter(household=household) if enterprise.pk else BenefitLink.objects.none()
        )
        clashes = [link for link in existing if link.overlaps(start, end)]
        clashes += [
            BenefitLink(start_date=p["start_date"], end_date=p["end_date"])
            for p in pending
            if p.get("household") == household
            and p["enterprise"] == enterprise
            and BenefitLink(start_date=p["start_date"], end_date=p["end_date"]).overlaps(start, end)
        ]
        if clashes:
            other = clashes[0]
            errors.add(
                "start_date",
                f"本企业与{household.head_name}（{household.household_no}）已有"
                f"{other.start_date:%Y-%m-%d}至{_fmt(other.end_date)}的利益联结，时间重叠，不能重复登记。",
            )
    return out


@transaction.atomic
def link_create(*, actor, enterprise: Enterprise, data: dict) -> BenefitLink:
    """Tie a poor household of the enterprise's county to it. Locks the enterprise, so two links of
    the same household cannot slip in side by side."""
    enterprise = Enterprise.objects.select_for_update().get(pk=enterprise.pk)
    if not can_manage_links_in(actor, enterprise.county_id):
        raise Forbidden("只有本县金融扶贫服务中心可以登记利益联结。")
    errors = Errors()
    values = clean_link(data, enterprise=enterprise, errors=errors)
    errors.raise_if_any("利益联结信息有误，请检查标出的字段。")
    return BenefitLink.objects.create(created_by=actor, **values)


@transaction.atomic
def link_end(*, actor, link: BenefitLink, end_date, reason: str = "") -> BenefitLink:
    """End a link early (the agreement was terminated): its last day becomes `end_date`."""
    link = BenefitLink.objects.select_for_update().select_related("enterprise").get(pk=link.pk)
    if not can_manage_links_in(actor, link.enterprise.county_id):
        raise Forbidden("只有本县金融扶贫服务中心可以终止利益联结。")
    errors = Errors()
    day = _as_date(errors, "end_date", end_date, "终止日期")
    if day is None and "end_date" not in errors:
        errors.add("end_date", "此项为必填项。")
    elif day is not None:
        if day < link.start_date:
            errors.add("end_date", f"终止日期不能早于联结开始日期（{link.start_date:%Y-%m-%d}）。")
        elif link.end_date is not None and day > link.end_date:
            errors.add(
                "end_date", f"终止日期不能晚于原定结束日期（{link.end_date:%Y-%m-%d}）；只能提前终止。"
            )
    text = " ".join(str(reason or "").split())
    if len(text) > 200:
        errors.add("reason", "终止原因不能超过200个字。")
    errors.raise_if_any("终止信息有误，请检查标出的字段。")
    link.end_date, link.ended_by, link.end_reason = day, actor, text
    link.save(update_fields=["end_date", "ended_by", "end_reason"])
    return link
