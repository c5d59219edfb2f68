"""The loan pages through Django's test client: the list and the queue per role, the application
form with its grade, credit line and blocking rules before submitting, a loan's page with its
actions, repayments and checks; refusals shown in Chinese, never a 500."""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common.testing import page_text
from households.tests.factories import HouseholdFactory
from loans import services
from loans.models import Breaker, Loan, LoanStatus, PostLoanCheck, Repayment

from .factories import SHANGHAI, apply, walk

pytestmark = pytest.mark.django_db

SEE_A1 = ["county_staff", "township_a", "village_a1", "bank_x", "city", "admin"]
NOT_SEE_A1 = ["township_b", "bank_y", "nobody"]


def menu(page: str) -> str:
    return page.split('class="menu"')[1].split("</nav>")[0]


@pytest.fixture
def draft(lending, personas, banks):
    return apply(lending["a1"], actor=personas["village_a1"], bank=banks["x"])


@pytest.fixture
def active(draft, personas):
    return walk(draft, to=LoanStatus.ACTIVE, personas=personas)


def application(**changes) -> dict:
    data = {
        "bank": "PSBC", "amount": "30000", "term_months": "24", "purpose": "breeding",
        "repayment_method": "quarterly_interest_bullet", "then": "check",
    }  # fmt: skip
    return data | changes


# --- the list and the queue --------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client, draft):
    urls = ["/loans/", "/loans/queue/", f"/loans/new/?household={draft.household_id}", f"/loans/{draft.pk}/"]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("persona", SEE_A1 + NOT_SEE_A1)
def test_list_shows_only_the_callers_loans(client_for, personas, draft, persona):
    response = client_for(personas[persona]).get("/loans/")
    assert response.status_code == 200
    page = page_text(response)
    assert (f'href="/loans/{draft.pk}/"' in page) is (persona in SEE_A1)
    assert "贷款台账" in page


def test_list_columns_and_filters(client_for, personas, active, banks, lending):
    other = apply(lending["b1"], actor=personas["county_staff"], bank=banks["x"])
    client = client_for(personas["county_staff"])
    page = page_text(client.get("/loans/"))
    for heading in ("贷款编号", "借款人", "村/乡镇", "银行", "金额", "状态", "五级分类", "余额", "到期日"):
        assert "<th" in page and heading in page
    assert "甲一村" in page and "邮储银行" in page and "30,000.00" in page
    assert '<span class="cls cls-normal">正常</span>' in page
    page = page_text(client.get("/loans/?status=active"))
    assert f'href="/loans/{active.pk}/"' in page and f'href="/loans/{other.pk}/"' not in page
    page = page_text(client.get(f"/loans/?q={active.loan_no}"))
    assert f'href="/loans/{active.pk}/"' in page and f'href="/loans/{other.pk}/"' not in page
    page = page_text(client.get("/loans/?region=411722101"))
    assert f'href="/loans/{other.pk}/"' in page and f'href="/loans/{active.pk}/"' not in page
    page = page_text(client.get("/loans/?classification=normal&bank=PSBC"))
    assert f'href="/loans/{active.pk}/"' in page and f'href="/loans/{other.pk}/"' not in page


def test_list_queries_do_not_grow_with_the_loans(
    client_for, personas, lending, banks, django_assert_max_num_queries
):
    client = client_for(personas["county_staff"])
    apply(lending["a1"], actor=personas["village_a1"], bank=banks["x"])

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/loans/").status_code == 200
        return len(queries)

    one = count()
    for household in (lending["b1"], *HouseholdFactory.create_batch(18, village=lending["a1"].village)):
        apply(household, actor=personas["county_staff"], bank=banks["x"])
    with django_assert_max_num_queries(one):
        page = page_text(client.get("/loans/"))
    assert page.count('href="/loans/') - page.count('href="/loans/?') >= 20 and one == count()


