"""manage.py smoke_pages: log in as every demo user (organization.demo_data) and open each page and
API endpoint; one line per request; fails on any 5xx or unexpected status.

Runs in-process through django.test.Client against the configured database, so it needs
`manage.py seed_demo` first. Logins go through the real login form (django-axes is in the path).
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from urllib.parse import unquote, urlencode

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test import Client

from households.models import Household
from households.selectors import household_list
from organization import demo_data
from organization.models import User
from organization.scoping import roles_of

CREATORS = {"village_clerk", "county_staff", "admin"}


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - demo_data.display_width(text), 0)


@contextmanager
def _quiet_logs():
    """Expected 4xx and every login would each log a line (django.request, django-axes); our own
    one line per request says it better. Errors (5xx) still log, with their traceback."""
    loggers = [logging.getLogger(name) for name in ("django.request", "django.security", "axes")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class Command(BaseCommand):
    help = "用每个演示用户登录，逐一访问主要页面和 API，检查状态码（先运行 seed_demo）。"

    def add_arguments(self, parser):
        parser.add_argument("--user", action="append", dest="users", help="只检查这些用户（可重复）。")
        parser.add_argument("--password", default=demo_data.DEMO_PASSWORD, help="演示用户的密码。")

    def handle(self, *args, users=None, password, **options):
        usernames = users or demo_data.demo_usernames()
        known = {u.username: u for u in User.objects.filter(username__in=usernames)}
        missing = [name for name in usernames if name not in known]
        if missing:
            raise CommandError(f"找不到演示用户 {'、'.join(missing)}：请先运行 manage.py seed_demo。")
        if not Household.objects.exists():
            raise CommandError("没有建档立卡户：请先运行 manage.py seed_demo。")

        self.failures: list[str] = []
        self.requests = 0
        self.schema_checked: set[frozenset] = set()
        with _quiet_logs():
            self._anonymous()
            for name in usernames:
                self._user(known[name], password)
        summary = f"共 {self.requests} 个请求，{len(usernames)} 个用户。"
        if self.failures:
            raise CommandError(f"{summary}{len(self.failures)} 个不符合预期：\n" + "\n".join(self.failures))
        self.stdout.write(self.style.SUCCESS(f"{summary}全部符合预期。"))

    # --- helpers -------------------------------------------------------------------------------

    def _client(self) -> Client:
        hosts = [h for h in settings.ALLOWED_HOSTS if h not in ("*", "") and not h.startswith(".")]
        return Client(HTTP_HOST=hosts[0] if hosts else "127.0.0.1", raise_request_exception=False)

    def _secure(self) -> bool:
        return bool(getattr(settings, "SECURE_SSL_REDIRECT", False))

    def _check(self, who, client, method, url, expected, data=None, check=None):
        """Request `url`, print one line, record a failure if the status is not in `expected` (or
        `check(response)` returns a complaint)."""
        if isinstance(expected, int):
            expected = {expected}
        started = time.perf_counter()
        response = getattr(client, method)(url, data or {}, secure=self._secure())
        millis = (time.perf_counter() - started) * 1000
        self.requests += 1
        problem = ""
        if response.status_code >= 500:
            problem = "服务器错误"
            if getattr(response, "exc_info", None):
                problem += f"：{response.exc_info[1]!r}"
        elif response.status_code not in expected:
            problem = f"应为 {'/'.join(map(str, sorted(expected)))}"
        elif check is not None:
            problem = check(response) or ""
        mark = "✗" if problem else "✓"
        line = f"{mark} {_pad(who, 16)} {method.upper():<4} {_pad(unquote(url), 48)} {response.status_code} {millis:6.0f} ms"
        if problem:
            line += f"  {problem}"
            self.failures.append(line)
            self.stdout.write(self.style.ERROR(line))
        else:
            self.stdout.write(line)
        return response

    def _anonymous(self) -> None:
        client = self._client()

        def to_login(response):
            location = response.headers.get("Location", "")
            return (
                None
                if location.startswith(settings.LOGIN_URL) or "/login/" in location
                else f"跳转到了 {location}"
            )

        self._check("(匿名)", client, "get", "/households/", 302, check=to_login)
        self._check("(匿名)", client, "get", "/", 302, check=to_login)
        self._check("(匿名)", client, "get", "/login/", 200)
        self._check("(匿名)", client, "get", "/api/v1/households/", 401)

    def _user(self, user: User, password: str) -> None:
        who = user.username
        client = self._client()
        login = self._check(
            who, client, "post", "/login/", 302, data={"username": who, "password": password},
            check=lambda r: None if r.headers.get("Location") == "/" else f"登录后跳转到 {r.headers.get('Location')}",
        )  # fmt: skip
        if login.status_code != 302:
            return  # the pages would only redirect to the login form

        roles = roles_of(user)
        everything = "admin" in roles or user.is_superuser
        mine = household_list(user=user)
        sample = mine.first()
        poor = household_list(user=user, filters={"status": "poor"}).first()
        outside = (
            None if everything else Household.objects.exclude(pk__in=mine.values("pk")).order_by("pk").first()
        )
        may_create = bool(roles & CREATORS)
        visible = mine.count()

        def contains(text):
            return lambda r: None if text in r.content.decode() else f"页面中没有“{text}”"

        self._check(who, client, "get", "/", 200)
        self._check(who, client, "get", "/households/", 200)
        if poor is not None:
            query = urlencode({"q": poor.head_name, "status": "poor"})
            self._check(who, client, "get", f"/households/?{query}", 200, check=contains(poor.household_no))
        if sample is None:
            self.failures.append(f"✗ {who}: 管辖范围内没有建档立卡户，无法检查详情页")
        else:
            self._check(
                who, client, "get", f"/households/{sample.pk}/", 200, check=contains(sample.household_no)
            )
            self._check(who, client, "get", f"/households/{sample.pk}/edit/", 200 if may_create else 403)
            self._check(who, client, "get", f"/api/v1/households/{sample.pk}/", 200)
        if outside is not None:  # out of scope answers 404, like a missing one
            self._check(who, client, "get", f"/households/{outside.pk}/", 404)
            self._check(who, client, "get", f"/api/v1/households/{outside.pk}/", 404)
        # The create form is offered to editors only; others may get it or 403, and the service
        # refuses their submission in any case.
        self._check(who, client, "get", "/households/new/", 200 if may_create else {200, 403})
        self._check(
            who, client, "get", "/api/v1/me/", 200,
            check=lambda r: None if r.json().get("username") == who else "返回的不是本人",
        )  # fmt: skip
        self._check(
            who, client, "get", "/api/v1/households/", 200,
            check=lambda r: None if r.json().get("count") == visible else f"count 应为 {visible}",
        )  # fmt: skip
        self._check(who, client, "get", "/api/v1/regions/", 200)
        self._check(who, client, "get", "/api/v1/banks/", 200)
        role_key = frozenset(roles)
        if role_key not in self.schema_checked:  # the same document for everyone: once per role
            self.schema_checked.add(role_key)
            self._check(who, client, "get", "/api/v1/docs/", 200)
            self._check(who, client, "get", "/api/v1/schema/", 200)
        self._check(who, client, "get", "/admin/", 200 if user.is_staff else 302)
        self._ratings(who, client, user, roles, everything, sample)
        self._enterprises(who, client, user, roles, everything)
        self._loans(who, client, user, roles, everything, sample)
        self._dashboards(who, client, user)
        self._money(who, client, user, roles)

    def _money(self, who, client, user, roles) -> None:
        """The fund and subsidy pages (risk_fund, subsidy): lists, one batch and one fund when the
        demo has them; the subsidy pages are the county's, its banks' and the city's."""
        from organization.models import Role
        from risk_fund.selectors import claim_list
        from subsidy.selectors import batch_list

        self._check(who, client, "get", "/risk-fund/", 200)
        self._check(who, client, "get", "/api/v1/compensation-claims/", 200)
        claim = claim_list(user=user).first()
        if claim is not None:
            self._check(who, client, "get", f"/risk-fund/claims/{claim.pk}/", 200)
        readers = {Role.COUNTY_STAFF, Role.BANK_OFFICER, Role.CITY_FINANCE, Role.ADMIN}
        if not set(roles) & readers:
            return
        self._check(who, client, "get", "/subsidy/", 200)
        batch = batch_list(user=user).first()
        if batch is not None:
            self._check(who, client, "get", f"/subsidy/{batch.pk}/", 200)

    def _ratings(self, who, client, user, roles, everything, sample) -> None:
        """The credit-rating pages and API (credit_rating)."""
        from credit_rating.models import Rating
        from credit_rating.selectors import rating_list

        county_staff = everything or "county_staff" in roles
        drafter = everything or bool(roles & {"village_clerk", "county_staff"})
        for url in (
            "/ratings/",
            "/ratings/?tab=approved",
            "/ratings/?tab=all",
            "/ratings/expiring/",
            "/ratings/coverage/",
        ):
            self._check(who, client, "get", url, 200)
        self._check(who, client, "get", "/ratings/prerate/", 200 if county_staff else 403)
        mine = rating_list(user=user)
        visible = mine.count()
        self._check(
            who, client, "get", "/api/v1/ratings/", 200,
            check=lambda r: None if r.json().get("count") == visible else f"count 应为 {visible}",
        )  # fmt: skip
        rating = mine.first()
        if rating is not None:
            self._check(
                who,
                client,
                "get",
                f"/ratings/{rating.pk}/",
                200,
                check=lambda r: None if "得分明细" in r.content.decode() else "页面中没有“得分明细”",
            )
            self._check(who, client, "get", f"/api/v1/ratings/{rating.pk}/", 200)
        outside = (
            None if everything else Rating.objects.exclude(pk__in=mine.values("pk")).order_by("pk").first()
        )
        if outside is not None:
            self._check(who, client, "get", f"/ratings/{outside.pk}/", 404)
            self._check(who, client, "get", f"/api/v1/ratings/{outside.pk}/", 404)
        if sample is not None:
            self._check(who, client, "get", f"/api/v1/households/{sample.pk}/rating/", 200)
            self._check(
                who, client, "get", f"/api/v1/scorecards/current/?county={sample.village_id[:6]}", 200
            )
            # The scoring form: drafters get it (or are sent to the rating in progress); others 403.
            self._check(who, client, "get", f"/ratings/new/{sample.pk}/", {200, 302} if drafter else 403)

    def _enterprises(self, who, client, user, roles, everything) -> None:
        """The enterprise pages and API (enterprises)."""
        from enterprises.models import Enterprise
        from enterprises.selectors import enterprise_list

        registrar = everything or bool(roles & {"county_staff", "township_officer"})
        mine = enterprise_list(user=user)
        visible = mine.count()
        self._check(who, client, "get", "/enterprises/", 200)
        self._check(who, client, "get", "/enterprises/export.xlsx", 200)
        self._check(who, client, "get", "/enterprises/new/", 200 if registrar else 403)
        self._check(
            who, client, "get", "/api/v1/enterprises/", 200,
            check=lambda r: None if r.json().get("count") == visible else f"count 应为 {visible}",
        )  # fmt: skip
        enterprise = mine.first()
        if enterprise is not None:
            code = enterprise.credit_code
            self._check(
                who, client, "get", f"/enterprises/{enterprise.pk}/", 200,
                check=lambda r: None if code in r.content.decode() else f"页面中没有“{code}”",
            )  # fmt: skip
            for path in ("", "links/", "eligibility/"):
                self._check(who, client, "get", f"/api/v1/enterprises/{enterprise.pk}/{path}", 200)
        outside = (
            None
            if everything
            else Enterprise.objects.exclude(pk__in=mine.values("pk")).order_by("pk").first()
        )
        if outside is not None:  # out of scope answers 404, like a missing one
            self._check(who, client, "get", f"/enterprises/{outside.pk}/", 404)
            self._check(who, client, "get", f"/api/v1/enterprises/{outside.pk}/", 404)

    def _loans(self, who, client, user, roles, everything, sample) -> None:
        """The loan pages (loans): the list, the queue, a loan's page when the demo has loans, the
        outsider's 404 and the application form."""
        from loans.models import Loan, LoanStatus
        from loans.selectors import loan_list

        for url in ("/loans/", f"/loans/?status={LoanStatus.ACTIVE}", "/loans/queue/"):
            self._check(who, client, "get", url, 200)
        mine = loan_list(user=user)
        shown = (mine.first(), mine.filter(status=LoanStatus.ACTIVE).first())
        for loan in dict.fromkeys(loan for loan in shown if loan is not None):
            number = loan.loan_no
            self._check(
                who, client, "get", f"/loans/{loan.pk}/", 200,
                check=lambda r, number=number: None if number in r.content.decode() else f"页面中没有“{number}”",
            )  # fmt: skip
        outside = (
            None if everything else Loan.objects.exclude(pk__in=mine.values("pk")).order_by("pk").first()
        )
        if outside is not None:  # out of scope answers 404, like a missing one
            self._check(who, client, "get", f"/loans/{outside.pk}/", 404)
        if sample is not None:  # the village desk and the county centre take applications
            applicant = everything or bool(roles & {"village_clerk", "county_staff"})
            self._check(who, client, "get", f"/loans/new/?household={sample.pk}", 200 if applicant else 403)

    def _dashboards(self, who, client, user) -> None:
        """The dashboards (reporting): the user's own region, a child region (the drill-down), a
        county outside the scope (404), the assessment, and the xlsx downloads when the daily job
        has written snapshots."""
        from organization.models import Region
        from organization.scoping import scope_for
        from reporting.models import RegionRollup
        from reporting.selectors import home_region

        home = home_region(user=user)

        def drawn(response):
            page = response.content.decode()
            return None if 'id="chart-trend-coverage"' in page or 'id="no-data"' in page else "页面中没有图表"

        self._check(who, client, "get", "/dashboard/", 200, check=drawn)
        child = Region.objects.filter(parent=home).order_by("code").first()
        if child is not None:
            self._check(
                who, client, "get", f"/dashboard/?{urlencode({'region': child.code})}", 200, check=drawn
            )
        scope = scope_for(user)
        counties = Region.objects.filter(level=Region.Level.COUNTY).order_by("code")
        outside = [c for c in counties if not scope.covers_region(c.code)]
        if outside:  # out of scope answers 404, like a missing one
            self._check(who, client, "get", f"/dashboard/?region={outside[0].code}", 404)
        self._check(who, client, "get", "/dashboard/assessment/", 200)
        latest = RegionRollup.objects.filter(region=home).order_by("-as_of").first()
        if latest is None:
            return  # no snapshot yet: the pages say so, there is nothing to download
        self._check(who, client, "get", f"/api/v1/dashboard/?region={home.code}", 200)
        self._check(who, client, "get", f"/api/v1/dashboard/export.xlsx?region={home.code}", 200)
        self._check(who, client, "get", f"/dashboard/assessment/export.xlsx?year={latest.as_of.year}", 200)
        monthly = f"/api/v1/reports/monthly.xlsx?month={latest.as_of:%Y-%m}"
        self._check(who, client, "get", monthly, 200 if home.level == Region.Level.CITY else 404)
