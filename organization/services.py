"""Writes to the organization app: users and their roles, and the dated policy rows of cities and
counties (maker-checker: proposed by one person, approved by a second of the same level)."""

import datetime

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from common.audit import audit_record
from common.clock import now, today
from common.errors import ApplicationError, Forbidden
from common.workflow import Refusal, Step, Workflow

from .models import (
    CITY_OWNED,
    ROLE_UNIT_KIND,
    AccessToken,
    BankBranch,
    CityPolicy,
    CountyPolicy,
    PolicyStatus,
    Region,
    Role,
    RoleAssignment,
    ServiceUnit,
    User,
)
from .scoping import has_role_over, is_admin
from .selectors import city_code_of, city_policy_for, envelope_errors, policy_for


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


def user_subject(user: User) -> dict:
    return {"obj_type": "user", "obj_id": user.pk, "label": user.username, "region": ""}


def assignment_subject(assignment: RoleAssignment) -> dict:
    """A role assignment in the trail: its user and role, scoped to the unit's region (or, for a
    bank officer, no region: a branch serves counties, not one division)."""
    region = assignment.unit.region_id if assignment.unit_id else ""
    label = f"{assignment.user.username} {assignment.get_role_display()}"
    return {"obj_type": "role_assignment", "obj_id": assignment.pk, "label": label, "region": region or ""}


def assignment_detail(assignment: RoleAssignment) -> dict:
    return {
        "user": assignment.user.username, "role": assignment.role,
        "unit": str(assignment.unit) if assignment.unit_id else "",
        "branch": assignment.branch.code if assignment.branch_id else "",
    }  # fmt: skip


def audit_user(*, actor, user: User, action: str, changed: list[str] | None = None) -> None:
    """A user created, changed (the names of the fields changed, never a password's value) or
    deleted, in the trail."""
    detail = {"full_name": user.full_name, "is_active": user.is_active, "is_staff": user.is_staff,
              "is_superuser": user.is_superuser}  # fmt: skip
    if changed is not None:
        detail["changed"] = sorted(changed)
    audit_record(actor=actor, action=action, **user_subject(user), detail=detail)


def audit_assignment(*, actor, assignment: RoleAssignment, action: str) -> None:
    audit_record(
        actor=actor, action=action, **assignment_subject(assignment), detail=assignment_detail(assignment)
    )


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
    user = User(username=username, full_name=full_name, must_change_password=True)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise OrganizationError("invalid", "密码不符合要求。", {"password": exc.messages}) from None
    if not roles:
        raise OrganizationError("invalid", "至少需要一个角色。", {"roles": ["至少需要一个角色。"]})
    user.set_password(password)
    user.save()
    audit_user(actor=actor, user=user, action="create")
    for spec in roles:
        role_assign(
            user=user,
            role=spec.get("role"),
            region_code=spec.get("region_code"),
            bank_code=spec.get("bank_code"),
            actor=actor,
        )
    return user


# --- passwords and API tokens ---------------------------------------------------------------------


def _may_manage_users(actor) -> bool:
    """Admins, and staff the Django admin lets change users."""
    return is_admin(actor) or actor.has_perm("organization.change_user")


def tokens_revoke(*, user: User, token: AccessToken | None = None) -> int:
    """Revoke one of the user's API tokens (logout) or, without `token`, all of them."""
    rows = AccessToken.objects.filter(user=user, revoked_at__isnull=True)
    if token is not None:
        rows = rows.filter(pk=token.pk)
    return rows.update(revoked_at=now())


def _check_new_password(user: User, password: str, field: str = "new_password") -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise OrganizationError("invalid", "密码不符合要求。", {field: exc.messages}) from None


@transaction.atomic
def password_change(*, user: User, old_password: str, new_password: str) -> User:
    """The user's own change: the old password must match. Ends every API token of the user."""
    if not user.check_password(old_password):
        raise OrganizationError("invalid", "原密码不正确。", {"old_password": ["原密码不正确。"]})
    if old_password == new_password:
        message = "新密码不能与原密码相同。"
        raise OrganizationError("invalid", message, {"new_password": [message]})
    _check_new_password(user, new_password)
    user.set_password(new_password)
    return password_changed(user=user)


