"""Full ID and account numbers stay out of caches (issue 15, point 2): the PII reveal (API and page)
and the household export answer Cache-Control: no-store and Pragma: no-cache. The API keeps its
GET /households/{id}/pii/; the page reveals only on POST."""

import re

import pytest

from common import pii

pytestmark = pytest.mark.django_db


def assert_no_store(response):
    assert "no-store" in response["Cache-Control"], response["Cache-Control"]
    assert "private" in response["Cache-Control"]
    assert response["Pragma"] == "no-cache"


def test_api_pii_reveal_is_not_stored(api, personas, households):
    household = households["a1"]
    response = api(personas["county_staff"]).get(f"/api/v1/households/{household.pk}/pii/")
    assert response.status_code == 200
    assert response.json()["head_id_number"] == pii.decrypt(household.head_id_enc)
    assert_no_store(response)


def test_api_export_is_not_stored(api, personas, households):
    response = api(personas["county_staff"]).get("/api/v1/households/export.xlsx")
    assert response.status_code == 200
    assert_no_store(response)


def test_page_export_is_not_stored(client_for, personas, households):
    response = client_for(personas["county_staff"]).get("/households/export.xlsx")
    assert response.status_code == 200
    assert_no_store(response)


def test_page_reveal_is_a_post_and_is_not_stored(client_for, personas, households):
    household = households["a1"]
    full = pii.decrypt(household.head_id_enc)
    client = client_for(personas["county_staff"])

    page = client.get(f"/households/{household.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert full not in html
    form = re.search(r"<form[^>]*>(?:(?!</form>).)*value=\"reveal\"", html, re.S)
    assert form and 'method="post"' in form.group(0).split(">")[0], "the reveal button is not a POST form"

    # A GET never reveals, whatever its query says.
    assert full not in client.get(f"/households/{household.pk}/", {"action": "reveal"}).content.decode()

    revealed = client.post(f"/households/{household.pk}/", {"action": "reveal"})
    assert revealed.status_code == 200
    assert full in revealed.content.decode()
    assert_no_store(revealed)
