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

import argparse
import datetime
import os
import random
import time
from decimal import Decimal
from urllib.parse import urlsplit

from benchdb import DEFAULT_URL, database_urls, django_setup
from benchdb import recreate as recreate_db

BENCH_DB = "fupin_bench_prerate"
COUNTY, CITY = "411722", "411700"
TARGET_SECONDS = 30


def urls(url: str) -> tuple[str, str]:
    return database_urls(url, BENCH_DB)


def build(households: int, villages: int):
    """The county, its townships and villages, its centre and a county officer, N households."""
    from credit_rating.services import scorecard_publish_default
    from households.models import Household
    from organization.models import Region, Role, User
    from organization.services import role_assign
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
    user = User.objects.create_user("bench_county")
    role_assign(user=user, role=Role.COUNTY_STAFF, region_code=COUNTY)
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
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    target, admin = urls(url)
    print(f"database {BENCH_DB} on {urlsplit(url).hostname}:{urlsplit(url).port or 5432}", flush=True)
    recreate_db(admin, BENCH_DB)
    try:
        django_setup(target)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
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
        verdict = "OK" if worst < TARGET_SECONDS else "TOO SLOW"
        print(
            f"\nprerate of {args.households} households: {worst:.2f} s (target < {TARGET_SECONDS} s): {verdict}"
        )
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            recreate_db(admin, BENCH_DB, drop_only=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--households", type=int, default=30000)
    parser.add_argument("--villages", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help=f"do not drop {BENCH_DB} at the end")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
