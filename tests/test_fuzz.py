"""API fuzzing: schemathesis generates requests for every operation of /api/v1/schema/ and sends them
in-process (WSGI) as an authenticated persona of each role, over a small county with households,
ratings, a fund and loans at several workflow steps.

Every response must not be a server error, and every documented response must match the schema.

The number of examples per operation is FUZZ_EXAMPLES (default 5, so the suite stays fast);
`make fuzz` runs the same file with many more.
"""

import json
import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from loans.tests.factories import apply, fund_deposit, rate, walk
from organization.tests.factories import api_token_for

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))

# One persona of each role (keys of the root conftest's `personas`).
ROLES = ("county_staff", "township_a", "village_a1", "bank_x", "city", "admin")


def _generated_schema() -> dict:
    """The document /api/v1/schema/ serves, generated in-process: that route wants a signed-in
    caller, and no user exists while the tests are being collected. Through the JSON renderer, as
    the route sends it."""
    from drf_spectacular.generators import SchemaGenerator  # noqa: PLC0415
    from drf_spectacular.renderers import OpenApiJsonRenderer  # noqa: PLC0415

    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


schema = schemathesis.openapi.from_dict(_generated_schema())
schema.app = get_wsgi_application()
# The coverage phase (every boundary case the schema defines, whatever max_examples says) takes
# minutes: only the long run (`make fuzz`) has it.
schema.config.phases.coverage.enabled = EXAMPLES > 10


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """The raw WSGI handler closes the database connection at the end of each request (Django's
    test client switches that off); here it would close the test's own transaction on PostgreSQL."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_tokens(regions, banks, personas, households):
    """The lending set-up of loans/tests/conftest.py, loans of A1 at several steps, and a DRF
    token for each role."""
    for county in ("shangcai", "xiping"):
        fund_deposit(regions[county], actor=personas["admin"])
    for household in households.values():
        rate(household, actor=personas["county_staff"])
    bank = banks["x"]
    # One open loan per household: A1's walked to active, B1's left a draft.
    walk(apply(households["a1"], actor=personas["village_a1"], bank=bank), to="active", personas=personas)
    apply(households["b1"], actor=personas["county_staff"], bank=bank)
    return {role: api_token_for(personas[role]) for role in ROLES}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    # The fixture's data lives for the whole test; the examples share it on purpose.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
    derandomize=EXAMPLES <= 10,
    database=None,
)
def test_api(case, fuzz_tokens):
    for role, key in fuzz_tokens.items():
        try:
            case.call_and_validate(
                headers={"Authorization": f"Token {key}"},
                checks=[not_a_server_error, response_schema_conformance],
            )
        except Exception as exc:
            exc.add_note(f"as {role}")
            raise
