"""GET /api/v1/dashboard/: shape, snapshot dates, scope (each persona sees what it should, the
outsider gets 404), and the trend."""

import datetime

import pytest

from reporting.rollups import compute_rollups

from .conftest import AS_OF

pytestmark = pytest.mark.django_db
URL = "/api/v1/dashboard/"
EARLIER = AS_OF - datetime.timedelta(days=30)


@pytest.fixture
def computed(city):
    compute_rollups(as_of=EARLIER)
    compute_rollups(as_of=AS_OF)
    return city


FIELDS = {
    "region", "name", "level", "registered_households", "borrowed_households_cumulative",
    "borrowed_households_current", "coverage_cumulative", "coverage_current", "rated_households", "rating_coverage",
    "principal_outstanding", "npl_principal", "npl_ratio", "written_off_principal", "subsidy_paid", "fund_balance", "households",
    "covered_outstanding", "leverage_cap", "leverage_used",
}  # fmt: skip


def test_the_shape_of_the_county_dashboard(api, personas, computed):
    body = api(personas["county_staff"]).get(URL, {"region": "411722"}).json()
    assert set(body) == FIELDS | {"as_of", "children", "target"}
    assert {k: body[k] for k in ("region", "level", "as_of")} == {
        "region": "411722",
        "level": "county",
        "as_of": "2019-06-30",
    }
    assert body["registered_households"] == 6 and body["borrowed_households_cumulative"] == 4
    assert (body["coverage_cumulative"], body["coverage_current"], body["rating_coverage"]) == (
        "66.67",
        "33.33",
        "42.86",
    )
    # h6's 9,000 written off is its own figure, in neither the outstanding nor the NPL principal.
    assert (body["principal_outstanding"], body["npl_principal"], body["npl_ratio"]) == (
        "175000.00",
        "150000.00",
        "85.71",
    )
    assert body["written_off_principal"] == "9000.00"
    assert (body["subsidy_paid"], body["fund_balance"]) == ("1000.00", "20000000.00")
    assert [c["region"] for c in body["children"]] == ["411722100", "411722101"]
    town_a = body["children"][0]
    assert set(town_a) == FIELDS and town_a["name"] == "甲镇" and town_a["npl_ratio"] == "80.00"
    assert (town_a["written_off_principal"], body["children"][1]["written_off_principal"]) == (
        "9000.00",
        "0.00",
    )
    assert town_a["fund_balance"] is None
    # Past the last due date (2018-12-31): the 100 % target, behind.
    assert body["target"]["value"] == "100.00" and body["target"]["due_on"] == "2018-12-31"
    assert body["target"]["actual"] == "66.67" and body["target"]["on_track"] is False


def test_as_of_picks_the_latest_snapshot_on_or_before_it(api, personas, computed):
    client = api(personas["city"])
    assert client.get(URL, {"region": "411700"}).json()["as_of"] == "2019-06-30"
    assert client.get(URL, {"region": "411700", "as_of": "2019-06-29"}).json()["as_of"] == "2019-05-31"
    assert client.get(URL, {"region": "411700", "as_of": "2019-07-31"}).json()["as_of"] == "2019-06-30"
    response = client.get(URL, {"region": "411700", "as_of": "2019-05-30"})
    assert (response.status_code, response.json()["code"]) == (400, "no_snapshot")
    assert "2019-05-30" in response.json()["detail"]
    assert client.get(URL, {"region": "411700", "as_of": "30/05/2019"}).json()["code"] == "invalid"


def test_no_snapshot_at_all_is_a_clear_400(api, personas, regions):
    response = api(personas["city"]).get(URL)
    assert (response.status_code, response.json()["code"]) == (400, "no_snapshot")
    assert "日终任务" in response.json()["detail"]


