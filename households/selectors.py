"""Reads of the household file, always scoped to the user."""

import datetime

from django.db.models import Q, QuerySet
from django.http import Http404

from common.identity import search_term
from organization.models import code_prefix
from organization.scoping import area_q

from .models import Household, Member, PovertyCause


def household_list(*, user, filters: dict | None = None) -> QuerySet[Household]:
    """filters: region (a code; its subtree), status, q (head name or 户编号, prefix match)."""
    filters = filters or {}
    qs = Household.objects.filter(area_q(user, "village__code")).select_related("village")
    if filters.get("region"):
        qs = qs.filter(village__code__startswith=code_prefix(filters["region"]))
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("q"):
        term = search_term(filters["q"])
        qs = qs.filter(Q(head_name__startswith=term) | Q(household_no__startswith=term))
    return qs.order_by("village_id", "household_no")


def household_get_for_user(*, user, pk) -> Household:
    """The household if the user may see it; 404 for out-of-scope and missing alike."""
    try:
        return (
            Household.objects.filter(area_q(user, "village__code"))
            .select_related("village__parent__parent")
            .prefetch_related("members")
            .get(pk=pk)
        )
    except (Household.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


# --- the history of changes (who, when, old and new values) -------------------------------------

# Household fields shown in the history, in this order; hashes and timestamps are left out (the
# masked numbers say enough: a changed ID or account number shows as a changed mask).
HISTORY_FIELDS = (
    "household_no", "village", "head_name", "head_id_masked", "phone", "member_count", "labor_count",
    "status", "attribute", "identification_standard", "poverty_causes", "per_capita_income",
    "bank_name", "bank_account_masked",
)  # fmt: skip
MEMBER_HISTORY_FIELDS = ("name", "relation", "id_masked", "gender", "birth_date", "labor_capable")
BIRTH_DATE_LABEL = str(Member._meta.get_field("birth_date").verbose_name)
# A member's history row belongs to the household's row written in the same save or import (the
# importer gives both one timestamp; a form's save writes them a moment apart).
MEMBER_ROW_SLACK = datetime.timedelta(seconds=5)


def _shown(model, name: str, value) -> str:
    if value is None or value == "" or value == []:
        return "（空）"
    if name == "poverty_causes":
        labels = dict(PovertyCause.choices)
        return "、".join(labels.get(code, code) for code in value)
    if isinstance(value, bool):
        return "有" if value else "无"
    field = model._meta.get_field(name)
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    return str(value)


def _field_changes(model, new, old, names) -> list[dict]:
    """[{"field", "old", "new"}] for the fields that differ between two history rows."""
    changes = []
    for name in names:
        attname = model._meta.get_field(name).attname
        before, after = getattr(old, attname), getattr(new, attname)
        if before != after:
            changes.append(
                {
                    "field": str(model._meta.get_field(name).verbose_name),
                    "old": _shown(model, name, before),
                    "new": _shown(model, name, after),
                }
            )
    return changes


def household_history(*, household: Household, full_pii: bool = False, limit: int = 20) -> list[dict]:
    """The household's latest history rows, newest first, each with what changed:
    [{"record": history row, "changes": [{"field", "old", "new"}], "members": [text]}].
    Old values come from the row before (one more is read for the oldest shown); member changes
    (added, removed, or fields changed) are listed on the household row they were written with.
    full_pii: may the reader see full numbers (can_view_full_pii)? If not, a changed birth date
    says that it changed, not its values (they are the digits the ID mask hides)."""
    rows = list(household.history.select_related("history_user")[: limit + 1])
    shown = rows[:limit]
    entries = []
    for index, record in enumerate(shown):
        previous = rows[index + 1] if index + 1 < len(rows) else None
        changes = []
        if record.history_type == "~" and previous is not None:
            changes = _field_changes(Household, record, previous, HISTORY_FIELDS)
        entries.append({"record": record, "changes": changes, "members": []})
    if not shown:
        return entries

    oldest = shown[-1].history_date - MEMBER_ROW_SLACK
    member_rows = list(
        Member.history.filter(household_id=household.pk).order_by("id", "history_date", "history_id")
    )
    last_of: dict[int, object] = {}
    for row in member_rows:
        before = last_of.get(row.id)
        last_of[row.id] = row
        if row.history_date < oldest:
            continue
        entry = min(
            (e for e in entries if abs(e["record"].history_date - row.history_date) <= MEMBER_ROW_SLACK),
            key=lambda e: abs(e["record"].history_date - row.history_date),
            default=None,
        )
        if entry is None or entry["record"].history_type == "+":
            continue  # the members a household was created with are its members table
        if row.history_type == "+":
            entry["members"].append(f"新增成员 {row.name}（{row.relation}）")
        elif row.history_type == "-":
            entry["members"].append(f"移除成员 {row.name}（{row.relation}）")
        elif before is not None:
            for change in _field_changes(Member, row, before, MEMBER_HISTORY_FIELDS):
                if change["field"] == BIRTH_DATE_LABEL and not full_pii:
                    entry["members"].append(f"成员 {row.name}：{change['field']} 已更改")
                else:
                    entry["members"].append(
                        f"成员 {row.name}：{change['field']} {change['old']} → {change['new']}"
                    )
    return entries
