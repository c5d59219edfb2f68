"""The subsidy pages through Django's test client: the batch list, the form that computes a batch,
a batch's page with its totals, lines, exclusions, buttons and export link; refusals shown in
Chinese on the page, outsiders 404."""

import datetime
import html

import pytest

from subsidy import services
from subsidy.models import SettlementBatch

from .factories import Q1_2024, make_loan, pay

pytestmark = pytest.mark.django_db

D = datetime.date


@pytest.fixture
def client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def loans(regions, banks, personas):
    """One loan paid on time and one paid late in the first quarter of 2024."""
    on_time = make_loan(regions["village_a1"], bank=banks["x"], actor=personas["admin"])
    pay(on_time, on=D(2024, 2, 15), actor=personas["bank_x"])
    late = make_loan(regions["village_a1"], bank=banks["x"], actor=personas["admin"])
    pay(late, on=D(2024, 3, 1), actor=personas["bank_x"])
    return on_time, late


@pytest.fixture
def batch(loans, regions, banks, personas):
    return services.batch_create(
        actor=personas["county_staff"], county=regions["shangcai"], bank=banks["x"], period_start=Q1_2024[0]
    )


def test_the_form_computes_a_batch_and_lands_on_it(loans, client_for, personas):
    client = client_for(personas["county_staff"])
    page = text(client.get("/subsidy/new/"))
    assert "新建贴息结算批次" in page and "上蔡县" in page and "邮储银行" in page
    response = client.post(
        "/subsidy/new/", {"county": "411722", "bank": "PSBC", "period_start": "2024-01-01"}
    )
    batch = SettlementBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/subsidy/{batch.pk}/"
    page = text(client.get(response["Location"]))
    assert "已计算：2条明细，补贴合计364.17元" in page
    assert "须由计算人以外的人审批" in page  # the creator's approve button is disabled


def test_the_form_shows_the_services_refusals(batch, client_for, personas):
    client = client_for(personas["county_staff"])
    page = text(
        client.post("/subsidy/new/", {"county": "411722", "bank": "PSBC", "period_start": "2024-02-01"})
    )
    assert "结算期按3个月一期" in page
    page = text(
        client.post("/subsidy/new/", {"county": "411722", "bank": "PSBC", "period_start": "2024-01-01"})
    )
    assert "已有结算批次" in page and f"#{batch.pk}" in page
    assert SettlementBatch.objects.count() == 1


@pytest.mark.parametrize("persona", ["bank_x", "city", "township_a", "nobody"])
def test_only_county_staff_and_admins_may_open_the_form(client_for, personas, persona):
    assert client_for(personas[persona]).get("/subsidy/new/").status_code == 403


def test_the_list_shows_each_persona_its_batches(batch, client_for, personas):
    for persona in ("county_staff", "bank_x", "city", "admin"):
        page = text(client_for(personas[persona]).get("/subsidy/"))
        assert f"/subsidy/{batch.pk}/" in page and "364.17" in page, persona
    for persona in ("township_a", "bank_y", "nobody"):
        page = text(client_for(personas[persona]).get("/subsidy/"))
        assert f"/subsidy/{batch.pk}/" not in page and "没有结算批次" in page, persona
    assert "新建结算批次" in text(client_for(personas["county_staff"]).get("/subsidy/"))
    assert "新建结算批次" not in text(client_for(personas["bank_x"]).get("/subsidy/"))


def test_the_batch_page_totals_lines_exclusions_and_export(batch, loans, client_for, personas):
    client = client_for(personas["bank_x"])
    page = text(client.get(f"/subsidy/{batch.pk}/"))
    assert "364.17" in page and "实付利息 364.17 元 × 贴息比例 100.00%" in page
    assert f"/api/v1/subsidy/batches/{batch.pk}/export.xlsx" in page
    assert 'id="actions"' not in page  # the bank reads, the county acts
    page = text(client.get(f"/subsidy/{batch.pk}/?show=excluded"))
    assert "逾期期次（到期日后才还）不贴息" in page and loans[1].loan_no in page


@pytest.mark.parametrize("persona", ["township_a", "village_a1", "bank_y", "nobody"])
def test_outsiders_get_404(batch, client_for, personas, persona):
    client = client_for(personas[persona])
    assert client.get(f"/subsidy/{batch.pk}/").status_code == 404
    assert client.post(f"/subsidy/{batch.pk}/do/approve/", {}).status_code == 404


def test_approve_and_mark_paid_from_the_page(batch, client_for, personas, checker):
    client = client_for(personas["county_staff"])
    page = text(client.post(f"/subsidy/{batch.pk}/do/approve/", {}))
    assert "未能办理：贴息批次须由计算人以外的人审批" in page
    client = client_for(checker)
    response = client.post(f"/subsidy/{batch.pk}/do/approve/", {"approve-comment": "同意"})
    assert response.status_code == 302
    page = text(client.get(response["Location"]))
    assert "县级已审批" in page and "标记已拨付" in page and "重新计算" not in page
    response = client.post(f"/subsidy/{batch.pk}/do/mark-paid/",
                           {"mark-paid-paid_on": datetime.date.today().isoformat(), "mark-paid-reference": "国库-7"})  # fmt: skip
    assert response.status_code == 302
    batch.refresh_from_db()
    assert (batch.status, batch.payment_reference) == ("paid", "国库-7")
    assert "已拨付" in text(client.get(f"/subsidy/{batch.pk}/"))
