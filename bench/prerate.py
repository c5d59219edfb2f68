"""Benchmark of batch pre-rating (credit_rating.services.prerate_region) on PostgreSQL.

    uv run python bench/prerate.py [--households 30000] [--villages 200] [--keep]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres uv run python bench/prerate.py

Creates (and at the end drops) its own database `fupin_bench_prerate` on the server DATABASE_URL
names (default postgres://postgres@127.0.0.1:5432/), migrates it, builds one county with its
villages and N households in bulk (the encrypted columns hold placeholders: pre-rating never reads
them), publishes the default scorecard, then times:

  service      prerate_region for the whole county: every household gets a draft
  again        the same call: every household now has a draft in progress, nothing is created
  task         the drafts deleted, the same work through the Celery task with its Job record
               (progress written as it goes), as POST /api/v1/ratings/prerate/ runs it

and prints seconds and households per second. Target: under 30 s for 30,000 households.
"""

from __future__ import annotations

import datetime
import random
import time
from decimal import Decimal

from benchdb import CITY, bench_database, command_line, county_staff, verdict

BENCH_DB = "fupin_bench_prerate"
COUNTY = "411722"
TARGET_SECONDS = 30


def build(households: int, villages: int):
    """The county, its townships and villages, its centre and a county officer, N households."""
    from credit_rating.services import scorecard_publish_default
    from households.models import Household
    from organization.models import Region
    from organization.tests.factories import RegionFactory

    city = RegionFactory(code=CITY, name="驻马店市", level=Region.Level.CITY)
    county = RegionFactory(code=COUNTY, name="上蔡县", level=Region.Level.COUNTY, parent=city)
    village_codes = []
    for t in range((villages + 9) // 10):
        township = Region.objects.create(
            code=f"{COUNTY}{100 + t}", name=f"第{t + 1}镇", level="township", parent=county
        )
        rows = [
            Region(
                code=f"{township.code}{201 + v}",
                name=f"第{t + 1}镇{v + 1}村",
                level="village",
                parent=township,
            )
            for v in range(min(10, villages - len(village_codes)))
        ]
        Region.objects.bulk_create(rows)
        village_codes += [r.code for r in rows]
    user = county_staff(COUNTY)
    scorecard_publish_default(actor=user, county=county, effective_from=datetime.date(2017, 7, 19))

    rng = random.Random(20170719)
    rows = []
    for i in range(households):
        members = rng.choice((1, 2, 3, 3, 4, 4, 5, 6))
        rows.append(
            Household(
                household_no=f"B{COUNTY}{i:08d}",
                village_id=village_codes[i % len(village_codes)],
                head_name=f"户主{i}",
                head_id_enc="-",
                head_id_hash=f"bench-{i}",
                head_id_masked="411722********000X",
                member_count=members,
                labor_count=rng.randint(0, members),
                status="poor",
                per_capita_income=Decimal(rng.randint(1500, 7000)),
            )  # fmt: skip
        )
    Household.objects.bulk_create(rows, batch_size=5000)
    return user


def main(args) -> None:
    with bench_database(BENCH_DB, keep=args.keep):
        started = time.perf_counter()
        user = build(args.households, args.villages)
        print(
            f"built {args.households} households in {args.villages} villages: {time.perf_counter() - started:.1f} s"
        )

        from common.models import Job
        from credit_rating.models import Rating, RatingEvent
        from credit_rating.services import prerate_region, prerate_start

        results = []

        t = time.perf_counter()
        first = prerate_region(actor=user, region_code=COUNTY)
        results.append(("service", time.perf_counter() - t, first["created"]))

        t = time.perf_counter()
        again = prerate_region(actor=user, region_code=COUNTY)
        results.append(("again", time.perf_counter() - t, again["created"]))

        RatingEvent.objects.all().delete()
        Rating.objects.all().delete()
        t = time.perf_counter()
        job = prerate_start(actor=user, region_code=COUNTY)  # outside a transaction: runs at once (eager)
        job.refresh_from_db()
        results.append(("task", time.perf_counter() - t, job.result.get("created", 0)))
        assert job.status == Job.Status.SUCCEEDED and job.progress == 100, (job.status, job.message)

        print()
        print(f"{'run':<8} {'seconds':>8} {'drafts':>8} {'households/s':>13}")
        for name, seconds, created in results:
            rate = args.households / seconds if seconds else 0
            print(f"{name:<8} {seconds:8.2f} {created:8d} {rate:13.0f}")
        worst = max(results[0][1], results[2][1])
        print(
            f"\nprerate of {args.households} households: {worst:.2f} s (target < {TARGET_SECONDS} s): "
            f"{verdict(worst < TARGET_SECONDS)}"
        )


def parse_args(argv=None):
    return command_line(
        __doc__,
        BENCH_DB,
        argv,
        households={"type": int, "default": 30000},
        villages={"type": int, "default": 200},
    )


if __name__ == "__main__":
    main(parse_args())
