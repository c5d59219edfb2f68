"""Test data for credit ratings: scorecards published through the service, ratings built directly
(for reads) or walked through the workflow (for the rules), and a fixture set on top of the
personas of conftest.py."""

import datetime
from decimal import Decimal

import factory

from common.clock import today
from common.dates import add_months
from credit_rating import services
from credit_rating.models import Rating, RatingEvent, RatingStatus, Scorecard
from organization.models import Region

SCORECARD_DATE = datetime.date(2017, 7, 19)
ENTERED = (
    "law_abiding", "family_harmony", "neighbourliness", "responsibility", "credit_awareness",
    "repayment_security", "work_capacity", "will_to_prosper", "business_project",
)  # fmt: skip


def publish_default(
    county: Region, *, effective_from: datetime.date = SCORECARD_DATE, actor=None
) -> Scorecard:
    return services.scorecard_publish_default(actor=actor, county=county, effective_from=effective_from)


def full_scores(value="8") -> dict:
    """Every entered indicator of the default scorecard at `value`."""
    return {code: value for code in ENTERED}


class RatingFactory(factory.django.DjangoModelFactory):
    """A rating row as the workflow would leave it, without walking it (for reads). Pass
    household=..., scorecard=..., drafted_by=...; status approved fills the dates."""

    class Meta:
        model = Rating
        skip_postgeneration_save = True

    household = None
    scorecard = None
    drafted_by = None
    status = RatingStatus.DRAFT
    scores = factory.LazyFunction(lambda: {**full_scores(), "labor_share": "10.00", "income": "5.33"})
    score = Decimal("87.46")
    grade = "AA"
    credit_line = Decimal("40000.00")
    approved_on = factory.LazyAttribute(
        lambda o: today() if o.status in (RatingStatus.APPROVED, RatingStatus.SUPERSEDED) else None
    )
    valid_until = factory.LazyAttribute(
        lambda o: add_months(o.approved_on, 12) - datetime.timedelta(days=1) if o.approved_on else None
    )

    @factory.post_generation
    def created_event(rating, create, extracted, **kwargs):
        if create:
            RatingEvent.objects.create(
                rating=rating, action="create", actor=rating.drafted_by, to_status="draft"
            )


def walk(rating: Rating, *, to: str, clerk, township, county, reason: str = "评分依据不足") -> Rating:
    """Move a draft along the workflow through the services, each step by its proper persona."""
    steps = {
        RatingStatus.SUBMITTED: [("submit", clerk)],
        RatingStatus.REVIEWED: [("submit", clerk), ("review", township)],
        RatingStatus.APPROVED: [("submit", clerk), ("review", township), ("approve", county)],
        RatingStatus.REJECTED: [("submit", clerk), ("reject", township)],
    }[to]
    for action, actor in steps:
        rating = services.rating_transition(
            actor=actor, rating=rating, action=action, comment=reason if action == "reject" else ""
        )
    return rating
