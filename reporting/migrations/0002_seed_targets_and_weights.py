"""The seed's city targets (驻政〔2017〕40号: coverage above 10 % by the end of 2017, 应贷尽贷 by the
end of 2018) and the default assessment weights. Later rows are added in the admin."""

import datetime
from decimal import Decimal

from django.db import migrations

SEED = "驻政〔2017〕40号"
TARGETS = [
    (datetime.date(2017, 12, 31), Decimal("10.00"), True, f"{SEED}：2017年底获贷率达到10%以上"),
    (datetime.date(2018, 12, 31), Decimal("100.00"), False, f"{SEED}：2018年底应贷尽贷"),
]
WEIGHTS_FROM = datetime.date(2017, 1, 1)


def add_rows(apps, schema_editor):
    CoverageTarget = apps.get_model("reporting", "CoverageTarget")
    for due_on, value, strict, note in TARGETS:
        CoverageTarget.objects.get_or_create(
            region=None, indicator="coverage_cumulative", due_on=due_on,
            defaults={"value": value, "strict": strict, "note": note},
        )  # fmt: skip
    apps.get_model("reporting", "AssessmentWeights").objects.get_or_create(effective_from=WEIGHTS_FROM)


def remove_rows(apps, schema_editor):
    apps.get_model("reporting", "CoverageTarget").objects.filter(
        region=None, due_on__in=[t[0] for t in TARGETS]
    ).delete()
    apps.get_model("reporting", "AssessmentWeights").objects.filter(effective_from=WEIGHTS_FROM).delete()


class Migration(migrations.Migration):
    dependencies = [("reporting", "0001_initial")]
    operations = [migrations.RunPython(add_rows, remove_rows)]
