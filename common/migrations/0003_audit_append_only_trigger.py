"""On PostgreSQL the database itself keeps the audit trail append-only: a row-level trigger raises
on every UPDATE and DELETE of common_auditentry, whoever sends them (raw SQL, a console, another
program). Row-level triggers do not fire on TRUNCATE, so the test database's flush still works.
SQLite gets no trigger: pytest-django flushes SQLite with DELETE."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION common_auditentry_append_only() RETURNS trigger
LANGUAGE plpgsql AS $body$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'restrict_violation',
        MESSAGE = '审计记录只能追加，不能修改或删除（' || TG_OP || '）';
END
$body$;
CREATE TRIGGER common_auditentry_append_only
    BEFORE UPDATE OR DELETE ON common_auditentry
    FOR EACH ROW EXECUTE FUNCTION common_auditentry_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS common_auditentry_append_only ON common_auditentry;
DROP FUNCTION IF EXISTS common_auditentry_append_only();
"""


def _on_postgresql(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("common", "0002_audit_entry")]

    operations = [migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP))]