def test_queue_shows_a_submitted_loan_to_its_township_only(client_for, personas, draft):
    services.loan_transition(actor=personas["village_a1"], loan=draft, action="submit")
    page = page_text(client_for(personas["township_a"]).get("/loans/queue/"))
    assert "待乡镇审核" in page and f'href="/loans/{draft.pk}/"' in page
    assert '我的待办 <span class="badge">1</span>' in menu(page)
    page = page_text(client_for(personas["township_b"]).get("/loans/queue/"))
    assert "待乡镇审核" in page and f'href="/loans/{draft.pk}/"' not in page
    page = page_text(client_for(personas["village_a1"]).get("/loans/queue/"))
    assert "待提交的草稿" in page and f'href="/loans/{draft.pk}/"' not in page
    page = page_text(client_for(personas["city"]).get("/loans/queue/"))
    assert "没有贷款审批流程中的待办事项" in page and "我的待办" not in menu(page)


def test_queue_says_when_someone_else_must_take_the_step(client_for, personas, lending, banks):
    loan = apply(lending["a1"], actor=personas["county_staff"], bank=banks["x"])
    services.loan_transition(actor=personas["county_staff"], loan=loan, action="submit")
    services.loan_transition(actor=personas["township_a"], loan=loan, action="township-review")
    page = page_text(client_for(personas["county_staff"]).get("/loans/queue/"))
    assert "待县级推荐" in page and "您已参与，须由他人办理" in page


# --- the application form ----------------------------------------------------------------------


def test_form_shows_grade_credit_line_and_the_rules_before_saving(client_for, personas, lending):
    client = client_for(personas["village_a1"])
    url = f"/loans/new/?household={lending['a1'].pk}"
    page = page_text(client.get(url))
    assert '<span class="grade gAA">AA</span>' in page and "40,000.00" in page
    assert "符合全部申请条件" in page and lending["a1"].village.name in page
    assert "婚嫁（不予贷款）" in page
    page = page_text(client.post(url, application(amount="45000")))
    assert "申请金额45,000.00元超过该户可用授信：授信额度为40,000.00元" in page
    assert 'data-code="exceeds_credit_line"' in page
    page = page_text(client.post(url, application(purpose="wedding")))
    assert 'data-code="non_productive_purpose"' in page
    assert not Loan.objects.exists()  # checking saves nothing


def test_form_without_effective_rating_says_so_in_red(client_for, personas, regions):
    household = HouseholdFactory(village=regions["village_a1"])
    page = page_text(client_for(personas["village_a1"]).get(f"/loans/new/?household={household.pk}"))
    assert '<strong class="error-text">无有效评级</strong>' in page
    assert 'data-code="no_effective_rating"' in page


def test_form_shows_a_tripped_breaker_in_red(client_for, personas, lending, regions):
    Breaker.objects.create(
        region=regions["town_a"], level="township", state="tripped", npl_ratio=6, threshold=5
    )
    page = page_text(client_for(personas["village_a1"]).get(f"/loans/new/?household={lending['a1'].pk}"))
    assert 'class="msg error breaker"' in page and "甲镇" in page
    assert 'data-code="breaker_tripped"' in page


@pytest.mark.parametrize("persona, status", [("township_a", 403), ("bank_x", 403), ("township_b", 404)])
def test_only_the_village_and_county_take_applications(client_for, personas, lending, persona, status):
    client = client_for(personas[persona])
    assert client.get(f"/loans/new/?household={lending['a1'].pk}").status_code == status
    assert (
        client.post(f"/loans/new/?household={lending['a1'].pk}", application(then="save")).status_code
        == status
    )
    assert not Loan.objects.exists()


def test_household_page_offers_the_application_to_who_takes_it(client_for, personas, draft):
    url = f"/households/{draft.household_id}/"
    page = page_text(client_for(personas["village_a1"]).get(url))
    assert 'id="apply-loan"' in page and f'href="/loans/{draft.pk}/"' in page
    page = page_text(client_for(personas["township_a"]).get(url))
    assert 'id="apply-loan"' not in page and f'href="/loans/{draft.pk}/"' in page


