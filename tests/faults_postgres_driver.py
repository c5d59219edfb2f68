"""The subprocess side of tests/test_faults_postgres.py, run against that test's own PostgreSQL
server (DATABASE_URL names the database):

    python tests/faults_postgres_driver.py seed [--migrate]    build the loans the daily job reads
    python tests/faults_postgres_driver.py run_daily_jobs ...  exactly `manage.py run_daily_jobs ...`

The test hook, for run_daily_jobs: with FAULT_PAUSE_AT=module:function and FAULT_PAUSE_DIR=dir,
the first call of that function in this process creates dir/paused and waits until dir/resume
exists, so that the test can restart or stop the server while the job stands at that point.
Nothing outside this process is patched.
"""

import datetime
import importlib
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AS_OF = datetime.date(2019, 6, 30)
COUNTIES = {"411722": "上蔡县", "411721": "西平县"}
LOANS = 240
# The fund of each county: 上蔡 ends at 80 % of its leverage cap, 西平 past the 90 % warning line.
FUND = {"411722": "150000.00", "411721": "125000.00"}
# Days past due on AS_OF (negative: the first instalment falls due later) of a loan in the first
# village of each county's first township, where the breakers trip, and elsewhere. 250: matures
# within the 30-day warning period.
BAD_AREA_DAYS = (30, 95, 250, 400, -30)
OTHER_DAYS = (-30, -30, -60, 0, 20)


def seed() -> None:
    """Two counties of two townships of three villages, a fund each, and LOANS loans of 10,000 yuan
    spread over the villages (household loans) and the townships (enterprise loans), all outstanding
    and classified normal with DPD 0 as the daily job has not yet run."""
    from loans.tests.factories import fund_deposit
    from loans.tests.factories_daily import overdue_by
    from organization.models import Region
    from organization.tests.factories import BankFactory, RegionFactory, UserFactory

    admin = UserFactory(username="admin")
    city = RegionFactory(code="411700", name="驻马店市", level=Region.Level.CITY)
    areas, bad = [], set()
    for code, name in COUNTIES.items():
        county = RegionFactory(code=code, name=name, level=Region.Level.COUNTY, parent=city)
        bank = BankFactory(code=f"BANK{code}", name=f"{name}农商银行")
        fund_deposit(county, actor=admin, amount=FUND[code])
        for t in range(2):
            township = RegionFactory(
                code=f"{code}{100 + t}", name=f"{name}{t + 1}镇", level=Region.Level.TOWNSHIP, parent=county
            )
            areas.append((township, bank))
            for v in range(3):
                village = RegionFactory(
                    code=f"{township.code}{201 + v}",
                    name=f"{township.name}{v + 1}村",
                    level=Region.Level.VILLAGE,
                    parent=township,
                )
                if t == v == 0:
                    bad.add(village.code)
                areas.append((village, bank))
    for i in range(LOANS):
        area, bank = areas[i % len(areas)]
        days = (BAD_AREA_DAYS if area.code in bad else OTHER_DAYS)[i // len(areas) % 5]
        overdue_by(days, AS_OF, area, bank=bank, actor=admin)


def pause_first_call(target: str, flag_dir: Path) -> None:
    """Replace module:function by one whose first call waits for the test (see the docstring)."""
    module_name, name = target.split(":")
    module = importlib.import_module(module_name)
    original = getattr(module, name)
    calls = []

    def paused(*args, **kwargs):
        if not calls:
            calls.append(1)
            (flag_dir / "paused").touch()
            while not (flag_dir / "resume").exists():
                time.sleep(0.05)
        return original(*args, **kwargs)

    setattr(module, name, paused)


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    if argv[0] == "seed":
        if "--migrate" in argv:
            from django.core.management import call_command

            call_command("migrate", verbosity=0)
        seed()
        return
    if os.environ.get("FAULT_PAUSE_AT"):
        pause_first_call(os.environ["FAULT_PAUSE_AT"], Path(os.environ["FAULT_PAUSE_DIR"]))
    from django.core.management import execute_from_command_line

    execute_from_command_line(["manage.py", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
