import datetime

import factory

from enterprises.credit_code import ALPHABET, make_credit_code
from enterprises.models import BenefitLink, Enterprise, EnterpriseKind, LinkMode


def credit_code_for(n: int, *, region: str = "411722", prefix: str = "93") -> str:
    """The n-th valid test code: organisation code MA + 7 characters from n."""
    digits, value = [], n
    for _ in range(7):
        value, rest = divmod(value, len(ALPHABET))
        digits.append(ALPHABET[rest])
    return make_credit_code(prefix, region, "MA" + "".join(reversed(digits)))


class EnterpriseFactory(factory.django.DjangoModelFactory):
    """An enterprise in a township (pass township=<Region>); its county follows the township."""

    class Meta:
        model = Enterprise

    name = factory.Sequence(lambda n: f"测试种植专业合作社{n}")
    credit_code = factory.Sequence(lambda n: credit_code_for(n + 1))
    kind = EnterpriseKind.COOPERATIVE
    founded_on = datetime.date(2014, 3, 1)
    township = None  # required
    county = factory.LazyAttribute(lambda o: o.township.parent)
    legal_rep = factory.Sequence(lambda n: f"李{n}")
    contact_name = ""
    contact_phone = "13800138000"


class BenefitLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BenefitLink

    enterprise = None  # required
    household = None  # required
    mode = LinkMode.PRODUCTION
    start_date = datetime.date(2017, 1, 1)
    end_date = None
    annual_benefit = 3000
    created_by = None  # required


def matrix_enterprises(regions, households, actor) -> dict:
    """For tests/test_scope_matrix.py: one enterprise in township A ("a"), township B ("b") and
    西平 ("x"), each leading the household of its place (a1, b1, x1) through 2017."""
    made = {}
    for key, township in (("a", "town_a"), ("b", "town_b"), ("x", "town_x")):
        enterprise = EnterpriseFactory(
            township=regions[township], name=f"矩阵企业{key}", founded_on=datetime.date(2014, 1, 1),
            credit_code=credit_code_for(7000 + ord(key), region=regions[township].code[:6]),
        )  # fmt: skip
        BenefitLinkFactory(
            enterprise=enterprise, household=households[f"{key}1"], created_by=actor,
            start_date=datetime.date(2017, 1, 1), end_date=datetime.date(2017, 12, 31),
        )  # fmt: skip
        made[key] = enterprise
    return made