def test_save_and_submit_through_the_page(client_for, personas, lending):
    client = client_for(personas["village_a1"])
    response = client.post(
        f"/loans/new/?household={lending['a1'].pk}", application(then="submit"), follow=True
    )
    loan = Loan.objects.get()
    assert response.redirect_chain[-1][0] == f"/loans/{loan.pk}/"
    assert loan.status == LoanStatus.SUBMITTED and loan.amount == Decimal("30000.00")
    assert loan.borrower.relation == "户主" and loan.bank.code == "PSBC"
    assert f"已保存并提交：{loan}" in page_text(response)


def test_a_refused_submit_keeps_the_draft_and_says_why(client_for, personas, lending):
    client = client_for(personas["village_a1"])
    data = application(amount="45000", then="submit")
    response = client.post(f"/loans/new/?household={lending['a1'].pk}", data, follow=True)
    loan = Loan.objects.get()
    assert loan.status == LoanStatus.DRAFT
    page = page_text(response)
    assert f"草稿{loan}已保存，但未能提交" in page and "超过该户可用授信" in page
    assert 'id="do-submit"' in page  # fix the cause, then submit again from the loan's page


def test_form_errors_stay_on_the_form(client_for, personas, lending):
    client = client_for(personas["village_a1"])
    page = page_text(
        client.post(f"/loans/new/?household={lending['a1'].pk}", application(amount="", then="save"))
    )
    assert "此项为必填项。" in page and not Loan.objects.exists()


# --- a loan's page -----------------------------------------------------------------------------


@pytest.mark.parametrize("persona", SEE_A1)
def test_loan_page_renders_for_who_may_see_it(client_for, personas, active, persona):
    response = client_for(personas[persona]).get(f"/loans/{active.pk}/")
    assert response.status_code == 200
    page = page_text(response)
    assert active.loan_no in page and "还款计划" in page and "流转记录" in page and "放款" in page


@pytest.mark.parametrize("persona", NOT_SEE_A1)
def test_outsiders_get_404(client_for, personas, draft, persona):
    client = client_for(personas[persona])
    assert client.get(f"/loans/{draft.pk}/").status_code == 404
    assert client.post(f"/loans/{draft.pk}/do/submit/").status_code == 404
    assert client.post(f"/loans/{draft.pk}/repayments/", {"amount": "1"}).status_code == 404
    assert Loan.objects.get(pk=draft.pk).status == LoanStatus.DRAFT


def test_action_buttons_follow_the_role_and_move_the_state(client_for, personas, draft):
    services.loan_transition(actor=personas["village_a1"], loan=draft, action="submit")
    assert 'id="do-township-review"' not in page_text(
        client_for(personas["village_a1"]).get(f"/loans/{draft.pk}/")
    )
    client = client_for(personas["township_a"])
    page = page_text(client.get(f"/loans/{draft.pk}/"))
    assert 'id="do-township-review"' in page and 'id="do-reject"' in page and 'id="do-withdraw"' not in page
    response = client.post(f"/loans/{draft.pk}/do/township-review/", {"township-review-comment": "材料齐全"})
    assert response.status_code == 302 and response["Location"] == f"/loans/{draft.pk}/"
    assert Loan.objects.get(pk=draft.pk).status == LoanStatus.TOWNSHIP_REVIEWED
    page = page_text(client.get(f"/loans/{draft.pk}/"))
    assert "乡镇审核" in page and "材料齐全" in page and "村级已提交 → 乡镇已审核" in page


def test_refusals_show_on_the_page_never_a_500(client_for, personas, draft):
    services.loan_transition(actor=personas["village_a1"], loan=draft, action="submit")
    response = client_for(personas["township_a"]).post(f"/loans/{draft.pk}/do/reject/", {"reject-reason": ""})
    assert response.status_code == 200 and "请填写原因。" in page_text(response)
    response = client_for(personas["county_staff"]).post(f"/loans/{draft.pk}/do/township-review/")
    assert response.status_code == 403 and "您的角色不能对该笔贷款执行“乡镇审核”" in page_text(response)
    response = client_for(personas["city"]).post(f"/loans/{draft.pk}/do/nonsense/")
    assert response.status_code == 404
    assert Loan.objects.get(pk=draft.pk).status == LoanStatus.SUBMITTED


