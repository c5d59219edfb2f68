"""Benchmark of the household file import (issue: speed), on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fupin uv run python bench/import_households.py

Creates (and at the end drops) its own database `fupin_bench` on the server DATABASE_URL names,
builds a 100,000-person-row file (30,000 households in 200 villages of one county) with openpyxl's
write-only writer, then runs, each in a fresh process so that peak memory (RSS) is per phase:

  dry run           the whole job (read, check, diff) with dry_run=true, into an empty county
  commit            the same file for real: everything is created
  re-import         the same file again: nothing changes
  changed file      1 % of households with a new phone, 0.5 % with a renamed member
  baseline          a plain django-import-export ModelResource for Household (one row at a time,
                    its default mode) on the first --baseline-rows rows of the same file, into an
                    emptied household table; its rows per second are extrapolated to the file

and prints a table with rows per second and the ratio to the baseline. Each phase is timed around
imports.services.import_run, the function the Celery task calls: reading the upload from storage,
calamine, header matching, formula check, validation, database diff and (not for the dry run)
the writes, and the job's bookkeeping. Options: --persons, --households, --villages,
--baseline-rows, --keep (do not drop the database), --no-copy (the portable bulk_create path).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "fupin_bench"
COUNTY, COUNTY_NAME, CITY = "411722", "上蔡县", "411700"
USERNAME = "bench_county"
HEADER = [
    "县", "乡镇", "行政村", "行政区划代码", "户编号", "姓名", "证件号码", "与户主关系", "性别", "人数", "劳动能力",
    "识别标准", "贫困户属性", "致贫原因", "人均纯收入", "联系电话", "开户银行", "银行账号", "脱贫状态",
]  # fmt: skip
SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁宋谢韩唐冯于董程曹袁邓许傅沈彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜"
)
GIVEN = (
    "建国军伟强明华志勇刚平海涛磊鹏超杰斌东林峰兴福德成文宝山春喜旺富贵秀英兰芳霞玲梅花凤琴娟丽敏静燕桂珍艳云"
)
CAUSES = [
    "因病",
    "因残",
    "因学",
    "因灾",
    "缺土地",
    "缺水",
    "缺技术",
    "缺劳动力",
    "缺资金",
    "交通条件落后",
    "自身发展动力不足",
    "其他",
]
SIZE_WEIGHTS = [(1, 10), (2, 20), (3, 25), (4, 25), (5, 12), (6, 8)]


# --- the file -------------------------------------------------------------------------------------


def villages(n: int) -> list[tuple[str, str, str, str]]:
    """(township code, township name, village code, village name): ten villages per township."""
    out = []
    for t in range((n + 9) // 10):
        township = f"{COUNTY}{100 + t}"
        for v in range(10):
            if len(out) < n:
                out.append((township, f"第{t + 1}镇", f"{township}{201 + v}", f"第{t + 1}镇{v + 1}村"))
    return out


def household_sizes(rng: random.Random, households: int, persons: int) -> list[int]:
    values, weights = zip(*SIZE_WEIGHTS, strict=True)
    sizes = rng.choices(values, weights=weights, k=households)
    while sum(sizes) != persons:  # nudge to the exact total
        i = rng.randrange(households)
        if sum(sizes) < persons and sizes[i] < 8:
            sizes[i] += 1
        elif sum(sizes) > persons and sizes[i] > 1:
            sizes[i] -= 1
    return sizes


def build_rows(persons: int, households: int, n_villages: int) -> list[list]:
    """The file's rows (without the header); deterministic."""
    sys.path.insert(0, str(ROOT))
    from common.testing import make_resident_id

    rng = random.Random(20170719)
    places = villages(n_villages)
    sizes = household_sizes(rng, households, persons)
    used: dict[tuple, int] = {}

    def new_id(birth: datetime.date, male: bool) -> str:
        while True:
            seq = used.get((birth, male), 0)
            if seq < 500:
                used[(birth, male)] = seq + 1
                return make_resident_id(COUNTY, birth, seq, male=male)
            birth -= datetime.timedelta(days=1)

    def birth(lo: int, hi: int) -> datetime.date:
        return datetime.date(rng.randint(lo, hi), rng.randint(1, 12), rng.randint(1, 28))

    rows = []
    for i, size in enumerate(sizes):
        township, township_name, village, village_name = places[i % len(places)]
        no = f"{village}{i // len(places) + 1:04d}"
        status = rng.choices(["未脱贫", "已脱贫", "监测户"], weights=[55, 40, 5])[0]
        household = [
            COUNTY_NAME, township_name, village_name, village, no, None, None, None, None, size, None,
            rng.choices(["国家标准", "省定标准", "市定标准"], weights=[80, 15, 5])[0],
            rng.choices(["一般贫困户", "低保贫困户", "五保户"], weights=[75, 20, 5])[0],
            "、".join(dict.fromkeys(rng.choices(CAUSES, k=rng.choice([1, 1, 2])))),
            round(rng.uniform(2000, 6000), 2),
            f"1{rng.choice('3578')}{rng.randrange(10**9):09d}",
            f"{COUNTY_NAME}农村信用合作联社",
            f"623059{rng.randrange(10**13):013d}",
            status,
        ]  # fmt: skip
        surname = rng.choice(SURNAMES)
        for m in range(size):
            if m == 0:
                relation, male, born = "户主", rng.random() < 0.85, birth(1950, 1990)
            elif m == 1:
                relation, male, born = "配偶", rng.random() < 0.15, birth(1950, 1990)
            elif m < 5:
                male = rng.random() < 0.5
                relation, born = ("之子" if male else "之女"), birth(1975, 2015)
            else:
                male = rng.random() < 0.5
                relation, born = ("之孙子" if male else "之孙女"), birth(2000, 2016)
            age = 2024 - born.year
            if age < 16 or age > 70:
                labor = "无劳动力"
            elif age > 60:
                labor = "丧失劳动力"
            else:
                labor = rng.choices(["普通劳动力", "技能劳动力", "弱劳动力或半劳动力"], weights=[80, 10, 10])[
                    0
                ]
            row = list(household)
            row[5] = (surname if m != 1 else rng.choice(SURNAMES)) + rng.choice(GIVEN) + rng.choice(GIVEN)
            row[6] = new_id(born, male)
            row[7] = relation
            row[8] = "男" if male else "女"
            row[10] = labor
            rows.append(row)
    return rows


