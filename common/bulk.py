"""Multi-row INSERTs of plain tuples, for the few set-based writers that insert tens of thousands of
rows (batch pre-rating, the demo data): the ORM's per-object work (a model instance, every field's
pre_save and get_db_prep_save) costs more than the database does. Values are adapted here as the
backend wants them; the caller gives the model's attnames (household_id, not household)."""

import json

from django.db import connection
from django.db.models.constants import OnConflict

MAX_ROWS_PER_STATEMENT = 1000


def _adapter(field):
    ops = connection.ops
    kind = field.get_internal_type()
    if kind == "DateTimeField":
        return ops.adapt_datetimefield_value
    if kind == "DateField":
        return ops.adapt_datefield_value
    if kind == "DecimalField":
        return lambda value: ops.adapt_decimalfield_value(value, field.max_digits, field.decimal_places)
    if kind == "JSONField":
        return lambda value: json.dumps(value, ensure_ascii=False)
    return None


def insert_rows(model, columns: list[str], rows: list[tuple], *, ignore_conflicts: bool = False) -> None:
    """INSERT `rows` (tuples in the order of `columns`, attnames) into `model`'s table, several
    hundred a statement. With ignore_conflicts, a row that would break a unique constraint (partial
    ones included) is skipped, as bulk_create(ignore_conflicts=True) does: the caller reads back
    what went in. Runs through the connection's own cursor, not the debug wrapper, so DEBUG does
    not keep megabytes of SQL."""
    if not rows:
        return
    ops = connection.ops
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    fields = [by_attname[name] for name in columns]
    adapters = [_adapter(f) for f in fields]
    on_conflict = OnConflict.IGNORE if ignore_conflicts else None
    head = (
        f"{ops.insert_statement(on_conflict=on_conflict)} {ops.quote_name(model._meta.db_table)} "
        f"({', '.join(ops.quote_name(f.column) for f in fields)}) VALUES "
    )
    tail = ops.on_conflict_suffix_sql(fields, on_conflict, None, None) if ignore_conflicts else ""
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    limit = connection.features.max_query_params or 100_000
    per_statement = max(1, min(MAX_ROWS_PER_STATEMENT, limit // len(fields)))
    with connection.cursor() as wrapper:
        cursor = getattr(wrapper, "cursor", wrapper)
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params = [
                adapt(value) if adapt is not None and value is not None else value
                for row in chunk
                for adapt, value in zip(adapters, row, strict=True)
            ]
            with connection.wrap_database_errors:  # django.db.IntegrityError and friends, as usual
                cursor.execute(head + ", ".join([one] * len(chunk)) + (f" {tail}" if tail else ""), params)
