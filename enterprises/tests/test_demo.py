"""The demo enterprises: valid, linked to poor households of their own county, idempotent."""

import pytest

from enterprises import demo
from enterprises.credit_code import parse_credit_code
from enterprises.models import BenefitLink, Enterprise, RecognitionEvent
from enterprises.selectors import enterprise_eligibility
from organization import demo_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded():
    demo_data.seed(households=200)
    return demo.seed()


def test_plan_is_deterministic_and_valid():
    plans = demo.plan_enterprises()
    assert plans == demo.plan_enterprises()
    assert len(plans) == demo.PER_COUNTY * len(demo_data.COUNTIES)
    assert len({p.credit_code for p in plans}) == len(plans)
    for plan in plans:
        assert parse_credit_code(plan.credit_code) == plan.credit_code
        assert plan.credit_code[2:8] == plan.county_code
        assert plan.township_code.startswith(plan.county_code)


def test_seed_links_and_recognises(seeded):
    assert seeded.enterprises_created == 40 and seeded.total == 40
    assert seeded.recognised == 30
    assert Enterprise.objects.filter(recognized=True).count() == 30
    assert seeded.links_created == BenefitLink.objects.count() > 0
    for link in BenefitLink.objects.select_related("enterprise", "household"):
        assert link.household.village_id[:6] == link.enterprise.county_id
        assert link.household.status != "non_poor"
        assert link.start_date >= link.enterprise.founded_on
    # With 200 households (20 per county) the first enterprises of each county get their 5-20.
    counts = [e.links.count() for e in Enterprise.objects.order_by("pk")]
    assert counts[0] >= 5
    some = Enterprise.objects.filter(recognized=True, links__isnull=False).distinct().first()
    result = enterprise_eligibility(some, on=some.recognized_on)
    assert result.recognised


def test_seed_again_changes_nothing(seeded):
    before = (Enterprise.objects.count(), BenefitLink.objects.count(), RecognitionEvent.objects.count())
    again = demo.seed()
    assert (again.enterprises_created, again.links_created, again.recognised) == (0, 0, 0)
    assert (
        Enterprise.objects.count(),
        BenefitLink.objects.count(),
        RecognitionEvent.objects.count(),
    ) == before
    assert "带贫企业：共 40 家" in again.summary()


def test_seed_without_users_does_nothing():
    assert demo.seed().total == 0
