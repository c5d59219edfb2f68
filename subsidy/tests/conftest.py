"""Fixtures of the subsidy tests, on top of the personas of the root conftest.py."""

import pytest

from organization.models import Role
from organization.tests.factories import UserFactory, assign


@pytest.fixture
def checker(regions):
    """A second county staff member of 上蔡: approves what county_staff computed."""
    return assign(UserFactory(username="county_checker"), Role.COUNTY_STAFF, region=regions["shangcai"])