@transaction.atomic
def password_changed(*, user: User) -> User:
    """After the user has set a new password of their own (here, or on the Django admin's own
    password page): the forced change is done and every API token of the user ends."""
    user.must_change_password = False
    user.save(update_fields=["password", "must_change_password"])
    tokens_revoke(user=user)
    audit_user(actor=user, user=user, action="password_change")
    return user


@transaction.atomic
def password_reset(*, actor, user: User, new_password: str | None = None) -> User:
    """An admin sets a user's password (new_password already set on `user` when None, as the
    admin's forms do): the user must change it at the next login; every API token ends."""
    if not _may_manage_users(actor):
        raise Forbidden("只有系统管理员可以重置密码。")
    if new_password is not None:
        _check_new_password(user, new_password, "password")
        user.set_password(new_password)
    user.must_change_password = True
    user.save(update_fields=["password", "must_change_password"])
    tokens_revoke(user=user)
    audit_user(actor=actor, user=user, action="password_reset")
    return user


@transaction.atomic
def user_deactivate(*, actor, user: User) -> User:
    """is_active=False, and every API token of the user ends."""
    if not _may_manage_users(actor):
        raise Forbidden("只有系统管理员可以停用用户。")
    user.is_active = False
    user.save(update_fields=["is_active"])
    tokens_revoke(user=user)
    audit_user(actor=actor, user=user, action="deactivate")
    return user


@transaction.atomic
def role_assign(
    *, user: User, role: str, region_code: str | None = None, bank_code: str | None = None, actor=None
) -> RoleAssignment:
    """A role for a user at its org unit, in the trail (actor None: a system script, such as the
    demo data or a bench)."""
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
    audit_assignment(actor=actor, assignment=assignment, action="assign")
    return assignment


# --- policy rows: proposed by one person, approved by a second -----------------------------------

CITY_OWNED_MESSAGE = "乡镇、村熔断不良率由市级（市财政局/金融办）设定，县级政策不能调整。"


def may_set_county_policy(user, county_code: str) -> bool:
    return is_admin(user) or has_role_over(user, county_code, (Role.COUNTY_STAFF,))


def may_set_city_policy(user, city_code: str) -> bool:
    return is_admin(user) or has_role_over(user, city_code, (Role.CITY_FINANCE,))


def _policy_subject(row: CountyPolicy | CityPolicy) -> dict:
    if isinstance(row, CityPolicy):
        return {"obj_type": "city_policy", "obj_id": row.pk, "label": str(row)[:100], "region": row.city_id}
    return {"obj_type": "county_policy", "obj_id": row.pk, "label": str(row)[:100], "region": row.county_id}


def _audit_policy(row, action: str, actor, from_status: str, detail: dict | None = None) -> None:
    audit_record(actor=actor, action=action, **_policy_subject(row), from_state=from_status,
                 to_state=row.status, detail=detail)  # fmt: skip


def _check_new_date(model, where: dict, effective_from: datetime.date) -> None:
    if effective_from <= today():
        raise OrganizationError("invalid", "新政策只能从明天或以后生效；已生效的政策不能修改。",
                                {"effective_from": ["生效日期须晚于今天。"]})  # fmt: skip
    taken = model.objects.filter(**where, effective_from=effective_from).exclude(status=PolicyStatus.REJECTED)
    if taken.exists():
        raise OrganizationError(
            "invalid", "该日期已有一条政策（已生效或待复核）。", {"effective_from": ["该日期已有一条政策。"]}
        )


def _full_clean(row) -> None:
    try:
        row.full_clean()
    except ValidationError as exc:
        raise OrganizationError("invalid", "政策参数有误。", exc.message_dict) from None


