"""One workflow engine for every object that moves through states: loans, ratings, subsidy batches,
compensation claims and circuit breakers.

Each object type declares its table once, as a `Workflow` subclass: per action the states it
starts from, the state it ends in, the roles that may take it, whether it is a checker's step
(maker-checker: nobody checks what they worked on), whether a reason is required, and the names
of the guards (business rules) that must pass. `Workflow.run` is the only way a state changes:
in one transaction it locks the row, reads it again, checks role, state and maker-checker, runs
the guards, applies the step's change, saves, and writes the object's own event and one audit
entry. `Workflow.actions_for` answers "what may this user do now" for pages and the API from the
same checks, so a button is never shown for a step the service would refuse.

A path that commits money (API, page, bulk action, import row, job) calls the app's service,
which calls `run`: no path can skip a guard the table lists. tests/test_control_matrix.py is
built from these tables and fails when a step's guard has no refusal case.
"""

import datetime
import importlib
import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from django.apps import apps
from django.db import IntegrityError, transaction

from .audit import audit_record
from .clock import today
from .errors import ApplicationError, Forbidden


class Refusal(NamedTuple):
    """A rule the object breaks: the API's refusal code and a Chinese message saying what to do."""

    code: str
    message: str


@dataclass(frozen=True)
class Step:
    sources: tuple[str, ...]
    target: str | None  # None: the state does not change (an extension, a renewal)
    roles: tuple[str, ...]
    label: str
    checker: bool = False  # maker-checker: refused to anyone who worked on the object before
    reason: bool = False  # a reason (comment) is required
    guards: tuple[str, ...] = ()  # names in the workflow's `guards`, run in this order


# A guard: (workflow, object, context) -> the refusals it finds (empty: it passes).
Guard = Callable[["Workflow", Any, "Context"], list[Refusal]]


@dataclass
class Context:
    """What a guard may need beyond the object: who acts, the business date the step happens on
    (today, or the disbursement date), and the step's own inputs (e.g. a write-off reason)."""

    actor: Any
    action: str
    on: datetime.date
    inputs: dict


