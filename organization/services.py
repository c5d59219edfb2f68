"""Writes to the organization app: users and their roles, policy rows."""

import datetime

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from common.clock import today
from common.errors import ApplicationError, Forbidden

from .models import ROLE_UNIT_KIND, BankBranch, CountyPolicy, Region, Role, RoleAssignment, ServiceUnit, User
from .scoping import has_role_over, is_admin
from .selectors import policy_for


class OrganizationError(ApplicationError):
    pass


def _unit_for(role: str, region_code: str | None) -> ServiceUnit:
    unit = ServiceUnit.objects.filter(region_id=region_code or "").select_related("region").first()
    if unit is None or unit.kind != ROLE_UNIT_KIND[role]:
        raise OrganizationError(
            "invalid",
            f"区划“{region_code}”下没有可挂靠{Role(role).label}的服务机构。",
            {"roles": ["区划代码不正确。"]},
        )
    return unit


def _branch_of_bank(bank_code: str | None, region_code: str | None) -> BankBranch | None:
    """A bank's code, as /banks/ and /me/ show it, picks the bank's branch serving region_code's
    county, or the bank's only branch; None when that is not exactly one branch."""
    branches = BankBranch.objects.filter(bank__code=bank_code or "")
    if region_code:
        branches = branches.filter(counties__code=region_code[:6])
    found = list(branches.distinct()[:2])
    return found[0] if len(found) == 1 else None


@transaction.atomic
def user_create(*, actor, username: str, password: str, roles: list[dict], full_name: str = "") -> User:
    """Admin provisioning: a user with one or more roles, each at its org unit."""
    if not is_admin(actor):
        raise Forbidden("只有系统管理员可以创建用户。")
    try:  # the admin's form checks the same: no spaces, markup or invisible characters in a login name
        User.username_validator(username)
    except ValidationError:
        message = "用户名只能由字母、数字和 @ . + - _ 组成。"
        raise OrganizationError("invalid", message, {"username": [message]}) from None
    if User.objects.filter(username=username).exists():
        raise OrganizationError("invalid", f"用户名“{username}”已存在。", {"username": ["用户名已存在。"]})
    user = User(username=username, full_name=full_name)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise OrganizationError("invalid", "密码不符合要求。", {"password": exc.messages}) from None
    if not roles:
        raise OrganizationError("invalid", "至少需要一个角色。", {"roles": ["至少需要一个角色。"]})
    user.set_password(password)
    user.save()
    for spec in roles:
        role_assign(
            user=user,
            role=spec.get("role"),
            region_code=spec.get("region_code"),
            bank_code=spec.get("bank_code"),
        )
    return user


def role_assign(
    *, user: User, role: str, region_code: str | None = None, bank_code: str | None = None
) -> RoleAssignment:
    if role not in Role.values:
        raise OrganizationError("invalid", f"未知角色“{role}”。", {"roles": [f"未知角色“{role}”。"]})
    if role == Role.ADMIN:
        assignment = RoleAssignment(user=user, role=role)
    elif role == Role.BANK_OFFICER:
        branch = BankBranch.objects.filter(code=bank_code or "").first() or _branch_of_bank(
            bank_code, region_code
        )
        if branch is None:
            raise OrganizationError(
                "invalid", f"银行网点“{bank_code}”不存在。", {"roles": ["银行网点代码不正确。"]}
            )
        assignment = RoleAssignment(user=user, role=role, branch=branch)
    else:
        assignment = RoleAssignment(user=user, role=role, unit=_unit_for(role, region_code))
    assignment.full_clean()
    assignment.save()
    return assignment


@transaction.atomic
def policy_create(*, actor, county: Region, effective_from: datetime.date, changes: dict) -> CountyPolicy:
    """A new dated row: the given fields change, the others copy the row in force that day.
    Rows already in force are never edited, so a new row must start after today."""
    if not (is_admin(actor) or has_role_over(actor, county.code, (Role.COUNTY_STAFF,))):
        raise Forbidden("只有本县工作人员或系统管理员可以调整政策参数。")
    if effective_from <= today():
        raise OrganizationError("invalid", "新政策只能从明天或以后生效；已生效的政策不能修改。",
                                {"effective_from": ["生效日期须晚于今天。"]})  # fmt: skip
    if CountyPolicy.objects.filter(county=county, effective_from=effective_from).exists():
        raise OrganizationError(
            "invalid", "该日期已有一条政策。", {"effective_from": ["该日期已有一条政策。"]}
        )
    unknown = set(changes) - set(CountyPolicy.POLICY_FIELDS)
    if unknown:
        raise OrganizationError("invalid", f"未知的政策字段：{'、'.join(sorted(unknown))}。")
    base = policy_for(county, on=effective_from)
    row = CountyPolicy(county=county, effective_from=effective_from, created_by=actor)
    for field in CountyPolicy.POLICY_FIELDS:
        setattr(row, field, changes.get(field, getattr(base, field)))
    try:
        row.full_clean()
    except ValidationError as exc:
        raise OrganizationError("invalid", "政策参数有误。", exc.message_dict) from None
    row.save()
    return row
