"""credit_rating.selectors: scoping (banks read effective ratings only), the household summary,
expiry, coverage against a hand-computed case, query counts."""

import datetime
from decimal import Decimal

import pytest
from django.http import Http404

from common.clock import today
from credit_rating import selectors, services
from credit_rating.models import Rating, RatingStatus
from households.tests.factories import HouseholdFactory

from .factories import RatingFactory

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def rated(personas, households, scorecards, workflow):
    """a1 approved, b1 submitted, x1 (西平) approved directly."""
    return {
        "a1": workflow(households["a1"], to=RatingStatus.APPROVED),
        "b1": workflow(households["b1"], to=RatingStatus.SUBMITTED),
        "x1": RatingFactory(
            household=households["x1"],
            scorecard=scorecards["xiping"],
            status="approved",
            drafted_by=personas["admin"],
        ),  # fmt: skip
    }


@pytest.mark.parametrize(
    "persona, expected",
    [
        ("county_staff", {"a1", "b1"}),
        ("township_a", {"a1"}),
        ("township_b", {"b1"}),
        ("village_a1", {"a1"}),
        ("bank_x", {"a1", "b1"}),  # b1 is under review: banks see it (to give an opinion)
        ("bank_y", {"x1"}),
        ("city", {"a1", "b1", "x1"}),
        ("admin", {"a1", "b1", "x1"}),
        ("nobody", set()),
    ],
)
def test_rating_list_is_scoped(personas, rated, persona, expected):
    seen = set(selectors.rating_list(user=personas[persona]).values_list("pk", flat=True))
    assert seen == {rated[k].pk for k in expected}


@pytest.mark.parametrize("status", ["draft", "returned", "rejected"])
def test_bank_gets_404_for_the_villages_work_and_refusals(personas, rated, status):
    Rating.objects.filter(pk=rated["b1"].pk).update(status=status)
    with pytest.raises(Http404):
        selectors.rating_get_for_user(user=personas["bank_x"], pk=rated["b1"].pk)
    assert selectors.rating_get_for_user(user=personas["bank_x"], pk=rated["a1"].pk) == rated["a1"]


@pytest.mark.parametrize("status", ["submitted", "reviewed"])
def test_bank_reads_a_rating_under_review_of_its_county_only(personas, rated, status):
    Rating.objects.filter(pk=rated["b1"].pk).update(status=status)
    assert selectors.rating_get_for_user(user=personas["bank_x"], pk=rated["b1"].pk) == rated["b1"]
    with pytest.raises(Http404):
        selectors.rating_get_for_user(user=personas["bank_y"], pk=rated["b1"].pk)


@pytest.mark.parametrize("pk", [999999, "x", None])
def test_missing_is_404(personas, pk):
    with pytest.raises(Http404):
        selectors.rating_get_for_user(user=personas["admin"], pk=pk)


def test_rating_list_filters(personas, rated, households):
    county = personas["county_staff"]
    assert list(selectors.rating_list(user=county, filters={"status": "submitted"})) == [rated["b1"]]
    assert list(selectors.rating_list(user=county, filters={"region": "411722100"})) == [rated["a1"]]
    assert list(selectors.rating_list(user=county, filters={"household": households["b1"].pk})) == [
        rated["b1"]
    ]
    assert list(selectors.rating_list(user=county, filters={"q": households["a1"].head_name})) == [
        rated["a1"]
    ]
    assert list(selectors.rating_list(user=county, filters={"region": "411721"})) == []


def test_household_rating_summary(personas, households, rated, workflow):
    new = workflow(households["a1"])
    summary = selectors.household_rating(
        household=households["a1"], user=personas["county_staff"], on=today()
    )
    assert summary["effective"] == rated["a1"] and summary["in_progress"] == new
    assert summary["history"] == [new, rated["a1"]] and summary["frozen"] is False
    # The bank sees the effective rating, not the new draft.
    bank = selectors.household_rating(household=households["a1"], user=personas["bank_x"], on=today())
    assert bank["history"] == [rated["a1"]] and bank["in_progress"] is None
    services.credit_line_freeze(actor=personas["county_staff"], household=households["a1"], reason="建房")
    assert selectors.household_rating(household=households["a1"], user=personas["bank_x"], on=today())[
        "frozen"
    ]


def test_effective_credit_lines_for_many(personas, households, rated):
    lines = selectors.effective_credit_lines([h.pk for h in households.values()], on=today())
    assert lines == {households["a1"].pk: ("A", D("30000.00")), households["x1"].pk: ("AA", D("40000.00"))}
    services.credit_line_freeze(actor=personas["county_staff"], household=households["a1"], reason="建房")
    lines = selectors.effective_credit_lines([households["a1"].pk], on=today())
    assert lines == {households["a1"].pk: ("A", D("0.00"))}


def test_expiring_within_thirty_days(personas, regions, scorecards):
    day = today()
    made = {}
    for name, approved_days_ago in {
        "lapses_today": 365,
        "in_30": 335,
        "in_31": 334,
        "lapsed": 400,
        "fresh": 10,
    }.items():
        household = HouseholdFactory(village=regions["village_a1"])
        approved = day - datetime.timedelta(days=approved_days_ago)
        made[name] = RatingFactory(
            household=household, scorecard=scorecards["shangcai"], status="approved", drafted_by=personas["admin"],
            approved_on=approved, valid_until=approved + datetime.timedelta(days=365),
        )  # fmt: skip
    expiring = list(selectors.ratings_expiring(user=personas["county_staff"], on=day, within_days=30))
    assert expiring == [made["lapses_today"], made["in_30"]]
    assert selectors.ratings_expiring(user=personas["township_b"], on=day).count() == 0