def test_a_tripped_breaker_shows_on_the_loan_page(client_for, personas, draft, regions):
    Breaker.objects.create(
        region=regions["village_a1"], level="village", state="tripped", npl_ratio=9, threshold=7
    )
    page = page_text(client_for(personas["village_a1"]).get(f"/loans/{draft.pk}/"))
    assert 'class="msg error breaker"' in page and "甲一村" in page and 'data-code="breaker_tripped"' in page


def test_bank_disburses_and_posts_a_repayment(client_for, personas, draft):
    loan = walk(draft, to=LoanStatus.APPROVED, personas=personas)
    day = loan.notice_ends_on.isoformat()  # the bank approved on it; repayments cannot be dated later
    with time_machine.travel(
        datetime.datetime.combine(loan.notice_ends_on, datetime.time(12), tzinfo=SHANGHAI)
    ):
        client = client_for(personas["bank_x"])
        response = client.post(f"/loans/{loan.pk}/do/disburse/", {"disburse-disbursed_on": day})
        assert response.status_code == 302
        loan.refresh_from_db()
        assert loan.status == LoanStatus.ACTIVE and loan.instalments.count() == 8
        page = page_text(client.get(f"/loans/{loan.pk}/"))
        assert 'id="repayment-form"' in page and "第 8 期" in page
        repay = {"amount": "500", "paid_on": day, "reference": "T001"}
        assert client.post(f"/loans/{loan.pk}/repayments/", repay).status_code == 302
        repayment = Repayment.objects.get()
        assert repayment.amount == Decimal("500.00") and repayment.channel == "manual"
        page = page_text(client.get(f"/loans/{loan.pk}/"))
        assert "还款已入账。" in page and "T001" in page
        again = page_text(client.post(f"/loans/{loan.pk}/repayments/", repay))
        assert "流水号T001已登记过" in again and Repayment.objects.count() == 1
        assert 'id="repayment-form"' not in page_text(
            client_for(personas["township_a"]).get(f"/loans/{loan.pk}/")
        )


def test_extension_rows_are_marked(client_for, personas, active):
    services.loan_extend(actor=personas["bank_x"], loan=active, months=6, reason="受灾")
    page = page_text(client_for(personas["county_staff"]).get(f"/loans/{active.pk}/"))
    assert '<span class="tag ext">展期</span>' in page and "受灾" in page


def test_township_records_a_post_loan_check(client_for, personas, active):
    client = client_for(personas["township_a"])
    assert 'id="check-form"' in page_text(client.get(f"/loans/{active.pk}/"))
    data = {
        "tier": "township",
        "checked_on": datetime.date.today().isoformat(),
        "finding": "other",
        "note": "",
    }
    page = page_text(client.post(f"/loans/{active.pk}/checks/", data))
    assert "发现问题须写明情况。" in page and "请写明情况。" in page and not PostLoanCheck.objects.exists()
    data["note"] = "养殖场扩建中"
    assert client.post(f"/loans/{active.pk}/checks/", data).status_code == 302
    check = PostLoanCheck.objects.get()
    assert check.tier == "township" and check.checker == personas["township_a"]
    assert 'id="check-form"' not in page_text(client_for(personas["bank_x"]).get(f"/loans/{active.pk}/"))


def test_renewal_leads_to_the_new_draft(client_for, personas, active):
    client = client_for(personas["village_a1"])
    page = page_text(client.get(f"/loans/{active.pk}/"))
    assert 'id="do-renew"' in page and 'name="renew-comment"' not in page
    response = client.post(f"/loans/{active.pk}/do/renew/")
    renewal = Loan.objects.get(renewed_from=active)
    assert response.status_code == 302 and response["Location"] == f"/loans/{renewal.pk}/"
    assert renewal.status == LoanStatus.DRAFT
