"""Demo data for 驻马店市: the region tree, service units, banks, county policies, households with
their members, and one demo user per role and place. Used by `manage.py seed_demo`.

Everything is deterministic (seeded random.Random) and idempotent: what exists is left alone,
what is missing is added. Household i (0-based) always lands in the same village with the same
number and the same people, whatever N is, so a bigger N only adds households.

The townships are real rural towns and townships of each county; their codes (county + 100..104)
and the village names are made up, as are all people, numbers and accounts.
"""

from __future__ import annotations

import datetime
import random
import time
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction

from common import pii
from common.clock import today
from common.identity import ResidentId
from common.testing import make_resident_id

from .models import (
    Bank,
    BankBranch,
    CityPolicy,
    CountyPolicy,
    PolicyStatus,
    Region,
    Role,
    RoleAssignment,
    ServiceUnit,
    User,
)
from .services import city_policy_propose, policy_propose, role_assign

SEED = 20170719
DEMO_PASSWORD = "zmd-demo-2017"
POLICY_DATE = datetime.date(2017, 7, 19)  # 驻政〔2017〕40号
AS_OF = datetime.date(2017, 7, 19)  # ages in the household file are as of the guidance
DEFAULT_HOUSEHOLDS = 20000
BATCH_SIZE = 2000
CHANGE_REASON = "演示数据"

CITY_CODE, CITY_NAME = "411700", "驻马店市"

# County code, name, five rural towns/townships (codes county + 100..104).
COUNTIES: list[tuple[str, str, list[str]]] = [
    ("411702", "驿城区", ["水屯镇", "沙河店镇", "板桥镇", "诸市镇", "老河乡"]),
    ("411721", "西平县", ["五沟营镇", "权寨镇", "师灵镇", "出山镇", "焦庄乡"]),
    ("411722", "上蔡县", ["黄埠镇", "东洪镇", "洙湖镇", "蔡沟乡", "无量寺乡"]),
    ("411723", "平舆县", ["杨埠镇", "庙湾镇", "射桥镇", "西洋店镇", "玉皇庙乡"]),
    ("411724", "正阳县", ["寒冻镇", "汝南埠镇", "铜钟镇", "陡沟镇", "熊寨镇"]),
    ("411725", "确山县", ["竹沟镇", "任店镇", "新安店镇", "留庄镇", "双河镇"]),
    ("411726", "泌阳县", ["羊册镇", "马谷田镇", "春水镇", "官庄镇", "象河乡"]),
    ("411727", "汝南县", ["金铺镇", "老君庙镇", "留盆镇", "和孝镇", "韩庄乡"]),
    ("411728", "遂平县", ["玉山镇", "嵖岈山镇", "石寨铺镇", "沈寨镇", "槐树乡"]),
    ("411729", "新蔡县", ["练村镇", "棠村镇", "韩集镇", "龙口镇", "佛阁寺镇"]),
]
VILLAGES_PER_TOWNSHIP = 10
ALL_COUNTY_CODES = [c[0] for c in COUNTIES]


@dataclass(frozen=True)
class DemoBank:
    code: str
    name: str
    branch_name: str  # formatted with the county name
    card_prefix: str  # first six digits of its debit cards
    counties: tuple[str, ...]


# Every county is served by at least two banks: 河南农信 and 邮储 almost everywhere, 农行 in six.
BANKS = [
    DemoBank("PSBC", "中国邮政储蓄银行", "中国邮政储蓄银行{county}支行", "621799",
             tuple(c for c in ALL_COUNTY_CODES if c not in ("411725", "411726", "411729"))),
    DemoBank("HNRCU", "河南省农村信用社联合社", "{county}农村信用合作联社", "623059", tuple(ALL_COUNTY_CODES)),
    DemoBank("ABC", "中国农业银行", "中国农业银行{county}支行", "622848",
             ("411702", "411722", "411723", "411725", "411726", "411729")),
]  # fmt: skip
# One city-level branch, serving every county: its officer sees the bank's loans in all ten (a county
# branch's officer only those of its county).
CITY_BRANCH_BANK, CITY_BRANCH_NAME = "HNRCU", "河南省农村信用社联合社驻马店办事处"
CITY_BRANCH_CODE = f"{CITY_BRANCH_BANK}-{CITY_CODE}"