# --- coverage: a small case computed by hand ----------------------------------------------------


@pytest.fixture
def coverage_case(personas, regions, households, scorecards):
    """Village A1: a1 + 2 more = 3 households; effective: a1 and one more (the third has only an
    expired approval). Village A2: 1 household, a draft only. Village B1: b1 + 1 = 2 households,
    b1 effective. 西平 X1: x1, effective.

    Township A: 4 households, 2 rated = 50.00 %; township B: 2, 1 = 50.00 %; 上蔡: 6, 3 = 50.00 %;
    village A1 2/3 = 66.67 %, A2 0 %, B1 50 %."""
    day = today()
    a1b, a1c = HouseholdFactory.create_batch(2, village=regions["village_a1"])
    a2 = HouseholdFactory(village=regions["village_a2"])
    b1b = HouseholdFactory(village=regions["village_b1"])

    def approved(household, *, days_ago=10, county="shangcai"):
        on = day - datetime.timedelta(days=days_ago)
        return RatingFactory(household=household, scorecard=scorecards[county], status="approved",
                             drafted_by=personas["admin"], approved_on=on, valid_until=on + datetime.timedelta(days=364))  # fmt: skip

    approved(households["a1"])
    approved(a1b)
    approved(a1c, days_ago=400)  # lapsed
    RatingFactory(household=a2, scorecard=scorecards["shangcai"], drafted_by=personas["admin"])  # a draft
    approved(households["b1"])
    RatingFactory(household=b1b, scorecard=scorecards["shangcai"], drafted_by=personas["admin"], status="superseded",
                  approved_on=day - datetime.timedelta(days=20))  # fmt: skip
    approved(households["x1"], county="xiping")


def rows(result):
    return {r["region"]: (r["households"], r["rated_households"], str(r["rating_coverage"])) for r in result}


def test_rating_coverage_by_village_township_county(personas, coverage_case):
    admin, day = personas["admin"], today()
    by_village = selectors.rating_coverage(user=admin, region_code="411722", on=day, group_length=12)
    assert rows(by_village) == {
        "411722100201": (3, 2, "66.67"), "411722100202": (1, 0, "0.00"), "411722101201": (2, 1, "50.00"),
    }  # fmt: skip
    by_township = selectors.rating_coverage(user=admin, region_code="411722", on=day, group_length=9)
    assert rows(by_township) == {"411722100": (4, 2, "50.00"), "411722101": (2, 1, "50.00")}
    by_county = selectors.rating_coverage(user=admin, region_code="411700", on=day, group_length=6)
    assert rows(by_county) == {"411722": (6, 3, "50.00"), "411721": (1, 1, "100.00")}


def test_rating_coverage_by_child(personas, regions, coverage_case):
    day = today()
    city = selectors.rating_coverage_by_child(user=personas["city"], region=regions["city"], on=day)
    assert (city["households"], city["rated_households"], str(city["rating_coverage"])) == (7, 4, "57.14")
    assert [(c["code"], c["name"], str(c["rating_coverage"])) for c in city["children"]] == [
        ("411721", "西平县", "100.00"), ("411722", "上蔡县", "50.00"),
    ]  # fmt: skip
    town = selectors.rating_coverage_by_child(user=personas["township_a"], region=regions["town_a"], on=day)
    assert [(c["code"], c["households"], c["rated_households"]) for c in town["children"]] == [
        ("411722100201", 3, 2), ("411722100202", 1, 0),
    ]  # fmt: skip
    village = selectors.rating_coverage_by_child(
        user=personas["village_a1"], region=regions["village_a1"], on=day
    )
    assert (village["households"], village["rated_households"], village["children"]) == (3, 2, [])


def test_coverage_is_scoped(personas, regions, coverage_case):
    """A township officer asking about the county sees its own township only; a bank its county."""
    county = selectors.rating_coverage_by_child(
        user=personas["township_a"], region=regions["shangcai"], on=today()
    )
    assert [c["code"] for c in county["children"]] == ["411722100"]
    assert (county["households"], county["rated_households"]) == (4, 2)
    bank = selectors.rating_coverage_by_child(user=personas["bank_x"], region=regions["city"], on=today())
    assert [c["code"] for c in bank["children"]] == ["411722"]


def test_coverage_counts_the_day_given(personas, coverage_case):
    later = today() + datetime.timedelta(days=400)
    assert rows(
        selectors.rating_coverage(user=personas["admin"], region_code="411722", on=later, group_length=6)
    ) == {"411722": (6, 0, "0.00")}


def test_coverage_query_count(personas, regions, coverage_case, django_assert_num_queries):
    user = personas["admin"]
    selectors.rating_coverage_by_child(user=user, region=regions["shangcai"], on=today())  # warm the scope
    with django_assert_num_queries(2):  # the aggregate, the child regions
        selectors.rating_coverage_by_child(user=user, region=regions["shangcai"], on=today())


@pytest.mark.parametrize("rows_per_village", [1, 4])
def test_rating_list_query_count_is_flat(
    personas, regions, scorecards, django_assert_num_queries, rows_per_village
):
    for village in ("village_a1", "village_a2", "village_b1"):
        for household in HouseholdFactory.create_batch(rows_per_village, village=regions[village]):
            RatingFactory(household=household, scorecard=scorecards["shangcai"], drafted_by=personas["admin"])
    user = personas["county_staff"]
    list(selectors.rating_list(user=user))  # warm the scope
    with django_assert_num_queries(1):
        ratings = list(selectors.rating_list(user=user))
        assert all(
            r.household.village.name and r.drafted_by.username and r.scorecard.version for r in ratings
        )
