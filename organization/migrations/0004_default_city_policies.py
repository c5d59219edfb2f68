"""The seed's envelope as the first city row of every city: household cap 50,000, term 36 months,
full subsidy of household loans, 2 % for enterprise loans, breakers at 5 % (township) and 7 %
(village), guarantee-fee subsidy 1.5 % / 0.5 % a year, in force from the earliest county row of the
city (or 2016-01-01) so it covers the history already recorded.

Existing county rows are left as they are, even one beyond the envelope: organization.selectors
.policy_for clamps what it returns to the city row in force, so such a row cannot loosen anything."""

import datetime

from django.db import migrations

SEED_START = datetime.date(2016, 1, 1)


def add_city_rows(apps, schema_editor):
    Region = apps.get_model("organization", "Region")
    CityPolicy = apps.get_model("organization", "CityPolicy")
    CountyPolicy = apps.get_model("organization", "CountyPolicy")
    for city in Region.objects.filter(level="city"):
        if CityPolicy.objects.filter(city=city).exists():
            continue
        prefix = city.code[:4]
        first = (
            CountyPolicy.objects.filter(county_id__startswith=prefix)
            .order_by("effective_from")
            .values_list("effective_from", flat=True)
            .first()
        )
        CityPolicy.objects.create(
            city=city, effective_from=min(first or SEED_START, SEED_START), status="approved",
            review_note="系统初始化：种子数据的市级政策（迁移写入）。",
        )  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [("organization", "0003_city_policy_and_review")]

    operations = [migrations.RunPython(add_city_rows, migrations.RunPython.noop)]