SURNAMES = (
    "王" * 9 + "李" * 8 + "张" * 8 + "刘" * 7 + "陈" * 5 + "杨" * 4 + "赵" * 3 + "黄" * 2 + "周" * 2 + "吴" * 2
    + "徐孙马朱胡郭何高林罗郑梁宋谢韩唐冯于董程曹袁邓许傅沈彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜夏田任姜范方石姚"
    + "谭邹熊金陆郝孔白崔康毛秦史顾侯邵孟段雷汤尹常武乔贺龚葛牛"
)  # fmt: skip
MALE_CHARS = "建国军伟强明华志勇刚平海涛磊鹏超杰斌东林峰兴福德成文宝山春喜旺富贵新永全长红庆祥安振金书留运"
FEMALE_CHARS = "秀英兰芳霞玲梅花凤琴娟丽敏静燕桂珍艳云萍莲翠荣香巧爱素彩玉菊月娥"
VILLAGE_STEMS = "庄楼寨集店营岗湾桥洼屯园坡台圈湖"
VILLAGE_PREFIXES = ("", "", "", "东", "西", "南", "北", "前", "后", "大", "小", "新")

# (status, weight): 55 % poor, 35 % lifted, 5 % monitored, 5 % non-poor.
STATUS_WEIGHTS = (("poor", 55), ("lifted", 35), ("monitored", 5), ("non_poor", 5))
STANDARD_WEIGHTS = (("national", 80), ("provincial", 15), ("municipal", 5))
CAUSE_WEIGHTS = (
    ("illness", 30), ("disability", 12), ("education", 8), ("disaster", 3), ("lack_land", 3),
    ("lack_water", 2), ("lack_skills", 14), ("lack_labor", 10), ("lack_funds", 12),
    ("poor_transport", 2), ("lack_motivation", 3), ("other", 1),
)  # fmt: skip
SIZE_WEIGHTS = ((1, 12), (2, 22), (3, 28), (4, 22), (5, 10), (6, 6))
MOBILE_PREFIXES = ("130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156",
                   "157", "158", "159", "176", "182", "183", "185", "186", "187", "188", "189")  # fmt: skip


def _weighted(rng: random.Random, pairs) -> str:
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights=weights)[0]


def _given_name(rng: random.Random, male: bool) -> str:
    chars = MALE_CHARS if male else FEMALE_CHARS
    if rng.random() < 0.3:
        return rng.choice(chars)
    return rng.choice(chars) + rng.choice(chars)


