"""The browser pages: who sees what, the forms say what the API says, the export."""

import datetime
import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from common.clock import today
from common.testing import page_text
from enterprises.models import BenefitLink, Enterprise
from enterprises.tests.factories import BenefitLinkFactory, EnterpriseFactory, credit_code_for
from households.tests.factories import HouseholdFactory

pytestmark = pytest.mark.django_db

D = datetime.date
SEE_A = ["county_staff", "township_a", "bank_x", "city", "admin"]
NOT_SEE_A = ["township_b", "bank_y", "village_a1", "nobody"]


@pytest.fixture
def coop(regions):
    return EnterpriseFactory(
        township=regions["town_a"], name="甲镇绿源种植专业合作社", founded_on=D(2015, 3, 1)
    )


def test_anonymous_is_sent_to_login(client, coop):
    for url in ("/enterprises/", f"/enterprises/{coop.pk}/", "/enterprises/new/", "/enterprises/export.xlsx"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("persona", SEE_A + NOT_SEE_A)
def test_list_shows_only_the_callers_part(client_for, personas, regions, coop, persona):
    x = EnterpriseFactory(township=regions["town_x"], name="西平合作社")
    page = page_text(client_for(personas[persona]).get("/enterprises/"))
    assert (coop.name in page) is (persona in SEE_A)
    assert (x.name in page) is (persona in ("bank_y", "city", "admin"))
    assert "带贫企业" in page  # the menu item and the heading


def test_menu_has_the_item_and_marks_it(client_for, personas, coop):
    page = client_for(personas["township_a"]).get(f"/enterprises/{coop.pk}/").content.decode()
    assert re.search(r'<a href="/enterprises/" class="active" aria-current="page">带贫企业</a>', page)


def test_list_filters(client_for, personas, regions, coop):
    EnterpriseFactory(township=regions["town_b"], name="乙镇面粉公司", kind="company")
    client = client_for(personas["county_staff"])
    page = page_text(client.get("/enterprises/", {"kind": "company"}))
    assert "乙镇面粉公司" in page and coop.name not in page
    page = page_text(client.get("/enterprises/", {"q": "绿源"}))
    assert coop.name in page and "乙镇面粉公司" not in page
    assert re.search(r"符合条件的\s*<strong>1</strong>\s*家", page)
    page = page_text(client.get("/enterprises/", {"region": "411722101"}))
    assert "乙镇面粉公司" in page and coop.name not in page


def test_list_queries_do_not_grow_with_rows(client_for, personas, regions, coop):
    client = client_for(personas["county_staff"])

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/enterprises/").status_code == 200
        return len(ctx.captured_queries)

    before = queries()
    for _ in range(4):
        e = EnterpriseFactory(township=regions["town_b"])
        BenefitLinkFactory(
            enterprise=e,
            household=HouseholdFactory(village=regions["village_b1"]),
            created_by=personas["admin"],
        )
    assert queries() == before


@pytest.mark.parametrize("persona", SEE_A)
def test_detail_renders(client_for, personas, coop, persona):
    page = page_text(client_for(personas[persona]).get(f"/enterprises/{coop.pk}/"))
    assert coop.name in page and coop.credit_code in page
    assert "贷款额度上限" in page
    assert ('id="recognize-form"' in page) is (persona in ("county_staff", "admin"))
    assert ('id="link-form"' in page) is (persona in ("county_staff", "admin"))
    assert (f'href="/enterprises/{coop.pk}/edit/"' in page) is (
        persona in ("county_staff", "township_a", "admin")
    )


@pytest.mark.parametrize("persona", NOT_SEE_A)
def test_detail_out_of_scope_is_404(client_for, personas, coop, persona):
    client = client_for(personas[persona])
    for url in (f"/enterprises/{coop.pk}/", f"/enterprises/{coop.pk}/edit/"):
        response = client.get(url)
        assert response.status_code == 404 and coop.name not in page_text(response)
    response = client.post(
        f"/enterprises/{coop.pk}/recognize/", {"decision_no": "X", "decided_on": "2017-06-01"}
    )
    assert response.status_code == 404
    coop.refresh_from_db()
    assert not coop.recognized


def test_register_through_the_form(client_for, personas):
    client = client_for(personas["township_a"])
    page = page_text(client.get("/enterprises/new/"))
    assert '<option value="411722100">甲镇（411722100）</option>' in page
    assert 'value="411722101"' not in page  # not the other township
    data = {
        "name": "甲镇金穗合作社", "credit_code": credit_code_for(700), "kind": "cooperative",
        "founded_on": "2015-03-01", "township_code": "411722100", "legal_rep": "王大山", "contact_phone": "",
    }  # fmt: skip
    response = client.post("/enterprises/new/", data)
    created = Enterprise.objects.get(name="甲镇金穗合作社")
    assert response.status_code == 302 and response["Location"] == f"/enterprises/{created.pk}/"


def test_form_shows_the_service_messages(client_for, personas):
    client = client_for(personas["county_staff"])
    code = credit_code_for(701)
    data = {
        "name": "坏合作社", "credit_code": code[:-1] + ("0" if code[-1] != "0" else "1"), "kind": "cooperative",
        "founded_on": "2015-03-01", "township_code": "411721100", "legal_rep": "王",
    }  # fmt: skip
    page = page_text(client.post("/enterprises/new/", data))
    assert "统一社会信用代码校验位不正确，请核对号码（可能有字符录错）。" in page
    assert "乡镇代码“411721100”不存在或不在您的管辖范围内。" in page
    assert not Enterprise.objects.exists()


@pytest.mark.parametrize("persona", ["bank_x", "city", "village_a1", "nobody"])
def test_create_form_is_403_for_readers(client_for, personas, persona):
    assert client_for(personas[persona]).get("/enterprises/new/").status_code == 403


def test_edit(client_for, personas, coop):
    client = client_for(personas["township_a"])
    page = page_text(client.get(f"/enterprises/{coop.pk}/edit/"))
    assert f'value="{coop.credit_code}"' in page and 'value="2015-03-01"' in page
    data = {
        "name": coop.name, "credit_code": coop.credit_code, "kind": "cooperative", "founded_on": "2015-03-01",
        "township_code": "411722100", "legal_rep": "赵四", "contact_phone": "",
    }  # fmt: skip
    assert client.post(f"/enterprises/{coop.pk}/edit/", data).status_code == 302
    coop.refresh_from_db()
    assert coop.legal_rep == "赵四"
    assert client_for(personas["bank_x"]).get(f"/enterprises/{coop.pk}/edit/").status_code == 403


def test_recognise_link_and_see_the_cap_on_the_page(client_for, personas, regions, coop):
    client = client_for(personas["county_staff"])
    households = [HouseholdFactory(village=regions["village_a1"]) for _ in range(12)]
    for household in households:
        response = client.post(
            f"/enterprises/{coop.pk}/links/",
            {"household_no": household.household_no, "mode": "employment", "start_date": "2017-01-01",
             "end_date": "", "annual_benefit": "3000"},
        )  # fmt: skip
        assert response.status_code == 302, page_text(response)[:2000]
    response = client.post(
        f"/enterprises/{coop.pk}/recognize/",
        {"decision_no": "蔡扶贫〔2017〕12号", "decided_on": "2017-06-01"},
    )
    assert response.status_code == 302
    page = page_text(client.get(f"/enterprises/{coop.pk}/"))
    assert re.search(r'id="households-led"><strong>12</strong>', page)
    assert re.search(r'id="loan-cap"><strong>1,200,000.00</strong>', page)
    assert "符合带贫企业贷款的申请条件" in page
    assert "蔡扶贫〔2017〕12号" in page.split('id="recognition-history"')[1]
    assert 'id="withdraw-form"' in page and 'id="recognize-form"' not in page
    # The cap on another day.
    page = page_text(client.get(f"/enterprises/{coop.pk}/", {"on": "2016-12-31"}))
    assert re.search(r'id="loan-cap"><strong>0.00</strong>', page)


def test_link_form_shows_the_refusal(client_for, personas, households, coop):
    client = client_for(personas["county_staff"])
    response = client.post(
        f"/enterprises/{coop.pk}/links/",
        {"household_no": households["x1"].household_no, "mode": "employment", "start_date": "2017-01-01",
         "annual_benefit": "0"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "户不存在，或不在本企业所在的上蔡县：只能与本县的建档立卡户建立利益联结。" in page_text(response)
    assert not BenefitLink.objects.exists()


def test_township_officer_cannot_recognise_or_link(client_for, personas, households, coop):
    client = client_for(personas["township_a"])
    response = client.post(
        f"/enterprises/{coop.pk}/recognize/", {"decision_no": "X", "decided_on": "2017-06-01"}
    )
    assert response.status_code == 403
    response = client.post(
        f"/enterprises/{coop.pk}/links/",
        {"household_no": households["a1"].household_no, "mode": "employment", "start_date": "2017-01-01",
         "annual_benefit": "0"},
    )  # fmt: skip
    assert response.status_code == 403
    assert not BenefitLink.objects.exists()


def test_withdraw_and_end_link_through_the_page(client_for, personas, households, coop):
    staff = personas["county_staff"]
    client = client_for(staff)
    client.post(f"/enterprises/{coop.pk}/recognize/", {"decision_no": "A号", "decided_on": "2017-06-01"})
    page = page_text(client.post(f"/enterprises/{coop.pk}/withdraw/", {"reason": ""}))
    assert "请填写撤销认定的理由。" in page or "此项为必填项。" in page
    assert client.post(f"/enterprises/{coop.pk}/withdraw/", {"reason": "停业"}).status_code == 302
    coop.refresh_from_db()
    assert not coop.recognized

    link = BenefitLinkFactory(enterprise=coop, household=households["a1"], created_by=staff)
    response = client.post(f"/enterprises/{coop.pk}/links/{link.pk}/end/", {"end_date": "2016-01-01"})
    assert "终止日期不能早于联结开始日期（2017-01-01）。" in page_text(response)
    response = client.post(f"/enterprises/{coop.pk}/links/{link.pk}/end/", {"end_date": today().isoformat()})
    assert response.status_code == 302
    link.refresh_from_db()
    assert link.end_date == today()


def test_export(client_for, personas, regions, coop):
    staff = personas["county_staff"]
    coop.name = '=HYPERLINK("http://evil")'
    coop.save()
    for _ in range(3):
        BenefitLinkFactory(
            enterprise=coop, household=HouseholdFactory(village=regions["village_a1"]), created_by=staff
        )
    EnterpriseFactory(township=regions["town_x"], name="西平合作社")
    response = client_for(staff).get("/enterprises/export.xlsx")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("企业名称", "统一社会信用代码", "类型")
    data = [r for r in rows[1:] if r and r[1]]
    assert len(data) == 1  # 西平 is outside the county
    assert data[0][0] == '\'=HYPERLINK("http://evil")'
    assert data[0][13] == 3 and data[0][14] == 300000


def test_admin_pages_are_read_only(client_for, personas, households, coop):
    BenefitLinkFactory(enterprise=coop, household=households["a1"], created_by=personas["county_staff"])
    admin = personas["admin"]
    admin.is_superuser = True
    admin.save()
    client = client_for(admin)
    for url in (
        "/admin/enterprises/enterprise/",
        f"/admin/enterprises/enterprise/{coop.pk}/change/",
        f"/admin/enterprises/enterprise/{coop.pk}/history/",
        "/admin/enterprises/benefitlink/",
        "/admin/enterprises/recognitionevent/",
    ):
        assert client.get(url).status_code == 200, url
    assert client.get("/admin/enterprises/enterprise/add/").status_code == 403
