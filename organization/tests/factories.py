import factory

from organization.models import (
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


class RegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Region
        django_get_or_create = ("code",)
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"4117{n:02d}")
    name = factory.Sequence(lambda n: f"区划{n}")
    level = Region.Level.COUNTY

    @factory.post_generation
    def with_unit(region, create, extracted, **kwargs):
        """Each region has its service unit (the three tiers, and the city office)."""
        if create and region.level in ServiceUnit.KIND_FOR_LEVEL:
            kind = ServiceUnit.KIND_FOR_LEVEL[region.level]
            ServiceUnit.objects.get_or_create(
                region=region, defaults={"kind": kind, "name": f"{region.name}{kind.label}"}
            )


class BankFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Bank
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"BANK{n}")
    name = factory.Sequence(lambda n: f"银行{n}")


class BankBranchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BankBranch
        django_get_or_create = ("code",)
        skip_postgeneration_save = True

    bank = factory.SubFactory(BankFactory)
    code = factory.Sequence(lambda n: f"BR{n}")
    name = factory.Sequence(lambda n: f"网点{n}")

    @factory.post_generation
    def counties(branch, create, extracted, **kwargs):
        if create and extracted:
            branch.counties.set(extracted)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    full_name = factory.Sequence(lambda n: f"用户{n}")
    password = factory.django.Password("correct-horse-battery")


def assign(user: User, role: str, *, region: Region | None = None, branch: BankBranch | None = None) -> User:
    unit = ServiceUnit.objects.get(region=region) if region is not None else None
    RoleAssignment.objects.create(user=user, role=role, unit=unit, branch=branch)
    return user


def approved_policy(**fields) -> CountyPolicy:
    """A county row in force, as if proposed and approved by two people: for tests of the rules
    that read policy numbers (policy_propose/policy_approve have tests of their own)."""
    return CountyPolicy.objects.create(status=PolicyStatus.APPROVED, **fields)


def approved_city_policy(**fields) -> CityPolicy:
    return CityPolicy.objects.create(status=PolicyStatus.APPROVED, **fields)


def reviewer() -> User:
    """A second person to approve what a test's persona proposes (an admin, made once)."""
    user = UserFactory(username="policy-reviewer")
    if not user.role_assignments.exists():
        assign(user, Role.ADMIN)
    return user


def policy_in_force(*, actor, county, effective_from, changes) -> CountyPolicy:
    """services.policy_propose by `actor`, then approved by reviewer()."""
    from organization.services import policy_approve, policy_propose

    row = policy_propose(actor=actor, county=county, effective_from=effective_from, changes=changes)
    return policy_approve(actor=reviewer(), policy=row)


def api_token_for(user) -> str:
    """A fresh API token of the user (the key; the table keeps only its hash)."""
    from organization.tokens import token_issue

    return token_issue(user=user)[0]
