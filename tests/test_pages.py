"""The browser pages, through Django's test client: who sees which page, what the menu offers,
and that the forms say what the API says."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common.testing import make_resident_id, page_text
from conftest import PERSONA_NAMES
from households import views
from households.forms import HouseholdForm
from households.models import Household, PiiAccessLog
from households.tests.factories import HouseholdFactory

pytestmark = pytest.mark.django_db

EVERYONE = list(PERSONA_NAMES)
# Who may see household a1 (village 甲一村 of 上蔡县).
SEE_A1 = ["county_staff", "township_a", "village_a1", "bank_x", "city", "admin"]
NOT_SEE_A1 = ["township_b", "bank_y", "nobody"]
EDITORS_OF_A1 = ["county_staff", "village_a1", "admin"]
CREATE_HREF = 'href="/households/new/"'


def valid_post(**overrides) -> dict:
    data = {
        "household_no": "H411722100201999",
        "village_code": "411722100201",
        "head_name": "李四",
        "head_id_number": make_resident_id("411722", datetime.date(1980, 5, 6), 7),
        "phone": "13912345678",
        "member_count": "3",
        "labor_count": "2",
        "status": "poor",
        "attribute": "general",
        "identification_standard": "national",
        "poverty_causes": ["illness", "lack_funds"],
        "per_capita_income": "2800",
        "bank_name": "邮储银行",
        "bank_account": "6228480000000000123",
    }
    data.update(overrides)
    return data


def bad_checksum(number: str) -> str:
    last = "0" if number[-1] != "0" else "1"
    return number[:-1] + last


# --- anonymous users -------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/households/", "/households/new/"])
def test_anonymous_is_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_anonymous_is_sent_to_login_from_detail(client, households):
    for url in (f"/households/{households['a1'].pk}/", f"/households/{households['a1'].pk}/edit/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/login/?next={url}"


def test_login_page_renders(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert "用户名" in page_text(response) and "密码" in page_text(response)


def test_login_through_the_form(client, personas):
    response = client.post("/login/", {"username": "town_a", "password": "correct-horse-battery"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_wrong_password_says_so_in_chinese(client, personas):
    response = client.post("/login/", {"username": "town_a", "password": "wrong"})
    assert response.status_code == 200
    assert "用户名或密码错误" in page_text(response)


# --- every page renders for every persona that may see it ------------------------------------


@pytest.mark.parametrize("persona", EVERYONE)
def test_home_renders(client_for, personas, households, persona):
    response = client_for(personas[persona]).get("/")
    assert response.status_code == 200
    assert "可见范围" in page_text(response)


def test_home_counts_only_households_in_scope(client_for, personas, households):
    page = page_text(client_for(personas["township_a"]).get("/"))
    assert re.search(r"<strong>1</strong>\s*<span>户建档立卡户", page)
    page = page_text(client_for(personas["admin"]).get("/"))
    assert re.search(r"<strong>3</strong>\s*<span>户建档立卡户", page)


@pytest.mark.parametrize("persona", EVERYONE)
def test_list_renders(client_for, personas, households, persona):
    response = client_for(personas[persona]).get("/households/")
    assert response.status_code == 200
    shown = set(re.findall(r'href="/households/(\d+)/"', response.content.decode()))
    visible = {str(h.pk) for h in Household.objects.all() if persona in _who_sees(h)}
    assert shown == visible


def _who_sees(household) -> set[str]:
    code = household.village_id
    who = {"admin"}
    if code.startswith("411722"):
        who |= {"county_staff", "bank_x", "city"}
        who |= {"township_a", "village_a1"} if code.startswith("411722100201") else set()
        who |= {"township_a"} if code.startswith("411722100") else set()
        who |= {"township_b"} if code.startswith("411722101") else set()
    if code.startswith("411721"):
        who |= {"bank_y", "city"}
    return who


def test_list_shows_a_count(client_for, personas, households):
    page = page_text(client_for(personas["county_staff"]).get("/households/"))
    assert re.search(r"共\s*<strong>2</strong>\s*户", page)


def test_list_filters_by_name(client_for, personas, households):
    a1, b1 = households["a1"], households["b1"]
    response = client_for(personas["county_staff"]).get("/households/", {"q": a1.head_name})
    assert response.status_code == 200
    page = page_text(response)
    assert a1.household_no in page and b1.household_no not in page
    assert re.search(r"符合条件的\s*<strong>1</strong>\s*户", page)
    assert "清除条件" in page


def test_list_filters_by_household_no(client_for, personas, households):
    a1, b1 = households["a1"], households["b1"]
    page = page_text(client_for(personas["county_staff"]).get("/households/", {"q": b1.household_no}))
    assert b1.household_no in page and a1.household_no not in page


def test_list_filters_by_region(client_for, personas, households):
    a1, b1 = households["a1"], households["b1"]
    page = page_text(client_for(personas["county_staff"]).get("/households/", {"region": "411722101"}))
    assert b1.household_no in page and a1.household_no not in page


def test_list_filters_by_status(client_for, personas, regions, households):
    lifted = HouseholdFactory(village=regions["village_a2"], status="lifted")
    page = page_text(client_for(personas["county_staff"]).get("/households/", {"status": "lifted"}))
    assert lifted.household_no in page
    assert households["a1"].household_no not in page


def test_list_filter_outside_scope_finds_nothing(client_for, personas, households):
    """A region code typed into the URL that is not in the dropdown is refused by the form, and the
    list stays within the user's scope either way."""
    response = client_for(personas["township_a"]).get("/households/", {"region": "411721"})
    assert response.status_code == 200
    assert households["x1"].household_no not in page_text(response)


