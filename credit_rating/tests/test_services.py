"""credit_rating.services: scorecards and their validation, scoring, every transition and refusal,
four eyes, validity from the policy row, expiry, supersede, version pinning, pre-rating, freezes."""

import datetime
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from common.clock import today
from common.errors import Forbidden
from common.jobs import job_create
from common.models import Job
from credit_rating import defaults, services
from credit_rating.models import CreditLineFreeze, Indicator, Rating, RatingEvent, RatingStatus, Scorecard
from credit_rating.selectors import available_credit_line, effective_rating
from credit_rating.services import RatingError
from credit_rating.tasks import prerate_task
from households.tests.factories import HouseholdFactory
from organization.models import Role
from organization.tests.factories import UserFactory, approved_policy, assign

from .factories import ENTERED, full_scores, publish_default

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u4e00-\u9fff]")
D = Decimal
TZ = ZoneInfo("Asia/Shanghai")


def refused(code, call, *args, **kwargs):
    """`call` raises RatingError with `code` and a Chinese message; returns the error."""
    with pytest.raises(RatingError) as exc:
        call(*args, **kwargs)
    assert exc.value.code == code, (exc.value.code, exc.value.message)
    assert CJK.search(exc.value.message)
    return exc.value


# --- scorecards ---------------------------------------------------------------------------------


def test_default_scorecard_is_domain_md(regions, personas):
    card = publish_default(regions["shangcai"], actor=personas["admin"])
    assert (card.version, card.county_id, card.created_by) == (1, "411722", personas["admin"])
    indicators = list(card.indicators.all())
    assert [i.name for i in indicators[:9]] == [
        "遵纪守法", "家庭和睦", "邻里团结", "责任意识", "信用观念", "履约保障", "劳动能力", "致富愿望", "致富项目",
    ]  # fmt: skip
    assert all(i.source == Indicator.Source.ENTERED and i.max_score == 10 for i in indicators[:9])
    assert [(i.code, i.source) for i in indicators[9:]] == [
        ("labor_share", "labor_share"),
        ("income", "income"),
    ]
    assert sum(i.weight for i in indicators) == 100
    bands = {b.grade: (b.min_score, b.credit_line) for b in card.grades.all()}
    assert bands == {
        "AAA": (D("90"), D("50000.00")), "AA": (D("80"), D("40000.00")), "A": (D("70"), D("30000.00")),
        "B": (D("60"), D("0.00")), "C": (D("0"), D("0.00")),
    }  # fmt: skip


def test_publishing_again_makes_the_next_version(regions):
    assert publish_default(regions["shangcai"]).version == 1
    assert publish_default(regions["shangcai"]).version == 2
    assert publish_default(regions["xiping"]).version == 1  # per county


def test_scorecard_only_for_a_county(regions):
    refused("invalid_scorecard", publish_default, regions["town_a"])


def indicators(**change) -> list[dict]:
    rows = defaults.default_indicators()
    for index, values in change.items():
        rows[int(index.removeprefix("i"))].update(values)
    return rows


@pytest.mark.parametrize(
    "rows, words",
    [
        (indicators(i0={"weight": D("9")}), "权重之和应为100分，当前为101分"),
        (indicators(i1={"code": "law_abiding"}), "指标代码不能重复"),
        (indicators(i0={"weight": D("0")}, i1={"weight": D("16")}), "权重应大于0"),
        (indicators(i0={"max_score": D("0")}), "满分应大于0"),
        (indicators(i10={"full_marks_at": None}), "满分收入"),
        (indicators(i0={"source": "guess"}), "评分方式无效"),
        ([], "至少要有一项指标"),
    ],
)
def test_indicator_validation(regions, rows, words):
    error = refused(
        "invalid_scorecard", services.scorecard_publish, actor=None, county=regions["shangcai"],
        effective_from=today(), indicators=rows, grades=defaults.default_grades(),
    )  # fmt: skip
    assert words in error.message
    assert not Scorecard.objects.exists()


def grades(*rows) -> list[dict]:
    return [{"grade": g, "min_score": D(m), "credit_line": D(c)} for g, m, c in rows]


