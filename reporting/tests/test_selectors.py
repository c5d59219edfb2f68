"""Targets and their projection, the county assessment, the dashboard's home region."""

import datetime
from decimal import Decimal

import pytest

from reporting import selectors
from reporting.models import AssessmentWeights, CoverageTarget, RegionRollup
from reporting.rollups import compute_rollups

from .conftest import AS_OF

pytestmark = pytest.mark.django_db
D = datetime.date


def snapshot(code, on, *, registered=100, borrowed=0, level="county", parent="411700"):
    return RegionRollup.objects.create(
        region_id=code, as_of=on, level=level, parent_code=parent, registered_households=registered,
        borrowed_households_cumulative=borrowed,
    )  # fmt: skip


def test_the_seed_targets_are_dated_rows():
    rows = [(t.due_on, t.value, t.strict, t.region_id) for t in CoverageTarget.objects.order_by("due_on")]
    assert rows == [
        (D(2017, 12, 31), Decimal("10.00"), True, None),
        (D(2018, 12, 31), Decimal("100.00"), False, None),
    ]


def due(code, on):
    return selectors.target_in_force(code, as_of=on).due_on


def test_the_target_in_force_is_the_next_due_one_then_the_last(regions):
    assert due("411722", D(2017, 6, 30)) == due("411722", D(2017, 12, 31)) == D(2017, 12, 31)
    assert due("411722100201", D(2018, 1, 1)) == D(2018, 12, 31)
    assert due("411700", D(2020, 1, 1)) == D(2018, 12, 31)
    # A county's own row applies to it and below it, instead of the city's rows.
    CoverageTarget.objects.create(region=regions["shangcai"], due_on=D(2018, 6, 30), value=Decimal("50"))
    assert selectors.target_in_force("411722100201", as_of=D(2018, 1, 1)).value == Decimal("50.00")
    assert selectors.target_in_force("411722", as_of=D(2019, 1, 1)).due_on == D(2018, 6, 30)
    assert selectors.target_in_force("411721", as_of=D(2018, 1, 1)).value == Decimal("100.00")


def test_projection_at_the_current_pace(regions):
    snapshot("411722", D(2017, 12, 1), borrowed=5)  # older than the window: not used
    snapshot("411722", D(2018, 1, 1), borrowed=20)
    snapshot("411722", D(2018, 2, 1), borrowed=30)  # within 90 days: not used
    snapshot("411722", D(2018, 4, 1), borrowed=38)
    progress = selectors.target_progress(region_code="411722", as_of=D(2018, 4, 1))
    # 18 points in 90 days = 0.2 a day; 62 to go = 310 days from 2018-04-01, after the due date.
    assert progress == {
        "indicator": "coverage_cumulative", "value": Decimal("100.00"), "strict": False, "due_on": D(2018, 12, 31),
        "actual": Decimal("38.00"), "progress": Decimal("38.00"), "reached": False,
        "pace_per_day": Decimal("0.2000"), "projected_on": D(2019, 2, 5), "on_track": False,
    }  # fmt: skip


def test_projection_of_a_strict_target_on_track_and_reached(regions):
    snapshot("411721", D(2017, 3, 31), borrowed=2)
    snapshot("411721", D(2017, 6, 30), borrowed=5)
    snapshot("411721", D(2017, 9, 30), borrowed=10)
    # 3 points in 91 days (0.0330 a day); "> 10" needs 5.01 more: 152 days.
    progress = selectors.target_progress(region_code="411721", as_of=D(2017, 6, 30))
    assert (progress["value"], progress["strict"], progress["pace_per_day"]) == (
        Decimal("10.00"),
        True,
        Decimal("0.0330"),
    )
    assert (progress["projected_on"], progress["on_track"]) == (D(2017, 11, 29), True)
    at_ten = selectors.target_progress(region_code="411721", as_of=D(2017, 9, 30))
    assert (at_ten["reached"], at_ten["progress"]) == (False, Decimal("100.00"))  # 10 is not above 10
    snapshot("411721", D(2017, 10, 31), borrowed=11)
    above = selectors.target_progress(region_code="411721", as_of=D(2017, 10, 31))
    assert (above["reached"], above["projected_on"], above["on_track"]) == (True, None, True)


def test_no_pace_without_an_earlier_snapshot_or_with_no_progress(regions):
    snapshot("411722", D(2018, 1, 1), borrowed=20)
    first = selectors.target_progress(region_code="411722", as_of=D(2018, 1, 1))
    assert (first["pace_per_day"], first["projected_on"], first["on_track"]) == (None, None, False)
    snapshot("411722", D(2018, 5, 1), borrowed=20)
    flat = selectors.target_progress(region_code="411722", as_of=D(2018, 5, 1))
    assert (flat["pace_per_day"], flat["projected_on"]) == (Decimal("0.0000"), None)


