"""The daily job as a whole (reporting.jobs.run_all): the loans app's steps and then the rollups,
through its three entry points: the command, the Celery task behind POST /api/v1/jobs/daily/ and
the nightly beat entry."""

import datetime
import io
import json

import pytest
import time_machine
from django.conf import settings
from django.core.management import CommandError, call_command

from common.models import Job
from loans.models import Classification, Loan
from loans.tests.factories_daily import make_loan, quarterly
from reporting.jobs import run_all, summary_lines
from reporting.models import RegionRollup

pytestmark = pytest.mark.django_db
AS_OF = datetime.date(2018, 12, 31)
API = "/api/v1"
NOON = datetime.datetime(2019, 1, 2, 12, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))


@pytest.fixture
def overdue(regions, banks, personas):
    """A loan in 上蔡 A1 and one in 西平 X1, 95 days past due on AS_OF (次级 after the job)."""
    due = quarterly(AS_OF - datetime.timedelta(days=95))
    return {
        "shangcai": make_loan(regions["village_a1"], bank=banks["x"], actor=personas["admin"], due_dates=due),
        "xiping": make_loan(regions["village_x1"], bank=banks["y"], actor=personas["admin"], due_dates=due),
    }


def test_run_all_classifies_then_rolls_up_with_progress(overdue):
    calls = []
    result = run_all(AS_OF, progress=lambda done, total: calls.append((done, total)))
    json.dumps(result)
    assert calls[0] == (0, 5) and calls[-1] == (5, 5) and len(calls) == 6
    assert result["rollups"] == {"as_of": "2018-12-31", "regions": 10} and "rollups" in result["seconds"]
    # The rollups see the classification the loans step has just written.
    assert RegionRollup.objects.get(region_id="411700", as_of=AS_OF).npl_principal == 20000
    lines = summary_lines(result)
    assert "区域汇总：10 个区划（数据日期 2018-12-31）" in lines[-2] and lines[-1].startswith("用时（秒）")


def test_run_all_for_one_county(overdue):
    run_all(AS_OF, counties=["411722"])
    assert Loan.objects.get(pk=overdue["xiping"].pk).classified_on is None
    assert set(RegionRollup.objects.values_list("region_id", flat=True)) == {
        "411700", "411722", "411722100", "411722101", "411722100201", "411722100202", "411722101201",
    }  # fmt: skip


def test_the_nightly_task_records_a_job_for_today(overdue):
    from reporting.tasks import nightly_daily_jobs

    with time_machine.travel(NOON, tick=False):
        assert nightly_daily_jobs() == Job.Status.SUCCEEDED
    job = Job.objects.get(kind="daily_jobs")
    assert (job.status, job.progress, job.created_by) == ("succeeded", 100, None)
    assert job.result["as_of"] == "2019-01-02" and "五级分类" in job.message and "区域汇总" in job.message
    assert RegionRollup.objects.filter(as_of=datetime.date(2019, 1, 2)).count() == 10


def test_the_beat_schedule_names_the_reporting_task():
    from common.tasks import fail_dead_jobs
    from imports.tasks import requeue_stale_imports
    from reporting.tasks import nightly_daily_jobs

    schedule = settings.CELERY_BEAT_SCHEDULE
    assert (
        schedule["nightly-daily-jobs"]["task"]
        == nightly_daily_jobs.name
        == "reporting.tasks.nightly_daily_jobs"
    )
    assert schedule["requeue-stale-imports"]["task"] == requeue_stale_imports.name
    assert schedule["fail-dead-jobs"]["task"] == fail_dead_jobs.name
    nightly = schedule["nightly-daily-jobs"]["schedule"]
    assert (nightly.hour, nightly.minute) == ({1}, {30}) and settings.CELERY_TIMEZONE == "Asia/Shanghai"


def test_the_command_prints_the_figures_in_chinese(overdue):
    out = io.StringIO()
    call_command("run_daily_jobs", "--as-of", "2018-12-31", stdout=out)
    text = out.getvalue()
    assert "数据日期：2018-12-31" in text and "次级 2" in text and "区域汇总：10 个区划" in text
    assert Loan.objects.get(pk=overdue["shangcai"].pk).classification == Classification.SUBSTANDARD
    out = io.StringIO()
    call_command("run_daily_jobs", "--as-of", "2018-12-31", "--county", "411721", stdout=out)
    assert "（县区：411721）" in out.getvalue() and "区域汇总：4 个区划" in out.getvalue()
    # Each run is recorded like the nightly one.
    runs = Job.objects.filter(kind="daily_jobs", created_by=None).order_by("id")
    assert [(j.status, j.params["counties"]) for j in runs] == [
        ("succeeded", None),
        ("succeeded", ["411721"]),
    ]
    with pytest.raises(CommandError, match="日期"):
        call_command("run_daily_jobs", "--as-of", "31/12/2018")
    with pytest.raises(CommandError, match="999999"):
        call_command("run_daily_jobs", "--county", "999999")


def test_county_staff_start_the_daily_job_for_their_county(
    api, personas, overdue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(personas["county_staff"]).post(
            f"{API}/jobs/daily/", {"as_of": "2018-12-31"}, format="json"
        )
    assert response.status_code == 202, response.json()
    job = Job.objects.get(pk=response.json()["job_id"])
    assert (job.status, job.params, job.created_by) == ("succeeded", {"as_of": "2018-12-31", "counties": ["411722"]},
                                                        personas["county_staff"])  # fmt: skip
    assert (
        job.result["classification"]["by_class"]["substandard"] == 1 and job.result["rollups"]["regions"] == 7
    )
    assert Loan.objects.get(pk=overdue["xiping"].pk).classified_on is None
    progress = api(personas["county_staff"]).get(f"{API}/jobs/{job.pk}/").json()
    assert (progress["status"], progress["progress"]) == ("succeeded", 100)


def test_an_admin_runs_it_for_every_county(api, personas, overdue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(personas["admin"]).post(f"{API}/jobs/daily/", {"as_of": "2018-12-31"}, format="json")
    assert response.status_code == 202
    assert Job.objects.get().params["counties"] is None
    assert Loan.objects.get(pk=overdue["xiping"].pk).dpd == 95
    assert RegionRollup.objects.filter(as_of=AS_OF).count() == 10


@pytest.mark.parametrize(
    "who, body, status, code",
    [
        ("village_a1", {"as_of": "2018-12-31"}, 403, "permission_denied"),
        ("township_a", {"as_of": "2018-12-31"}, 403, "permission_denied"),
        ("bank_x", {"as_of": "2018-12-31"}, 403, "permission_denied"),
        ("city", {"as_of": "2018-12-31"}, 403, "permission_denied"),
        ("county_staff", {"as_of": "2018-12-31", "county": "411721"}, 404, "not_found"),
        ("county_staff", {"as_of": "31.12.2018"}, 400, "invalid"),
        ("admin", {"as_of": "2018-12-31", "county": "411700"}, 400, "invalid"),  # the city, not a county
        (None, {"as_of": "2018-12-31"}, 401, "not_authenticated"),
    ],
)
def test_others_may_not_start_it(api, personas, who, body, status, code):
    response = api(personas[who] if who else None).post(f"{API}/jobs/daily/", body, format="json")
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert not Job.objects.exists()