def test_region_dropdown_lists_own_area_indented(client_for, personas, regions):
    page = page_text(client_for(personas["county_staff"]).get("/households/"))
    options = re.findall(
        r'<option value="(\d*)"[^>]*>([^<]*)</option>', page.split('name="region"')[1].split("</select>")[0]
    )
    assert options == [
        ("", "全部"),
        ("411722", "上蔡县"),
        ("411722100", "\u3000甲镇"),
        ("411722101", "\u3000乙镇"),
    ]
    # A township officer gets its villages, and no ancestors (市, 县) it cannot filter by usefully.
    page = page_text(client_for(personas["township_a"]).get("/households/"))
    options = re.findall(
        r'<option value="(\d*)"[^>]*>([^<]*)</option>', page.split('name="region"')[1].split("</select>")[0]
    )
    assert options == [
        ("", "全部"),
        ("411722100", "甲镇"),
        ("411722100201", "\u3000甲一村"),
        ("411722100202", "\u3000甲二村"),
    ]


def test_list_pages(client_for, personas, regions, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    made = [
        HouseholdFactory(village=regions["village_a1"], household_no=f"H4117221002010{i:02d}")
        for i in range(5)
    ]
    client = client_for(personas["county_staff"])
    first = page_text(client.get("/households/"))
    assert "第 1 / 3 页" in first
    assert made[0].household_no in first and made[2].household_no not in first
    assert 'href="?page=2"' in first
    third = page_text(client.get("/households/", {"page": 3}))
    assert made[4].household_no in third and made[0].household_no not in third
    # The filters survive paging.
    filtered = page_text(client.get("/households/", {"status": "poor", "page": 2}))
    assert "第 2 / 3 页" in filtered
    assert 'href="?status=poor&page=3"' in filtered
    # A page past the end shows the last page rather than an error.
    assert "第 3 / 3 页" in page_text(client.get("/households/", {"page": 99}))


def test_list_queries_do_not_grow_with_rows(client_for, personas, regions, households):
    client = client_for(personas["county_staff"])

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/households/").status_code == 200
        return len(ctx.captured_queries)

    before = queries()
    for village in ("village_a1", "village_a2", "village_b1"):
        HouseholdFactory.create_batch(3, village=regions[village])
    assert queries() == before


@pytest.mark.parametrize("persona", SEE_A1)
def test_detail_renders(client_for, personas, households, persona):
    a1 = households["a1"]
    response = client_for(personas[persona]).get(f"/households/{a1.pk}/")
    assert response.status_code == 200
    page = page_text(response)
    assert a1.head_name in page and a1.head_id_masked in page
    assert re.fullmatch(r"\*{14}[\dX]{4}", a1.head_id_masked)
    assert pii_plain(a1) not in page


def pii_plain(household) -> str:
    from common import pii

    return pii.decrypt(household.head_id_enc)


@pytest.mark.parametrize("persona", NOT_SEE_A1)
def test_detail_out_of_scope_is_404(client_for, personas, households, persona):
    a1 = households["a1"]
    response = client_for(personas[persona]).get(f"/households/{a1.pk}/")
    assert response.status_code == 404
    assert "不在您的管辖范围内" in page_text(response) and a1.head_name not in page_text(response)


def test_detail_missing_is_404(client_for, personas, households):
    assert client_for(personas["admin"]).get("/households/999999/").status_code == 404


@pytest.mark.parametrize("persona", ["county_staff", "village_a1", "admin"])
def test_create_form_renders(client_for, personas, regions, persona):
    response = client_for(personas[persona]).get("/households/new/")
    assert response.status_code == 200
    page = page_text(response)
    assert "新建户档" in page
    # The village is a select of the villages in scope, keyed by the 12-digit code.
    assert '<option value="411722100201">甲一村（411722100201）</option>' in page
    assert ('value="411722101201"' in page) is (persona != "village_a1")
    assert ('value="411721100201"' in page) is (persona == "admin")


@pytest.mark.parametrize("persona", ["township_a", "township_b", "bank_x", "city", "nobody"])
def test_create_form_is_403_for_other_roles(client_for, personas, regions, persona):
    assert client_for(personas[persona]).get("/households/new/").status_code == 403


@pytest.mark.parametrize("persona", EDITORS_OF_A1)
def test_edit_form_renders(client_for, personas, households, persona):
    a1 = households["a1"]
    response = client_for(personas[persona]).get(f"/households/{a1.pk}/edit/")
    assert response.status_code == 200
    page = page_text(response)
    assert f'value="{a1.household_no}"' in page
    assert f'<option value="{a1.village_id}" selected>' in page
    assert f"当前 {a1.head_id_masked}，留空则不修改" in page


def test_township_officer_gets_403_on_edit(client_for, personas, households):
    a1 = households["a1"]
    client = client_for(personas["township_a"])
    response = client.get(f"/households/{a1.pk}/edit/")
    assert response.status_code == 403
    assert "您没有权限访问该页面" in page_text(response) and 'href="/households/"' in page_text(
        response
    )  # with the menu
    assert client.post(f"/households/{a1.pk}/edit/", valid_post()).status_code == 403


@pytest.mark.parametrize("persona", ["township_b", "bank_y"])
def test_edit_out_of_scope_is_404(client_for, personas, households, persona):
    assert client_for(personas[persona]).get(f"/households/{households['a1'].pk}/edit/").status_code == 404


# --- the menu follows roles ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "persona, offered",
    [("village_a1", True), ("county_staff", True), ("admin", True),
     ("township_a", False), ("bank_x", False), ("city", False), ("nobody", False)],
)  # fmt: skip
def test_create_link_follows_roles(client_for, personas, persona, offered):
    client = client_for(personas[persona])
    assert (CREATE_HREF in client.get("/").content.decode()) is offered
    assert (CREATE_HREF in client.get("/households/").content.decode()) is offered


