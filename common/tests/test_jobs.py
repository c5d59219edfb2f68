"""common.jobs: the job record's life, throttled progress writes, who may read a job."""

import datetime

import pytest
from django.http import Http404

from common import jobs
from common.clock import now
from common.jobs import DEAD_AFTER
from common.models import Job

pytestmark = pytest.mark.django_db


def test_job_life(personas):
    job = jobs.job_create(kind="prerate", actor=personas["county_staff"], params={"region": "411722"})
    assert (job.status, job.progress, job.params) == ("queued", 0, {"region": "411722"})
    jobs.job_start(job.pk)
    jobs.job_progress(job.pk, 50, 200)
    job.refresh_from_db()
    assert (job.status, job.processed, job.total, job.progress) == ("running", 50, 200, 25)
    assert job.started_at is not None and not job.done
    jobs.job_finish(job.pk, {"created": 200}, message="完成")
    job.refresh_from_db()
    assert (job.status, job.progress, job.processed, job.result, job.message) == (
        "succeeded", 100, 200, {"created": 200}, "完成",
    )  # fmt: skip
    assert job.finished_at is not None and job.done


def test_job_fail(personas):
    job = jobs.job_create(kind="prerate", actor=personas["county_staff"])
    jobs.job_fail(job.pk, "出错了")
    job.refresh_from_db()
    assert (job.status, job.message, job.done) == ("failed", "出错了", True)


def test_progress_writes_are_throttled(personas, monkeypatch):
    job = jobs.job_create(kind="prerate", actor=personas["county_staff"])
    clock = iter([100.0, 100.1, 100.2, 100.7, 100.8, 100.9])
    monkeypatch.setattr(jobs.time, "monotonic", lambda: next(clock))
    writes = []
    monkeypatch.setattr(jobs, "job_progress", lambda *args: writes.append(args))
    report = jobs.job_progress_reporter(job.pk, interval=0.5)
    for done in (0, 10, 20, 30, 40, 50):
        report(done, 50)
    # The first, one half a second later, and the last.
    assert writes == [(job.pk, 0, 50), (job.pk, 30, 50), (job.pk, 50, 50)]


def test_percent_edges():
    assert jobs._percent(0, 0) == 0 and jobs._percent(5, 0) == 0
    assert jobs._percent(1, 3) == 33 and jobs._percent(3, 3) == 100 and jobs._percent(9, 3) == 100


def test_job_is_its_starters_and_the_admins(personas):
    job = jobs.job_create(kind="prerate", actor=personas["county_staff"])
    assert jobs.job_get_for_user(user=personas["county_staff"], pk=job.pk) == job
    assert jobs.job_get_for_user(user=personas["admin"], pk=job.pk) == job
    for persona in ("township_a", "bank_x", "city", "nobody"):
        with pytest.raises(Http404):
            jobs.job_get_for_user(user=personas[persona], pk=job.pk)
    for pk in (999999, "x", None):
        with pytest.raises(Http404):
            jobs.job_get_for_user(user=personas["admin"], pk=pk)
    assert Job.objects.count() == 1


@pytest.mark.django_db
def test_jobs_whose_process_died_are_marked_failed():
    """Any kind (the daily job, a prerate): still running DEAD_AFTER after it started."""
    from common.tasks import fail_dead_jobs

    long_ago = now() - DEAD_AFTER - datetime.timedelta(minutes=1)

    def job(kind="daily_jobs", status=Job.Status.RUNNING, started_at=long_ago) -> Job:
        return Job.objects.create(kind=kind, status=status, started_at=started_at)

    dead, alive, prerate, done = job(), job(started_at=now()), job(kind="prerate"), job(status="succeeded")
    assert sorted(fail_dead_jobs()) == sorted([dead.pk, prerate.pk])
    assert dict(Job.objects.values_list("pk", "status")) == {
        dead.pk: "failed", alive.pk: "running", prerate.pk: "failed", done.pk: "succeeded",
    }  # fmt: skip
    dead.refresh_from_db()
    assert dead.finished_at is not None and "重新运行" in dead.message
    assert fail_dead_jobs() == []