@pytest.mark.parametrize(
    "rows, words",
    [
        (grades(("AAA", "90", "50000"), ("A", "60", "30000")), "最低分为0"),
        (grades(("AAA", "90", "50000"), ("AAA", "0", "0")), "只能出现一次"),
        (grades(("AAA", "101", "50000"), ("C", "0", "0")), "0到100之间"),
        (grades(("AAA", "90", "-1"), ("C", "0", "0")), "不能为负数"),
        (grades(("AAA", "90", "50000"), ("AA", "90", "40000"), ("C", "0", "0")), "不能相同"),
        (grades(("AAA", "90", "30000"), ("A", "70", "50000"), ("C", "0", "0")), "不应低于"),
    ],
)
def test_grade_validation(regions, rows, words):
    error = refused(
        "invalid_scorecard", services.scorecard_publish, actor=None, county=regions["shangcai"],
        effective_from=today(), indicators=defaults.default_indicators(), grades=rows,
    )  # fmt: skip
    assert words in error.message


# --- scoring ------------------------------------------------------------------------------------


def card_indicator(scorecards, code) -> Indicator:
    return scorecards["shangcai"].indicators.get(code=code)


@pytest.mark.parametrize(
    "members, labor, expected", [(4, 2, "5.00"), (3, 1, "3.33"), (1, 1, "10.00"), (5, 0, "0.00")]
)
def test_labor_share(scorecards, regions, members, labor, expected):
    household = HouseholdFactory.build(village=regions["village_a1"], member_count=members, labor_count=labor)
    assert services.computed_raw_score(card_indicator(scorecards, "labor_share"), household) == D(expected)


@pytest.mark.parametrize(
    "income, expected",
    [
        ("3000", "5.00"),
        ("3200", "5.33"),
        ("6000", "10.00"),
        ("9000.50", "10.00"),
        (None, "0.00"),
        ("0", "0.00"),
    ],
)
def test_income_is_linear_and_capped(scorecards, regions, income, expected):
    household = HouseholdFactory.build(
        village=regions["village_a1"], per_capita_income=None if income is None else D(income)
    )
    assert services.computed_raw_score(card_indicator(scorecards, "income"), household) == D(expected)


def test_score_adds_weighted_points_and_finds_the_band(scorecards, regions):
    household = HouseholdFactory.build(village=regions["village_a1"], member_count=4, labor_count=2,
                                       per_capita_income=D("3000"))  # fmt: skip
    scored = services.score_household(
        scorecard=scorecards["shangcai"], household=household, entered=full_scores("10")
    )
    # nine × 8 points + labour 5/10 × 14 + income 5/10 × 14
    assert scored.score == D("86.00")
    assert (scored.grade, scored.credit_line, scored.missing) == ("AA", D("40000.00"), ())
    assert scored.scores["labor_share"] == "5.00" and scored.scores["law_abiding"] == "10.00"


def test_partial_scores_list_what_is_missing(scorecards, regions):
    household = HouseholdFactory.build(village=regions["village_a1"])
    scored = services.score_household(
        scorecard=scorecards["shangcai"],
        household=household,
        entered={"law_abiding": 7, "family_harmony": ""},
    )
    assert scored.missing == tuple(c for c in ENTERED if c != "law_abiding")
    assert set(scored.scores) == {"law_abiding", "labor_share", "income"}


@pytest.mark.parametrize(
    "total, grade", [("100", "AAA"), ("90", "AAA"), ("89.99", "AA"), ("80", "AA"), ("70", "A"), ("69.99", "B"),
                     ("60", "B"), ("59.99", "C"), ("0", "C")],
)  # fmt: skip
def test_grade_boundaries(scorecards, total, grade):
    assert services.grade_for(scorecards["shangcai"], D(total)).grade == grade


@pytest.mark.parametrize(
    "entered, words",
    [
        ({"law_abiding": 11}, "0到10之间"),
        ({"law_abiding": -1}, "0到10之间"),
        ({"law_abiding": "abc"}, "应为数字"),
        ({"law_abiding": "NaN"}, "应为数字"),
        ({"law_abiding": "Infinity"}, "应为数字"),
        ({"law_abiding": True}, "应为数字"),
        ({"law_abiding": [1]}, "应为数字"),
        ({"charm": 5}, "没有可手工评分的指标“charm”"),
        ({"income": 10}, "没有可手工评分的指标“income”"),  # computed from the file, never entered
    ],
)
def test_invalid_scores_are_refused(scorecards, regions, entered, words):
    household = HouseholdFactory.build(village=regions["village_a1"])
    error = refused("invalid_scores", services.score_household, scorecard=scorecards["shangcai"],
                    household=household, entered=entered)  # fmt: skip
    assert any(words in m for m in error.errors["scores"]), error.errors


