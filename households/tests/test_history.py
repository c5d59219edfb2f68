"""The household page's 变更记录: who changed what and when, with the old and the new value, for
changes made by a file import and through the form/API alike."""

import html

import pytest

from households.models import Household
from households.selectors import household_history
from households.tests.test_importer import family, run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def page_text(client, user, household) -> str:
    client.force_login(user)
    response = client.get(f"/households/{household.pk}/")
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_a_reimport_shows_old_and_new_values_and_who(client, personas):
    county, admin = personas["county_staff"], personas["admin"]
    run(county, family())
    people = family()
    for p in people[:3]:
        p["联系电话"] = "13900139000"
    people[2]["姓名"] = "王晓军"
    job = run(admin, people)
    assert (job.created, job.updated) == (0, 1), job.errors
    h1 = Household.objects.get(household_no="H1")

    latest, created = household_history(household=h1)
    assert latest["record"].history_user == admin
    assert latest["changes"] == [{"field": "联系电话", "old": "13800138000", "new": "13900139000"}]
    assert latest["members"] == ["成员 王晓军：姓名 王小军 → 王晓军"]
    assert created["changes"] == [] and created["members"] == []

    text = page_text(client, county, h1)
    assert "变更内容（原值 → 新值）" in text
    assert "联系电话：" in text and "13800138000</span> → 13900139000" in text
    assert "成员 王晓军：姓名 王小军 → 王晓军" in text
    assert "导入建档立卡文件" in text  # the change reason the importer writes


def test_a_form_or_api_change_shows_labels_not_codes(api, client, personas, households):
    clerk = personas["village_a1"]
    household = households["a1"]
    response = api(clerk).patch(
        f"/api/v1/households/{household.pk}/",
        {"status": "lifted", "poverty_causes": ["illness", "lack_funds"], "head_name": "张新名"},
        format="json",
    )
    assert response.status_code == 200, response.content
    latest = household_history(household=household)[0]
    assert latest["record"].history_user == clerk
    assert {(c["field"], c["old"], c["new"]) for c in latest["changes"]} == {
        ("脱贫状态", "未脱贫", "已脱贫"),
        ("致贫原因", "缺资金", "因病、缺资金"),
        ("户主姓名", household.head_name, "张新名"),
    }
    text = page_text(client, personas["county_staff"], household)
    assert "未脱贫</span> → 已脱贫" in text
