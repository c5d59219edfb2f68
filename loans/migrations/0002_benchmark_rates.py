"""The benchmark lending rates in force since 2015-10-24 (the People's Bank of China's last change
before LPR), as DOMAIN.md quotes them for 2017. Later rows are added in the admin."""

import datetime
from decimal import Decimal

from django.db import migrations

RATES = [(12, "4.35"), (60, "4.75"), (600, "4.90")]
SINCE = datetime.date(2015, 10, 24)


def add_rates(apps, schema_editor):
    BenchmarkRate = apps.get_model("loans", "BenchmarkRate")
    for months, rate in RATES:
        BenchmarkRate.objects.get_or_create(
            effective_from=SINCE, max_term_months=months,
            defaults={"rate": Decimal(rate), "note": "中国人民银行贷款基准利率（2015年10月24日起）"},
        )  # fmt: skip


def remove_rates(apps, schema_editor):
    apps.get_model("loans", "BenchmarkRate").objects.filter(effective_from=SINCE).delete()


class Migration(migrations.Migration):
    dependencies = [("loans", "0001_initial")]
    operations = [migrations.RunPython(add_rates, remove_rates)]