# --- create, edit -------------------------------------------------------------------------------


def test_clerk_drafts_a_rating(personas, households, scorecards):
    rating = services.rating_create(
        actor=personas["village_a1"], household=households["a1"], scores=full_scores()
    )
    assert (rating.status, rating.score, rating.grade, rating.credit_line) == (
        "draft",
        D("79.06"),
        "A",
        D("30000.00"),
    )
    assert rating.scorecard == scorecards["shangcai"] and rating.drafted_by == personas["village_a1"]
    event = rating.events.get()
    assert (event.action, event.actor, event.from_status, event.to_status) == (
        "create",
        personas["village_a1"],
        "",
        "draft",
    )
    assert event.at is not None


@pytest.mark.parametrize("persona", ["township_a", "bank_x", "city", "village_a1"])
def test_only_the_village_desk_and_county_draft(personas, households, scorecards, persona):
    target = households["b1"] if persona == "village_a1" else households["a1"]  # another village's
    with pytest.raises(Forbidden):
        services.rating_create(actor=personas[persona], household=target, scores={})
    assert not Rating.objects.exists()


def test_no_scorecard(personas, households):
    refused(
        "no_scorecard",
        services.rating_create,
        actor=personas["village_a1"],
        household=households["a1"],
        scores={},
    )


def test_scorecard_not_yet_in_force_is_not_used(personas, households, regions):
    publish_default(regions["shangcai"], effective_from=today() + datetime.timedelta(days=1))
    refused(
        "no_scorecard",
        services.rating_create,
        actor=personas["village_a1"],
        household=households["a1"],
        scores={},
    )


def test_one_rating_in_progress_per_household(workflow, personas, households):
    workflow(households["a1"], to=RatingStatus.SUBMITTED)
    refused("rating_in_progress", services.rating_create, actor=personas["village_a1"], household=households["a1"],
            scores={})  # fmt: skip
    assert Rating.objects.count() == 1


def test_a_new_draft_is_allowed_beside_an_approved_one(workflow, personas, households):
    workflow(households["a1"], to=RatingStatus.APPROVED)
    services.rating_create(actor=personas["village_a1"], household=households["a1"], scores={})
    assert Rating.objects.filter(household=households["a1"]).count() == 2


def test_rescore_a_draft(workflow, personas, households):
    rating = workflow(households["a1"], scores={"law_abiding": "5"})
    rating = services.rating_update_scores(
        actor=personas["county_staff"], rating=rating, scores=full_scores("10")
    )
    assert rating.score == D("93.46") and rating.grade == "AAA"
    assert rating.drafted_by == personas["county_staff"]  # who entered the scores last
    assert list(rating.events.values_list("action", "actor__username")) == [
        ("create", "village_a1"),
        ("rescore", "county"),
    ]


def test_rescore_only_a_draft(workflow, personas, households):
    rating = workflow(households["a1"], to=RatingStatus.SUBMITTED)
    refused(
        "invalid_transition",
        services.rating_update_scores,
        actor=personas["village_a1"],
        rating=rating,
        scores={},
    )


def test_bank_cannot_rescore(workflow, personas, households):
    rating = workflow(households["a1"])
    with pytest.raises(Forbidden):
        services.rating_update_scores(actor=personas["bank_x"], rating=rating, scores=full_scores("10"))


# --- the workflow ---------------------------------------------------------------------------------


def test_the_whole_workflow_records_who_and_when(workflow, personas, households):
    rating = workflow(households["a1"], to=RatingStatus.APPROVED)
    assert rating.status == "approved" and rating.approved_on == today()
    steps = list(
        rating.events.order_by("at", "id").values_list(
            "action", "actor__username", "from_status", "to_status"
        )
    )
    assert steps == [
        ("create", "village_a1", "", "draft"),
        ("submit", "village_a1", "draft", "submitted"),
        ("review", "town_a", "submitted", "reviewed"),
        ("approve", "county", "reviewed", "approved"),
    ]
    assert all(e.at for e in rating.events.all())
    assert effective_rating(households["a1"].pk, on=today()) == rating


def test_submit_needs_every_score(workflow, personas, households):
    rating = workflow(households["a1"], scores={"law_abiding": 8})
    error = refused("incomplete_scores", services.rating_submit, actor=personas["village_a1"], rating=rating)
    assert "还有8项未评分" in error.message and "家庭和睦" in error.message
    assert Rating.objects.get().status == "draft"


