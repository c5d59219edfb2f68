"""The audit trail (审计记录): every state change of a rating, loan, subsidy batch, fund ledger row,
claim or circuit breaker, with the actor and the time, appended in the transaction of the service
that made the change. Entries are never changed or deleted (common.models.AuditEntry).

- audit_record: one entry, for a service's single transition;
- audit_entry + audit_record_many: entries built in memory and inserted in batches, for the bulk
  writers (batch pre-rating, the breakers' trips, the demo data);
- audit_insert_select: entries computed by the database from a queryset in one SELECT, for
  set-based jobs over many rows (the daily classification); the rows then come through Python
  only to be hashed into the chain, and go back in batches of a thousand.

Every writer chains its entries (common.models.AuditEntry.hash): under a lock on the chain's head
row, each entry gets SHA-256(previous hash + its canonical content), in id order, and the head
moves on; `manage.py verify_audit_chain` walks the chain. A live entry's time is the database's
clock (PostgreSQL's clock_timestamp(), read under that lock, so times follow the chain's order).

The subject of an entry (obj_type, obj_id, label, region) comes from a small `*_subject(obj)`
helper in each app's services, so its services and its demo data describe an object alike.
"""

import datetime
import hashlib
import json
from collections.abc import Iterable
from functools import cache
from typing import NamedTuple

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, transaction
from django.db.models import CharField, Expression, IntegerField, QuerySet, Value
from django.db.models.functions import Cast

from .bulk import insert_rows
from .clock import now
from .models import SYSTEM_ACTOR, AuditChainHead, AuditEntry


class Entry(NamedTuple):
    """An entry not written yet: AuditEntry's columns in the order audit_record_many inserts them
    (a tuple costs a tenth of a model instance, and the demo data makes a hundred thousand)."""

    at: datetime.datetime | None  # None: now, by the database's clock, when written
    actor_id: int | None
    actor_name: str
    action: str
    object_type: str
    object_id: str
    object_label: str
    region: str
    from_state: str
    to_state: str
    detail: dict


JSON_NATIVE = (str, int, bool, type(None))


def actor_name(actor) -> str:
    """The name the trail keeps for the actor (it stays as it was, whatever the user becomes)."""
    return SYSTEM_ACTOR if actor is None else str(actor)[:150]


def _plain(detail: dict | None) -> dict:
    """The detail as plain JSON (Decimal and dates as strings), so every writer stores it alike;
    most details are strings and numbers already and need no round trip."""
    if not detail:
        return {}
    if all(isinstance(value, JSON_NATIVE) for value in detail.values()):
        return detail
    return json.loads(json.dumps(detail, cls=DjangoJSONEncoder, ensure_ascii=False))


def audit_entry(
    *, actor, action: str, obj_type: str, obj_id, label: str, region: str, from_state: str = "",
    to_state: str = "", detail: dict | None = None, at=None,
) -> Entry:  # fmt: skip
    """An entry to write. `at` defaults to the time it is written (the database's clock); only
    history written after the fact (the demo data) passes the time the change happened."""
    return Entry(
        at, actor.pk if actor else None, actor_name(actor), action[:30], obj_type, str(obj_id)[:40],
        (label or "")[:100], region or "", from_state or "", to_state or "", _plain(detail),
    )  # fmt: skip


# --- the hash chain ------------------------------------------------------------------------------

HASHED = Entry._fields  # the columns an entry's hash covers, in this order


def _canonical_time(at: datetime.datetime) -> str:
    return at.astimezone(datetime.UTC).isoformat(timespec="microseconds")


def entry_hash(previous: str, row: tuple) -> str:
    """SHA-256 (hex) of the previous entry's hash and this entry's content (`row`: the HASHED
    columns, as stored): compact JSON with sorted keys, times in UTC to the microsecond."""
    at, *rest = row
    content = json.dumps(
        [_canonical_time(at), *rest], ensure_ascii=False, sort_keys=True, separators=(",", ":"),
        cls=DjangoJSONEncoder,
    )  # fmt: skip
    return hashlib.sha256((previous + content).encode()).hexdigest()


def _database_now(using: str) -> datetime.datetime:
    """Now by the database's clock on PostgreSQL; SQLite (development, tests) shares the
    application's clock, common.clock.now (which tests may move)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def _lock_head(using: str) -> AuditChainHead:
    """The chain's head, locked until the transaction ends (created if a test flush removed it)."""
    head = AuditChainHead.objects.using(using).select_for_update().filter(pk=1).first()
    return head or AuditChainHead.objects.using(using).create(pk=1)


def _chain(rows: list[Entry], using: str) -> AuditEntry | None:
    """Append `rows` to the trail, chained: lock the head, give live entries the database's time,
    hash each entry on the previous one, insert them in that order and move the head. Returns the
    entry when there is just one."""
    if not rows:
        return None
    with transaction.atomic(using=using):
        head = _lock_head(using)
        live = None
        chained, previous = [], head.last_hash
        for row in rows:
            if row.at is None:
                live = live or _database_now(using)
                row = row._replace(at=live)
            previous = entry_hash(previous, row)
            chained.append((*row, previous))
        entry = None
        if len(chained) == 1:
            entry = AuditEntry(**dict(zip([*Entry._fields, "hash"], chained[0], strict=True)))
            entry.save(using=using)
            last_id = entry.pk
        else:
            insert_rows(AuditEntry, [*Entry._fields, "hash"], chained)
            last_id = AuditEntry.objects.using(using).order_by("-id").values_list("id", flat=True).first()
        head.last_id, head.last_hash = last_id, previous
        head.save(using=using, update_fields=["last_id", "last_hash"])
    return entry


