"""ID masks keep only the last 4 (issue 15): the old mask kept the first 6 and the last 4, and the 8
digits between are the birth date shown beside it, so the mask gave the whole number back.

Current rows are masked again from their ciphertext; history rows keep no ciphertext, so theirs
keep the last 4 of the old mask (which are the number's last 4). Account masks are unchanged.
No way back: the old masks are the leak."""

from django.db import migrations

BATCH = 2000


def _remask(masked: str) -> str:
    """The new mask from the old one: everything but the last 4 hidden."""
    return "*" * (len(masked) - 4) + masked[-4:] if len(masked) > 4 else "*" * len(masked)


def _from_ciphertext(enc_field, masked_field):
    def new_mask(row):
        from cryptography.fernet import InvalidToken

        from common import pii

        try:
            return pii.mask(pii.decrypt(getattr(row, enc_field)))
        except InvalidToken:  # a key no longer configured: the old mask still holds the last 4
            return _remask(getattr(row, masked_field))

    return new_mask


def _recompute(model, field, new_mask, *extra_fields):
    pending = []
    for row in model.objects.only(model._meta.pk.name, field, *extra_fields).iterator(chunk_size=BATCH):
        value = new_mask(row)
        if value != getattr(row, field):
            setattr(row, field, value)
            pending.append(row)
        if len(pending) >= BATCH:
            model.objects.bulk_update(pending, [field], batch_size=BATCH)
            pending = []
    if pending:
        model.objects.bulk_update(pending, [field], batch_size=BATCH)


def forwards(apps, schema_editor):
    model = apps.get_model
    _recompute(
        model("households", "Household"), "head_id_masked",
        _from_ciphertext("head_id_enc", "head_id_masked"), "head_id_enc",
    )  # fmt: skip
    _recompute(model("households", "Member"), "id_masked", _from_ciphertext("id_enc", "id_masked"), "id_enc")
    for name, field in (("HistoricalHousehold", "head_id_masked"), ("HistoricalMember", "id_masked")):
        _recompute(model("households", name), field, lambda row, field=field: _remask(getattr(row, field)))


class Migration(migrations.Migration):
    dependencies = [("households", "0003_member_history_and_write_indexes")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True)]