@pytest.mark.parametrize(
    "status, action, persona",
    [
        ("draft", "review", "township_a"),
        ("draft", "approve", "county_staff"),
        ("draft", "reject", "township_a"),
        ("submitted", "approve", "county_staff"),
        ("submitted", "submit", "village_a1"),
        ("reviewed", "review", "township_a"),
        ("approved", "approve", "county_staff"),
        ("approved", "reject", "county_staff"),
        ("rejected", "submit", "village_a1"),
        ("rejected", "review", "township_a"),
    ],
)
def test_invalid_transition(workflow, personas, households, status, action, persona):
    rating = workflow(households["a1"], to=status)
    refused("invalid_transition", services.rating_transition, actor=personas[persona], rating=rating, action=action,
            comment="原因")  # fmt: skip
    rating.refresh_from_db()
    assert rating.status == status


def test_unknown_action(workflow, personas, households):
    rating = workflow(households["a1"])
    refused(
        "invalid_transition",
        services.rating_transition,
        actor=personas["admin"],
        rating=rating,
        action="bless",
    )


@pytest.mark.parametrize(
    "action, status, persona",
    [
        ("submit", "draft", "township_a"),  # the township reviews, it does not submit
        ("submit", "draft", "bank_x"),
        ("review", "submitted", "village_a1"),
        ("review", "submitted", "county_staff"),  # the county approves, the township reviews
        ("review", "submitted", "bank_x"),
        ("approve", "reviewed", "township_a"),
        ("approve", "reviewed", "bank_x"),
        ("approve", "reviewed", "city"),
        ("reject", "submitted", "village_a1"),
        ("reject", "submitted", "bank_x"),
    ],
)
def test_role_refusals_are_forbidden(workflow, personas, households, action, status, persona):
    rating = workflow(households["a1"], to=status)
    with pytest.raises(Forbidden):
        services.rating_transition(actor=personas[persona], rating=rating, action=action, comment="原因")
    rating.refresh_from_db()
    assert rating.status == status


def test_township_officer_of_another_township_cannot_review(workflow, personas, households):
    rating = workflow(households["a1"], to=RatingStatus.SUBMITTED)
    with pytest.raises(Forbidden):
        services.rating_review(actor=personas["township_b"], rating=rating)


# --- four eyes ------------------------------------------------------------------------------------


@pytest.fixture
def clerk_and_officer(regions):
    """One person who is both the clerk of village A1 and an officer of township A (it happens)."""
    user = UserFactory(username="both")
    assign(user, Role.VILLAGE_CLERK, region=regions["village_a1"])
    assign(user, Role.TOWNSHIP_OFFICER, region=regions["town_a"])
    return user


def test_clerk_who_is_also_township_officer_cannot_review_own_rating(
    clerk_and_officer, households, scorecards
):
    rating = services.rating_create(actor=clerk_and_officer, household=households["a1"], scores=full_scores())
    services.rating_submit(actor=clerk_and_officer, rating=rating)
    refused("same_person_checker", services.rating_review, actor=clerk_and_officer, rating=rating)
    assert Rating.objects.get().status == "submitted"


def test_submitter_cannot_review_what_someone_else_drafted(
    clerk_and_officer, personas, households, scorecards
):
    rating = services.rating_create(
        actor=personas["village_a1"], household=households["a1"], scores=full_scores()
    )
    services.rating_submit(actor=clerk_and_officer, rating=rating)
    refused("same_person_checker", services.rating_review, actor=clerk_and_officer, rating=rating)


def test_who_rescored_cannot_review(clerk_and_officer, personas, households, scorecards):
    rating = services.rating_create(actor=personas["village_a1"], household=households["a1"], scores={})
    services.rating_update_scores(actor=clerk_and_officer, rating=rating, scores=full_scores())
    services.rating_update_scores(actor=personas["village_a1"], rating=rating, scores={"law_abiding": "9"})
    services.rating_submit(actor=personas["village_a1"], rating=rating)
    refused("same_person_checker", services.rating_review, actor=clerk_and_officer, rating=rating)


def test_county_staff_cannot_approve_what_they_drafted(personas, households, scorecards):
    rating = services.rating_create(
        actor=personas["county_staff"], household=households["b1"], scores=full_scores()
    )
    services.rating_submit(actor=personas["county_staff"], rating=rating)
    services.rating_review(actor=personas["township_b"], rating=rating)
    refused("same_person_checker", services.rating_approve, actor=personas["county_staff"], rating=rating)
    assert Rating.objects.get().status == "reviewed"