def audit_record(**fields) -> AuditEntry:
    """Append one entry (audit_entry's keywords); call it inside the service's transaction."""
    return _chain([audit_entry(**fields)], "default")


def audit_record_many(entries: Iterable[Entry]) -> int:
    """Append entries made by audit_entry, up to a thousand a statement (common.bulk: no per-object
    ORM work, which would cost more than the database does for the demo's tens of thousands)."""
    rows = list(entries)
    _chain(rows, "default")
    return len(rows)


def audit_insert_select(
    queryset: QuerySet, *, action: str, obj_type: str, obj_id: Expression, label: Expression,
    region: Expression, from_state: Expression, to_state: Expression, detail: Expression, actor=None,
) -> int:  # fmt: skip
    """One entry per row of `queryset`, computed by the database (a SELECT of the given expressions
    over the queryset's model), then hashed into the chain and inserted in batches. The rows come
    through Python for the hash (60,000, the daily job at a million loans: 3.6 s on a busy 2-core
    development machine with PostgreSQL, hashing 0.4 s of it)."""
    constants = {
        # A typed NULL: PostgreSQL reads a bare NULL in a SELECT list as text.
        "actor_id": Cast(Value(actor.pk if actor else None), IntegerField()),
        "actor_name": Value(actor_name(actor), output_field=CharField()),
        "action": Value(action, output_field=CharField()),
        "object_type": Value(obj_type, output_field=CharField()),
    }
    computed = {"object_id": Cast(obj_id, CharField()), "object_label": label, "region": region,
                "from_state": from_state, "to_state": to_state, "detail": detail}  # fmt: skip
    select = queryset.order_by().values(
        **{f"audit_{name}": e for name, e in {**constants, **computed}.items()}
    )
    compiler = select.query.get_compiler(queryset.db)
    sql, params = compiler.as_sql()
    # The SELECT's columns in the order the compiler wrote them, whatever order values() keeps.
    columns = [alias.removeprefix("audit_") for _, _, alias in compiler.select]
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    rows = []
    for values in fetched:
        fields = dict(zip(columns, values, strict=True))
        if isinstance(fields["detail"], str | bytes):
            fields["detail"] = json.loads(fields["detail"])
        rows.append(Entry(at=None, **fields))
    _chain(rows, queryset.db)
    return len(rows)


def audit_trail(*, obj_type: str, obj_id) -> QuerySet[AuditEntry]:
    """One object's entries, oldest first (the index on object type, id and time answers it)."""
    return AuditEntry.objects.filter(object_type=obj_type, object_id=str(obj_id)).order_by("at", "id")


# --- labels for people reading the trail (the admin page) ------------------------------------------

# The actions the apps write, in Chinese. An action missing here is shown as its code.
ACTION_LABELS = {
    "create": "创建", "prerate": "批量预评级", "rescore": "重新评分", "submit": "提交", "review": "审核",
    "township-review": "乡镇审核", "county-recommend": "县级推荐", "approve": "审批通过", "reject": "退回",
    "withdraw": "撤回", "supersede": "被新评级替代", "disburse": "放款", "extend": "展期", "renew": "续贷",
    "repay": "还款", "close": "结清", "classify": "五级分类", "post-loan-check": "贷后检查",
    "freeze": "冻结授信", "lift": "解除冻结", "deposit": "存入", "payout": "代偿支出", "recovery": "追偿收回",
    "file": "提出代偿申请", "verify": "核实", "pay": "拨付", "mark-paid": "确认拨付", "trip": "熔断",
    "resume": "恢复放贷", "write-off": "核销", "propose": "提出", "pot-payout": "贴息资金支出",
    "change": "修改", "delete": "删除", "assign": "分配角色", "unassign": "撤销角色",
}  # fmt: skip

# The model behind each object type, whose status/state/classification choices name its states.
OBJECT_MODELS = {
    "loan": "loans.Loan", "breaker": "loans.Breaker", "rating": "credit_rating.Rating",
    "credit_freeze": "credit_rating.CreditLineFreeze", "subsidy_batch": "subsidy.SettlementBatch",
    "claim": "risk_fund.CompensationClaim", "agreement": "risk_fund.BankAgreement",
    "county_policy": "organization.CountyPolicy", "city_policy": "organization.CityPolicy",
}  # fmt: skip
STATE_FIELDS = ("status", "state", "classification")


@cache
def state_labels(obj_type: str) -> dict[str, str]:
    """The Chinese name of each state code of an object type, from its model's choices (read
    through the app registry, so common imports no app). Per type: 'approved' is 银行已审批 for a
    loan and 已审批 for a rating."""
    if obj_type not in OBJECT_MODELS:
        return {}
    model = apps.get_model(OBJECT_MODELS[obj_type])
    labels: dict[str, str] = {}
    for field in model._meta.get_fields():
        if field.name in STATE_FIELDS and getattr(field, "choices", None):
            labels.update({str(code): str(label) for code, label in field.flatchoices})
    return labels


def action_label(code: str) -> str:
    return ACTION_LABELS.get(code, code)


def state_label(obj_type: str, code: str) -> str:
    return state_labels(obj_type).get(code, code) if code else ""
