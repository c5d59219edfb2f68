"""manage.py run_daily_jobs [--as-of YYYY-MM-DD] [--county CODE ...]: the daily job in the foreground
(the same work as POST /api/v1/jobs/daily/ and the nightly beat task: reporting.jobs.run_all, the
loans app's steps and then the region rollups), figures printed in Chinese. The run is recorded as
a Job (no actor) like the nightly one. A lost database connection is retried (reporting.jobs); if
the database stays away the command exits with status 1 and says so, and the Job ends failed."""

import datetime

from django.core.management.base import BaseCommand, CommandError

from common.clock import today
from common.jobs import job_create
from organization.models import Region
from reporting.jobs import CONNECTION_ERRORS, DAILY_JOB_KIND, daily_job_run, failure_message, summary_lines


def _date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"日期“{text}”无效，请用 YYYY-MM-DD 格式。") from None


class Command(BaseCommand):
    help = "运行日终任务：逾期天数与五级分类、风险熔断、风险补偿金放大倍数预警、到期预警、区域汇总。"

    def add_arguments(self, parser):
        parser.add_argument("--as-of", dest="as_of", help="数据日期 YYYY-MM-DD，默认今天。")
        parser.add_argument("--county", action="append", dest="counties", help="只处理这些县区（可重复）。")

    def handle(self, *args, as_of=None, counties=None, **options):
        day = _date(as_of) if as_of else today()
        if counties:
            known = set(
                Region.objects.filter(code__in=counties, level=Region.Level.COUNTY).values_list(
                    "code", flat=True
                )
            )
            if unknown := [c for c in counties if c not in known]:
                raise CommandError(f"找不到县区代码 {'、'.join(unknown)}。")
        job = job_create(
            kind=DAILY_JOB_KIND, actor=None, params={"as_of": day.isoformat(), "counties": counties}
        )
        try:
            result = daily_job_run(job.pk, day)
        except CONNECTION_ERRORS as exc:  # anything else: the traceback, the Job failed all the same
            raise CommandError(f"{failure_message(exc)}（任务记录 #{job.pk}）") from exc
        for line in summary_lines(result):
            self.stdout.write(line)