CITY = ["411721", "411722"]
# persona -> (default region, its children, regions it may open, regions that answer 404)
MATRIX = {
    "city": ("411700", CITY, ["411700", "411722", "411721100201"], []),
    "admin": ("411700", CITY, ["411700", "411721"], []),
    "county_staff": ("411722", ["411722100", "411722101"], ["411722", "411722101201"], ["411700", "411721"]),
    "township_a": ("411722100", ["411722100201", "411722100202"], ["411722100201"], ["411722", "411722101", "411700"]),
    "township_b": ("411722101", ["411722101201"], ["411722101201"], ["411722100", "411722100201", "411722"]),
    "village_a1": ("411722100201", [], [], ["411722100202", "411722100", "411722"]),
    "bank_x": ("411722", ["411722100", "411722101"], ["411722100201"], ["411700", "411721", "411721100"]),
    "bank_y": ("411721", ["411721100"], ["411721100201"], ["411700", "411722", "411722100"]),
}  # fmt: skip


@pytest.mark.parametrize("who", MATRIX)
def test_each_persona_sees_its_regions_and_404_outside(api, personas, computed, who):
    home, children, visible, hidden = MATRIX[who]
    client = api(personas[who])
    body = client.get(URL).json()
    assert body["region"] == home and [c["region"] for c in body["children"]] == children
    for code in visible:
        assert client.get(URL, {"region": code}).status_code == 200, code
    for code in hidden:
        response = client.get(URL, {"region": code})
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), code
    assert client.get(URL, {"region": "411799"}).status_code == 404  # missing: the same answer


def test_nobody_and_anonymous(api, personas, computed):
    assert api(personas["nobody"]).get(URL).status_code == 404
    assert api(personas["nobody"]).get(URL, {"region": "411700"}).status_code == 404
    assert api(None).get(URL).status_code == 401


def test_the_dashboard_is_a_fixed_number_of_queries(api, personas, computed, django_assert_num_queries):
    client = api(personas["city"])
    client.get(URL, {"region": "411722100201"})  # the caller's roles are read once and kept on the user
    # the snapshot's version, its row, children, ancestors, targets, the pace's earlier snapshots (2)
    with django_assert_num_queries(7):
        assert client.get(URL, {"region": "411722"}).status_code == 200
    with django_assert_num_queries(1):  # then from the cache: the snapshot's version only
        assert client.get(URL, {"region": "411722"}).status_code == 200


def test_a_recomputed_date_is_never_served_from_the_cache(api, personas, computed, banks, regions):
    from households.tests.factories import HouseholdFactory

    from .conftest import make_loan

    client = api(personas["county_staff"])
    assert client.get(URL).json()["borrowed_households_cumulative"] == 4
    # A new poor household of A2 borrows (h5 has its one outstanding loan already).
    newcomer = HouseholdFactory(village=regions["village_a2"], status="poor")
    make_loan(newcomer, bank=banks["x"], actor=personas["admin"], amount="1000")
    compute_rollups(as_of=AS_OF)
    body = client.get(URL).json()
    assert (
        body["borrowed_households_cumulative"] == 5
        and body["children"][0]["borrowed_households_cumulative"] == 4
    )


def test_the_trend(api, personas, computed):
    rows = api(personas["county_staff"]).get(f"{URL}trend/", {"region": "411722"}).json()
    assert [r["as_of"] for r in rows] == ["2019-05-31", "2019-06-30"]
    assert rows[-1]["borrowed_households_cumulative"] == 4
    assert api(personas["county_staff"]).get(f"{URL}trend/", {"region": "411721"}).status_code == 404


@pytest.mark.parametrize("month", ["0000-01", "9999-12"])
def test_a_monthly_report_for_an_impossible_year_is_a_400(api, personas, regions, month):
    """Found by fuzzing: year 0 (and 9999-12, whose month end is in year 10000) raised ValueError."""
    response = api(personas["city"]).get("/api/v1/reports/monthly.xlsx", {"month": month})
    assert response.status_code == 400
    assert "month" in response.json()["errors"]
