"""Fixtures of the credit_rating tests, on top of the personas of the root conftest.py."""

import pytest

from credit_rating import services
from credit_rating.models import RatingStatus
from organization.models import Role
from organization.tests.factories import UserFactory, assign

from .factories import full_scores, publish_default, walk


@pytest.fixture
def scorecards(regions):
    """The default scorecard in 上蔡 and 西平."""
    return {"shangcai": publish_default(regions["shangcai"]), "xiping": publish_default(regions["xiping"])}


@pytest.fixture
def county2(regions):
    """A second county officer of 上蔡: approves what county_staff drafted or submitted."""
    return assign(UserFactory(username="county2"), Role.COUNTY_STAFF, region=regions["shangcai"])


@pytest.fixture
def workflow(personas, households, scorecards, county2):
    """rate(household, to=status) -> a rating of a 上蔡 household walked to `to` through the
    services by the proper personas (the village clerk drafts in A1, county staff elsewhere)."""
    p = personas

    def rate(household, *, to=RatingStatus.DRAFT, scores=None):
        in_a1 = household.village_id == "411722100201"
        clerk = p["village_a1"] if in_a1 else p["county_staff"]
        rating = services.rating_create(
            actor=clerk, household=household, scores=full_scores() if scores is None else scores
        )
        if to == RatingStatus.DRAFT:
            return rating
        township = p["township_a"] if household.village_id.startswith("411722100") else p["township_b"]
        county = p["county_staff"] if in_a1 else county2
        return walk(rating, to=to, clerk=clerk, township=township, county=county)

    return rate
