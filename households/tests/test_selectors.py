"""Reads of the household file: always scoped, 404 for out-of-scope and missing alike."""

import pytest
from django.http import Http404

from households.selectors import household_get_for_user, household_list
from households.tests.factories import HouseholdFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("county_staff", {"a1", "b1"}),
        ("township_a", {"a1"}),
        ("township_b", {"b1"}),
        ("village_a1", {"a1"}),
        ("bank_x", {"a1", "b1"}),
        ("bank_y", {"x1"}),
        ("city", {"a1", "b1", "x1"}),
        ("admin", {"a1", "b1", "x1"}),
        ("nobody", set()),
    ],
)
def test_household_list_scope(personas, households, persona, expected):
    names = {h.pk: k for k, h in households.items()}
    assert {names[h.pk] for h in household_list(user=personas[persona])} == expected


def test_anonymous_sees_nothing(households):
    from django.contrib.auth.models import AnonymousUser

    assert not household_list(user=AnonymousUser()).exists()


def test_prefix_match_does_not_leak_a_sibling_with_a_longer_code(personas, regions):
    """Village 411722100201 must not match a code that merely starts the same way at a lower level:
    the township prefix 411722100 covers 4117221002xx only."""
    from organization.models import Region
    from organization.tests.factories import RegionFactory

    town = RegionFactory(
        code="411722110", name="丁镇", level=Region.Level.TOWNSHIP, parent=regions["shangcai"]
    )
    village = RegionFactory(code="411722110201", name="丁一村", level=Region.Level.VILLAGE, parent=town)
    HouseholdFactory(village=village)
    ours = HouseholdFactory(village=regions["village_a1"])
    assert list(household_list(user=personas["township_a"])) == [ours]


def test_filters(personas, regions):
    a = HouseholdFactory(village=regions["village_a1"], household_no="Q-1", head_name="陈一", status="poor")
    b = HouseholdFactory(village=regions["village_a2"], household_no="Q-2", head_name="陈二", status="lifted")
    c = HouseholdFactory(village=regions["village_b1"], household_no="R-1", head_name="林一", status="poor")
    user = personas["county_staff"]
    assert list(household_list(user=user, filters={"region": "411722100"})) == [a, b]
    assert list(household_list(user=user, filters={"status": "poor"})) == [a, c]
    assert list(household_list(user=user, filters={"q": "陈"})) == [a, b]
    assert list(household_list(user=user, filters={"q": " R-"})) == [c]
    assert list(household_list(user=user, filters={"q": "一"})) == []  # a prefix match, not "contains"
    assert list(household_list(user=user, filters={"region": "411721"})) == []
    assert list(household_list(user=personas["township_b"], filters={"region": "411722100"})) == []


def test_ordering_is_by_village_then_number(personas, regions):
    later = HouseholdFactory(village=regions["village_a1"], household_no="Z-9")
    first = HouseholdFactory(village=regions["village_a1"], household_no="A-1")
    other_village = HouseholdFactory(village=regions["village_a2"], household_no="A-0")
    assert list(household_list(user=personas["township_a"])) == [first, later, other_village]


def test_get_in_scope(personas, households):
    household = household_get_for_user(user=personas["village_a1"], pk=households["a1"].pk)
    assert household == households["a1"]
    assert [m.relation for m in household.members.all()] == ["户主"]


@pytest.mark.parametrize(
    ("persona", "key"),
    [("township_b", "a1"), ("bank_y", "a1"), ("bank_x", "x1"), ("village_a1", "b1"), ("nobody", "a1")],
)
def test_get_out_of_scope_is_404(personas, households, persona, key):
    with pytest.raises(Http404):
        household_get_for_user(user=personas[persona], pk=households[key].pk)


@pytest.mark.parametrize("pk", [999999, "abc", None, "1; DROP TABLE x"])
def test_get_missing_or_garbage_is_404(personas, households, pk):
    with pytest.raises(Http404):
        household_get_for_user(user=personas["admin"], pk=pk)


def test_get_queries_are_bounded(personas, households, django_assert_num_queries):
    user = personas["county_staff"]
    household_list(user=user)  # warm the scope, computed once per user object
    with django_assert_num_queries(2):  # the household with its village chain, the members
        household = household_get_for_user(user=user, pk=households["a1"].pk)
        assert household.village.parent.parent.code == "411722"
        assert len(household.members.all()) == 1
