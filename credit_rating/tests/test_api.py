"""The credit-rating API (API.md "Credit rating", "Daily jobs" for GET /jobs/{id}/): shapes, the
workflow end to end, error codes, banks read but never write, outsiders get 404, flat lists."""

import re

import pytest

from common.jobs import job_create
from common.models import Job
from credit_rating.models import Rating, RatingStatus
from households.tests.factories import HouseholdFactory

from .factories import RatingFactory, full_scores

pytestmark = pytest.mark.django_db
CJK = re.compile(r"[\u4e00-\u9fff]")


def assert_error(response, status, code):
    assert response.status_code == status, (response.status_code, response.content[:400])
    body = response.json()
    assert set(body) == {"code", "detail", "errors"} and body["code"] == code, body
    assert CJK.search(body["detail"])
    return body


# --- scorecards ---------------------------------------------------------------------------------


def test_current_scorecard(api, personas, scorecards):
    response = api(personas["township_a"]).get("/api/v1/scorecards/current/", {"county": "411722"})
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == 1 and body["county"] == "411722"
    assert len(body["indicators"]) == 11
    assert body["indicators"][0] == {
        "code": "law_abiding", "name": "遵纪守法", "group": "品德", "weight": "8.00", "max": "10.00",
        "source": "entered", "full_marks_at": None,
    }  # fmt: skip
    assert (
        body["indicators"][10]["source"] == "income" and body["indicators"][10]["full_marks_at"] == "6000.00"
    )
    assert body["grades"] == [
        {"grade": "AAA", "min_score": "90.00", "credit_line": "50000.00"},
        {"grade": "AA", "min_score": "80.00", "credit_line": "40000.00"},
        {"grade": "A", "min_score": "70.00", "credit_line": "30000.00"},
        {"grade": "B", "min_score": "60.00", "credit_line": "0.00"},
        {"grade": "C", "min_score": "0.00", "credit_line": "0.00"},
    ]


def test_current_scorecard_refusals(api, personas, regions):
    assert_error(
        api(personas["county_staff"]).get("/api/v1/scorecards/current/", {"county": "411722"}),
        400,
        "no_scorecard",
    )
    assert_error(
        api(personas["county_staff"]).get("/api/v1/scorecards/current/", {"county": "411721"}),
        404,
        "not_found",
    )
    assert_error(api(personas["county_staff"]).get("/api/v1/scorecards/current/"), 400, "invalid")


# --- the workflow through the API ---------------------------------------------------------------


