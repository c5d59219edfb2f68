"""Shared fixtures: a small region tree and the personas of ARCHITECTURE.md.

上蔡县 411722 has township A (411722100, village A1 411722100201) and township B (411722101,
village B1 411722101201); 西平县 411721 is another county. Bank X serves 上蔡县, bank Y serves
西平县. Personas: county staff of 上蔡, township officers of A and B (B is the outsider), village
clerk of A1, bank officers of X and Y, a city finance viewer, an admin.
"""

import os

import pytest
from rest_framework.test import APIClient

from households.tests.factories import HouseholdFactory
from organization.models import Region, Role
from organization.tests.factories import BankBranchFactory, BankFactory, RegionFactory, UserFactory, assign

IN_CI = os.environ.get("CI", "").lower() == "true"

# The keys of the `personas` fixture, for parametrizing over them.
PERSONA_NAMES = (
    "county_staff", "township_a", "township_b", "village_a1", "bank_x", "bank_y", "city", "admin", "nobody",
)  # fmt: skip


def require_service(available: bool, what: str):
    """Skip when a service is missing on a developer machine; under CI=true, fail instead."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is not available")
    pytest.skip(f"{what} not available")


def ensure_benchmark_rates() -> None:
    """The rates the loans migration writes. A transactional test flushes every table when it ends,
    migration data included, so the fixtures put them back for the tests that follow."""
    import importlib

    from django.apps import apps

    importlib.import_module("loans.migrations.0002_benchmark_rates").add_rates(apps, None)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """On PostgreSQL, lets the test database truncate the audit trail (common migration 0005 refuses
    TRUNCATE unless fupin.audit_allow_truncate is on), because Django flushes a transactional
    test's tables with TRUNCATE. Set on the database for later sessions and on this one."""
    from django.db import connections

    with django_db_blocker.unblock():
        for connection in connections.all():
            if connection.vendor != "postgresql":
                continue
            with connection.cursor() as cursor:
                name = connection.ops.quote_name(connection.settings_dict["NAME"])
                cursor.execute(f"ALTER DATABASE {name} SET fupin.audit_allow_truncate = 'on'")
                cursor.execute("SET fupin.audit_allow_truncate = 'on'")


@pytest.fixture
def regions(db):
    ensure_benchmark_rates()
    city = RegionFactory(code="411700", name="驻马店市", level=Region.Level.CITY)
    shangcai = RegionFactory(code="411722", name="上蔡县", level=Region.Level.COUNTY, parent=city)
    xiping = RegionFactory(code="411721", name="西平县", level=Region.Level.COUNTY, parent=city)
    town_a = RegionFactory(code="411722100", name="甲镇", level=Region.Level.TOWNSHIP, parent=shangcai)
    town_b = RegionFactory(code="411722101", name="乙镇", level=Region.Level.TOWNSHIP, parent=shangcai)
    town_x = RegionFactory(code="411721100", name="西平丙镇", level=Region.Level.TOWNSHIP, parent=xiping)
    return {
        "city": city,
        "shangcai": shangcai,
        "xiping": xiping,
        "town_a": town_a,
        "town_b": town_b,
        "town_x": town_x,
        "village_a1": RegionFactory(
            code="411722100201", name="甲一村", level=Region.Level.VILLAGE, parent=town_a
        ),
        "village_a2": RegionFactory(
            code="411722100202", name="甲二村", level=Region.Level.VILLAGE, parent=town_a
        ),
        "village_b1": RegionFactory(
            code="411722101201", name="乙一村", level=Region.Level.VILLAGE, parent=town_b
        ),
        "village_x1": RegionFactory(
            code="411721100201", name="丙一村", level=Region.Level.VILLAGE, parent=town_x
        ),
    }


@pytest.fixture
def banks(regions):
    bank_x = BankFactory(code="PSBC", name="邮储银行")
    bank_y = BankFactory(code="ZYRCB", name="中原农商银行")
    return {
        "x": bank_x,
        "y": bank_y,
        "branch_x": BankBranchFactory(
            bank=bank_x, code="PSBC-411722", name="邮储银行上蔡支行", counties=[regions["shangcai"]]
        ),  # fmt: skip
        "branch_y": BankBranchFactory(
            bank=bank_y, code="ZYRCB-411721", name="中原农商银行西平支行", counties=[regions["xiping"]]
        ),  # fmt: skip
    }


@pytest.fixture
def personas(regions, banks):
    r = regions
    return {
        "county_staff": assign(UserFactory(username="county"), Role.COUNTY_STAFF, region=r["shangcai"]),
        "township_a": assign(UserFactory(username="town_a"), Role.TOWNSHIP_OFFICER, region=r["town_a"]),
        "township_b": assign(UserFactory(username="town_b"), Role.TOWNSHIP_OFFICER, region=r["town_b"]),
        "village_a1": assign(UserFactory(username="village_a1"), Role.VILLAGE_CLERK, region=r["village_a1"]),
        "bank_x": assign(UserFactory(username="bank_x"), Role.BANK_OFFICER, branch=banks["branch_x"]),
        "bank_y": assign(UserFactory(username="bank_y"), Role.BANK_OFFICER, branch=banks["branch_y"]),
        "city": assign(UserFactory(username="city"), Role.CITY_FINANCE, region=r["city"]),
        "admin": assign(UserFactory(username="admin", is_staff=True), Role.ADMIN),
        "nobody": UserFactory(username="nobody"),
    }


@pytest.fixture
def households(regions):
    """One household in each of villages A1, B1 and 西平 X1."""
    return {
        "a1": HouseholdFactory(village=regions["village_a1"]),
        "b1": HouseholdFactory(village=regions["village_b1"]),
        "x1": HouseholdFactory(village=regions["village_x1"]),
    }


@pytest.fixture
def api():
    """api(user) -> an APIClient authenticated as the user (None for anonymous)."""

    def make(user=None):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def admin_client(client, personas):
    """The admin persona made superuser and logged in, for the Django admin site's model pages
    (pytest-django's own admin_client would bring a user outside the personas)."""
    personas["admin"].is_superuser = True
    personas["admin"].save()
    client.force_login(personas["admin"])
    return client


@pytest.fixture
def client_for(client):
    """client_for(user) -> Django's test client, logged in as the user (for the pages)."""

    def login(user):
        client.force_login(user)
        return client

    return login
