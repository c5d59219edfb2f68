"""Return (退回修改) of a rating to the step before, the banks' opinions on ratings under review
(银行同步参与), and bulk approval through the engine's guards."""

import re

import pytest

from common.errors import Forbidden
from common.models import AuditEntry
from common.testing import page_text
from credit_rating import services
from credit_rating.models import Rating, RatingOpinion, RatingStatus
from organization.models import Role
from organization.tests.factories import UserFactory, assign

from .factories import RatingFactory, full_scores
from .test_api import assert_error
from .test_services import refused

pytestmark = pytest.mark.django_db


# --- return -------------------------------------------------------------------------------------


def test_township_returns_the_village_edits_and_submits_again_the_township_reviews(
    workflow, personas, households
):
    rating = workflow(households["a1"], to=RatingStatus.SUBMITTED)
    rating = services.rating_return(actor=personas["township_a"], rating=rating, reason=" 致富项目评分偏高 ")
    assert (rating.status, rating.return_reason) == ("returned", "致富项目评分偏高")
    # Still in progress: no second rating for the household meanwhile.
    refused("rating_in_progress", services.rating_create, actor=personas["village_a1"], household=households["a1"],
            scores={})  # fmt: skip
    # Editable by the village like a draft, and submittable again.
    assert services.rating_actions_for(user=personas["village_a1"], rating=rating) == ["edit", "submit"]
    assert services.rating_actions_for(user=personas["township_a"], rating=rating) == []
    rating = services.rating_update_scores(
        actor=personas["village_a1"], rating=rating, scores={"business_project": "6"}
    )
    assert rating.status == "returned" and rating.scores["business_project"] == "6.00"
    services.rating_submit(actor=personas["village_a1"], rating=rating)
    # Whoever returned it reviews it again (a return is not work on the rating).
    rating = services.rating_review(actor=personas["township_a"], rating=rating)
    rating = services.rating_approve(actor=personas["county_staff"], rating=rating)
    assert rating.status == "approved"
    steps = list(rating.events.values_list("action", "from_status", "to_status", "comment"))
    assert steps[1:] == [
        ("submit", "draft", "submitted", ""),
        ("return", "submitted", "returned", "致富项目评分偏高"),
        ("rescore", "returned", "returned", ""),
        ("submit", "returned", "submitted", ""),
        ("review", "submitted", "reviewed", ""),
        ("approve", "reviewed", "approved", ""),
    ]
    entry = AuditEntry.objects.get(object_type="rating", object_id=str(rating.pk), action="return")
    assert (entry.actor, entry.from_state, entry.to_state, entry.detail) == (
        personas["township_a"], "submitted", "returned", {"comment": "致富项目评分偏高"},
    )  # fmt: skip


def test_county_returns_a_reviewed_rating_to_the_township(workflow, personas, households):
    rating = workflow(households["a1"], to=RatingStatus.REVIEWED)
    rating = services.rating_return(
        actor=personas["county_staff"], rating=rating, reason="请乡镇复核家庭人口"
    )
    assert (rating.status, rating.return_reason) == ("submitted", "请乡镇复核家庭人口")
    event = rating.events.last()
    assert (event.action, event.from_status, event.to_status) == (
        "return-to-township",
        "reviewed",
        "submitted",
    )
    # Back with the township: it reviews again (or returns it further, to the village).
    assert services.rating_actions_for(user=personas["township_a"], rating=rating) == [
        "review",
        "return",
        "reject",
    ]
    services.rating_review(actor=personas["township_a"], rating=rating)
    assert services.rating_approve(actor=personas["county_staff"], rating=rating).status == "approved"


@pytest.mark.parametrize(
    "status, persona",
    [
        ("submitted", "village_a1"),  # the village does not return its own work
        ("submitted", "county_staff"),  # the township returns a submitted rating, not the county
        ("submitted", "bank_x"),
        ("reviewed", "township_a"),  # the county returns a reviewed one
        ("reviewed", "bank_x"),
    ],
)
def test_return_by_a_wrong_role_is_forbidden(workflow, personas, households, status, persona):
    rating = workflow(households["a1"], to=status)
    with pytest.raises(Forbidden):
        services.rating_return(actor=personas[persona], rating=rating, reason="原因")
    assert Rating.objects.get(pk=rating.pk).status == status