def test_clerk_rates_township_reviews_county_approves_bank_reads(api, personas, households, scorecards):
    a1 = households["a1"]
    clerk = api(personas["village_a1"])
    response = clerk.post(
        "/api/v1/ratings/", {"household": a1.pk, "scores": {"law_abiding": 8}}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert {"id", "status", "score", "grade", "credit_line", "scores", "missing", "events"} <= set(body)
    assert (
        body["status"] == "draft"
        and body["scores"]["labor_share"] == "10.00"
        and body["scores"]["income"] == "5.33"
    )
    assert len(body["missing"]) == 8
    rating_id = body["id"]

    body = assert_error(clerk.post(f"/api/v1/ratings/{rating_id}/submit/"), 400, "incomplete_scores")
    response = clerk.patch(f"/api/v1/ratings/{rating_id}/", {"scores": full_scores("10")}, format="json")
    assert response.status_code == 200 and response.json()["missing"] == []
    assert (response.json()["score"], response.json()["grade"], response.json()["credit_line"]) == (
        "93.46", "AAA", "50000.00",
    )  # fmt: skip
    assert clerk.post(f"/api/v1/ratings/{rating_id}/submit/").json()["status"] == "submitted"
    response = api(personas["township_a"]).post(
        f"/api/v1/ratings/{rating_id}/review/", {"comment": "属实"}, format="json"
    )
    assert response.json()["status"] == "reviewed"
    response = api(personas["county_staff"]).post(f"/api/v1/ratings/{rating_id}/approve/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "approved" and body["approved_on"] and body["valid_until"]
    assert [e["action"] for e in body["events"]] == ["create", "rescore", "submit", "review", "approve"]
    assert body["events"][3]["comment"] == "属实" and body["events"][4]["actor"] == "county"

    # Mutual recognition: the bank serving 上蔡 reads grade and line.
    response = api(personas["bank_x"]).get(f"/api/v1/households/{a1.pk}/rating/")
    assert response.status_code == 200
    summary = response.json()
    assert summary["effective"] == {
        "id": rating_id, "grade": "AAA", "score": "93.46", "credit_line": "50000.00",
        "approved_on": body["approved_on"], "valid_until": body["valid_until"], "scorecard_version": 1,
    }  # fmt: skip
    assert summary["frozen"] is False and summary["available_credit_line"] == "50000.00"
    assert [h["id"] for h in summary["history"]] == [rating_id]


def test_household_rating_without_one(api, personas, households):
    response = api(personas["township_a"]).get(f"/api/v1/households/{households['a1'].pk}/rating/")
    assert response.json() == {
        "household": households["a1"].pk, "effective": None, "available_credit_line": "0.00", "frozen": False,
        "history": [],
    }  # fmt: skip


def test_frozen_line_reads_zero(api, personas, households, workflow):
    from credit_rating import services

    workflow(households["a1"], to=RatingStatus.APPROVED)
    services.credit_line_freeze(actor=personas["township_a"], household=households["a1"], reason="建房")
    summary = api(personas["bank_x"]).get(f"/api/v1/households/{households['a1'].pk}/rating/").json()
    assert summary["frozen"] is True and summary["available_credit_line"] == "0.00"
    assert summary["effective"]["credit_line"] == "30000.00"


# --- refusals -------------------------------------------------------------------------------------


def test_error_codes(api, personas, households, workflow):
    a1 = households["a1"]
    clerk, town, county = (
        api(personas["village_a1"]),
        api(personas["township_a"]),
        api(personas["county_staff"]),
    )
    draft = workflow(a1, scores={})
    assert_error(
        clerk.post("/api/v1/ratings/", {"household": a1.pk, "scores": {}}, format="json"),
        400,
        "rating_in_progress",
    )
    body = assert_error(clerk.patch(f"/api/v1/ratings/{draft.pk}/", {"scores": {"law_abiding": 12}}, format="json"), 400,
                        "invalid_scores")  # fmt: skip
    assert body["errors"]["scores"] == ["“遵纪守法”的得分应在0到10之间。"]
    assert_error(town.post(f"/api/v1/ratings/{draft.pk}/review/"), 400, "invalid_transition")
    clerk.patch(f"/api/v1/ratings/{draft.pk}/", {"scores": full_scores()}, format="json")
    clerk.post(f"/api/v1/ratings/{draft.pk}/submit/")
    assert_error(
        clerk.patch(f"/api/v1/ratings/{draft.pk}/", {"scores": {}}, format="json"), 400, "invalid_transition"
    )
    assert_error(
        town.post(f"/api/v1/ratings/{draft.pk}/reject/", {"reason": ""}, format="json"),
        400,
        "reason_required",
    )
    assert_error(town.post(f"/api/v1/ratings/{draft.pk}/reject/"), 400, "reason_required")
    # The county submitted nothing here but may not review either: 403.
    assert_error(county.post(f"/api/v1/ratings/{draft.pk}/review/"), 403, "permission_denied")
    response = town.post(f"/api/v1/ratings/{draft.pk}/reject/", {"reason": "致富项目不实"}, format="json")
    assert response.json()["status"] == "rejected" and response.json()["reject_reason"] == "致富项目不实"


def test_same_person_checker(api, personas, households, scorecards):
    county = api(personas["county_staff"])
    rating = county.post("/api/v1/ratings/", {"household": households["b1"].pk, "scores": full_scores()},
                         format="json").json()  # fmt: skip
    county.post(f"/api/v1/ratings/{rating['id']}/submit/")
    api(personas["township_b"]).post(f"/api/v1/ratings/{rating['id']}/review/")
    assert_error(county.post(f"/api/v1/ratings/{rating['id']}/approve/"), 400, "same_person_checker")


def test_no_scorecard(api, personas, households):
    assert_error(
        api(personas["village_a1"]).post("/api/v1/ratings/", {"household": households["a1"].pk}, format="json"),
        400, "no_scorecard",
    )  # fmt: skip


def test_bad_input(api, personas, households, scorecards):
    clerk = api(personas["village_a1"])
    assert_error(clerk.post("/api/v1/ratings/", {"scores": {}}, format="json"), 400, "invalid")
    assert_error(clerk.post("/api/v1/ratings/", {"household": households["a1"].pk, "scores": [1, 2]}, format="json"),
                 400, "invalid")  # fmt: skip
    assert_error(clerk.get("/api/v1/ratings/", {"status": "bogus"}), 400, "invalid")
    assert not Rating.objects.exists()


def test_bank_reads_but_never_writes(api, personas, households, workflow):
    approved = workflow(households["a1"], to=RatingStatus.APPROVED)
    bank = api(personas["bank_x"])
    assert bank.get(f"/api/v1/ratings/{approved.pk}/").status_code == 200
    assert_error(bank.post("/api/v1/ratings/", {"household": households["b1"].pk, "scores": full_scores()}, format="json"),
                 403, "permission_denied")  # fmt: skip
    for action in ("submit", "review", "approve"):
        assert_error(bank.post(f"/api/v1/ratings/{approved.pk}/{action}/"), 403, "permission_denied")
    assert_error(
        bank.post(f"/api/v1/ratings/{approved.pk}/reject/", {"reason": "x"}, format="json"),
        403,
        "permission_denied",
    )
    assert_error(
        bank.patch(f"/api/v1/ratings/{approved.pk}/", {"scores": {}}, format="json"), 403, "permission_denied"
    )
    assert_error(
        bank.post("/api/v1/ratings/prerate/", {"region": "411722"}, format="json"), 403, "permission_denied"
    )
    assert Rating.objects.count() == 1 and Rating.objects.get().status == "approved"


def test_outsiders_get_404_on_every_rating_route(api, personas, households, workflow):
    rating = workflow(households["a1"], to=RatingStatus.SUBMITTED)
    a1 = households["a1"].pk
    for persona in ("township_b", "bank_y", "nobody"):
        client = api(personas[persona])
        assert_error(client.get(f"/api/v1/ratings/{rating.pk}/"), 404, "not_found")
        assert_error(
            client.patch(f"/api/v1/ratings/{rating.pk}/", {"scores": {}}, format="json"), 404, "not_found"
        )
        for action in ("submit", "review", "approve", "return", "reject", "opinions"):
            assert_error(
                client.post(f"/api/v1/ratings/{rating.pk}/{action}/", {"reason": "x"}, format="json"),
                404,
                "not_found",
            )
        assert_error(client.get(f"/api/v1/households/{a1}/rating/"), 404, "not_found")
        assert_error(
            client.post("/api/v1/ratings/", {"household": a1, "scores": {}}, format="json"), 404, "not_found"
        )
        assert client.get("/api/v1/ratings/").json()["count"] == 0
    assert Rating.objects.get().status == "submitted"
    # The bank of 上蔡 sees the rating under review (it may give an opinion), not the village's draft.
    assert api(personas["bank_x"]).get(f"/api/v1/ratings/{rating.pk}/").status_code == 200
    draft = workflow(households["b1"])
    assert_error(api(personas["bank_x"]).get(f"/api/v1/ratings/{draft.pk}/"), 404, "not_found")


def test_list_filters_and_pages(api, personas, households, workflow):
    workflow(households["a1"], to=RatingStatus.APPROVED)
    workflow(households["b1"], to=RatingStatus.SUBMITTED)
    county = api(personas["county_staff"])
    body = county.get("/api/v1/ratings/", {"status": "submitted"}).json()
    assert [r["household"] for r in body["results"]] == [households["b1"].pk]
    assert body["results"][0]["household_no"] == households["b1"].household_no
    assert county.get("/api/v1/ratings/", {"region": "411722100"}).json()["count"] == 1
    body = county.get("/api/v1/ratings/", {"page_size": 1}).json()
    assert body["count"] == 2 and body["next"] and len(body["results"]) == 1


@pytest.mark.parametrize("rows", [1, 5])
def test_list_query_count_does_not_grow(api, personas, regions, scorecards, django_assert_num_queries, rows):
    for household in HouseholdFactory.create_batch(rows, village=regions["village_a1"]):
        RatingFactory(household=household, scorecard=scorecards["shangcai"], drafted_by=personas["admin"])
    client = api(personas["county_staff"])
    with django_assert_num_queries(
        3
    ):  # the scope, the count, the page (with household, village, user, scorecard)
        response = client.get("/api/v1/ratings/")
    assert response.json()["count"] == rows


def test_detail_query_count_is_bounded(api, personas, households, workflow, django_assert_num_queries):
    rating = workflow(households["a1"], to=RatingStatus.APPROVED)
    client = api(personas["county_staff"])
    # scope, the rating with its joins, events+actors (2), indicators, the banks' opinions
    with django_assert_num_queries(6):
        assert client.get(f"/api/v1/ratings/{rating.pk}/").status_code == 200


# --- batch pre-rating and its job ---------------------------------------------------------------


def test_prerate_through_the_api(api, personas, households, scorecards, django_capture_on_commit_callbacks):
    county = api(personas["county_staff"])
    with django_capture_on_commit_callbacks(execute=True):  # the task starts after the commit
        response = county.post("/api/v1/ratings/prerate/", {"region": "411722"}, format="json")
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    job = county.get(f"/api/v1/jobs/{job_id}/").json()
    assert {k: job[k] for k in ("id", "kind", "status", "progress")} == {
        "id": job_id, "kind": "prerate", "status": "succeeded", "progress": 100,
    }  # fmt: skip
    assert job["result"]["created"] == 2 and job["message"]
    assert Rating.objects.filter(status="draft").count() == 2
    # Visible to its creator and the admin, 404 for anyone else.
    assert api(personas["admin"]).get(f"/api/v1/jobs/{job_id}/").status_code == 200
    for persona in ("township_a", "bank_x", "city", "nobody"):
        assert_error(api(personas[persona]).get(f"/api/v1/jobs/{job_id}/"), 404, "not_found")
    assert_error(county.get("/api/v1/jobs/999999/"), 404, "not_found")


def test_prerate_refusals(api, personas, households, scorecards):
    assert_error(api(personas["township_a"]).post("/api/v1/ratings/prerate/", {"region": "411722100"}, format="json"),
                 403, "permission_denied")  # fmt: skip
    assert_error(api(personas["township_a"]).post("/api/v1/ratings/prerate/", {"region": "411722101"}, format="json"),
                 404, "not_found")  # fmt: skip
    assert_error(api(personas["county_staff"]).post("/api/v1/ratings/prerate/", {"region": "411721"}, format="json"),
                 404, "not_found")  # fmt: skip
    assert_error(api(personas["admin"]).post("/api/v1/ratings/prerate/", {"region": "411700"}, format="json"),
                 400, "invalid_region")  # fmt: skip
    assert not Job.objects.exists() and not Rating.objects.exists()


def test_job_shape(api, personas):
    job = job_create(kind="daily", actor=personas["county_staff"], params={"as_of": "2025-01-01"})
    body = api(personas["county_staff"]).get(f"/api/v1/jobs/{job.pk}/").json()
    assert {"id", "kind", "status", "progress", "result", "message"} <= set(body)
    assert (body["status"], body["progress"], body["result"]) == ("queued", 0, {})