def _check_envelope(row: CountyPolicy) -> None:
    """A county's numbers must lie inside the envelope of the city row in force on the row's date;
    the refusal names the city's number (「户贷额度上限不能超过市级上限50,000元。」)."""
    city = city_policy_for(city_code_of(row.county_id), on=row.effective_from)
    errors = envelope_errors({f: getattr(row, f) for f in CountyPolicy.COUNTY_FIELDS}, city)
    if errors:
        raise OrganizationError(
            "outside_city_envelope", " ".join(m for ms in errors.values() for m in ms), errors
        )


@transaction.atomic
def policy_propose(*, actor, county: Region, effective_from: datetime.date, changes: dict) -> CountyPolicy:
    """A proposed county row: the given fields change, the others copy what is in force that day
    (policy_for). It takes effect only when a second person approves it (policy_approve). Rows
    already in force are never edited, so a new row must start after today. The breaker
    thresholds are the city's (refused); the numbers the city caps must stay inside its row."""
    if not may_set_county_policy(actor, county.code):
        raise Forbidden("只有本县工作人员或系统管理员可以调整县级政策参数。")
    owned = sorted(set(changes) & set(CITY_OWNED))
    if owned:
        raise OrganizationError("city_owned", CITY_OWNED_MESSAGE, {f: [CITY_OWNED_MESSAGE] for f in owned})
    unknown = set(changes) - set(CountyPolicy.COUNTY_FIELDS)
    if unknown:
        raise OrganizationError("invalid", f"未知的政策字段：{'、'.join(sorted(unknown))}。")
    _check_new_date(CountyPolicy, {"county": county}, effective_from)
    base = policy_for(county, on=effective_from)
    row = CountyPolicy(county=county, effective_from=effective_from, created_by=actor,
                       status=PolicyStatus.PROPOSED)  # fmt: skip
    for field in CountyPolicy.POLICY_FIELDS:
        setattr(row, field, changes.get(field, getattr(base, field)))
    _full_clean(row)
    _check_envelope(row)
    row.save()
    _audit_policy(row, "propose", actor, "", {f: changes[f] for f in sorted(changes)})
    return row


def _not_started_guard(workflow, row, context) -> list[Refusal]:
    if row.effective_from > context.on:
        return []
    return [Refusal("too_late", "生效日期已到，不能再批准；请重新提出一条以后生效的调整。")]


def _envelope_guard(workflow, row, context) -> list[Refusal]:
    """Checked again at approval against the city row then in force for the row's date."""
    try:
        _check_envelope(row)
    except OrganizationError as exc:
        return [Refusal(exc.code, exc.message)]
    return []


class CountyPolicyWorkflow(Workflow):
    """A county row proposed by one person (policy_propose), approved or rejected by a second
    person of the county (or an admin); the proposer may withdraw it (reject), never approve it."""

    obj_type = "county_policy"
    model = CountyPolicy
    steps = {
        "approve": Step((PolicyStatus.PROPOSED,), PolicyStatus.APPROVED, (Role.COUNTY_STAFF,), "批准", checker=True,
                        guards=("not_started", "envelope")),
        "reject": Step((PolicyStatus.PROPOSED,), PolicyStatus.REJECTED, (Role.COUNTY_STAFF,), "驳回"),
    }  # fmt: skip
    guards = {"not_started": _not_started_guard, "envelope": _envelope_guard}
    error = OrganizationError
    reason_limit = 200
    forbidden_text = "只有本县工作人员或系统管理员可以复核县级政策参数。"
    state_text = "该政策调整{state}，不能再复核。"
    state_code = "invalid_state"
    checker_text = "不能复核自己提出的政策调整，请由本级另一位工作人员复核。"
    checker_code = "same_person"

    def lock(self, obj):
        return self.model.objects.select_for_update().get(pk=obj.pk)

    def holds_role(self, user, obj, role):
        return may_set_county_policy(user, obj.county_id)

    def worked_on(self, obj, user, action):
        return obj.created_by_id is not None and obj.created_by_id == user.pk

    def subject(self, obj):
        return _policy_subject(obj)

    def audit_detail(self, obj, *, action, comment, detail):
        return {"reason": comment} if action == "reject" else None


