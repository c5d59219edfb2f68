"""The credit-rating pages through Django's test client: the queue per role with bulk actions, a
rating's page, the scoring form, the household page's section, expiry, coverage, pre-rating."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common.clock import today
from common.models import Job
from common.testing import page_text
from credit_rating import services
from credit_rating.models import Rating, RatingStatus
from households.tests.factories import HouseholdFactory

from .factories import RatingFactory, full_scores

pytestmark = pytest.mark.django_db


def tabs(page: str) -> list[str]:
    return re.findall(r'id="tab-(\w+)"', page)


def active_tab(page: str) -> str:
    return re.search(r'class="active" aria-current="page" id="tab-(\w+)"', page).group(1)


# --- the queue ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "persona, expected_tabs, landing",
    [
        ("village_a1", ["draft", "approved", "rejected", "all"], "draft"),
        ("township_a", ["submitted", "approved", "rejected", "all"], "submitted"),
        ("county_staff", ["draft", "submitted", "reviewed", "approved", "rejected", "all"], "reviewed"),
        ("bank_x", ["review", "approved", "all"], "approved"),
        ("city", ["draft", "submitted", "reviewed", "approved", "rejected", "all"], "approved"),
        ("admin", ["draft", "submitted", "reviewed", "approved", "rejected", "all"], "approved"),
        ("nobody", ["approved", "all"], "approved"),
    ],
)
def test_queue_tabs_follow_the_role(client_for, personas, scorecards, persona, expected_tabs, landing):
    response = client_for(personas[persona]).get("/ratings/")
    assert response.status_code == 200
    page = page_text(response)
    assert tabs(page) == expected_tabs and active_tab(page) == landing


def test_each_queue_lists_its_work(client_for, personas, households, workflow):
    draft = workflow(households["a1"])
    submitted = workflow(households["b1"], to=RatingStatus.SUBMITTED)
    village = page_text(client_for(personas["village_a1"]).get("/ratings/"))
    assert f'href="/ratings/{draft.pk}/"' in village and f'href="/ratings/{submitted.pk}/"' not in village
    township_b = page_text(client_for(personas["township_b"]).get("/ratings/"))
    assert (
        f'href="/ratings/{submitted.pk}/"' in township_b and f'href="/ratings/{draft.pk}/"' not in township_b
    )
    county = page_text(client_for(personas["county_staff"]).get("/ratings/?tab=submitted"))
    assert f'href="/ratings/{submitted.pk}/"' in county
    assert "批量审批" not in county and "批量提交" not in county  # bulk: the draft and reviewed tabs only


def test_bank_sees_effective_ratings_and_those_under_review(client_for, personas, households, workflow):
    approved = workflow(households["a1"], to=RatingStatus.APPROVED)
    draft = workflow(households["b1"])
    page = page_text(client_for(personas["bank_x"]).get("/ratings/?tab=all"))
    assert f'href="/ratings/{approved.pk}/"' in page and f'href="/ratings/{draft.pk}/"' not in page
    assert client_for(personas["bank_x"]).get(f"/ratings/{draft.pk}/").status_code == 404
    services.rating_submit(actor=personas["county_staff"], rating=draft)  # under review: the bank's to see
    page = page_text(client_for(personas["bank_x"]).get("/ratings/?tab=review"))
    assert f'href="/ratings/{draft.pk}/"' in page and f'href="/ratings/{approved.pk}/"' not in page
    page = page_text(client_for(personas["bank_x"]).get(f"/ratings/{approved.pk}/"))
    assert "得分明细" in page and 'id="do-' not in page and "修改评分" not in page


def test_county_bulk_approves_and_lists_each_refusal(
    client_for, personas, households, regions, workflow, county2
):
    ok = workflow(households["a1"], to=RatingStatus.REVIEWED)
    extra = HouseholdFactory(village=regions["village_a2"], head_name="自评户")
    mine = services.rating_create(actor=personas["county_staff"], household=extra, scores=full_scores())
    services.rating_submit(actor=personas["county_staff"], rating=mine)
    services.rating_review(actor=personas["township_a"], rating=mine)
    client = client_for(personas["county_staff"])
    page = page_text(client.get("/ratings/"))
    assert "批量审批" in page and f'name="ids" value="{ok.pk}"' in page
    response = client.post("/ratings/bulk/", {"action": "approve", "ids": [ok.pk, mine.pk]}, follow=True)
    page = page_text(response)
    assert "已审批 1 条。" in page
    assert "自评户" in page and "审核、审批须由他人进行" in page
    assert Rating.objects.get(pk=ok.pk).status == "approved"
    assert Rating.objects.get(pk=mine.pk).status == "reviewed"


def test_county_bulk_submits(client_for, personas, households, workflow):
    a1 = workflow(households["a1"])
    b1 = workflow(households["b1"], scores={})
    client = client_for(personas["county_staff"])
    assert "批量提交" in page_text(client.get("/ratings/?tab=draft"))
    page = page_text(client.post("/ratings/bulk/", {"action": "submit", "ids": [a1.pk, b1.pk]}, follow=True))
    assert "已提交 1 条。" in page and "还有9项未评分" in page
    assert Rating.objects.get(pk=a1.pk).status == "submitted"


def test_bulk_needs_a_selection_and_the_county(client_for, personas, households, workflow):
    rating = workflow(households["a1"], to=RatingStatus.REVIEWED)
    page = page_text(
        client_for(personas["county_staff"]).post("/ratings/bulk/", {"action": "approve"}, follow=True)
    )
    assert "请先勾选" in page
    for persona in ("township_a", "village_a1", "bank_x"):
        response = client_for(personas[persona]).post(
            "/ratings/bulk/", {"action": "approve", "ids": [rating.pk]}
        )
        assert response.status_code == 403
    assert client_for(personas["county_staff"]).get("/ratings/bulk/").status_code == 405
    assert Rating.objects.get().status == "reviewed"


def test_bulk_ignores_ratings_out_of_scope(client_for, personas, households, scorecards):
    other = RatingFactory(household=households["x1"], scorecard=scorecards["xiping"], status="reviewed",
                          drafted_by=personas["admin"])  # fmt: skip
    page = page_text(client_for(personas["county_staff"]).post("/ratings/bulk/", {"action": "approve", "ids": [other.pk]},
                                                          follow=True))  # fmt: skip
    assert "已审批" not in page
    assert Rating.objects.get().status == "reviewed"


@pytest.mark.parametrize("rows", [1, 4])
def test_queue_queries_do_not_grow(client_for, personas, regions, scorecards, rows):
    for household in HouseholdFactory.create_batch(rows, village=regions["village_a1"]):
        RatingFactory(household=household, scorecard=scorecards["shangcai"], status="reviewed",
                      drafted_by=personas["admin"])  # fmt: skip
    client = client_for(personas["county_staff"])
    client.get("/ratings/")
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/ratings/").status_code == 200
    counts = len(ctx.captured_queries)
    HouseholdFactory.create_batch(3, village=regions["village_b1"])
    for household in HouseholdFactory.create_batch(3, village=regions["village_a2"]):
        RatingFactory(household=household, scorecard=scorecards["shangcai"], status="reviewed",
                      drafted_by=personas["admin"])  # fmt: skip
    with CaptureQueriesContext(connection) as ctx:
        client.get("/ratings/")
    assert len(ctx.captured_queries) == counts


# --- one rating ---------------------------------------------------------------------------------


def test_rating_page_shows_the_breakdown_and_the_timeline(client_for, personas, households, workflow):
    rating = workflow(households["a1"], to=RatingStatus.APPROVED)
    page = page_text(client_for(personas["township_a"]).get(f"/ratings/{rating.pk}/"))
    breakdown = page.split('id="score-breakdown"')[1].split("</table>")[0]
    assert "遵纪守法" in breakdown and "劳动力占比" in breakdown and "人均纯收入" in breakdown
    assert re.search(
        r"遵纪守法</td>.*?8\.00</td>.*?>8</td>.*?6\.40</td>", breakdown, re.S
    )  # raw, weight, points
    assert re.search(r"人均纯收入</td>.*?5\.33</td>.*?>14</td>.*?7\.46</td>", breakdown, re.S)
    assert "79.06" in breakdown
    events = page.split('id="rating-events"')[1]
    for label in ("建立草稿", "提交", "乡镇审核通过", "县级审批通过"):
        assert label in events
    assert "草稿 → 已提交（待乡镇审核）" in events
    assert 'id="rating-valid-until"' in page and "有效" in page


@pytest.mark.parametrize(
    "status, persona, buttons",
    [
        ("draft", "village_a1", ["submit"]),
        ("draft", "township_a", []),
        ("submitted", "township_a", ["review", "return", "reject"]),
        ("submitted", "bank_x", ["opinion"]),
        ("submitted", "village_a1", []),
        ("reviewed", "county_staff", ["approve", "return", "reject"]),
        ("reviewed", "township_a", ["reject"]),
        ("approved", "county_staff", []),
        ("approved", "bank_x", []),
    ],
)
def test_buttons_follow_role_and_state(client_for, personas, households, workflow, status, persona, buttons):
    rating = workflow(households["a1"], to=status)
    page = client_for(personas[persona]).get(f"/ratings/{rating.pk}/").content.decode()
    assert re.findall(r'id="do-(\w+)"', page) == buttons
    assert ('id="edit-scores"' in page) is (status == "draft" and persona == "village_a1")


def test_actions_through_the_page(client_for, personas, households, workflow):
    rating = workflow(households["a1"])
    url = f"/ratings/{rating.pk}/"
    assert "已提交" in page_text(
        client_for(personas["village_a1"]).post(url, {"action": "submit"}, follow=True)
    )
    town = client_for(personas["township_a"])
    page = page_text(town.post(url, {"action": "reject", "reason": ""}, follow=True))
    assert "退回须填写原因" in page
    page = page_text(town.post(url, {"action": "reject", "reason": "致富项目不实"}, follow=True))
    assert "已退回" in page and "致富项目不实" in page
    assert Rating.objects.get().status == "rejected"


def test_four_eyes_message_on_the_page(client_for, personas, households, scorecards):
    client = client_for(personas["county_staff"])
    rating = services.rating_create(
        actor=personas["county_staff"], household=households["b1"], scores=full_scores()
    )
    services.rating_submit(actor=personas["county_staff"], rating=rating)
    services.rating_review(actor=personas["township_b"], rating=rating)
    page = client.get(f"/ratings/{rating.pk}/").content.decode()
    assert 'id="do-approve"' not in page  # not offered
    page = page_text(client.post(f"/ratings/{rating.pk}/", {"action": "approve"}, follow=True))
    assert "审核、审批须由他人进行" in page
    assert Rating.objects.get().status == "reviewed"


@pytest.mark.parametrize("persona", ["township_b", "bank_y", "nobody"])
def test_outsiders_get_404(client_for, personas, households, workflow, persona):
    rating = workflow(households["a1"], to=RatingStatus.APPROVED)
    client = client_for(personas[persona])
    for url in (
        f"/ratings/{rating.pk}/",
        f"/ratings/{rating.pk}/edit/",
        f"/ratings/new/{households['a1'].pk}/",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/ratings/{rating.pk}/", {"action": "reject", "reason": "x"}).status_code == 404
    assert client.get("/ratings/", {"household": households["a1"].pk}).status_code == 404
    assert households["a1"].head_name not in page_text(client.get("/ratings/?tab=all"))


# --- the scoring form ---------------------------------------------------------------------------


def test_clerk_rates_a_household_through_the_form(client_for, personas, households, scorecards):
    client = client_for(personas["village_a1"])
    url = f"/ratings/new/{households['a1'].pk}/"
    page = page_text(client.get(url))
    assert len(re.findall(r'<input type="number" name="(\w+)"', page)) == 9
    computed = page.split('id="computed-indicators"')[1].split("</table>")[0]
    assert "劳动力占比" in computed and "10.00" in computed and "5.33" in computed
    data = {code: "9" for code in full_scores()} | {"then": "submit"}
    response = client.post(url, data, follow=True)
    rating = Rating.objects.get()
    assert response.redirect_chain[-1][0] == f"/ratings/{rating.pk}/"
    assert (rating.status, str(rating.score), rating.grade) == ("submitted", "86.26", "AA")
    assert "已保存并提交" in page_text(response)


def test_form_saves_a_partial_draft_and_refuses_bad_scores(client_for, personas, households, scorecards):
    client = client_for(personas["village_a1"])
    url = f"/ratings/new/{households['a1'].pk}/"
    page = page_text(client.post(url, {"law_abiding": "11", "then": "save"}))
    assert "“遵纪守法”的得分应在0到10之间。" in page and not Rating.objects.exists()
    response = client.post(url, {"law_abiding": "7", "then": "submit"}, follow=True)
    rating = Rating.objects.get()
    assert rating.status == "draft" and rating.scores["law_abiding"] == "7.00"
    assert "未能提交" in page_text(response) and "还有8项未评分" in page_text(response)
    # Editing the draft shows what was entered; the rest can be filled in.
    page = page_text(client.get(f"/ratings/{rating.pk}/edit/"))
    assert 'name="law_abiding" value="7.00"' in page
    client.post(f"/ratings/{rating.pk}/edit/", {code: "8" for code in full_scores()} | {"then": "save"})
    rating.refresh_from_db()
    assert (str(rating.score), rating.status) == ("79.06", "draft")


def test_form_sends_to_the_rating_in_progress(client_for, personas, households, workflow):
    rating = workflow(households["a1"], to=RatingStatus.SUBMITTED)
    response = client_for(personas["village_a1"]).get(f"/ratings/new/{households['a1'].pk}/")
    assert response.status_code == 302 and response["Location"] == f"/ratings/{rating.pk}/"


def test_form_without_a_scorecard(client_for, personas, households):
    response = client_for(personas["village_a1"]).get(f"/ratings/new/{households['a1'].pk}/", follow=True)
    assert "尚未发布评分卡" in page_text(response)


@pytest.mark.parametrize("persona", ["township_a", "bank_x", "city"])
def test_form_is_for_drafters(client_for, personas, households, workflow, persona):
    draft = workflow(households["a1"])
    client = client_for(personas[persona])
    assert client.get(f"/ratings/new/{households['a1'].pk}/").status_code == 403
    # A draft is work in progress: the bank does not even see it.
    assert client.get(f"/ratings/{draft.pk}/edit/").status_code == (404 if persona == "bank_x" else 403)


def test_edit_only_a_draft(client_for, personas, households, workflow):
    rating = workflow(households["a1"], to=RatingStatus.SUBMITTED)
    response = client_for(personas["village_a1"]).get(f"/ratings/{rating.pk}/edit/", follow=True)
    assert "只有草稿或退回修改的评级可以修改评分" in page_text(response)


# --- the household page -------------------------------------------------------------------------


def test_household_page_shows_grade_line_validity_and_freeze(client_for, personas, households, workflow):
    rating = workflow(households["a1"], to=RatingStatus.APPROVED)
    url = f"/households/{households['a1'].pk}/"
    page = page_text(client_for(personas["bank_x"]).get(url))
    card = page.split('id="household-rating"')[1].split("</section>")[0]
    assert "A" in card.split('id="current-grade"')[1][:200] and "30000.00 元" in card
    assert rating.valid_until.strftime("%Y-%m-%d") in card and "正常" in card
    assert 'id="rate-household"' not in card  # the bank does not rate
    assert f"/ratings/?household={households['a1'].pk}" in card
    services.credit_line_freeze(
        actor=personas["township_a"], household=households["a1"], reason="贷款用于建房"
    )
    card = page_text(client_for(personas["village_a1"]).get(url)).split('id="household-rating"')[1]
    assert "已冻结" in card and "贷款用于建房" in card
    assert f'href="/ratings/new/{households["a1"].pk}/" id="rate-household"' in card


def test_household_page_without_rating(client_for, personas, households):
    card = page_text(client_for(personas["township_a"]).get(f"/households/{households['a1'].pk}/"))
    assert "无有效评级" in card


def test_household_history_link(client_for, personas, households, workflow):
    old = workflow(households["a1"], to=RatingStatus.APPROVED)
    new = workflow(households["a1"])
    page = page_text(
        client_for(personas["county_staff"]).get("/ratings/", {"household": households["a1"].pk})
    )
    assert active_tab(page) == "all"
    assert f'href="/ratings/{old.pk}/"' in page and f'href="/ratings/{new.pk}/"' in page


# --- expiry, coverage, pre-rating ---------------------------------------------------------------


def test_expiring_list(client_for, personas, regions, scorecards):
    day = today()
    soon = HouseholdFactory(village=regions["village_a1"], head_name="将到期")
    later = HouseholdFactory(village=regions["village_a1"], head_name="还早")
    for household, days_left in ((soon, 12), (later, 90)):
        until = day + datetime.timedelta(days=days_left)
        RatingFactory(household=household, scorecard=scorecards["shangcai"], status="approved",
                      drafted_by=personas["admin"], approved_on=until - datetime.timedelta(days=364), valid_until=until)  # fmt: skip
    page = page_text(client_for(personas["village_a1"]).get("/ratings/expiring/"))
    table = page.split('id="expiring-table"')[1]
    assert "将到期" in table and "还早" not in table and ">12</td>" in table
    assert f"/ratings/new/{soon.pk}/" in table  # the clerk may re-rate
    assert (
        "将到期"
        not in page_text(client_for(personas["township_b"]).get("/ratings/expiring/")).split(
            'id="expiring-table"'
        )[1]
    )
    assert "/ratings/new/" not in page_text(client_for(personas["bank_x"]).get("/ratings/expiring/"))


def test_coverage_page(client_for, personas, regions, households, scorecards):
    RatingFactory(household=households["a1"], scorecard=scorecards["shangcai"], status="approved",
                  drafted_by=personas["admin"])  # fmt: skip
    client = client_for(personas["county_staff"])
    page = page_text(client.get("/ratings/coverage/"))
    assert "评级授信面：上蔡县" in page and 'id="coverage-total">50.00%' in page
    table = page.split('id="coverage-table"')[1]
    assert "甲镇" in table and "100.00%" in table and "乙镇" in table and "0.00%" in table
    assert 'style="width: 100.00%"' in table
    page = page_text(client.get("/ratings/coverage/", {"region": "411722100"}))
    assert "甲一村" in page and "甲二村" in page and "↑ 上蔡县" in page
    assert client.get("/ratings/coverage/", {"region": "411721"}).status_code == 404
    city = page_text(client_for(personas["city"]).get("/ratings/coverage/"))
    assert "评级授信面：驻马店市" in city and "西平县" in city


def test_prerate_page(client_for, personas, households, scorecards, django_capture_on_commit_callbacks):
    client = client_for(personas["county_staff"])
    page = page_text(client.get("/ratings/prerate/"))
    assert '<option value="411722">上蔡县</option>' in page and "甲一村" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/ratings/prerate/", {"region": "411722"})
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/ratings/prerate/?job={job.pk}"
    page = page_text(client.get(response["Location"]))
    assert f'data-url="/api/v1/jobs/{job.pk}/"' in page and 'data-done="1"' in page
    assert "新建评级草稿 2 条" in page and 'id="job-progress">100' in page
    assert Rating.objects.filter(status="draft").count() == 2
    # Someone else's job is not there.
    assert client_for(personas["admin"]).get(f"/ratings/prerate/?job={job.pk}").status_code == 404


@pytest.mark.parametrize("persona", ["village_a1", "township_a", "bank_x", "city", "nobody"])
def test_prerate_page_is_for_the_county(client_for, personas, scorecards, persona):
    client = client_for(personas[persona])
    assert client.get("/ratings/prerate/").status_code == 403
    assert client.post("/ratings/prerate/", {"region": "411722"}).status_code == 403
    assert not Job.objects.exists()


def test_prerate_page_shows_a_refusal(client_for, personas, households):
    page = page_text(
        client_for(personas["county_staff"]).post("/ratings/prerate/", {"region": "411722"}, follow=True)
    )
    assert "尚未发布评分卡" in page and not Job.objects.exists()


# --- the menu -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "persona, offered",
    [("village_a1", True), ("township_a", True), ("county_staff", True), ("bank_x", True), ("city", True),
     ("admin", True), ("nobody", False)],
)  # fmt: skip
def test_menu_item(client_for, personas, persona, offered):
    page = client_for(personas[persona]).get("/").content.decode()
    assert ('href="/ratings/"' in page) is offered


def test_menu_lights_up_on_rating_pages(client_for, personas, scorecards):
    page = client_for(personas["county_staff"]).get("/ratings/coverage/").content.decode()
    assert '<a href="/ratings/" class="active"' in page
