import pytest

pytestmark = pytest.mark.django_db


def test_list_is_scoped_to_township(api, personas, households):
    response = api(personas["township_a"]).get("/api/v1/households/")
    assert response.status_code == 200
    assert [h["household_no"] for h in response.json()["results"]] == [households["a1"].household_no]


def test_outsider_gets_404_on_detail(api, personas, households):
    response = api(personas["township_b"]).get(f"/api/v1/households/{households['a1'].pk}/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