class CityPolicyWorkflow(CountyPolicyWorkflow):
    """The same for a city row, reviewed by another 市财政局/金融办 user of the city (or an admin)."""

    obj_type = "city_policy"
    model = CityPolicy
    steps = {
        "approve": Step((PolicyStatus.PROPOSED,), PolicyStatus.APPROVED, (Role.CITY_FINANCE,), "批准", checker=True,
                        guards=("not_started",)),
        "reject": Step((PolicyStatus.PROPOSED,), PolicyStatus.REJECTED, (Role.CITY_FINANCE,), "驳回"),
    }  # fmt: skip
    guards = {"not_started": _not_started_guard}
    forbidden_text = "只有市财政局/金融办或系统管理员可以复核市级政策参数。"

    def holds_role(self, user, obj, role):
        return may_set_city_policy(user, obj.city_id)


COUNTY_POLICY_WORKFLOW, CITY_POLICY_WORKFLOW = CountyPolicyWorkflow(), CityPolicyWorkflow()


def _review(workflow: Workflow, *, actor, policy, action: str, reason: str = ""):
    def change(row) -> None:
        row.reviewed_by, row.reviewed_at = actor, now()
        if action == "reject":
            row.review_note = (reason or "").strip()

    return workflow.run(actor=actor, obj=policy, action=action, comment=reason if action == "reject" else "",
                        change=change)  # fmt: skip


def policy_approve(*, actor, policy: CountyPolicy) -> CountyPolicy:
    """The second person (another county staff of the county, or an admin; never the proposer)
    approves: the row is in force from its date. The envelope is checked again against the city
    row then in force."""
    return _review(COUNTY_POLICY_WORKFLOW, actor=actor, policy=policy, action="approve")


def policy_reject(*, actor, policy: CountyPolicy, reason: str = "") -> CountyPolicy:
    """Reject a proposal (the proposer may withdraw their own this way); it never takes effect."""
    return _review(COUNTY_POLICY_WORKFLOW, actor=actor, policy=policy, action="reject", reason=reason)


@transaction.atomic
def city_policy_propose(*, actor, city: Region, effective_from: datetime.date, changes: dict) -> CityPolicy:
    """A proposed city row (市财政局/金融办 or an admin): the envelope of its counties and the
    city's own numbers; the fields not given copy the row in force that day."""
    if city.level != Region.Level.CITY:
        raise OrganizationError("invalid", "市级政策只能设在市一级区划。", {"city": ["不是市级区划。"]})
    if not may_set_city_policy(actor, city.code):
        raise Forbidden("只有市财政局/金融办或系统管理员可以调整市级政策参数。")
    unknown = set(changes) - set(CityPolicy.POLICY_FIELDS)
    if unknown:
        raise OrganizationError("invalid", f"未知的政策字段：{'、'.join(sorted(unknown))}。")
    _check_new_date(CityPolicy, {"city": city}, effective_from)
    base = city_policy_for(city, on=effective_from)
    row = CityPolicy(city=city, effective_from=effective_from, created_by=actor, status=PolicyStatus.PROPOSED)
    for field in CityPolicy.POLICY_FIELDS:
        setattr(row, field, changes.get(field, getattr(base, field)))
    _full_clean(row)
    row.save()
    _audit_policy(row, "propose", actor, "", {f: changes[f] for f in sorted(changes)})
    return row


def city_policy_approve(*, actor, policy: CityPolicy) -> CityPolicy:
    """Another 市财政局/金融办 user of the city, or an admin; never the proposer."""
    return _review(CITY_POLICY_WORKFLOW, actor=actor, policy=policy, action="approve")


def city_policy_reject(*, actor, policy: CityPolicy, reason: str = "") -> CityPolicy:
    return _review(CITY_POLICY_WORKFLOW, actor=actor, policy=policy, action="reject", reason=reason)