def test_assessment_ranks_the_counties_and_flags_the_laggards(city, personas):
    compute_rollups(as_of=AS_OF)
    result = selectors.assessment(user=personas["city"], year=2019)
    assert result["as_of"] == AS_OF and result["weights"]["coverage"] == Decimal("30.00")
    xiping, shangcai = result["results"]
    # 西平: (30 x 100 + 20 x 50 + 20 x 100 + 15 x 0 + 15 x 0) / 100
    assert (xiping["rank"], xiping["county"], xiping["score"], xiping["flags"]) == (
        1,
        "411721",
        Decimal("60.00"),
        [],
    )
    assert xiping["indicators"]["fund_use"] == 0  # no fund: no cap
    # 上蔡: (30 x 66.67 + 20 x 42.86 + 20 x 0 + 15 x 0.09 + 15 x 50) / 100 = 36.0865; one of its two
    # batches was paid 10 days after the period (on time), the other never.
    assert (shangcai["rank"], shangcai["score"]) == (2, Decimal("36.09"))
    assert shangcai["indicators"] == {
        "coverage": Decimal("66.67"), "rating_coverage": Decimal("42.86"), "npl_ratio": Decimal("85.71"),
        "fund_use": Decimal("0.09"), "subsidy_timeliness": Decimal("50.00"),
    }  # fmt: skip
    assert shangcai["scores"]["npl_ratio"] == 0
    assert [f["code"] for f in shangcai["flags"]] == ["behind_target", "npl_over_threshold"] and shangcai[
        "flagged"
    ]
    assert "2018年12月31日前达到100.00%" in shangcai["flags"][0]["detail"]


def test_assessment_weights_are_a_dated_row(city, personas):
    compute_rollups(as_of=AS_OF)
    AssessmentWeights.objects.create(
        effective_from=D(2019, 6, 30),
        coverage=0,
        rating_coverage=0,
        npl_ratio=0,
        fund_use=0,
        subsidy_timeliness=1,
    )
    ranked = selectors.assessment(user=personas["admin"], year=2019)["results"]
    assert [(r["county"], r["score"]) for r in ranked] == [
        ("411722", Decimal("50.00")),
        ("411721", Decimal("0.00")),
    ]


def test_assessment_scope_and_missing_year(city, personas):
    compute_rollups(as_of=AS_OF)
    own = selectors.assessment(user=personas["county_staff"], year=2019)["results"]
    assert [(r["county"], r["rank"]) for r in own] == [("411722", 2)]
    assert [r["county"] for r in selectors.assessment(user=personas["bank_y"], year=2019)["results"]] == [
        "411721"
    ]
    assert selectors.assessment(user=personas["township_a"], year=2019)["results"] == []
    with pytest.raises(selectors.ReportingError) as caught:
        selectors.assessment(user=personas["city"], year=2018)
    assert caught.value.code == "no_snapshot"
    # A later year reads the latest snapshot before its end.
    assert selectors.assessment(user=personas["city"], year=2020)["as_of"] == AS_OF


def test_the_assessment_api(api, city, personas):
    compute_rollups(as_of=AS_OF)
    body = api(personas["city"]).get("/api/v1/assessment/", {"year": 2019}).json()
    assert body["weights"] == {"coverage": "30.00", "rating_coverage": "20.00", "npl_ratio": "20.00",
                               "fund_use": "15.00", "subsidy_timeliness": "15.00", "timeliness_days": 30}  # fmt: skip
    first = body["results"][0]
    assert (first["rank"], first["county"], first["name"], first["score"]) == (1, "411721", "西平县", "60.00")
    assert first["indicators"]["coverage"] == "100.00" and first["target"]["reached"] is True
    response = api(personas["city"]).get("/api/v1/assessment/", {"year": 2017})
    assert (response.status_code, response.json()["code"]) == (400, "no_snapshot")
    assert api(personas["township_b"]).get("/api/v1/assessment/", {"year": 2019}).json()["results"] == []
    assert api(None).get("/api/v1/assessment/").status_code == 401


def test_home_region(regions, personas):
    home = {
        who: selectors.home_region(user=personas[who]).code
        for who in ("city", "admin", "county_staff", "bank_y")
    }
    assert home == {"city": "411700", "admin": "411700", "county_staff": "411722", "bank_y": "411721"}
    with pytest.raises(selectors.Http404):
        selectors.home_region(user=personas["nobody"])