@pytest.mark.parametrize("status", ["draft", "returned", "approved", "rejected"])
def test_return_only_from_a_state_under_review(workflow, personas, households, status):
    if status == "returned":
        rating = workflow(households["a1"], to=RatingStatus.SUBMITTED)
        services.rating_return(actor=personas["township_a"], rating=rating, reason="原因")
    else:
        rating = workflow(households["a1"], to=status)
    refused(
        "invalid_transition", services.rating_return, actor=personas["admin"], rating=rating, reason="原因"
    )


@pytest.mark.parametrize("reason", ["", "   "])
def test_return_needs_a_reason(workflow, personas, households, reason):
    rating = workflow(households["a1"], to=RatingStatus.SUBMITTED)
    error = refused("reason_required", services.rating_return, actor=personas["township_a"], rating=rating,
                    reason=reason)  # fmt: skip
    assert error.message == "退回修改须填写原因。"
    assert Rating.objects.get(pk=rating.pk).status == "submitted"


def test_return_reason_over_200_characters_is_refused(workflow, personas, households):
    rating = workflow(households["a1"], to=RatingStatus.SUBMITTED)
    refused("invalid", services.rating_return, actor=personas["township_a"], rating=rating, reason="长" * 201)


def test_who_submitted_cannot_return(regions, households, scorecards):
    both = UserFactory(username="both")
    assign(both, Role.VILLAGE_CLERK, region=regions["village_a1"])
    assign(both, Role.TOWNSHIP_OFFICER, region=regions["town_a"])
    rating = services.rating_create(actor=both, household=households["a1"], scores=full_scores())
    services.rating_submit(actor=both, rating=rating)
    refused("same_person_checker", services.rating_return, actor=both, rating=rating, reason="原因")


