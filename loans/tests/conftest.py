"""Fixtures of the loans tests, on top of the personas of the root conftest.py."""

import pytest

from .factories import fund_deposit, rate


@pytest.fixture
def lending(regions, banks, personas, households):
    """上蔡 and 西平 can lend: each county has its fund; the households of A1, B1 and X1 are rated
    AA (credit line 40,000)."""
    for county in ("shangcai", "xiping"):
        fund_deposit(regions[county], actor=personas["admin"])
    for household in households.values():
        rate(household, actor=personas["county_staff"])
    return households