def test_county_staff_cannot_approve_what_they_submitted(personas, households, scorecards):
    rating = services.rating_create(
        actor=personas["village_a1"], household=households["a1"], scores=full_scores()
    )
    services.rating_submit(actor=personas["county_staff"], rating=rating)
    services.rating_review(actor=personas["township_a"], rating=rating)
    refused("same_person_checker", services.rating_approve, actor=personas["county_staff"], rating=rating)


def test_admin_is_held_to_four_eyes_too(personas, households, scorecards):
    rating = services.rating_create(actor=personas["admin"], household=households["a1"], scores=full_scores())
    services.rating_submit(actor=personas["admin"], rating=rating)
    refused("same_person_checker", services.rating_review, actor=personas["admin"], rating=rating)


def test_county_who_ran_the_prerating_may_approve_what_the_village_scored(personas, households, scorecards):
    services.prerate_region(actor=personas["county_staff"], region_code="411722100201")
    rating = Rating.objects.get(household=households["a1"])
    services.rating_update_scores(actor=personas["village_a1"], rating=rating, scores=full_scores())
    services.rating_submit(actor=personas["village_a1"], rating=rating)
    services.rating_review(actor=personas["township_a"], rating=rating)
    assert services.rating_approve(actor=personas["county_staff"], rating=rating).status == "approved"


# --- reject ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   "])
def test_reject_needs_a_reason(workflow, personas, households, reason):
    rating = workflow(households["a1"], to=RatingStatus.SUBMITTED)
    error = refused(
        "reason_required", services.rating_reject, actor=personas["township_a"], rating=rating, reason=reason
    )
    assert error.message == "退回须填写原因。" and error.errors == {"reason": ["请填写原因。"]}


def test_township_rejects_a_submitted_rating(workflow, personas, households):
    rating = workflow(households["a1"], to=RatingStatus.SUBMITTED)
    rating = services.rating_reject(actor=personas["township_a"], rating=rating, reason=" 致富项目评分偏高 ")
    assert (rating.status, rating.reject_reason) == ("rejected", "致富项目评分偏高")
    event = rating.events.last()
    assert (event.action, event.actor, event.comment) == (
        "reject",
        personas["township_a"],
        "致富项目评分偏高",
    )
    # Rejected is no longer in progress: the village may draft again.
    services.rating_create(actor=personas["village_a1"], household=households["a1"], scores={})


def test_county_rejects_a_reviewed_rating(workflow, personas, households):
    rating = workflow(households["a1"], to=RatingStatus.REVIEWED)
    assert (
        services.rating_reject(actor=personas["county_staff"], rating=rating, reason="复核不通过").status
        == "rejected"
    )


# --- approval: validity, expiry, supersede ------------------------------------------------------


def test_valid_for_twelve_months_by_default(workflow, households, time_machine):
    time_machine.move_to(datetime.datetime(2025, 3, 10, 10, 0, tzinfo=TZ), tick=False)
    rating = workflow(households["a1"], to=RatingStatus.APPROVED)
    assert (rating.approved_on, rating.valid_until) == (datetime.date(2025, 3, 10), datetime.date(2026, 3, 9))


def test_validity_comes_from_the_policy_row(workflow, regions, households, time_machine):
    approved_policy(county=regions["shangcai"], effective_from=datetime.date(2024, 1, 1),
                                rating_validity_months=6)  # fmt: skip
    time_machine.move_to(datetime.datetime(2025, 8, 31, 10, 0, tzinfo=TZ), tick=False)
    rating = workflow(households["a1"], to=RatingStatus.APPROVED)
    assert rating.valid_until == datetime.date(
        2026, 2, 27
    )  # 2026-02-28 is six months on; valid the day before


def test_policy_of_another_county_does_not_apply(workflow, regions, households, time_machine):
    approved_policy(county=regions["xiping"], effective_from=datetime.date(2024, 1, 1),
                                rating_validity_months=6)  # fmt: skip
    time_machine.move_to(datetime.datetime(2025, 3, 10, 10, 0, tzinfo=TZ), tick=False)
    assert workflow(households["a1"], to=RatingStatus.APPROVED).valid_until == datetime.date(2026, 3, 9)


