"""Every write to the household file goes through here: the API, the browser forms and the admin.
(Bulk loaders, seed_demo and the file importer, build rows with member_instance and the same
validators, then write set-based.)

Validation gives the same Chinese messages on every channel: problems are collected per field and
raised together as one HouseholdError("invalid", ..., errors={field: [message, ...]}).
"""

import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction

from common import pii
from common.errors import ApplicationError, Forbidden
from common.identity import check_gender, clean_identifier, normalize_phone, parse_resident_id, validate_phone
from organization.models import Region
from organization.permissions import can_create_households, can_edit_households_in, can_view_full_pii
from organization.scoping import scope_for

from .models import (
    HEAD_RELATION,
    Household,
    HouseholdAttribute,
    HouseholdStatus,
    IdentificationStandard,
    Member,
    PiiAccessLog,
    PovertyCause,
)


class HouseholdError(ApplicationError):
    pass


# Fields a caller may set, as the API and the forms name them.
SCALAR_FIELDS = (
    "household_no", "village_code", "head_name", "head_id_number", "phone", "member_count", "labor_count",
    "status", "attribute", "identification_standard", "poverty_causes", "per_capita_income", "bank_name",
    "bank_account",
)  # fmt: skip
REQUIRED_ON_CREATE = ("household_no", "village_code", "head_name", "head_id_number", "status")
_ACCOUNT = re.compile(r"^\d{10,30}$")

# An ID number already on file in a household the user may not see: refused without saying
# where (a clerk of one county must not learn who is registered in another, or in which village).
ID_REGISTERED_OUT_OF_SCOPE = "该身份证号已在系统中登记，不能重复建档。如有疑问请联系县金融扶贫服务中心。"


def id_registered_elsewhere(actor, household_no: str, village_code: str, *, as_head: bool = False) -> str:
    """The message for an ID number already in household `household_no` (in `village_code`):
    naming that household when the actor's scope covers it, else ID_REGISTERED_OUT_OF_SCOPE."""
    if not scope_for(actor).covers_region(village_code):
        return ID_REGISTERED_OUT_OF_SCOPE
    if as_head:
        return f"该身份证号已是另一户（户编号“{household_no}”）的户主。"
    return f"该身份证号已登记在另一户（户编号“{household_no}”）。"


class _Errors(dict):
    def add(self, field: str, message: str) -> None:
        self.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self:
            raise HouseholdError("invalid", "户档信息有误，请检查标出的字段。", errors=dict(self))


def _clean_choice(errors, field, value, choices, label):
    if value in (None, ""):
        return ""
    if value not in choices.values:
        errors.add(field, f"{label}“{value}”不在可选范围内：{'、'.join(choices.labels)}。")
    return value


