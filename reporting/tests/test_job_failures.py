"""The daily job when the database goes away (reporting.jobs): a lost connection retried with
growing pauses, a failure recorded on the Job and said by the command, and the sweeper of jobs whose
process died. The real thing, a PostgreSQL server restarted and stopped under the job, is
tests/test_faults_postgres.py."""

import datetime

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError

from common.models import Job
from reporting import jobs

AS_OF = datetime.date(2019, 6, 30)


def lose_connection(*args, **kwargs):
    raise OperationalError("server closed the connection unexpectedly")


def failing(times: int):
    """Work that loses its connection `times` times, then returns "done"; its calls counted."""
    calls = []

    def work():
        calls.append(1)
        if len(calls) <= times:
            lose_connection()
        return "done"

    work.calls = calls
    return work


class IdleConnection:
    """The connection as the command and the worker hold it, outside any transaction (the tests
    here run inside one); counts the closes that make the next query connect afresh."""

    in_atomic_block = False
    closes = 0

    def close(self):
        self.closes += 1


@pytest.fixture
def idle(monkeypatch):
    connection = IdleConnection()
    monkeypatch.setattr(jobs, "connection", connection)
    return connection


@pytest.fixture
def pauses(monkeypatch):
    """The pauses with_database_retries takes, recorded instead of slept."""
    slept = []
    monkeypatch.setattr(jobs.time, "sleep", slept.append)
    return slept


def test_a_lost_connection_is_retried_on_a_new_one_with_growing_pauses(idle, pauses, settings):
    settings.DAILY_JOB_DB_RETRIES = 6
    work = failing(3)
    assert jobs.with_database_retries(work) == "done"
    assert pauses == [1, 2, 4] and len(work.calls) == 4 and idle.closes == 3


def test_the_error_is_raised_when_the_retries_run_out(idle, pauses, settings):
    settings.DAILY_JOB_DB_RETRIES = 2
    work = failing(5)
    with pytest.raises(OperationalError):
        jobs.with_database_retries(work)
    assert pauses == [1, 2] and len(work.calls) == 3
    settings.DAILY_JOB_DB_RETRIES = 8
    assert jobs.retry_delays() == [1, 2, 4, 8, 16, 30, 30, 30]


@pytest.mark.django_db
def test_inside_a_callers_transaction_nothing_is_retried(pauses):
    # The test's transaction stands for the caller's: a new connection would not continue it.
    work = failing(1)
    with pytest.raises(OperationalError):
        jobs.with_database_retries(work)
    assert pauses == [] and len(work.calls) == 1


@pytest.mark.django_db
def test_a_job_that_lost_the_database_ends_failed_saying_so(monkeypatch):
    monkeypatch.setattr(jobs, "run_all", lose_connection)
    job = Job.objects.create(kind=jobs.DAILY_JOB_KIND, params={"as_of": AS_OF.isoformat(), "counties": None})
    with pytest.raises(OperationalError):
        jobs.daily_job_run(job.pk, AS_OF)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.finished_at is not None
    assert job.message.startswith("日终任务失败：数据库连接中断") and "重新运行" in job.message
    assert jobs.daily_job_run(job.pk, AS_OF) is None  # a job that is done is not run again


@pytest.mark.django_db
def test_the_command_says_why_it_failed(monkeypatch):
    monkeypatch.setattr(jobs, "run_all", lose_connection)
    with pytest.raises(CommandError, match=r"数据库连接中断.*重新运行.*任务记录 #\d+"):
        call_command("run_daily_jobs", "--as-of", AS_OF.isoformat())
    assert Job.objects.get().status == Job.Status.FAILED

    # Any other error: its traceback, and the Job failed all the same.
    monkeypatch.setattr(jobs, "run_all", lambda *args, **kwargs: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        call_command("run_daily_jobs", "--as-of", AS_OF.isoformat())
    assert Job.objects.order_by("id").last().message == "日终任务失败：ZeroDivisionError"