def test_effective_until_the_last_valid_day_not_the_day_after(workflow, households, time_machine):
    time_machine.move_to(datetime.datetime(2025, 3, 10, 10, 0, tzinfo=TZ), tick=False)
    rating = workflow(households["a1"], to=RatingStatus.APPROVED)
    a1 = households["a1"].pk
    time_machine.move_to(datetime.datetime(2026, 3, 9, 23, 59, tzinfo=TZ), tick=False)
    assert effective_rating(a1, on=today()) == rating
    assert available_credit_line(a1, on=today()) == (rating, D("30000.00"))
    time_machine.move_to(datetime.datetime(2026, 3, 10, 0, 1, tzinfo=TZ), tick=False)
    assert effective_rating(a1, on=today()) is None
    assert available_credit_line(a1, on=today()) == (None, D("0.00"))
    assert Rating.objects.get().status == "approved"  # lapsed by date, nothing rewritten


def test_approving_a_new_rating_supersedes_the_old(workflow, personas, households):
    old = workflow(households["a1"], to=RatingStatus.APPROVED)
    new = workflow(households["a1"], to=RatingStatus.APPROVED, scores=full_scores("10"))
    old.refresh_from_db()
    assert (old.status, new.status) == ("superseded", "approved")
    assert effective_rating(households["a1"].pk, on=today()) == new
    event = old.events.get(action="supersede")
    assert (event.actor, event.from_status, event.to_status) == (
        personas["county_staff"],
        "approved",
        "superseded",
    )
    assert f"#{new.pk}" in event.comment
    assert Rating.objects.filter(household=households["a1"], status="approved").count() == 1


@pytest.mark.parametrize("status", ["draft", "submitted", "reviewed", "rejected"])
def test_only_approved_is_effective(workflow, households, status):
    workflow(households["a1"], to=status)
    assert effective_rating(households["a1"].pk, on=today()) is None
    assert available_credit_line(households["a1"].pk, on=today()) == (None, D("0.00"))


# --- version pinning ------------------------------------------------------------------------------


def heavier_income(regions):
    """A second version: income weighs 30, the nine headings 6 each (54), labour 16."""
    rows = defaults.default_indicators()
    for row in rows[:9]:
        row["weight"] = D("6")
    rows[9]["weight"], rows[10]["weight"] = D("16"), D("30")
    return services.scorecard_publish(actor=None, county=regions["shangcai"], effective_from=today(),
                                      indicators=rows, grades=defaults.default_grades())  # fmt: skip


def test_ratings_keep_the_version_they_were_made_with(workflow, personas, regions, households, scorecards):
    approved = workflow(households["a1"], to=RatingStatus.APPROVED)
    draft = workflow(households["b1"])
    v2 = heavier_income(regions)
    assert v2.version == 2
    approved.refresh_from_db()
    draft.refresh_from_db()
    assert (approved.scorecard.version, approved.score, approved.grade) == (1, D("79.06"), "A")
    # Rescoring a draft made with v1 stays on v1.
    draft = services.rating_update_scores(
        actor=personas["county_staff"], rating=draft, scores={"law_abiding": "8"}
    )
    assert (draft.scorecard.version, draft.score) == (1, D("79.06"))
    # A new rating takes v2: 9 × 4.8 + 16 + 5.33/10 × 30
    new = services.rating_create(
        actor=personas["village_a1"], household=households["a1"], scores=full_scores()
    )
    assert (new.scorecard.version, new.score) == (2, D("75.19"))
    # Approving it under v2 supersedes the v1 rating, which keeps v1.
    new = services.rating_submit(actor=personas["village_a1"], rating=new)
    services.rating_review(actor=personas["township_a"], rating=new)
    services.rating_approve(actor=personas["county_staff"], rating=new)
    approved.refresh_from_db()
    assert (approved.status, approved.scorecard.version) == ("superseded", 1)


# --- bulk ---------------------------------------------------------------------------------------


def test_bulk_approve_reports_each_refusal(workflow, personas, households, county2, regions):
    ok = workflow(households["a1"], to=RatingStatus.REVIEWED)
    extra = HouseholdFactory(village=regions["village_a2"])
    mine = services.rating_create(actor=personas["county_staff"], household=extra, scores=full_scores())
    services.rating_submit(actor=personas["county_staff"], rating=mine)
    services.rating_review(actor=personas["township_a"], rating=mine)
    draft = workflow(households["b1"])
    outcome = services.ratings_bulk_transition(
        actor=personas["county_staff"], ratings=[ok, mine, draft], action="approve"
    )
    assert outcome["done"] == 1
    assert [pk for pk, _ in outcome["refused"]] == [mine.pk, draft.pk]
    assert "他人" in outcome["refused"][0][1] and "不能执行" in outcome["refused"][1][1]
    assert Rating.objects.get(pk=ok.pk).status == "approved"