class Workflow:
    """Subclass per object type; the class attributes are its table."""

    obj_type: ClassVar[str]  # the audit trail's object type
    model: ClassVar[Any]
    steps: ClassVar[dict[str, Step]]
    guards: ClassVar[dict[str, Guard]] = {}
    error: ClassVar[type[ApplicationError]] = ApplicationError
    state_field: ClassVar[str] = "status"
    reason_limit: ClassVar[int] = 500
    # Refusal messages: who may not do the step, and the state it cannot start from.
    forbidden_text: ClassVar[str] = "您的角色不能执行“{label}”。"
    state_text: ClassVar[str] = "当前为“{state}”，不能执行“{label}”。"
    checker_text: ClassVar[str] = "须由他人办理：您已参与该事项。"
    # The refusal codes of the state and maker-checker checks (an app may keep its API's names).
    state_code: ClassVar[str] = "invalid_transition"
    checker_code: ClassVar[str] = "same_person_checker"

    # --- what each object type supplies -------------------------------------------------------

    def lock(self, obj):
        """The row again, locked for the rest of the transaction."""
        return self.model.objects.select_for_update(of=("self",)).get(pk=obj.pk)

    def holds_role(self, user, obj, role: str) -> bool:
        raise NotImplementedError

    def step_roles(self, obj, action: str, step: Step) -> tuple[str, ...]:
        """The roles that may take `action` on `obj` now (a step taken by whoever reviews the
        current state narrows this)."""
        return step.roles

    def worked_on(self, obj, user, action: str) -> bool:
        """Maker-checker: did the user do the work that `action` checks (make, submit or check
        the object before)?"""
        raise NotImplementedError

    def integrity_refusal(self, obj, exc: IntegrityError) -> Refusal | None:
        """A database constraint the save broke, as the refusal it stands for (None: a bug)."""
        return None

    def subject(self, obj) -> dict:
        """The audit trail's obj_type, obj_id, label and region for the object."""
        raise NotImplementedError

    def write_event(self, obj, *, action: str, actor, from_state: str, to_state: str, comment: str) -> None:
        """The object's own timeline row, if it keeps one (written here, so there is one path)."""

    def audit_detail(self, obj, *, action: str, comment: str, detail: dict | None) -> dict | None:
        merged = dict(detail or {})
        if comment:
            merged["comment"] = comment[:200]
        return merged or None

    # --- the engine ----------------------------------------------------------------------------

    def state_of(self, obj) -> str:
        return getattr(obj, self.state_field)

    def state_label(self, obj) -> str:
        return getattr(obj, f"get_{self.state_field}_display")()

    def step(self, action: str) -> Step:
        step = self.steps.get(action)
        if step is None:
            raise self.error("invalid_transition", f"未知操作“{action}”。")
        return step

    def check(self, actor, obj, action: str) -> Step:
        """Role, state and maker-checker; raises Forbidden (403) or the app's error."""
        step = self.step(action)
        if not any(self.holds_role(actor, obj, role) for role in self.step_roles(obj, action, step)):
            raise Forbidden(self.forbidden_text.format(label=step.label))
        if self.state_of(obj) not in step.sources:
            raise self.error(
                self.state_code, self.state_text.format(state=self.state_label(obj), label=step.label)
            )
        if step.checker and self.worked_on(obj, actor, action):
            raise self.error(self.checker_code, self.checker_text)
        return step

    def actions_for(self, user, obj) -> list[str]:
        """The actions the user may take on the object now (role, state, maker-checker); a guard
        may still refuse when the step is taken."""
        allowed = []
        for action, step in self.steps.items():
            if self.state_of(obj) not in step.sources:
                continue
            try:
                self.check(user, obj, action)
            except ApplicationError:
                continue
            allowed.append(action)
        return allowed

    def refusals(
        self, obj, *, actor, action: str, on: datetime.date, inputs: dict | None = None
    ) -> list[Refusal]:
        """Every refusal of the step's guards, in the table's order (nothing is written)."""
        context = Context(actor=actor, action=action, on=on, inputs=inputs or {})
        found: list[Refusal] = []
        for name in self.step(action).guards:
            found += self.guards[name](self, obj, context)
        return found

    def raise_refusals(self, found: Iterable[Refusal]) -> None:
        found = list(found)
        if found:
            raise self.error(
                found[0].code, found[0].message,
                {"refusals": [{"code": r.code, "detail": r.message} for r in found]},
            )  # fmt: skip

    def run(
        self, *, actor, obj, action: str, comment: str = "", on: datetime.date | None = None,
        inputs: dict | None = None, change: Callable[[Any], str | None] | None = None, detail: dict | None = None,
    ):  # fmt: skip
        """Take `action` on `obj`: lock, check, guard, change, save, record; all or nothing.
        `change(obj)` makes the step's own writes (a schedule, a date) after every check passed;
        the text it may return is recorded as the step's comment (it can name what it made)."""
        with transaction.atomic():
            obj = self.lock(obj)
            step = self.check(actor, obj, action)
            comment = (comment or "").strip()
            if step.reason and not comment:
                raise self.error("reason_required", f"{step.label}须填写原因。", {"reason": ["请填写原因。"]})
            if len(comment) > self.reason_limit:  # refused, not cut short
                raise self.error(
                    "invalid", f"原因或说明不能超过{self.reason_limit}个字。",
                    {"reason": [f"不能超过{self.reason_limit}个字。"]},
                )  # fmt: skip
            self.raise_refusals(
                self.refusals(obj, actor=actor, action=action, on=on or today(), inputs=inputs)
            )
            previous = self.state_of(obj)
            if change is not None:
                comment = change(obj) or comment
            target = previous if step.target is None else step.target
            setattr(obj, self.state_field, target)
            try:
                with transaction.atomic():
                    obj.save()
            except IntegrityError as exc:  # a race the guards' queries could not see
                refusal = self.integrity_refusal(obj, exc)
                if refusal is None:
                    raise
                self.raise_refusals([refusal])
            self.record(obj, action=action, actor=actor, from_state=previous, to_state=target, comment=comment,
                        detail=detail)  # fmt: skip
        return obj

    def record(self, obj, *, action: str, actor, from_state: str, to_state: str, comment: str = "",
               detail: dict | None = None) -> None:  # fmt: skip
        """The object's event and its one audit entry, in the caller's transaction. Services call
        it directly only for what is not a step of the table (creation, a repayment's closing)."""
        self.write_event(
            obj, action=action, actor=actor, from_state=from_state, to_state=to_state, comment=comment
        )
        audit_record(
            actor=actor, action=action, **self.subject(obj), from_state=from_state, to_state=to_state,
            detail=self.audit_detail(obj, action=action, comment=comment, detail=detail),
        )  # fmt: skip


def all_workflows() -> list[Workflow]:
    """Every workflow of the project, for the control-matrix test and the docs: the subclasses of
    Workflow in the apps' services modules (imported here, so none is missed for not being loaded)."""
    for config in apps.get_app_configs():
        if importlib.util.find_spec(f"{config.name}.services") is not None:
            importlib.import_module(f"{config.name}.services")
    return [cls() for cls in _subclasses(Workflow)]


def _subclasses(cls) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        if getattr(sub, "steps", None):
            found.append(sub)
        found += _subclasses(sub)
    return found
