"""The admin of credit ratings: a new scorecard version from the default template (an action) or
from the add form (checked and written by the services); published versions, ratings and events
are read-only; freezes are lifted by an action."""

import html

import pytest

from credit_rating.models import CreditLineFreeze, Scorecard
from credit_rating.services import credit_line_freeze

from .factories import publish_default

pytestmark = pytest.mark.django_db


def inline(prefix: str, rows: list[dict]) -> dict:
    data = {f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}  # fmt: skip
    for i, row in enumerate(rows):
        data.update({f"{prefix}-{i}-{k}": v for k, v in row.items()})
    return data


def add_form(regions, *, weight="50"):
    indicators = [
        {"position": "1", "code": "honesty", "name": "诚信", "group": "品德", "weight": weight, "max_score": "10",
         "source": "entered", "full_marks_at": ""},
        {"position": "2", "code": "income", "name": "人均纯收入", "group": "档卡", "weight": "50", "max_score": "10",
         "source": "income", "full_marks_at": "5000"},
    ]  # fmt: skip
    grades = [
        {"grade": "AAA", "min_score": "90", "credit_line": "50000"},
        {"grade": "A", "min_score": "60", "credit_line": "30000"},
        {"grade": "C", "min_score": "0", "credit_line": "0"},
    ]
    return {
        "county": regions["shangcai"].code, "effective_from": "2025-01-01", "note": "试行",
        **inline("indicators", indicators), **inline("grades", grades),
    }  # fmt: skip


def test_add_form_publishes_the_next_version_through_the_service(admin_client, regions, personas):
    publish_default(regions["shangcai"])
    response = admin_client.post("/admin/credit_rating/scorecard/add/", add_form(regions))
    assert response.status_code == 302, html.unescape(response.content.decode())[-3000:]
    card = Scorecard.objects.get(version=2)
    assert (card.county_id, card.note, card.created_by) == ("411722", "试行", personas["admin"])
    assert [i.code for i in card.indicators.all()] == ["honesty", "income"]
    assert sorted(g.grade for g in card.grades.all()) == ["A", "AAA", "C"]
    assert response["Location"].endswith(f"/admin/credit_rating/scorecard/{card.pk}/change/") or response[
        "Location"
    ].endswith("/admin/credit_rating/scorecard/")


def test_add_form_refuses_what_the_service_refuses(admin_client, regions):
    response = admin_client.post("/admin/credit_rating/scorecard/add/", add_form(regions, weight="40"))
    assert response.status_code == 200
    assert "各指标权重之和应为100分，当前为90分。" in html.unescape(response.content.decode())
    assert not Scorecard.objects.exists()


def test_published_version_is_read_only(admin_client, regions):
    card = publish_default(regions["shangcai"])
    page = html.unescape(
        admin_client.get(f"/admin/credit_rating/scorecard/{card.pk}/change/").content.decode()
    )
    assert "遵纪守法" in page and 'name="_save"' not in page
    assert admin_client.post(f"/admin/credit_rating/scorecard/{card.pk}/change/", {}).status_code == 403


def test_publish_default_action(admin_client, regions):
    card = publish_default(regions["shangcai"])
    response = admin_client.post(
        "/admin/credit_rating/scorecard/",
        {"action": "publish_default", "_selected_action": [card.pk]},
        follow=True,
    )
    assert "已发布" in html.unescape(response.content.decode())
    assert Scorecard.objects.filter(county=regions["shangcai"]).count() == 2


def test_rating_admin_is_read_only(admin_client, personas, households, workflow):
    rating = workflow(households["a1"], to="approved")
    assert admin_client.get("/admin/credit_rating/rating/").status_code == 200
    page = html.unescape(
        admin_client.get(f"/admin/credit_rating/rating/{rating.pk}/change/").content.decode()
    )
    assert "approve" in page and 'name="_save"' not in page
    assert admin_client.get("/admin/credit_rating/rating/add/").status_code == 403


def test_freeze_admin_lifts(admin_client, personas, households):
    freeze = credit_line_freeze(actor=personas["county_staff"], household=households["a1"], reason="建房")
    assert admin_client.get("/admin/credit_rating/creditlinefreeze/").status_code == 200
    admin_client.post(
        "/admin/credit_rating/creditlinefreeze/", {"action": "lift", "_selected_action": [freeze.pk]}
    )
    freeze.refresh_from_db()
    assert freeze.lifted_at is not None and freeze.lifted_by == personas["admin"]
    assert CreditLineFreeze.objects.filter(lifted_at__isnull=True).count() == 0


def test_job_admin_lists(admin_client, personas):
    from common.jobs import job_create

    job_create(kind="prerate", actor=personas["county_staff"])
    assert admin_client.get("/admin/common/job/").status_code == 200