def test_return_through_the_api(api, personas, households, workflow):
    rating = workflow(households["a1"], to=RatingStatus.SUBMITTED)
    url = f"/api/v1/ratings/{rating.pk}/return/"
    assert_error(api(personas["township_a"]).post(url, {"reason": ""}, format="json"), 400, "reason_required")
    assert_error(api(personas["township_b"]).post(url, {"reason": "x"}, format="json"), 404, "not_found")
    assert_error(api(personas["bank_y"]).post(url, {"reason": "x"}, format="json"), 404, "not_found")
    assert_error(
        api(personas["village_a1"]).post(url, {"reason": "x"}, format="json"), 403, "permission_denied"
    )
    response = api(personas["township_a"]).post(url, {"reason": "劳动能力评分有误"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["return_reason"]) == ("returned", "劳动能力评分有误")
    assert body["events"][-1]["action"] == "return"
    # The returned rating is the village's again: the bank no longer sees it.
    assert_error(api(personas["bank_x"]).get(f"/api/v1/ratings/{rating.pk}/"), 404, "not_found")
    clerk = api(personas["village_a1"])
    assert clerk.patch(f"/api/v1/ratings/{rating.pk}/", {"scores": {"work_capacity": "9"}},
                       format="json").status_code == 200  # fmt: skip
    assert clerk.post(f"/api/v1/ratings/{rating.pk}/submit/").json()["status"] == "submitted"


def test_return_on_the_page_and_in_the_villages_queue(client_for, personas, households, workflow):
    rating = workflow(households["a1"], to=RatingStatus.SUBMITTED)
    url = f"/ratings/{rating.pk}/"
    town = client_for(personas["township_a"])
    assert 'id="do-return"' in town.get(url).content.decode()
    assert "退回修改须填写原因" in page_text(town.post(url, {"action": "return", "reason": ""}, follow=True))
    page = page_text(town.post(url, {"action": "return", "reason": "家庭人口与档卡不一致"}, follow=True))
    assert "已退回修改" in page and "家庭人口与档卡不一致" in page
    village = client_for(personas["village_a1"])
    page = village.get(url).content.decode()
    assert 'id="edit-scores"' in page and re.findall(r'id="do-(\w+)"', page) == ["submit"]
    assert 'id="return-reason"' in page and "家庭人口与档卡不一致" in page
    queue = page_text(village.get("/ratings/"))  # the village lands on 待提交: drafts and returned
    assert f'href="/ratings/{rating.pk}/"' in queue and "退回修改：家庭人口与档卡不一致" in queue
    assert village.get(f"/ratings/{rating.pk}/edit/").status_code == 200


# --- bank opinions -------------------------------------------------------------------------------


def test_a_serving_bank_records_opinions_shown_in_history_and_on_the_approval_page(
    api, client_for, personas, households, workflow
):
    rating = workflow(households["a1"], to=RatingStatus.SUBMITTED)
    url = f"/api/v1/ratings/{rating.pk}/opinions/"
    bank = api(personas["bank_x"])
    response = bank.post(url, {"agrees": True}, format="json")
    assert response.status_code == 201, response.content
    assert {k: response.json()[k] for k in ("bank", "branch", "officer", "agrees", "comment")} == {
        "bank": "PSBC", "branch": "PSBC-411722", "officer": "bank_x", "agrees": True, "comment": "",
    }  # fmt: skip
    services.rating_review(actor=personas["township_a"], rating=rating)
    other = assign(
        UserFactory(username="bank_x2"),
        Role.BANK_OFFICER,
        branch=personas["bank_x"].role_assignments.get().branch,
    )
    services.rating_opinion_record(actor=other, rating=rating, agrees=False, comment="该户在我行有逾期记录")
    # Everyone who may read the rating reads the opinions.
    listed = api(personas["county_staff"]).get(url).json()
    assert [(o["officer"], o["agrees"], o["comment"]) for o in listed] == [
        ("bank_x", True, ""), ("bank_x2", False, "该户在我行有逾期记录"),
    ]  # fmt: skip
    detail = api(personas["county_staff"]).get(f"/api/v1/ratings/{rating.pk}/").json()
    assert len(detail["opinions"]) == 2
    assert [e["comment"] for e in detail["events"] if e["action"] == "opinion"] == [
        "邮储银行上蔡支行：同意", "邮储银行上蔡支行：不同意。该户在我行有逾期记录",
    ]  # fmt: skip
    # Audited, one entry each, on the rating.
    entries = AuditEntry.objects.filter(object_type="rating", object_id=str(rating.pk), action="opinion")
    assert sorted(entries.values_list("to_state", flat=True)) == ["agree", "disagree"]
    # The rating page's history and the county's approval queue show them, the disagree prominently.
    county = client_for(personas["county_staff"])
    page = page_text(county.get(f"/ratings/{rating.pk}/"))
    assert "银行意见" in page and "不同意 1" in page and "该户在我行有逾期记录" in page
    queue = county.get("/ratings/?tab=reviewed").content.decode()
    row = queue.split(f'href="/ratings/{rating.pk}/"')[1].split("</tr>")[0]
    assert "同意 1" in row and "不同意 1" in row and "该户在我行有逾期记录" in row
    # An opinion never blocks approval.
    assert services.rating_approve(actor=personas["county_staff"], rating=rating).status == "approved"
    # Approved: no longer under review, no more opinions.
    assert_error(bank.post(url, {"agrees": True}, format="json"), 400, "invalid_transition")


def test_one_opinion_per_officer_a_second_replaces_the_first(personas, households, workflow):
    rating = workflow(households["a1"], to=RatingStatus.SUBMITTED)
    services.rating_opinion_record(actor=personas["bank_x"], rating=rating, agrees=True)
    services.rating_opinion_record(actor=personas["bank_x"], rating=rating, agrees=False, comment="收入偏高")
    opinion = RatingOpinion.objects.get()
    assert (opinion.agrees, opinion.comment) == (False, "收入偏高")
    assert rating.events.filter(action="opinion").count() == 2  # the history keeps both
    last = AuditEntry.objects.filter(action="opinion").order_by("-id").first()
    assert (last.from_state, last.to_state) == ("agree", "disagree")


def test_a_disagree_needs_a_comment(personas, households, workflow):
    rating = workflow(households["a1"], to=RatingStatus.SUBMITTED)
    refused("reason_required", services.rating_opinion_record, actor=personas["bank_x"], rating=rating,
            agrees=False, comment="  ")  # fmt: skip
    assert not RatingOpinion.objects.exists()


def test_opinion_scope_and_roles(api, personas, households, workflow):
    rating = workflow(households["a1"], to=RatingStatus.SUBMITTED)
    url = f"/api/v1/ratings/{rating.pk}/opinions/"
    # 西平's bank does not serve 上蔡: the rating does not exist for it.
    assert_error(api(personas["bank_y"]).post(url, {"agrees": True}, format="json"), 404, "not_found")
    assert_error(api(personas["bank_y"]).get(url), 404, "not_found")
    assert_error(api(personas["township_b"]).get(url), 404, "not_found")
    # Those who may read it but are no bank: 403.
    for persona in ("village_a1", "township_a", "county_staff", "city", "admin"):
        assert_error(
            api(personas[persona]).post(url, {"agrees": True}, format="json"), 403, "permission_denied"
        )
    # A draft is the village's: not the bank's to see.
    draft = workflow(households["b1"])
    assert_error(api(personas["bank_x"]).post(f"/api/v1/ratings/{draft.pk}/opinions/", {"agrees": True},
                                              format="json"), 404, "not_found")  # fmt: skip
    assert not RatingOpinion.objects.exists()


def test_opinion_on_the_page(client_for, personas, households, workflow):
    rating = workflow(households["a1"], to=RatingStatus.REVIEWED)
    bank = client_for(personas["bank_x"])
    url = f"/ratings/{rating.pk}/"
    assert re.findall(r'id="do-(\w+)"', bank.get(url).content.decode()) == ["opinion"]
    assert "不同意须填写意见" in page_text(bank.post(url, {"action": "opinion", "agrees": "no"}, follow=True))
    page = page_text(
        bank.post(url, {"action": "opinion", "agrees": "no", "comment": "经营项目不实"}, follow=True)
    )
    assert "已记录银行意见" in page and "经营项目不实" in page
    assert (
        client_for(personas["village_a1"]).post(url, {"action": "opinion", "agrees": "yes"}).status_code
        == 403
    )
    assert client_for(personas["bank_y"]).post(url, {"action": "opinion", "agrees": "yes"}).status_code == 404
    assert RatingOpinion.objects.count() == 1


# --- bulk goes through the engine ----------------------------------------------------------------


def test_bulk_approve_runs_the_guards(client_for, personas, households, scorecards):
    """A reviewed rating with scores missing (written outside the services) is refused in bulk with
    its message; the others are approved."""
    complete = RatingFactory(household=households["a1"], scorecard=scorecards["shangcai"], status="reviewed",
                             drafted_by=personas["village_a1"])  # fmt: skip
    partial = RatingFactory(household=households["b1"], scorecard=scorecards["shangcai"], status="reviewed",
                            drafted_by=personas["admin"], scores={"law_abiding": "8"})  # fmt: skip
    outcome = services.ratings_bulk_transition(
        actor=personas["county_staff"], ratings=[complete, partial], action="approve"
    )
    assert outcome["done"] == 1 and [pk for pk, _ in outcome["refused"]] == [partial.pk]
    assert "还有8项未评分" in outcome["refused"][0][1]
    assert Rating.objects.get(pk=partial.pk).status == "reviewed"

    # The queue page's bulk approve says the same.
    response = client_for(personas["county_staff"]).post(
        "/ratings/bulk/", {"action": "approve", "ids": [partial.pk]}, follow=True
    )
    page = page_text(response)
    assert "还有8项未评分" in page
    assert Rating.objects.get(pk=partial.pk).status == "reviewed"
