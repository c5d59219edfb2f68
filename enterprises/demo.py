"""Demo enterprises for `manage.py seed_demo`: in each county of organization.demo_data, two
farmers' cooperatives and two companies, each leading 5-20 registered poor households of its county,
all but one recognised by the county. Written through enterprises.services, as county staff.

Deterministic and idempotent: an enterprise that exists is left alone, except that one without
links gets its links (the households may have been seeded after it) and a planned recognition it
lacks is made. All names, codes and people are made up.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass

from django.db import transaction

from common.clock import today
from common.dates import add_months
from households.models import Household
from organization.demo_data import COUNTIES, MALE_CHARS, SEED, SURNAMES
from organization.models import User

from . import services
from .credit_code import ALPHABET, make_credit_code
from .models import Enterprise, EnterpriseKind, LinkMode

PER_COUNTY = 4
LINKS_PER_ENTERPRISE = (5, 20)
COOP_STEMS = (
    "绿源种植",
    "丰收养殖",
    "金穗粮食种植",
    "百花养蜂",
    "青山林果",
    "鑫农食用菌",
    "黄牛养殖",
    "富民果蔬",
)
COMPANY_STEMS = ("面粉", "农产品加工", "服饰", "食品", "艾草制品", "中药材", "畜牧", "电子商务")
MODES = [m.value for m in LinkMode]


@dataclass
class EnterpriseSeedResult:
    enterprises_created: int = 0
    links_created: int = 0
    recognised: int = 0
    total: int = 0

    def summary(self) -> str:
        return (
            f"带贫企业：共 {self.total} 家，本次新增 {self.enterprises_created} 家、"
            f"利益联结 {self.links_created} 条、认定 {self.recognised} 家。"
        )


@dataclass(frozen=True)
class EnterprisePlan:
    county_code: str
    township_code: str
    name: str
    credit_code: str
    kind: str
    founded_on: datetime.date
    legal_rep: str
    phone: str
    recognise_on: datetime.date | None
    decision_no: str
    links: int


def plan_enterprises() -> list[EnterprisePlan]:
    plans = []
    for county_code, county_name, townships in COUNTIES:
        rng = random.Random(f"{SEED}:enterprises:{county_code}")
        short = county_name[:-1]
        coop_stems, company_stems = rng.sample(COOP_STEMS, 2), rng.sample(COMPANY_STEMS, 2)
        for i in range(PER_COUNTY):
            cooperative = i % 2 == 0
            t = i % len(townships)
            township = townships[t]
            if cooperative:
                name = f"{short}{township}{coop_stems[i // 2]}专业合作社"
                # The second cooperative is young in 2017: it shows the two-year rule at the policy date.
                founded = datetime.date(2016, rng.randint(1, 6), rng.randint(1, 28)) if i == 2 else (
                    datetime.date(rng.randint(2009, 2014), rng.randint(1, 12), rng.randint(1, 28))
                )  # fmt: skip
            else:
                name = f"{county_name}{company_stems[i // 2]}有限公司"
                founded = datetime.date(rng.randint(2003, 2014), rng.randint(1, 12), rng.randint(1, 28))
            organisation = "MA" + "".join(rng.choice(ALPHABET) for _ in range(7))
            code = make_credit_code("93" if cooperative else "91", county_code, organisation)
            recognise = i != PER_COUNTY - 1  # the last one of each county is not recognised
            decided = max(founded, datetime.date(2017, rng.randint(3, 7), rng.randint(1, 18)))
            plans.append(
                EnterprisePlan(
                    county_code=county_code,
                    township_code=f"{county_code}{100 + t}",
                    name=name,
                    credit_code=code,
                    kind=EnterpriseKind.COOPERATIVE if cooperative else EnterpriseKind.COMPANY,
                    founded_on=founded,
                    legal_rep=rng.choice(SURNAMES) + rng.choice(MALE_CHARS) + rng.choice(MALE_CHARS),
                    phone=f"13{rng.randint(0, 9)}{rng.randint(0, 99_999_999):08d}",
                    recognise_on=decided if recognise else None,
                    decision_no=f"{short}扶贫〔2017〕{rng.randint(10, 99)}号" if recognise else "",
                    links=rng.randint(*LINKS_PER_ENTERPRISE),
                )
            )
    return plans


def _actor(county_code: str) -> User | None:
    return (
        User.objects.filter(username=f"county_{county_code}").first()
        or User.objects.filter(is_superuser=True).order_by("pk").first()
    )


def _linkable_pool(county_code: str, rng: random.Random) -> list[Household]:
    """The county's registered poor households not yet led by a demo enterprise, shuffled."""
    pool = list(
        Household.objects.filter(
            village__code__startswith=county_code,
            status__in=services.LINKABLE_STATUSES,
            enterprise_links__isnull=True,
        ).order_by("household_no")
    )
    rng.shuffle(pool)
    return pool


@transaction.atomic
def seed() -> EnterpriseSeedResult:
    result = EnterpriseSeedResult()
    plans = plan_enterprises()
    existing = {
        e.credit_code: e for e in Enterprise.objects.filter(credit_code__in=[p.credit_code for p in plans])
    }
    pools: dict[str, list[Household]] = {}
    for plan in plans:
        actor = _actor(plan.county_code)
        if actor is None:
            break  # no users yet: seed_demo makes them first
        rng = random.Random(f"{SEED}:links:{plan.credit_code}")
        enterprise = existing.get(plan.credit_code)
        if enterprise is None:
            enterprise = services.enterprise_create(
                actor=actor,
                data={
                    "name": plan.name, "credit_code": plan.credit_code, "kind": plan.kind,
                    "founded_on": plan.founded_on, "township_code": plan.township_code,
                    "legal_rep": plan.legal_rep, "contact_name": plan.legal_rep, "contact_phone": plan.phone,
                },
            )  # fmt: skip
            result.enterprises_created += 1

        if not enterprise.links.exists():
            if plan.county_code not in pools:
                pools[plan.county_code] = _linkable_pool(
                    plan.county_code, random.Random(f"{SEED}:{plan.county_code}")
                )
            pool = pools[plan.county_code]
            for _ in range(min(plan.links, len(pool))):
                household = pool.pop()
                start = max(plan.founded_on, datetime.date(2017, rng.randint(1, 6), 1))
                end = (
                    None
                    if rng.random() < 0.8
                    else add_months(start, 12 * rng.randint(3, 5)) - datetime.timedelta(days=1)
                )
                services.link_create(
                    actor=actor,
                    enterprise=enterprise,
                    data={
                        "household": household, "mode": rng.choice(MODES), "start_date": start, "end_date": end,
                        "annual_benefit": str(rng.randint(10, 60) * 100),
                    },
                )  # fmt: skip
                result.links_created += 1

        if plan.recognise_on and not enterprise.recognition_events.exists() and plan.recognise_on <= today():
            services.enterprise_recognize(
                actor=actor, enterprise=enterprise, decision_no=plan.decision_no, decided_on=plan.recognise_on
            )
            result.recognised += 1
    result.total = Enterprise.objects.count()
    return result