def test_menu_marks_the_current_page(client_for, personas, households):
    client = client_for(personas["county_staff"])
    assert '<a href="/households/" class="active"' in client.get("/households/").content.decode()
    detail = client.get(f"/households/{households['a1'].pk}/").content.decode()
    assert '<a href="/households/" class="active"' in detail
    create = client.get("/households/new/").content.decode()
    assert '<a href="/households/new/" class="active"' in create
    assert '<a href="/households/" class="active"' not in create


def test_top_bar_names_the_role(client_for, personas):
    assert "乡镇金融扶贫服务站工作人员" in page_text(client_for(personas["township_a"]).get("/"))


# --- forms say what the API says -------------------------------------------------------------


def test_create_with_bad_id_shows_the_service_message(client_for, api, personas, regions):
    data = valid_post()
    data["head_id_number"] = bad_checksum(data["head_id_number"])
    response = client_for(personas["county_staff"]).post("/households/new/", data)
    assert response.status_code == 200
    page = page_text(response)
    assert '<div class="error" id="id_head_id_number_error">身份证号校验位不正确，请核对号码。</div>' in page
    api_response = api(personas["county_staff"]).post("/api/v1/households/", data, format="json")
    assert api_response.status_code == 400
    assert api_response.json()["errors"]["head_id_number"] == ["身份证号校验位不正确，请核对号码。"]
    assert not Household.objects.exists()