def test_bulk_submit(workflow, personas, households):
    a1 = workflow(households["a1"])
    b1 = workflow(households["b1"], scores={})
    outcome = services.ratings_bulk_transition(
        actor=personas["county_staff"], ratings=[a1, b1], action="submit"
    )
    assert outcome["done"] == 1 and outcome["refused"][0][0] == b1.pk


def test_actions_offered(workflow, personas, households, clerk_and_officer):
    rating = workflow(households["a1"])
    assert services.rating_actions_for(user=personas["village_a1"], rating=rating) == ["edit", "submit"]
    assert services.rating_actions_for(user=personas["bank_x"], rating=rating) == []
    services.rating_submit(actor=personas["village_a1"], rating=rating)
    rating.refresh_from_db()
    assert services.rating_actions_for(user=personas["township_a"], rating=rating) == [
        "review",
        "return",
        "reject",
    ]
    assert services.rating_actions_for(user=personas["county_staff"], rating=rating) == ["reject"]
    assert services.rating_actions_for(user=personas["bank_x"], rating=rating) == ["opinion"]
    services.rating_review(actor=personas["township_a"], rating=rating)
    rating.refresh_from_db()
    assert services.rating_actions_for(user=personas["county_staff"], rating=rating) == [
        "approve", "return", "reject",
    ]  # fmt: skip
    assert services.rating_actions_for(user=personas["township_a"], rating=rating) == ["reject"]
    assert services.rating_actions_for(user=personas["bank_y"], rating=rating) == []  # 西平's bank


# --- batch pre-rating -----------------------------------------------------------------------------