def _clean_scalars(data: dict, *, actor, instance: Household | None, errors: _Errors) -> dict:
    """Check each given field; return the cleaned values keyed by field name."""
    out: dict = {}
    creating = instance is None
    for field in REQUIRED_ON_CREATE if creating else ():
        if data.get(field) in (None, ""):
            errors.add(field, "此项为必填项。")

    if data.get("household_no"):
        try:
            no = clean_identifier(data["household_no"], "户编号")
        except ValidationError as exc:
            errors.add("household_no", exc.messages[0])
            no = ""
        clash = Household.objects.filter(household_no=no).exclude(pk=getattr(instance, "pk", None))
        if not no:
            if "household_no" not in errors:
                errors.add("household_no", "此项为必填项。")
        elif clash.exists():
            errors.add("household_no", f"户编号“{no}”已存在。")
        out["household_no"] = no

    if data.get("village_code"):
        code = str(data["village_code"]).strip()
        village = Region.objects.filter(code=code, level=Region.Level.VILLAGE).first()
        if village is None or not can_edit_households_in(actor, code):
            errors.add("village_code", f"行政村代码“{code}”不存在或不在您的管辖范围内。")
        out["village"] = village

    if "head_name" in data:
        name = str(data.get("head_name") or "").strip()
        if not name and "head_name" not in errors:  # blanks only: not caught by the required check
            errors.add("head_name", "户主姓名不能为空。")
        out["head_name"] = name

    if data.get("head_id_number"):
        try:
            resident = parse_resident_id(str(data["head_id_number"]))
        except ValidationError as exc:
            errors.add("head_id_number", exc.messages[0])
        else:
            id_hash = pii.lookup_hash(resident.number)
            pk = getattr(instance, "pk", None)
            head_of = Household.objects.filter(head_id_hash=id_hash).exclude(pk=pk)
            head_of = head_of.values_list("household_no", "village_id").first()
            member_of = (
                Member.objects.filter(id_hash=id_hash)
                .exclude(household_id=pk)
                .values_list("household__household_no", "household__village_id")
                .first()
            )  # the head is a member too
            if head_of is not None:
                errors.add("head_id_number", id_registered_elsewhere(actor, *head_of, as_head=True))
            elif member_of is not None:
                errors.add("head_id_number", id_registered_elsewhere(actor, *member_of))
            out["head_resident"] = resident

    if "phone" in data:
        try:
            validate_phone(str(data.get("phone") or ""))
        except ValidationError as exc:
            errors.add("phone", exc.messages[0])
        out["phone"] = normalize_phone(str(data.get("phone") or ""))

    for field, label in (("member_count", "家庭人数"), ("labor_count", "劳动力人数")):
        if data.get(field) not in (None, ""):
            try:
                value = int(data[field])
            except (TypeError, ValueError):
                errors.add(field, f"{label}应为整数。")
                continue
            if value < (1 if field == "member_count" else 0) or value > 99:
                errors.add(field, f"{label}超出合理范围。")
            out[field] = value

    if "status" in data:
        out["status"] = _clean_choice(errors, "status", data["status"], HouseholdStatus, "脱贫状态")
    if "attribute" in data:
        out["attribute"] = _clean_choice(
            errors, "attribute", data["attribute"], HouseholdAttribute, "贫困户属性"
        )
    if "identification_standard" in data:
        out["identification_standard"] = _clean_choice(
            errors,
            "identification_standard",
            data["identification_standard"],
            IdentificationStandard,
            "识别标准",
        )

    if "poverty_causes" in data:
        causes = data.get("poverty_causes") or []
        if not isinstance(causes, list | tuple):
            errors.add("poverty_causes", "致贫原因应为列表。")
            causes = []
        unknown = [c for c in causes if c not in PovertyCause.values]
        if unknown:
            errors.add("poverty_causes", f"未知的致贫原因：{'、'.join(map(str, unknown))}。")
        out["poverty_causes"] = list(dict.fromkeys(c for c in causes if c in PovertyCause.values))

    if "per_capita_income" in data:
        raw = data.get("per_capita_income")
        if raw in (None, ""):
            out["per_capita_income"] = None
        else:
            try:
                income = Decimal(str(raw))
            except InvalidOperation:
                errors.add("per_capita_income", "人均纯收入应为数字。")
            else:
                if not income.is_finite() or income < 0 or income >= Decimal("1e10"):
                    errors.add("per_capita_income", "人均纯收入不能为负数或过大。")
                else:
                    out["per_capita_income"] = income.quantize(Decimal("0.01"))

    if "bank_name" in data:
        out["bank_name"] = str(data.get("bank_name") or "").strip()
    if "bank_account" in data:
        account = normalize_phone(str(data.get("bank_account") or "")).replace("-", "")
        if account and not _ACCOUNT.match(account):
            errors.add("bank_account", "银行账号应为10到30位数字。")
        out["bank_account"] = account
    return out


def _clean_members(
    raw_members, *, actor, head_resident, household: Household | None, errors: _Errors
) -> list[dict]:
    if not isinstance(raw_members, list | tuple) or not raw_members:
        errors.add("members", "家庭成员应为非空列表。")
        return []
    cleaned, seen = [], set()
    for index, raw in enumerate(raw_members, start=1):
        label = f"第{index}位成员"
        name = str(raw.get("name") or "").strip()
        relation = str(raw.get("relation") or "").strip()
        if not name:
            errors.add("members", f"{label}：姓名不能为空。")
        if not relation:
            errors.add("members", f"{label}：与户主关系不能为空。")
        try:
            resident = parse_resident_id(str(raw.get("id_number") or ""))
            check_gender(resident, raw.get("gender") or "")
        except ValidationError as exc:
            errors.add("members", f"{label}：{exc.messages[0]}")
            continue
        if resident.number in seen:
            errors.add("members", f"{label}：身份证号在本户中重复。")
        seen.add(resident.number)
        other = Member.objects.filter(id_hash=pii.lookup_hash(resident.number))
        if household is not None:
            other = other.exclude(household=household)
        other = other.values_list("household__household_no", "household__village_id").first()
        if other is not None:
            errors.add("members", f"{label}：{id_registered_elsewhere(actor, *other)}")
        cleaned.append(
            {
                "name": name,
                "relation": relation,
                "resident": resident,
                "labor_capable": bool(raw.get("labor_capable")),
            }
        )
    heads = [m for m in cleaned if m["relation"] == HEAD_RELATION]
    if len(heads) != 1:
        errors.add("members", f"每户须有且只有一位“{HEAD_RELATION}”，当前有{len(heads)}位。")
    elif head_resident is not None and heads[0]["resident"].number != head_resident.number:
        errors.add("members", "户主成员的身份证号须与户主身份证号一致。")
    return cleaned


def _apply(household: Household, values: dict) -> None:
    for field in (
        "household_no", "village", "head_name", "phone", "member_count", "labor_count", "status", "attribute",
        "identification_standard", "poverty_causes", "per_capita_income", "bank_name",
    ):  # fmt: skip
        if field in values:
            setattr(household, field, values[field])
    if "head_resident" in values:
        number = values["head_resident"].number
        household.head_id_enc = pii.encrypt(number)
        household.head_id_hash = pii.lookup_hash(number)
        household.head_id_masked = pii.mask(number)
    if "bank_account" in values:
        account = values["bank_account"]
        household.bank_account_enc = pii.encrypt(account)
        household.bank_account_hash = pii.lookup_hash(account)
        household.bank_account_masked = pii.mask_account(account)