def write_xlsx(path: Path, rows: list[list]) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("建档立卡户")
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    workbook.save(path)


def changed_rows(rows: list[list]) -> tuple[list[list], int]:
    """1 % of households get a new phone; every 200th household renames its last member."""
    out = [list(r) for r in rows]
    numbers = list(dict.fromkeys(r[4] for r in out))
    phone_changed = set(numbers[::100])
    renamed = set(numbers[50::200])
    last_row = {r[4]: i for i, r in enumerate(out)}
    for r in out:
        if r[4] in phone_changed:
            r[15] = "139" + r[15][3:]
    for no in renamed:
        out[last_row[no]][5] += "改"
    return out, len(phone_changed | renamed)


# --- processes --------------------------------------------------------------------------------------


def django_setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the reading probe, the encryption
    helper); the database server's is not included."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def backend_cpu_seconds(pid: int | None) -> float:
    """CPU time of the PostgreSQL backend serving this process (same host only), from /proc."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_setup(args) -> dict:
    """Migrate, create the county, its 200 villages and the importing user."""
    django_setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from organization.models import Region, Role, ServiceUnit, User
    from organization.services import role_assign

    city = Region.objects.create(code=CITY, name="驻马店市", level="city")
    county = Region.objects.create(code=COUNTY, name=COUNTY_NAME, level="county", parent=city)
    townships, village_rows = {}, []
    for township, township_name, village, village_name in villages(args.villages):
        if township not in townships:
            townships[township] = Region.objects.create(
                code=township, name=township_name, level="township", parent=county
            )
        village_rows.append(
            Region(code=village, name=village_name, level="village", parent=townships[township])
        )
    Region.objects.bulk_create(village_rows)
    ServiceUnit.objects.create(
        region=county, kind=ServiceUnit.Kind.COUNTY_CENTRE, name="上蔡县金融扶贫服务中心"
    )
    role_assign(user=User.objects.create_user(USERNAME), role=Role.COUNTY_STAFF, region_code=COUNTY)
    return {"villages": len(village_rows)}


def current_rss_mb() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Timer:
    def __init__(self):
        self.times: dict[str, float] = {}
        self.rss: dict[str, float] = {}  # resident memory after each step

    def wrap(self, owner, name: str, label: str):
        original = getattr(owner, name)
        times = self.times

        def wrapper(*a, **kw):
            started = time.perf_counter()
            try:
                return original(*a, **kw)
            finally:
                times[label] = times.get(label, 0.0) + time.perf_counter() - started
                self.rss[label] = current_rss_mb()

        setattr(owner, name, wrapper)


def phase_import(args) -> dict:
    """One import job, as the Celery task runs it: imports.services.import_run."""
    django_setup()
    from django.conf import settings
    from django.core.files import File

    if args.no_copy:
        settings.IMPORT_USE_COPY = False
    import imports.services as runner
    from households.importers import HouseholdImporter
    from households.models import Household, Member
    from imports.models import ImportJob
    from organization.models import User

    timer = Timer()
    timer.wrap(runner, "read_first_sheet", "read xlsx (calamine)")
    timer.wrap(runner, "refuse_formula_cells", "formula check")
    plans = []
    original_check = HouseholdImporter.check

    def check(self, rows, report):
        timer.rss["rows handed to the importer"] = current_rss_mb()
        plan = original_check(self, rows, report)
        plans.append(plan)
        timer.rss["check"] = current_rss_mb()
        return plan

    HouseholdImporter.check = check
    timer.wrap(HouseholdImporter, "commit", "commit (writes)")

    user = User.objects.get(username=USERNAME)
    job = ImportJob(kind="households", dry_run=args.dry_run, created_by=user, original_name="households.xlsx")
    with open(args.file, "rb") as handle:
        job.file.save("households.xlsx", File(handle), save=False)
    job.save()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    before = rss_mb()
    cpu_before, db_before = cpu_seconds(), backend_cpu_seconds(backend)
    started = time.perf_counter()
    runner.import_run(job_id=job.pk)
    seconds = time.perf_counter() - started
    cpu, db_cpu = cpu_seconds() - cpu_before, backend_cpu_seconds(backend) - db_before
    job.refresh_from_db()
    assert job.status == "succeeded", (job.status, job.message, job.errors[:5])
    times = dict(timer.times)
    if plans:
        for name, value in plans[0].timings.items():
            times[name.replace("_", " ")] = value
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "db_cpu_seconds": db_cpu,
        "rows": job.total_rows,
        "created": job.created,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "rss_before_mb": before,
        "peak_rss_mb": rss_mb(),
        "times": times,
        "rss_after": timer.rss,
        "households": Household.objects.count(),
        "members": Member.objects.count(),
        "household_history": Household.history.count(),
        "member_history": Member.history.count(),
        "message": job.message,
    }


def phase_baseline(args) -> dict:
    """A plain django-import-export ModelResource for Household, its default (row by row) mode."""
    django_setup()
    import tablib
    from django.db import connection
    from import_export import fields, resources, widgets

    from common import pii
    from households.models import Household, HouseholdAttribute, HouseholdStatus, IdentificationStandard
    from organization.models import Region

    with connection.cursor() as cursor:  # an empty household file, as for our first commit
        cursor.execute(
            "TRUNCATE households_member, households_historicalmember, households_household, "
            "households_historicalhousehold, households_piiaccesslog CASCADE"
        )

    class LabelWidget(widgets.Widget):
        def __init__(self, choices):
            super().__init__()
            self.values = {label: value for value, label in choices}

        def clean(self, value, row=None, **kwargs):
            return self.values.get(value, value or "")

    class HouseholdResource(resources.ModelResource):
        household_no = fields.Field(attribute="household_no", column_name="户编号")
        village = fields.Field(
            attribute="village", column_name="行政区划代码", widget=widgets.ForeignKeyWidget(Region, "code")
        )
        head_name = fields.Field(attribute="head_name", column_name="姓名")
        head_id_enc = fields.Field(attribute="head_id_enc", column_name="head_id_enc")
        head_id_hash = fields.Field(attribute="head_id_hash", column_name="head_id_hash")
        head_id_masked = fields.Field(attribute="head_id_masked", column_name="head_id_masked")
        phone = fields.Field(attribute="phone", column_name="联系电话")
        member_count = fields.Field(
            attribute="member_count", column_name="人数", widget=widgets.IntegerWidget()
        )
        status = fields.Field(
            attribute="status", column_name="脱贫状态", widget=LabelWidget(HouseholdStatus.choices)
        )
        attribute = fields.Field(
            attribute="attribute", column_name="贫困户属性", widget=LabelWidget(HouseholdAttribute.choices)
        )
        identification_standard = fields.Field(
            attribute="identification_standard", column_name="识别标准",
            widget=LabelWidget(IdentificationStandard.choices),
        )  # fmt: skip
        per_capita_income = fields.Field(
            attribute="per_capita_income", column_name="人均纯收入", widget=widgets.DecimalWidget()
        )
        bank_name = fields.Field(attribute="bank_name", column_name="开户银行")
        bank_account_enc = fields.Field(attribute="bank_account_enc", column_name="bank_account_enc")
        bank_account_hash = fields.Field(attribute="bank_account_hash", column_name="bank_account_hash")
        bank_account_masked = fields.Field(attribute="bank_account_masked", column_name="bank_account_masked")

        class Meta:
            model = Household
            import_id_fields = ["household_no"]
            # The one change from the defaults: no HTML diff for the admin's preview. Diffing the
            # (random) ciphertexts took half of its time and would flatter the ratio.
            skip_html_diff = True
            fields = (
                "household_no", "village", "head_name", "head_id_enc", "head_id_hash", "head_id_masked", "phone",
                "member_count", "status", "attribute", "identification_standard", "per_capita_income",
                "bank_name", "bank_account_enc", "bank_account_hash", "bank_account_masked",
            )  # fmt: skip

        def before_import_row(self, row, **kwargs):
            # The PII handling any importer must do: a head row sets the head's ID (member rows
            # would otherwise clash on the unique hash), and the account is encrypted and hashed.
            number, account = str(row["证件号码"]), str(row["银行账号"])
            if row["与户主关系"] == "户主":  # the head row comes first in each household
                self.heads[row["户编号"]] = {
                    "姓名": row["姓名"],
                    "head_id_enc": pii.encrypt(number),
                    "head_id_hash": pii.lookup_hash(number),
                    "head_id_masked": pii.mask(number),
                }
            row.update(self.heads[row["户编号"]])
            row["bank_account_enc"] = pii.encrypt(account)
            row["bank_account_hash"] = pii.lookup_hash(account)
            row["bank_account_masked"] = pii.mask_account(account)

        heads: dict = {}

        def skip_row(self, instance, original, row, import_validation_errors=None):
            return False

    before = rss_mb()
    started = time.perf_counter()
    with open(args.file, "rb") as handle:
        dataset = tablib.Dataset().load(handle.read(), format="xlsx")
    for column in ("head_id_enc", "head_id_hash", "head_id_masked", "bank_account_enc", "bank_account_hash",
                   "bank_account_masked"):  # fmt: skip
        dataset.append_col([""] * len(dataset), header=column)
    parsed = time.perf_counter()
    result = HouseholdResource().import_data(dataset, dry_run=False, use_transactions=True, raise_errors=True)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "parse_seconds": parsed - started,
        "rows": len(dataset),
        "created": result.totals.get("new", 0),
        "updated": result.totals.get("update", 0),
        "households": Household.objects.count(),
        "rss_before_mb": before,
        "peak_rss_mb": rss_mb(),
    }


PHASES = {"setup": phase_setup, "import": phase_import, "baseline": phase_baseline}


def run_phase(name: str, env: dict, *extra: str) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--phase", name, *extra]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"phase {name} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the orchestrator -------------------------------------------------------------------------------


def bench_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql", "postgis"):
        raise SystemExit(
            "DATABASE_URL must point at PostgreSQL (e.g. postgres://postgres@127.0.0.1:5432/fupin)"
        )
    return urlunsplit(parts._replace(path=f"/{BENCH_DB}")), urlunsplit(parts._replace(path="/postgres"))


def recreate_database(admin_url: str, drop_only: bool = False) -> None:
    import psycopg2

    connection = psycopg2.connect(admin_url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        if not drop_only:
            cursor.execute(f"CREATE DATABASE {BENCH_DB}")
    connection.close()


def table(headers: list[str], rows: list[list]) -> str:
    import unicodedata

    def width(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)

    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(width(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c + " " * (w - width(c)) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(args) -> None:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        raise SystemExit(
            "set DATABASE_URL to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/fupin"
        )
    target, admin = bench_url(url)
    workdir = Path(tempfile.mkdtemp(prefix="fupin-bench-"))
    env = dict(os.environ, DATABASE_URL=target, MEDIA_ROOT=str(workdir / "media"), CI="")
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    print(f"database {BENCH_DB} on {urlsplit(url).hostname}; files in {workdir}", flush=True)
    recreate_database(admin)
    try:
        run_phase("setup", env, "--villages", str(args.villages))
        started = time.perf_counter()
        rows = build_rows(args.persons, args.households, args.villages)
        file = workdir / "households.xlsx"
        write_xlsx(file, rows)
        changed, n_changed = changed_rows(rows)
        changed_file = workdir / "households-changed.xlsx"
        write_xlsx(changed_file, changed)
        baseline_file = workdir / "households-baseline.xlsx"
        write_xlsx(baseline_file, rows[: args.baseline_rows])
        del rows, changed
        print(
            f"built {args.persons:,} rows, {args.households:,} households, {args.villages} villages "
            f"({file.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        copy = ["--no-copy"] if args.no_copy else []
        results = {}
        for name, path, dry in (
            ("dry run", file, True),
            ("commit", file, False),
            ("re-import unchanged", file, False),
            ("changed file", changed_file, False),
        ):
            flags = ["--file", str(path), *copy] + (["--dry-run"] if dry else [])
            results[name] = run_phase("import", env, *flags)
            r = results[name]
            print(f"  {name}: {r['seconds']:.2f} s (CPU {r['cpu_seconds']:.2f} s, load {load_average()}), peak RSS {r['peak_rss_mb']:.0f} MB, "
                  f"created {r['created']} updated {r['updated']} unchanged {r['unchanged']}", flush=True)  # fmt: skip
        baseline = run_phase("baseline", env, "--file", str(baseline_file))
        print(f"  baseline: {baseline['rows']} rows in {baseline['seconds']:.1f} s", flush=True)
    finally:
        if not args.keep:
            recreate_database(admin, drop_only=True)
        shutil.rmtree(workdir, ignore_errors=True)

    base_rate = baseline["rows"] / baseline["seconds"]
    lines = []
    for name, r in results.items():
        rate = r["rows"] / r["seconds"]
        lines.append([
            name, f"{r['rows']:,}", f"{r['seconds']:.2f}", f"{r['cpu_seconds']:.2f}", f"{r['db_cpu_seconds']:.2f}",
            f"{rate:,.0f}", f"{rate / base_rate:.1f}×",
            f"{r['peak_rss_mb']:.0f}", f"{r['created']:,}/{r['updated']:,}/{r['unchanged']:,}",
        ])  # fmt: skip
    lines.append([
        "baseline: ModelResource", f"{baseline['rows']:,}", f"{baseline['seconds']:.2f}", "", "", f"{base_rate:,.0f}",
        "1.0×",
        f"{baseline['peak_rss_mb']:.0f}", f"{baseline['created']:,}/{baseline['updated']:,}/0",
    ])  # fmt: skip
    print()
    print(f"PostgreSQL, {os.cpu_count()} CPUs, load average now {load_average()}; "
          f"{'bulk_create path' if args.no_copy else 'COPY path'}; "
          f"changed file: {n_changed} households differ")  # fmt: skip
    print(
        table(
            [
                "phase",
                "rows",
                "seconds",
                "CPU s",
                "DB CPU s",
                "rows/s",
                "× baseline",
                "peak RSS MB",
                "created/updated/unchanged",
            ],
            lines,
        )
    )
    extrapolated = args.persons / base_rate
    print(f"\nbaseline on all {args.persons:,} rows, extrapolated at its rate: {extrapolated:,.0f} s "
          f"(its xlsx parse: {baseline['parse_seconds']:.1f} s of {baseline['seconds']:.1f} s)")  # fmt: skip
    commit = results["commit"]
    print(f"after commit: {commit['households']:,} households, {commit['members']:,} members, "
          f"{commit['household_history']:,} + {commit['member_history']:,} history rows")  # fmt: skip
    print("\nwhere the time goes (seconds):")
    names = list(dict.fromkeys(k for r in results.values() for k in r["times"]))
    print(
        table(
            ["step", *results],
            [[n, *(f"{r['times'].get(n, 0):.2f}" for r in results.values())] for n in names],
        )
    )
    print("\nresident memory after each step (MB):")
    steps = list(dict.fromkeys(k for r in results.values() for k in r["rss_after"]))
    print(
        table(
            ["step", *results],
            [
                [n, *(f"{r['rss_after'][n]:.0f}" if n in r["rss_after"] else "" for r in results.values())]
                for n in steps
            ],
        )
    )
    targets = [
        ("commit < 10 s", commit["seconds"] < 10),
        ("re-import unchanged < 6 s", results["re-import unchanged"]["seconds"] < 6),
        ("peak memory < 600 MB", max(r["peak_rss_mb"] for r in results.values()) < 600),
        ("≥ 10× baseline rows/s", commit["rows"] / commit["seconds"] >= 10 * base_rate),
    ]
    print("\ntargets: " + "; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in targets))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--households", type=int, default=30_000)
    parser.add_argument("--villages", type=int, default=200)
    parser.add_argument("--baseline-rows", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep the fupin_bench database")
    parser.add_argument("--no-copy", action="store_true", help="the portable bulk_create path, not COPY")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--dry-run", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.phase:
        print(json.dumps(PHASES[arguments.phase](arguments)))
    else:
        main(arguments)