def test_prerate_creates_drafts_where_none_is_in_progress(workflow, personas, regions, households):
    submitted = workflow(households["a1"], to=RatingStatus.SUBMITTED)
    a2 = HouseholdFactory(
        village=regions["village_a2"], member_count=4, labor_count=2, per_capita_income=D("3000")
    )
    approved_elsewhere = HouseholdFactory(village=regions["village_a2"])
    old = workflow(approved_elsewhere, to=RatingStatus.APPROVED)
    calls = []
    result = services.prerate_region(
        actor=personas["county_staff"],
        region_code="411722",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert (result["households"], result["created"], result["skipped"]) == (3, 3, 0)
    drafts = Rating.objects.filter(status="draft")
    assert set(drafts.values_list("household_id", flat=True)) == {
        households["b1"].pk,
        a2.pk,
        approved_elsewhere.pk,
    }
    assert Rating.objects.get(pk=submitted.pk).status == "submitted"  # untouched
    assert Rating.objects.get(pk=old.pk).status == "approved"  # still effective beside the new draft
    draft = drafts.get(household=a2)
    assert draft.scores == {"labor_share": "5.00", "income": "5.00"}
    assert (draft.score, draft.grade, draft.credit_line, draft.drafted_by) == (
        D("14.00"), "C", D("0.00"), personas["county_staff"],
    )  # fmt: skip
    assert list(draft.events.values_list("action", "actor__username")) == [("prerate", "county")]
    assert calls[0] == (0, 3) and calls[-1] == (3, 3)
    assert not Rating.objects.filter(household=households["x1"]).exists()  # another county

    again = services.prerate_region(actor=personas["county_staff"], region_code="411722")
    assert (again["households"], again["created"]) == (0, 0)
    assert Rating.objects.count() == 5


def test_prerate_one_village(personas, households, scorecards, regions):
    HouseholdFactory(village=regions["village_a2"])
    result = services.prerate_region(actor=personas["county_staff"], region_code="411722100201")
    assert result["created"] == 1
    assert Rating.objects.get().household == households["a1"]


def test_prerate_in_batches_reports_progress(personas, regions, scorecards):
    HouseholdFactory.create_batch(5, village=regions["village_a1"])
    calls = []
    result = services.prerate_region(actor=personas["county_staff"], region_code="411722", batch_size=2,
                                     progress=lambda d, t: calls.append((d, t)))  # fmt: skip
    assert result["created"] == 5
    assert calls == [(0, 5), (2, 5), (4, 5), (5, 5)]


def test_prerate_skips_what_someone_drafted_meanwhile(personas, households, scorecards, monkeypatch):
    """A draft made by someone else after the households were read: the constraint refuses that one
    row, the others still go in (one by one), and PostgreSQL's transaction is not left aborted."""
    services.rating_create(actor=personas["village_a1"], household=households["a1"], scores={})
    monkeypatch.setattr(services, "IN_PROGRESS", ())  # the read no longer sees it, as in a race
    result = services.prerate_region(actor=personas["county_staff"], region_code="411722")
    assert (result["households"], result["created"], result["skipped"]) == (2, 1, 1)
    assert Rating.objects.filter(household=households["a1"]).get().drafted_by == personas["village_a1"]
    assert Rating.objects.filter(household=households["b1"]).get().drafted_by == personas["county_staff"]
    assert RatingEvent.objects.filter(action="prerate").count() == 1


@pytest.mark.parametrize("persona", ["township_a", "village_a1", "bank_x", "city"])
def test_prerate_is_for_the_county(personas, households, scorecards, persona):
    with pytest.raises(Forbidden):
        services.prerate_region(actor=personas[persona], region_code="411722100201")


def test_prerate_refusals(personas, households, regions):
    refused("no_scorecard", services.prerate_region, actor=personas["county_staff"], region_code="411722")
    refused("invalid_region", services.prerate_region, actor=personas["admin"], region_code="411700")
    refused("invalid_region", services.prerate_region, actor=personas["admin"], region_code="4117")


def test_prerate_task_reports_into_its_job(personas, households, scorecards):
    job = job_create(kind="prerate", actor=personas["county_staff"], params={"region": "411722"})
    assert prerate_task.delay(job.pk).get() == "succeeded"
    job.refresh_from_db()
    assert (job.status, job.progress, job.processed, job.total) == ("succeeded", 100, 2, 2)
    assert job.result["created"] == 2 and job.started_at and job.finished_at
    assert "新建评级草稿 2 条" in job.message
    # The same job again does nothing.
    assert prerate_task.delay(job.pk).get() == "skipped"
    assert Rating.objects.count() == 2


def test_prerate_task_records_a_refusal(personas, households):
    job = job_create(kind="prerate", actor=personas["county_staff"], params={"region": "411722"})
    prerate_task.delay(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and "尚未发布评分卡" in job.message


def test_prerate_start_queues_after_commit(
    personas, households, scorecards, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = services.prerate_start(actor=personas["county_staff"], region_code="411722")
    assert job.status == "queued" and len(callbacks) == 1 and not Rating.objects.exists()
    callbacks[0]()
    job.refresh_from_db()
    assert job.status == "succeeded" and Rating.objects.count() == 2


def test_prerate_start_refuses_at_once(personas, households):
    refused("no_scorecard", services.prerate_start, actor=personas["county_staff"], region_code="411722")
    with pytest.raises(Forbidden):
        services.prerate_start(actor=personas["township_a"], region_code="411722100")
    assert not Job.objects.exists()


# --- credit-line freeze ---------------------------------------------------------------------------


def test_freeze_makes_the_available_line_zero(workflow, personas, households):
    rating = workflow(households["a1"], to=RatingStatus.APPROVED)
    a1 = households["a1"]
    freeze = services.credit_line_freeze(actor=personas["township_a"], household=a1, reason="贷款用于建房")
    assert available_credit_line(a1.pk, on=today()) == (rating, D("0.00"))
    # Freezing again keeps the one freeze.
    assert services.credit_line_freeze(actor=personas["county_staff"], household=a1, reason="again") == freeze
    assert CreditLineFreeze.objects.count() == 1
    services.credit_line_lift(actor=personas["county_staff"], household=a1)
    assert available_credit_line(a1.pk, on=today()) == (rating, D("30000.00"))
    refused("not_frozen", services.credit_line_lift, actor=personas["county_staff"], household=a1)
    # A new freeze after the lift is a new row; the lifted one stays as history.
    services.credit_line_freeze(actor=personas["township_a"], household=a1, reason="再次发现")
    assert CreditLineFreeze.objects.count() == 2


def test_freeze_needs_a_reason_and_the_right_role(personas, households):
    refused("reason_required", services.credit_line_freeze, actor=personas["county_staff"], household=households["a1"],
            reason=" ")  # fmt: skip
    for persona in ("village_a1", "bank_x", "township_b"):
        with pytest.raises(Forbidden):
            services.credit_line_freeze(actor=personas[persona], household=households["a1"], reason="x")
    with pytest.raises(Forbidden):
        services.credit_line_lift(actor=personas["township_a"], household=households["a1"])
