"""The audit trail itself: entries are appended and never changed or deleted (by the model, its
queryset and, on PostgreSQL, a trigger); the bulk writers; the read-only admin."""

import datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from common.audit import audit_entry, audit_record, audit_record_many, audit_trail
from common.models import AppendOnlyError, AuditEntry
from conftest import require_service

pytestmark = pytest.mark.django_db


def record(actor, **fields):
    base = {"action": "approve", "obj_type": "loan", "obj_id": 7, "label": "L4117220000007",
            "region": "411722100201", "from_state": "recommended", "to_state": "approved"}  # fmt: skip
    return audit_record(actor=actor, **{**base, **fields})


def as_stored(entry: AuditEntry) -> tuple:
    entry = AuditEntry.objects.get(pk=entry.pk)
    return entry.action, entry.actor_name, entry.from_state, entry.to_state, entry.detail


def test_an_entry_is_kept_as_written(personas):
    entry = record(personas["bank_x"], detail={"amount": Decimal("1200.50"), "on": datetime.date(2024, 4, 7)})
    assert as_stored(entry) == (
        "approve",
        str(personas["bank_x"]),
        "recommended",
        "approved",
        {"amount": "1200.50", "on": "2024-04-07"},
    )
    assert (entry.object_id, entry.region, entry.actor_id) == ("7", "411722100201", personas["bank_x"].pk)


def test_the_model_refuses_to_change_or_delete_an_entry(personas):
    entry = record(personas["bank_x"])
    entry.to_state = "rejected"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    # A new instance carrying an existing row's id is inserted, never an UPDATE of that row.
    forged = AuditEntry(pk=entry.pk, action="forged", object_type="loan", object_id="7")
    with pytest.raises(IntegrityError), transaction.atomic():
        forged.save()
    assert as_stored(entry)[:4] == ("approve", str(personas["bank_x"]), "recommended", "approved")


def test_the_queryset_refuses_update_bulk_update_and_delete(personas):
    entry = record(personas["bank_x"])
    entries = AuditEntry.objects.filter(pk=entry.pk)
    with pytest.raises(AppendOnlyError):
        entries.update(to_state="rejected")
    entry.to_state = "rejected"
    with pytest.raises(AppendOnlyError), transaction.atomic():  # bulk_update's own atomic is no savepoint
        AuditEntry.objects.bulk_update([entry], ["to_state"])
    with pytest.raises(AppendOnlyError):
        entries.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.filter(pk=entry.pk, to_state="approved").exists()


def test_an_actor_with_entries_cannot_be_deleted(personas):
    from django.db.models import ProtectedError

    record(personas["bank_x"])
    with pytest.raises(ProtectedError):
        personas["bank_x"].delete()


def test_postgresql_refuses_update_delete_and_truncate_whoever_sends_them(personas):
    require_service(connection.vendor == "postgresql", "PostgreSQL (the append-only triggers)")
    entry = record(personas["bank_x"])
    for sql in (
        "UPDATE common_auditentry SET to_state = 'rejected' WHERE id = %s",
        "DELETE FROM common_auditentry WHERE id = %s",
        "TRUNCATE common_auditentry",
    ):
        with pytest.raises(IntegrityError, match="审计记录只能追加"), transaction.atomic():
            with connection.cursor() as cursor:
                # The test database allows TRUNCATE (for Django's flush); production does not.
                cursor.execute("SET LOCAL fupin.audit_allow_truncate = 'off'")
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the actor's deferred FK check
                cursor.execute(sql, [entry.pk] if "%s" in sql else None)
    assert as_stored(entry)[3] == "approved"


def test_bulk_entries_of_a_system_job_and_a_person(personas):
    at = datetime.datetime(2024, 7, 20, 2, tzinfo=datetime.UTC)
    written = audit_record_many(
        [
            audit_entry(
                actor=None, action="trip", obj_type="breaker", obj_id="411722100", label="甲镇",
                region="411722100", from_state="normal", to_state="tripped",
                detail={"npl_ratio": Decimal("7.05")}, at=at,
            ),
            audit_entry(
                actor=personas["county_staff"], action="resume", obj_type="breaker", obj_id="411722100",
                label="甲镇", region="411722100", from_state="tripped", to_state="normal",
            ),
        ]
    )  # fmt: skip
    trail = list(audit_trail(obj_type="breaker", obj_id="411722100"))
    assert written == 2
    assert [(e.action, e.actor_id, e.who, e.from_state, e.to_state) for e in trail] == [
        ("trip", None, "系统", "normal", "tripped"),
        ("resume", personas["county_staff"].pk, str(personas["county_staff"]), "tripped", "normal"),
    ]
    assert trail[0].at == at and trail[0].detail == {"npl_ratio": "7.05"} and trail[1].detail == {}


# --- the admin ---------------------------------------------------------------------------------

ADMIN = "/admin/common/auditentry/"


def test_the_admin_lists_and_shows_entries_and_refuses_writes(admin_client, personas):
    entry = record(personas["bank_x"], label="L4117220000042", obj_id=42)
    record(None, action="classify", obj_id=43, label="L4117220000043", from_state="normal", to_state="loss")
    page = admin_client.get(ADMIN).content.decode()
    # In Chinese: the action and the states by their names, a system job as 系统.
    assert (
        "L4117220000042" in page
        and "县级已推荐（公示） → 银行已审批" in page
        and "系统" in page
        and "审批通过" in page
    )
    found = admin_client.get(ADMIN, {"q": "L4117220000042"}).content.decode()
    assert "L4117220000042" in found and "L4117220000043" not in found
    only_loss = admin_client.get(ADMIN, {"action": "classify"}).content.decode()
    assert "L4117220000043" in only_loss and "L4117220000042" not in only_loss
    assert "正常 → 损失" in only_loss  # the classes by their names too
    detail = admin_client.get(f"{ADMIN}{entry.pk}/change/")
    assert detail.status_code == 200 and "L4117220000042" in detail.content.decode()
    assert admin_client.get(f"{ADMIN}add/").status_code == 403
    assert admin_client.post(f"{ADMIN}{entry.pk}/change/", {"action": "forged"}).status_code == 403
    assert admin_client.post(f"{ADMIN}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert as_stored(entry)[0] == "approve"


def test_the_admin_is_closed_to_non_staff(client, personas):
    client.force_login(personas["county_staff"])
    assert client.get(ADMIN).status_code == 302  # to the admin login