def test_create_with_village_outside_scope_shows_the_service_message(client_for, api, personas, regions):
    data = valid_post(village_code="411722101201")  # 乙一村: not the clerk's village
    response = client_for(personas["village_a1"]).post("/households/new/", data)
    assert response.status_code == 200
    message = "行政村代码“411722101201”不存在或不在您的管辖范围内。"
    assert f'<div class="error" id="id_village_code_error">{message}</div>' in page_text(response)
    api_response = api(personas["village_a1"]).post("/api/v1/households/", data, format="json")
    assert api_response.json()["errors"]["village_code"] == [message]
    assert not Household.objects.exists()


def test_create_missing_fields_uses_the_service_wording(client_for, personas, regions):
    response = client_for(personas["county_staff"]).post(
        "/households/new/", valid_post(head_name="", village_code="")
    )
    page = page_text(response)
    assert '<div class="error" id="id_head_name_error">此项为必填项。</div>' in page
    assert '<div class="error" id="id_village_code_error">此项为必填项。</div>' in page
    assert "请检查下面标出的字段" in page


def test_create_succeeds_and_redirects_to_detail(client_for, personas, regions):
    client = client_for(personas["village_a1"])
    response = client.post("/households/new/", valid_post())
    household = Household.objects.get(household_no="H411722100201999")
    assert response.status_code == 302 and response["Location"] == f"/households/{household.pk}/"
    assert household.village_id == "411722100201" and household.poverty_causes == ["illness", "lack_funds"]
    page = page_text(client.get(response["Location"]))
    assert "已建档" in page and "李四" in page


def test_edit_keeps_sensitive_numbers_when_left_empty(client_for, personas, households):
    a1 = households["a1"]
    before = (a1.head_id_hash, a1.bank_account_hash)
    data = valid_post(household_no=a1.household_no, head_name="王五", head_id_number="", bank_account="")
    response = client_for(personas["county_staff"]).post(f"/households/{a1.pk}/edit/", data)
    assert response.status_code == 302
    a1.refresh_from_db()
    assert a1.head_name == "王五" and (a1.head_id_hash, a1.bank_account_hash) == before


def test_form_fieldsets_cover_every_field():
    form = HouseholdForm()
    in_sets = [name for _, names in HouseholdForm.FIELDSETS for name in names]
    assert sorted(in_sets) == sorted(form.fields) and len(in_sets) == len(set(in_sets))


# --- revealing the full numbers --------------------------------------------------------------


def test_county_staff_reveals_full_id_and_it_is_logged(client_for, personas, households):
    a1 = households["a1"]
    client = client_for(personas["county_staff"])
    page = page_text(client.get(f"/households/{a1.pk}/"))
    assert 'id="reveal-pii"' in page and pii_plain(a1) not in page
    response = client.post(f"/households/{a1.pk}/", {"action": "reveal"}, REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200
    assert pii_plain(a1) in page_text(response)
    log = PiiAccessLog.objects.get()
    assert (log.user, log.household, log.channel, log.ip_address) == (
        personas["county_staff"],
        a1,
        "web",
        "10.1.2.3",
    )


def test_township_officer_has_no_reveal_button(client_for, personas, households):
    a1 = households["a1"]
    client = client_for(personas["township_a"])
    page = page_text(client.get(f"/households/{a1.pk}/"))
    assert 'id="reveal-pii"' not in page
    # Posting the button's form anyway shows the refusal (403: sees the household, not its numbers).
    response = client.post(f"/households/{a1.pk}/", {"action": "reveal"})
    assert response.status_code == 403
    assert pii_plain(a1) not in page_text(response)
    assert "不能查看完整的身份证号" in page_text(response)
    assert not PiiAccessLog.objects.exists()