def member_instance(
    *, household: Household, name: str, relation: str, resident, labor_capable: bool
) -> Member:
    """An unsaved member row with its ID number encrypted, hashed and masked."""
    return Member(
        household=household,
        name=name,
        relation=relation,
        id_enc=pii.encrypt(resident.number),
        id_hash=pii.lookup_hash(resident.number),
        id_masked=pii.mask(resident.number),
        gender=resident.gender,
        birth_date=resident.birth_date,
        labor_capable=labor_capable,
    )


def _replace_members(household: Household, members: list[dict]) -> None:
    household.members.all().delete()
    Member.objects.bulk_create([member_instance(household=household, **m) for m in members])


def _head_as_member(household: Household, resident, labor_capable: bool = True) -> dict:
    return {
        "name": household.head_name,
        "relation": HEAD_RELATION,
        "resident": resident,
        "labor_capable": labor_capable,
    }


@transaction.atomic
def household_create(*, actor, data: dict) -> Household:
    if not can_create_households(actor):  # may read households (the city, a bank), not file them
        raise Forbidden("您没有新建户档的权限。")
    errors = _Errors()
    values = _clean_scalars(data, actor=actor, instance=None, errors=errors)
    members = None
    if data.get("members"):
        members = _clean_members(
            data["members"],
            actor=actor,
            head_resident=values.get("head_resident"),
            household=None,
            errors=errors,
        )
    _check_counts(values, members, errors, instance=None)
    errors.raise_if_any()

    household = Household()
    _apply(household, values)
    if members:
        household.member_count = values.get("member_count", len(members))
        household.labor_count = values.get("labor_count", sum(m["labor_capable"] for m in members))
    household._history_user = actor
    household.save()
    _replace_members(household, members or [_head_as_member(household, values["head_resident"])])
    return household


@transaction.atomic
def household_update(*, actor, household: Household, data: dict) -> Household:
    household = Household.objects.select_for_update().get(pk=household.pk)
    if not can_edit_households_in(actor, household.village_id):
        raise Forbidden("您没有修改该户档案的权限。")
    errors = _Errors()
    values = _clean_scalars(data, actor=actor, instance=household, errors=errors)
    members = None
    if data.get("members") is not None:
        head = values.get("head_resident") or parse_resident_id(pii.decrypt(household.head_id_enc))
        members = _clean_members(
            data["members"], actor=actor, head_resident=head, household=household, errors=errors
        )
    elif "head_resident" in values:
        other = household.members.exclude(relation=HEAD_RELATION)
        if other.filter(id_hash=pii.lookup_hash(values["head_resident"].number)).exists():
            errors.add("head_id_number", "该身份证号是本户另一成员；更换户主请同时提交家庭成员名单。")
    _check_counts(values, members, errors, instance=household)
    errors.raise_if_any()

    _apply(household, values)
    household._history_user = actor
    household.save()
    if members is not None:
        _replace_members(household, members)
    elif "head_resident" in values or "head_name" in values:
        _sync_head_member(household, values)
    return household


def _check_counts(values: dict, members, errors: _Errors, *, instance: Household | None) -> None:
    member_count = values.get(
        "member_count", len(members) if members else getattr(instance, "member_count", 1)
    )
    labor_count = values.get("labor_count", getattr(instance, "labor_count", 0))
    if labor_count > member_count:
        errors.add("labor_count", "劳动力人数不能多于家庭人数。")


def _sync_head_member(household: Household, values: dict) -> None:
    """Keep the head's member row equal to the household's head fields."""
    head = household.members.filter(relation=HEAD_RELATION).first()
    if head is None:
        return
    head.name = household.head_name
    if "head_resident" in values:
        resident = values["head_resident"]
        updated = member_instance(
            household=household, name=head.name, relation=head.relation, resident=resident,
            labor_capable=head.labor_capable,
        )  # fmt: skip
        for field in ("id_enc", "id_hash", "id_masked", "gender", "birth_date"):
            setattr(head, field, getattr(updated, field))
    head.save()


def household_reveal_pii(
    *, actor, household: Household, channel: str = "api", ip_address: str | None = None
) -> dict:
    """The full ID and account numbers, for roles that need them; every call is logged."""
    if not can_view_full_pii(actor, household):
        raise Forbidden("您的角色不能查看完整的身份证号和银行账号。")
    PiiAccessLog.objects.create(
        user=actor,
        household=household,
        fields="head_id_number,bank_account",
        channel=channel,
        ip_address=ip_address,
    )
    return {
        "head_id_number": pii.decrypt(household.head_id_enc),
        "bank_account": pii.decrypt(household.bank_account_enc),
    }