def _years_before(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _age(birth: datetime.date, on: datetime.date = AS_OF) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _random_birth(rng: random.Random, oldest: datetime.date, youngest: datetime.date) -> datetime.date:
    span = max((youngest - oldest).days, 0)
    return oldest + datetime.timedelta(days=rng.randint(0, span))


# --- the region tree ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionSpec:
    code: str
    name: str
    level: str
    parent: str | None


def village_names(county_code: str) -> list[str]:
    """Fifty distinct village names for a county (five townships x ten villages)."""
    rng = random.Random(f"{SEED}:villages:{county_code}")
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < 5 * VILLAGES_PER_TOWNSHIP:
        name = rng.choice(VILLAGE_PREFIXES) + rng.choice(SURNAMES) + rng.choice(VILLAGE_STEMS) + "村"
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def region_specs() -> list[RegionSpec]:
    """City, counties, townships, villages, parents before children."""
    specs = [RegionSpec(CITY_CODE, CITY_NAME, Region.Level.CITY, None)]
    for county_code, county_name, _ in COUNTIES:
        specs.append(RegionSpec(county_code, county_name, Region.Level.COUNTY, CITY_CODE))
    for county_code, _, townships in COUNTIES:
        names = iter(village_names(county_code))
        for t, township_name in enumerate(townships):
            township_code = f"{county_code}{100 + t}"
            specs.append(RegionSpec(township_code, township_name, Region.Level.TOWNSHIP, county_code))
            for v in range(VILLAGES_PER_TOWNSHIP):
                specs.append(
                    RegionSpec(f"{township_code}{201 + v}", next(names), Region.Level.VILLAGE, township_code)
                )
    return specs


def village_order(specs: list[RegionSpec]) -> list[RegionSpec]:
    """Villages interleaved so that household i rotates over counties first, then townships:
    even a small N reaches every county and every township's first village."""
    by_county: dict[str, dict[str, list[RegionSpec]]] = {}
    for spec in specs:
        if spec.level == Region.Level.VILLAGE:
            by_county.setdefault(spec.code[:6], {}).setdefault(spec.code[:9], []).append(spec)
    columns = []
    for county in sorted(by_county):
        townships = [by_county[county][t] for t in sorted(by_county[county])]
        # j-th village of the county: township j % T, its (j // T)-th village.
        columns.append(
            [townships[j % len(townships)][j // len(townships)] for j in range(sum(map(len, townships)))]
        )
    return [column[j] for j in range(len(columns[0])) for column in columns]


def unit_name(spec: RegionSpec) -> str:
    if spec.level == Region.Level.CITY:
        return f"{spec.name}财政局"
    if spec.level == Region.Level.COUNTY:
        return f"{spec.name}金融扶贫服务中心"
    if spec.level == Region.Level.TOWNSHIP:
        return f"{spec.name}金融扶贫服务站"
    return f"{spec.name}金融扶贫服务部"


# --- households --------------------------------------------------------------------------------


@dataclass
class MemberPlan:
    name: str
    relation: str
    male: bool
    birth_date: datetime.date
    id_number: str = ""
    labor_capable: bool = False


@dataclass
class HouseholdPlan:
    household_no: str
    village_code: str
    status: str
    attribute: str
    identification_standard: str
    poverty_causes: list[str]
    per_capita_income: Decimal
    phone: str
    bank_name: str
    bank_account: str
    members: list[MemberPlan] = field(default_factory=list)

    @property
    def head(self) -> MemberPlan:
        return self.members[0]


class IdAllocator:
    """Hands out distinct valid ID numbers: make_resident_id has 500 sequences per county, birth
    date and gender; a taken one moves to the next free sequence (or the day before)."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def allocate(
        self, county: str, birth: datetime.date, male: bool, start: int
    ) -> tuple[str, datetime.date]:
        for day_shift in range(366):
            day = birth - datetime.timedelta(days=day_shift)  # earlier, so nobody gets too young
            for step in range(500):
                number = make_resident_id(county, day, (start + step) % 500, male=male)
                if number not in self.used:
                    self.used.add(number)
                    return number, day
        raise RuntimeError("no free resident ID number")  # pragma: no cover


def _members(rng: random.Random, size: int) -> list[MemberPlan]:
    """A plausible family of `size` people (fewer if the ages allow no more), head first."""
    head_male = rng.random() < 0.85
    surname = rng.choice(SURNAMES)
    head_birth = _random_birth(
        rng, _years_before(AS_OF, 70) + datetime.timedelta(days=1), _years_before(AS_OF, 25)
    )
    head_age = _age(head_birth)
    head = MemberPlan(surname + _given_name(rng, head_male), "户主", head_male, head_birth)
    members = [head]
    youngest_parent = head_birth

    if size > 1 and rng.random() < 0.85:
        spouse_birth = _random_birth(rng, _years_before(head_birth, 4), _years_before(head_birth, -4))
        spouse_birth = min(spouse_birth, _years_before(AS_OF, 22))
        spouse_male = not head_male
        youngest_parent = max(head_birth, spouse_birth)
        spouse_surname = rng.choice(SURNAMES)
        members.append(
            MemberPlan(spouse_surname + _given_name(rng, spouse_male), "配偶", spouse_male, spouse_birth)
        )

    if len(members) < size and head_age <= 52 and rng.random() < 0.35:
        parent_birth = _random_birth(rng, _years_before(head_birth, 32), _years_before(head_birth, 21))
        if _age(parent_birth) <= 92:
            mother = rng.random() < 0.7
            name = (rng.choice(SURNAMES) if mother else surname) + _given_name(rng, not mother)
            members.append(MemberPlan(name, "母亲" if mother else "父亲", not mother, parent_birth))

    # Children born when the head was 20 to 38 (and the spouse at least 20), none after the file date.
    child_ordinals = ("长", "次", "三")
    sons = daughters = 0
    last_child_birth = _years_before(youngest_parent, -19)
    children: list[MemberPlan] = []
    # Older heads keep one or two grown children at home, with the son's wife and grandchildren.
    max_children = 4 if head_age < 50 else rng.choice((1, 2))
    while len(members) < size and sons + daughters < max_children:
        earliest = max(last_child_birth + datetime.timedelta(days=300), _years_before(youngest_parent, -20))
        latest = min(_years_before(head_birth, -38), AS_OF - datetime.timedelta(days=30))
        if earliest > latest:
            break
        birth = _random_birth(rng, earliest, min(latest, earliest + datetime.timedelta(days=5 * 365)))
        male = rng.random() < 0.52
        if male and sons < 3:
            relation, sons = f"{child_ordinals[sons]}子", sons + 1
        elif not male and daughters < 3:
            relation, daughters = f"{child_ordinals[daughters]}女", daughters + 1
        else:
            break
        child = MemberPlan(surname + _given_name(rng, male), relation, male, birth)
        members.append(child)
        children.append(child)
        last_child_birth = birth

    # Older heads: the eldest son's wife and grandchildren live with them.
    eldest = next((c for c in children if c.relation == "长子" and _age(c.birth_date) >= 22), None)
    if eldest is not None and len(members) < size:
        wife_birth = _random_birth(
            rng, _years_before(eldest.birth_date, 3), _years_before(eldest.birth_date, -3)
        )
        wife_birth = min(wife_birth, _years_before(AS_OF, 20))
        members.append(MemberPlan(rng.choice(SURNAMES) + _given_name(rng, False), "儿媳", False, wife_birth))
        eldest_couple = max(eldest.birth_date, wife_birth)
    else:
        eldest_couple = None
    grandsons = granddaughters = 0
    if eldest_couple is not None:
        while len(members) < size and grandsons + granddaughters < 3:
            earliest = _years_before(eldest_couple, -21)
            latest = AS_OF - datetime.timedelta(days=30)
            if earliest > latest:
                break
            male = rng.random() < 0.52
            relation = "孙子" if male else "孙女"
            grandsons, granddaughters = grandsons + male, granddaughters + (not male)
            members.append(
                MemberPlan(
                    surname + _given_name(rng, male), relation, male, _random_birth(rng, earliest, latest)
                )
            )

    for member in members:
        age = _age(member.birth_date)
        member.labor_capable = 16 <= age <= 64 and rng.random() < 0.85
    return members


def plan_households(n: int) -> list[HouseholdPlan]:
    """The first n demo households, always the same ones."""
    rng = random.Random(SEED)
    villages = village_order(region_specs())
    ids = IdAllocator()
    banks_for = {code: [b for b in BANKS if code in b.counties] for code in ALL_COUNTY_CODES}
    county_names = {code: name for code, name, _ in COUNTIES}
    plans = []
    for i in range(n):
        village = villages[i % len(villages)]
        county = village.code[:6]
        size = int(_weighted(rng, SIZE_WEIGHTS))
        members = _members(rng, size)
        head_age = _age(members[0].birth_date)
        for member in members:
            member.id_number, member.birth_date = ids.allocate(
                county, member.birth_date, member.male, rng.randrange(500)
            )

        status = _weighted(rng, STATUS_WEIGHTS)
        if status == "non_poor":
            attribute, standard, causes = "", "", []
            income = rng.uniform(4500, 6000)
        else:
            if len(members) == 1 and head_age >= 60 and rng.random() < 0.6:
                attribute = "five_guarantee"
            else:
                attribute = "subsistence" if rng.random() < 0.2 else "general"
            standard = _weighted(rng, STANDARD_WEIGHTS)
            causes = [_weighted(rng, CAUSE_WEIGHTS)]
            if rng.random() < 0.4:
                second = _weighted(rng, CAUSE_WEIGHTS)
                if second != causes[0]:
                    causes.append(second)
            low, high = {"poor": (2000, 3300), "lifted": (3400, 6000), "monitored": (3000, 4500)}[status]
            income = rng.uniform(low, high)
        phone = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        bank = rng.choice(banks_for[county])
        account_digits = f"{rng.randrange(10**13):013d}"
        has_account = rng.random() < 0.9
        plans.append(
            HouseholdPlan(
                household_no=f"{village.code}{i // len(villages) + 1:05d}",
                village_code=village.code,
                status=status,
                attribute=attribute,
                identification_standard=standard,
                poverty_causes=causes,
                per_capita_income=Decimal(f"{income:.2f}"),
                phone=phone,
                bank_name=bank.branch_name.format(county=county_names[county]) if has_account else "",
                bank_account=bank.card_prefix + account_digits if has_account else "",
                members=members,
            )
        )
    return plans


# --- demo users --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    full_name: str
    region_code: str | None = None
    branch_code: str | None = None
    superuser: bool = False


def _person(username: str) -> str:
    rng = random.Random(f"{SEED}:user:{username}")
    male = rng.random() < 0.5
    return rng.choice(SURNAMES) + _given_name(rng, male)


def demo_users() -> list[DemoUser]:
    specs = {s.code: s for s in region_specs()}
    users = [
        DemoUser("admin", Role.ADMIN, "系统管理员", superuser=True),
        DemoUser("city", Role.CITY_FINANCE, f"{CITY_NAME}财政局 {_person('city')}", region_code=CITY_CODE),
        DemoUser(f"bank_{CITY_CODE}", Role.BANK_OFFICER, f"{CITY_BRANCH_NAME} {_person('bank_' + CITY_CODE)}",
                 branch_code=CITY_BRANCH_CODE),
    ]  # fmt: skip
    for index, (code, name, _) in enumerate(COUNTIES):
        township, village = f"{code}100", f"{code}100201"
        serving = [b for b in BANKS if code in b.counties]
        bank = serving[index % len(serving)]
        users += [
            DemoUser(f"county_{code}", Role.COUNTY_STAFF, f"{name}中心 {_person('county_' + code)}", region_code=code),
            DemoUser(f"township_{code}", Role.TOWNSHIP_OFFICER,
                     f"{specs[township].name}服务站 {_person('township_' + code)}", region_code=township),
            DemoUser(f"village_{code}", Role.VILLAGE_CLERK,
                     f"{specs[village].name}服务部 {_person('village_' + code)}", region_code=village),
            DemoUser(f"bank_{code}", Role.BANK_OFFICER,
                     f"{bank.branch_name.format(county=name)} {_person('bank_' + code)}", branch_code=f"{bank.code}-{code}"),
        ]  # fmt: skip
    return users


def demo_usernames() -> list[str]:
    return [u.username for u in demo_users()]


# --- writing -----------------------------------------------------------------------------------


@dataclass
class SeedResult:
    regions_created: int = 0
    units_created: int = 0
    branches_created: int = 0
    policies_created: int = 0
    users_created: int = 0
    households_created: int = 0
    members_created: int = 0
    households_skipped: int = 0  # already there
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    user_rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    ratings: object = None  # credit_rating.demo_data.RatingSeedResult


def _seed_regions(result: SeedResult) -> None:
    specs = region_specs()
    regions = Region.objects.in_bulk([s.code for s in specs])
    missing = []
    for s in specs:  # parents come first
        if s.code not in regions:
            region = Region(
                code=s.code, name=s.name, level=s.level, parent=regions.get(s.parent) if s.parent else None
            )
            region.clean()  # the 6+3+3 rule
            regions[s.code] = region
            missing.append(region)
    Region.objects.bulk_create(missing, batch_size=BATCH_SIZE)
    result.regions_created = len(missing)

    with_unit = set(
        ServiceUnit.objects.filter(region_id__in=[s.code for s in specs]).values_list("region_id", flat=True)
    )
    units = [
        ServiceUnit(region_id=s.code, kind=ServiceUnit.KIND_FOR_LEVEL[s.level], name=unit_name(s))
        for s in specs
        if s.code not in with_unit
    ]
    ServiceUnit.objects.bulk_create(units, batch_size=BATCH_SIZE)
    result.units_created = len(units)


def _seed_banks(result: SeedResult) -> None:
    county_names = {code: name for code, name, _ in COUNTIES}
    for spec in BANKS:
        bank, _ = Bank.objects.get_or_create(code=spec.code, defaults={"name": spec.name})
        for county in spec.counties:
            branch, created = BankBranch.objects.get_or_create(
                code=f"{spec.code}-{county}",
                defaults={"bank": bank, "name": spec.branch_name.format(county=county_names[county])},
            )
            result.branches_created += created
            branch.counties.add(county)  # no-op when already linked
    city_branch, created = BankBranch.objects.get_or_create(
        code=CITY_BRANCH_CODE,
        defaults={"bank": Bank.objects.get(code=CITY_BRANCH_BANK), "name": CITY_BRANCH_NAME},
    )
    result.branches_created += created
    city_branch.counties.add(*ALL_COUNTY_CODES)


# The demo's county change awaiting a second person: 上蔡县中心 proposes a longer notice period.
PROPOSING_COUNTY = "411722"
PROPOSED_CHANGES = {"notice_period_days": 7}
# And the city's change awaiting its second person (the admin: the demo city has one finance user).
PROPOSED_CITY_CHANGES = {"guarantee_fee_subsidy_household": Decimal("1.20")}


def _seed_policies(result: SeedResult) -> None:
    """The city's envelope (the seed's numbers, 驻政〔2017〕40号) and every county's row, approved.
    _seed_policy_proposal adds one county change proposed by 上蔡's county staff that a second
    person (another county staff of 上蔡, or the admin) has yet to approve."""
    CityPolicy.objects.get_or_create(
        city_id=CITY_CODE, effective_from=POLICY_DATE,
        defaults={"status": PolicyStatus.APPROVED, "review_note": "演示数据：驻政〔2017〕40号。"},
    )  # fmt: skip
    for county in ALL_COUNTY_CODES:
        _, created = CountyPolicy.objects.get_or_create(
            county_id=county, effective_from=POLICY_DATE, defaults={"status": PolicyStatus.APPROVED}
        )
        result.policies_created += created


def _first_of_next_month() -> datetime.date:
    return (today().replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


def _seed_policy_proposal(result: SeedResult) -> None:
    """One county change and one city change awaiting their second person (made once; after the
    users exist), so the policy pages (/policies/) show a pending proposal at each level."""
    if not CountyPolicy.objects.filter(county_id=PROPOSING_COUNTY, status=PolicyStatus.PROPOSED).exists():
        policy_propose(
            actor=User.objects.get(username=f"county_{PROPOSING_COUNTY}"),
            county=Region.objects.get(code=PROPOSING_COUNTY),
            effective_from=_first_of_next_month(),
            changes=PROPOSED_CHANGES,
        )
        result.policies_created += 1
    if not CityPolicy.objects.filter(city_id=CITY_CODE, status=PolicyStatus.PROPOSED).exists():
        city_policy_propose(
            actor=User.objects.get(username="city"),
            city=Region.objects.get(code=CITY_CODE),
            effective_from=_first_of_next_month(),
            changes=PROPOSED_CITY_CHANGES,
        )


def _demo_password_hash(users: list[User]) -> str:
    """One hash for every demo user: kept if it already matches (so a second run changes
    nothing), else made once, not once per user (PBKDF2 is slow on purpose)."""
    hashes = {u.password for u in users}
    if len(hashes) == 1:
        (current,) = hashes
        if current and check_password(DEMO_PASSWORD, current):
            return current
    return make_password(DEMO_PASSWORD)


def _seed_users(result: SeedResult) -> None:
    specs = demo_users()
    users = {}
    for spec in specs:
        user, created = User.objects.get_or_create(
            username=spec.username, defaults={"full_name": spec.full_name}
        )
        result.users_created += created
        users[spec.username] = user
    password = _demo_password_hash(list(users.values()))
    for spec in specs:
        user = users[spec.username]
        wanted = {"full_name": spec.full_name, "password": password, "is_active": True}
        if spec.superuser:
            wanted.update(is_superuser=True, is_staff=True)
        changed = [name for name, value in wanted.items() if getattr(user, name) != value]
        for name in changed:
            setattr(user, name, wanted[name])
        if changed:
            user.save(update_fields=changed)
        assignments = RoleAssignment.objects.filter(user=user, role=spec.role)
        if spec.branch_code:
            assignments = assignments.filter(branch__code=spec.branch_code)
        elif spec.region_code:
            assignments = assignments.filter(unit__region_id=spec.region_code)
        if not assignments.exists():
            role_assign(user=user, role=spec.role, region_code=spec.region_code, bank_code=spec.branch_code)
        assignment = assignments.select_related("unit", "branch").first()
        result.user_rows.append(
            (spec.username, DEMO_PASSWORD, Role(spec.role).label, assignment.org_unit_name)
        )
    _unlock(list(users))


def _unlock(usernames: list[str]) -> None:
    """Clear django-axes lock-outs of the demo users, so the printed password works at once."""
    from axes.models import AccessAttempt

    AccessAttempt.objects.filter(username__in=usernames).delete()


def _seed_households(n: int, result: SeedResult) -> None:
    from households.models import Household, Member
    from households.services import member_instance

    started = time.perf_counter()
    plans = plan_households(n)
    result.timings["plan"] = time.perf_counter() - started

    existing = set(Household.objects.values_list("household_no", flat=True))
    new = [p for p in plans if p.household_no not in existing]
    result.households_skipped = len(plans) - len(new)
    if not new:
        return
    _avoid_clashes(new)

    admin = User.objects.filter(username="admin").first()
    encrypt_seconds = insert_seconds = 0.0
    for start in range(0, len(new), BATCH_SIZE):
        batch = new[start : start + BATCH_SIZE]
        t0 = time.perf_counter()
        households = [_household_row(plan) for plan in batch]
        t1 = time.perf_counter()
        Household.objects.bulk_create(households, batch_size=BATCH_SIZE)
        if households and households[0].pk is None:  # a backend that returns no ids
            ids = dict(
                Household.objects.filter(household_no__in=[h.household_no for h in households]).values_list(
                    "household_no", "pk"
                )
            )
            for household in households:
                household.pk = ids[household.household_no]
        Household.history.bulk_history_create(
            households, batch_size=BATCH_SIZE, default_user=admin, default_change_reason=CHANGE_REASON
        )
        t2 = time.perf_counter()
        members = [
            member_instance(
                household=household,
                name=m.name,
                relation=m.relation,
                resident=ResidentId(m.id_number, m.birth_date, "male" if m.male else "female"),
                labor_capable=m.labor_capable,
            )
            for household, plan in zip(households, batch, strict=True)
            for m in plan.members
        ]
        t3 = time.perf_counter()
        Member.objects.bulk_create(members, batch_size=BATCH_SIZE)
        t4 = time.perf_counter()
        encrypt_seconds += (t1 - t0) + (t3 - t2)
        insert_seconds += (t2 - t1) + (t4 - t3)
        result.households_created += len(households)
        result.members_created += len(members)
    result.timings["encrypt"] = encrypt_seconds
    result.timings["insert"] = insert_seconds


def _avoid_clashes(new: list[HouseholdPlan]) -> None:
    """Households entered by hand may already use an ID number the plan gives a new demo member:
    such a member gets the next free number instead."""
    from households.models import Household, Member

    taken = set(Member.objects.values_list("id_hash", flat=True)) | set(
        Household.objects.values_list("head_id_hash", flat=True)
    )
    if not taken:
        return
    allocator = IdAllocator()
    allocator.used = {m.id_number for p in new for m in p.members}
    for plan in new:
        for member in plan.members:
            if pii.lookup_hash(member.id_number) in taken:
                while True:
                    number, day = allocator.allocate(plan.village_code[:6], member.birth_date, member.male, 0)
                    if pii.lookup_hash(number) not in taken:
                        break
                member.id_number, member.birth_date = number, day


def _household_row(plan: HouseholdPlan):
    from households.models import Household

    head = plan.head
    account = plan.bank_account
    return Household(
        household_no=plan.household_no,
        village_id=plan.village_code,
        head_name=head.name,
        head_id_enc=pii.encrypt(head.id_number),
        head_id_hash=pii.lookup_hash(head.id_number),
        head_id_masked=pii.mask(head.id_number),
        phone=plan.phone,
        member_count=len(plan.members),
        labor_count=sum(m.labor_capable for m in plan.members),
        status=plan.status,
        attribute=plan.attribute,
        identification_standard=plan.identification_standard,
        poverty_causes=plan.poverty_causes,
        per_capita_income=plan.per_capita_income,
        bank_name=plan.bank_name,
        bank_account_enc=pii.encrypt(account),
        bank_account_hash=pii.lookup_hash(account),
        bank_account_masked=pii.mask_account(account),
    )


def seed(*, households: int = DEFAULT_HOUSEHOLDS) -> SeedResult:
    """Create whatever of the demo data is missing. Safe to run again."""
    started = time.perf_counter()
    result = SeedResult()
    with transaction.atomic():
        t = time.perf_counter()
        _seed_regions(result)
        _seed_banks(result)
        _seed_policies(result)
        _seed_users(result)
        _seed_policy_proposal(result)
        result.timings["organization"] = time.perf_counter() - t
        _seed_households(households, result)
        t = time.perf_counter()
        from credit_rating.demo_data import seed_ratings  # a later app: scorecards and ratings

        result.ratings = seed_ratings(ALL_COUNTY_CODES)
        result.timings["ratings"] = time.perf_counter() - t
    result.seconds = time.perf_counter() - started
    return result


def counts() -> dict[str, int]:
    from households.models import Household, Member

    return {
        "regions": Region.objects.count(),
        "service_units": ServiceUnit.objects.count(),
        "bank_branches": BankBranch.objects.count(),
        "policies": CountyPolicy.objects.count(),
        "households": Household.objects.count(),
        "members": Member.objects.count(),
        "users": User.objects.count(),
        **_rating_counts(),
    }


def _rating_counts() -> dict[str, int]:
    from credit_rating.models import CreditLineFreeze, Rating, Scorecard

    return {
        "scorecards": Scorecard.objects.count(),
        "ratings": Rating.objects.count(),
        "credit_freezes": CreditLineFreeze.objects.count(),
    }


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def format_table(headers: list[str], rows: list[tuple]) -> str:
    """A plain-text table whose columns line up with Chinese (double-width) characters."""
    cells = [list(map(str, headers))] + [list(map(str, row)) for row in rows]
    widths = [max(display_width(row[i]) for row in cells) for i in range(len(headers))]

    def line(row):
        return "  ".join(
            cell + " " * (width - display_width(cell)) for cell, width in zip(row, widths, strict=True)
        )

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])]).rstrip()
