"""PostgreSQL refuses TRUNCATE of the audit trail too: a statement-level BEFORE TRUNCATE trigger
(row-level triggers, migration 0003, do not fire on TRUNCATE).

One exception, for the test suite only: a session (or the test database, by ALTER DATABASE ... SET)
with the setting fupin.audit_allow_truncate = 'on' may truncate, because Django flushes the tables
of a transactional test with TRUNCATE. The root conftest.py sets it on the test database; no
production setting or code sets it. Whoever can set it could as well disable the trigger (both take
the table owner's rights): the guard is against mistakes and stray tools, the hash chain (migration
0006) is what shows a rewrite."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION common_auditentry_no_truncate() RETURNS trigger
LANGUAGE plpgsql AS $body$
BEGIN
    IF coalesce(current_setting('fupin.audit_allow_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'restrict_violation',
        MESSAGE = '审计记录只能追加，不能修改或删除（' || TG_OP || '）';
END
$body$;
CREATE TRIGGER common_auditentry_no_truncate
    BEFORE TRUNCATE ON common_auditentry
    FOR EACH STATEMENT EXECUTE FUNCTION common_auditentry_no_truncate();
"""
DROP = """
DROP TRIGGER IF EXISTS common_auditentry_no_truncate ON common_auditentry;
DROP FUNCTION IF EXISTS common_auditentry_no_truncate();
"""


def _on_postgresql(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("common", "0004_audit_policy_types")]

    operations = [migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP))]
