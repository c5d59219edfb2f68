"""The audit trail's hash chain: every writer chains its entries, and verify_audit_chain finds
the first entry changed, removed or slipped in behind the application's back. Live entries take
the database's clock."""

import datetime

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F, Value
from django.db.models.functions import JSONObject

from common.audit import HASHED, audit_entry, audit_insert_select, audit_record, audit_record_many, entry_hash
from common.models import AuditChainHead, AuditEntry
from organization.models import Region

pytestmark = pytest.mark.django_db

LOAN = {"action": "approve", "obj_type": "loan", "label": "L1", "region": "411722100201",
        "from_state": "recommended", "to_state": "approved"}  # fmt: skip


def write_trail(personas):
    """Entries by each writer: one, a batch (one of them history with a past time), a SELECT."""
    audit_record(actor=personas["bank_x"], obj_id=1, detail={"amount": "100.00"}, **LOAN)
    past = datetime.datetime(2024, 7, 20, 2, tzinfo=datetime.UTC)
    audit_record_many(
        [
            audit_entry(actor=None, obj_id=2, at=past, **LOAN),
            audit_entry(actor=personas["admin"], obj_id=3, **LOAN),
        ]
    )
    written = audit_insert_select(
        Region.objects.filter(code__startswith="411722"), action="classify", obj_type="county_policy",
        obj_id=F("code"), label=F("name"), region=F("code"), from_state=Value(""), to_state=Value(""),
        detail=JSONObject(level=F("level")),
    )  # fmt: skip
    assert written == 6
    return AuditEntry.objects.order_by("id")


def verify() -> str:
    from io import StringIO

    out = StringIO()
    call_command("verify_audit_chain", stdout=out)
    return out.getvalue()


def run_as_owner(sql: str, params=()):
    """A change behind the application's back: raw SQL as the table's owner (on PostgreSQL with
    the append-only trigger disabled, rolled back with the test)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the actors' deferred FK checks, done now
            cursor.execute("ALTER TABLE common_auditentry DISABLE TRIGGER common_auditentry_append_only")
        cursor.execute(sql, params)


def test_every_writer_chains_its_entries_and_an_untouched_trail_passes(personas):
    entries = list(write_trail(personas))
    previous = ""
    for entry in entries:
        assert entry.hash == entry_hash(previous, tuple(getattr(entry, f) for f in HASHED))
        previous = entry.hash
    head = AuditChainHead.objects.get(pk=1)
    assert (head.last_id, head.last_hash) == (entries[-1].pk, entries[-1].hash)
    assert "已核对 9 条记录" in verify()


def test_live_entries_take_the_database_clock_and_history_keeps_its_time(personas):
    entries = list(write_trail(personas))
    assert entries[1].at == datetime.datetime(2024, 7, 20, 2, tzinfo=datetime.UTC)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT clock_timestamp()")
            database_now = cursor.fetchone()[0]
        assert all(
            abs(database_now - e.at) < datetime.timedelta(minutes=1) for i, e in enumerate(entries) if i != 1
        )


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE common_auditentry SET to_state = 'rejected' WHERE id = {third}",
        "UPDATE common_auditentry SET at = at WHERE id = {third} AND 0 = 1",  # a no-op: still intact
        "DELETE FROM common_auditentry WHERE id = {third}",
    ],
)
def test_a_changed_or_removed_entry_breaks_the_chain(personas, tamper):
    entries = list(write_trail(personas))
    run_as_owner(tamper.format(third=entries[2].pk))
    if "0 = 1" in tamper:
        verify()
        return
    broken = entries[2].pk if tamper.startswith("UPDATE") else entries[3].pk
    with pytest.raises(CommandError, match=f"第 {broken} 号记录"):
        verify()


def test_a_cut_tail_is_found_by_the_head(personas):
    entries = list(write_trail(personas))
    run_as_owner("DELETE FROM common_auditentry WHERE id = %s", [entries[-1].pk])
    with pytest.raises(CommandError, match="链尾"):
        verify()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_chain_to_the_same_entry(personas):
    """Eight transactions append at once: the chain-head row lock makes them take turns, so the
    chain stays whole (without it two would hash on the same previous entry)."""
    from django.db import transaction

    from common.testing import at_once
    from conftest import require_service

    require_service(connection.vendor == "postgresql", "PostgreSQL (row locks between connections)")

    def write(n):
        def call():
            with transaction.atomic():
                audit_record_many([audit_entry(actor=None, obj_id=n * 10 + i, **LOAN) for i in range(3)])
                audit_record(actor=None, obj_id=n * 10 + 9, **LOAN)

        return call

    at_once(*(write(n) for n in range(8)))
    assert AuditEntry.objects.count() == 32 and "已核对 32 条记录" in verify()
