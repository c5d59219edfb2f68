"""Fixtures of the cross-app tests (the scope matrix and the access-control tests)."""

import pytest

from enterprises.tests.factories import matrix_enterprises


@pytest.fixture
def world(regions, banks, personas, households, settings, tmp_path):
    """The scope matrix's world: the root fixtures and an enterprise in townships A, B and 西平;
    the rest (loans, ratings, claims, batches, import jobs) is made on first use by the cases."""
    settings.MEDIA_ROOT = tmp_path  # uploaded and generated files (imports)
    return {
        "regions": regions,
        "banks": banks,
        "personas": personas,
        "households": households,
        "enterprises": matrix_enterprises(regions, households, personas["admin"]),
    }
