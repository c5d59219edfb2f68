"""Fixtures of the fund's tests, on top of the personas of the root conftest.py: each county has
its fund (20,000,000 yuan), and 上蔡 has a second county clerk (the payer: the verifier may not
pay)."""

import pytest

from organization.models import Role
from organization.tests.factories import UserFactory, assign

from .factories import fund_deposit, overdue_loan


@pytest.fixture
def p(personas, regions):
    return {
        **personas,
        "county2": assign(UserFactory(username="county2"), Role.COUNTY_STAFF, region=regions["shangcai"]),
    }


@pytest.fixture
def funds(regions, p):
    for county in ("shangcai", "xiping"):
        fund_deposit(regions[county], actor=p["admin"])
    return regions


@pytest.fixture
def loan(funds, banks, p):
    """A 上蔡 loan of village A1 at bank X, 120 days past due."""
    return overdue_loan(funds, banks, p)
