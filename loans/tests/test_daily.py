"""The daily job: DPD and classification, circuit breakers and their resumption, maturity and fund
leverage warnings, the whole run through the API, the task and the command."""

import datetime
import json
from decimal import Decimal

import pytest
import time_machine

from common.errors import Forbidden
from loans import daily
from loans.models import Breaker, BreakerEvent, Classification, Loan, LoanStatus
from loans.services import LoanError, repayment_post
from organization.tests.factories import approved_city_policy, approved_policy
from risk_fund.models import FundEntry

from .factories_daily import make_loan, overdue_by, quarterly

pytestmark = pytest.mark.django_db

AS_OF = datetime.date(2018, 12, 31)
C = Classification
NOON = datetime.datetime(2019, 1, 2, 12, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))


@pytest.fixture
def loan(regions, banks, personas):
    """loan(area_key, **make_loan kwargs): a loan of bank X (bank Y in 西平) by the admin."""

    def make(area="village_a1", **kwargs):
        kwargs.setdefault("bank", banks["y"] if regions[area].code.startswith("411721") else banks["x"])
        kwargs.setdefault("actor", personas["admin"])
        return make_loan(regions[area], **kwargs)

    return make


def fresh(obj):
    obj.refresh_from_db()
    return obj


def refused(code, fn, **kwargs):
    with pytest.raises(LoanError) as caught:
        fn(**kwargs)
    assert caught.value.code == code, caught.value.message
    return caught.value


# --- days past due and classification ----------------------------------------------------------

DEFAULT_BANDS = [
    (0, C.NORMAL), (1, C.SPECIAL_MENTION), (90, C.SPECIAL_MENTION), (91, C.SUBSTANDARD),
    (180, C.SUBSTANDARD), (181, C.DOUBTFUL), (360, C.DOUBTFUL), (361, C.LOSS),
]  # fmt: skip


def test_classification_at_every_band_boundary_with_the_default_policy(regions, banks, personas):
    loans = {
        dpd: overdue_by(dpd, AS_OF, regions["village_a1"], bank=banks["x"], actor=personas["admin"])
        for dpd, _ in DEFAULT_BANDS
    }
    result = daily.classify_loans(as_of=AS_OF)
    for dpd, expected in DEFAULT_BANDS:
        got = fresh(loans[dpd])
        # classified_on: when the figures last changed (a loan never behind keeps None)
        assert (got.dpd, got.classification, got.classified_on) == (dpd, expected, AS_OF if dpd else None), (
            dpd
        )
    assert result["loans"] == 8 and result["by_class"] == {
        "normal": 1, "special_mention": 2, "substandard": 2, "doubtful": 2, "loss": 1,
    }  # fmt: skip


def test_a_county_policy_row_moves_the_bands_of_that_county_only(regions, loan):
    approved_policy(
        county=regions["shangcai"], effective_from=datetime.date(2018, 1, 1),
        substandard_min_dpd=61, doubtful_min_dpd=121, loss_min_dpd=241,
    )  # fmt: skip
    # A later row is not in force yet on AS_OF.
    approved_policy(county=regions["shangcai"], effective_from=AS_OF + datetime.timedelta(days=1),
                                substandard_min_dpd=2)  # fmt: skip
    due = lambda days: quarterly(AS_OF - datetime.timedelta(days=days))  # noqa: E731
    shangcai = {d: loan("village_a1", due_dates=due(d)) for d in (60, 61, 120, 121, 240, 241)}
    xiping = {d: loan("village_x1", due_dates=due(d)) for d in (61, 121, 241)}
    daily.classify_loans(as_of=AS_OF)
    assert {d: fresh(x).classification for d, x in shangcai.items()} == {
        60: C.SPECIAL_MENTION, 61: C.SUBSTANDARD, 120: C.SUBSTANDARD, 121: C.DOUBTFUL, 240: C.DOUBTFUL, 241: C.LOSS,
    }  # fmt: skip
    assert {d: fresh(x).classification for d, x in xiping.items()} == {
        61: C.SPECIAL_MENTION, 121: C.SUBSTANDARD, 241: C.DOUBTFUL,
    }  # fmt: skip


def test_dpd_counts_from_the_oldest_unsettled_instalment_already_due(loan):
    days = lambda *ds: [AS_OF - datetime.timedelta(days=d) for d in ds]  # noqa: E731
    oldest_rule = loan(due_dates=days(200, 109, 18, -73), settled=1)  # the 200-day one is paid
    all_paid = loan(due_dates=days(200, 109, 18, -73), settled=3)
    due_today = loan(due_dates=days(0, -91))  # due on as_of: not late yet
    not_yet = loan(due_dates=days(-1, -92))
    daily.classify_loans(as_of=AS_OF)
    assert (fresh(oldest_rule).dpd, oldest_rule.classification) == (109, C.SUBSTANDARD)
    assert (fresh(all_paid).dpd, all_paid.classification) == (0, C.NORMAL)
    assert fresh(due_today).dpd == 0 and fresh(not_yet).dpd == 0


def test_loans_that_are_not_outstanding_are_left_as_they_are(loan):
    closed = loan(status=LoanStatus.CLOSED, due_dates=quarterly(AS_OF - datetime.timedelta(days=100)))
    written_off = loan(status=LoanStatus.WRITTEN_OFF, classification=C.LOSS)
    draft = loan(status=LoanStatus.DRAFT, due_dates=quarterly(AS_OF - datetime.timedelta(days=400)))
    result = daily.classify_loans(as_of=AS_OF)
    assert result["loans"] == 0
    assert (fresh(closed).dpd, closed.classification, closed.classified_on) == (0, C.NORMAL, None)
    assert (fresh(written_off).classification, written_off.classified_on) == (C.LOSS, None)
    assert (fresh(draft).dpd, draft.classified_on) == (0, None)


def test_classification_is_idempotent_and_follows_a_settled_instalment(loan):
    late = loan(due_dates=[AS_OF - datetime.timedelta(days=100), AS_OF + datetime.timedelta(days=50)])
    on_time = loan(due_dates=quarterly(AS_OF + datetime.timedelta(days=10)))
    first = daily.classify_loans(as_of=AS_OF)
    assert (first["dpd_written"], first["reclassified"]) == (1, 1)  # on time: nothing to write
    again = daily.classify_loans(as_of=AS_OF)
    assert (again["dpd_written"], again["reclassified"]) == (0, 0)
    assert again["by_class"] == first["by_class"]
    assert (fresh(late).dpd, late.classification, fresh(on_time).dpd) == (100, C.SUBSTANDARD, 0)

    # The next day the DPD moves on; the late instalment paid the same day brings it back to normal.
    next_day = daily.classify_loans(as_of=AS_OF + datetime.timedelta(days=1))
    assert (next_day["dpd_written"], next_day["reclassified"]) == (1, 0)
    assert (fresh(late).dpd, late.classified_on, fresh(on_time).classified_on) == (
        101,
        AS_OF + datetime.timedelta(days=1),
        None,
    )
    late.instalments.filter(seq=1).update(settled=True)
    rerun = daily.classify_loans(as_of=AS_OF + datetime.timedelta(days=1))
    assert (rerun["dpd_written"], rerun["reclassified"]) == (1, 1)
    assert (fresh(late).dpd, late.classification) == (0, C.NORMAL)


def test_a_run_limited_to_a_county_leaves_the_others(loan):
    shangcai = loan("village_a1", due_dates=quarterly(AS_OF - datetime.timedelta(days=5)))
    xiping = loan("village_x1", due_dates=quarterly(AS_OF - datetime.timedelta(days=5)))
    daily.classify_loans(as_of=AS_OF, counties=["411722"])
    assert fresh(shangcai).dpd == 5 and (fresh(xiping).dpd, xiping.classified_on) == (0, None)


# --- circuit breakers --------------------------------------------------------------------------


@pytest.fixture
def npl_world(loan):
    """Thresholds by default: village 7 %, township 5 %.
    A1: 7,000 NPL of 100,000 = 7.00 % (at the threshold: stays normal)
    A2: 7,100 NPL of 100,000 = 7.10 % (trips); township A: 14,100 of 200,000 = 7.05 % (trips)
    B1 and township B: 5,000 of 100,000 = 5.00 % (at the township threshold: normal)."""
    made = {}
    for key, area, normal, npl in (("a1", "village_a1", "93000", "7000"), ("a2", "village_a2", "92900", "7100"),
                                   ("b1", "village_b1", "95000", "5000")):  # fmt: skip
        loan(area, amount=normal)
        made[key] = loan(
            area, amount=npl, classification=C.SUBSTANDARD, due_dates=quarterly(AS_OF - datetime.timedelta(days=100))
        )  # fmt: skip
    return made


def breaker(code):
    return Breaker.objects.get(region_id=code)


def test_breakers_trip_strictly_over_the_threshold_and_record_the_trip(npl_world):
    result = daily.compute_breakers(as_of=AS_OF)
    states = dict(Breaker.objects.values_list("region_id", "state"))
    assert states == {
        "411722100201": "normal", "411722100202": "tripped", "411722100": "tripped",
        "411722101201": "normal", "411722101": "normal",
    }  # fmt: skip
    assert sorted(result["tripped_now"]) == ["411722100", "411722100202"]
    a1, a2, town_a = breaker("411722100201"), breaker("411722100202"), breaker("411722100")
    assert (a1.npl_ratio, a1.threshold, a1.level) == (Decimal("7.00"), Decimal("7.00"), "village")
    assert (a2.npl_ratio, a2.principal_outstanding, a2.npl_principal) == (Decimal("7.10"), 100000, 7100)
    assert (town_a.npl_ratio, town_a.threshold, town_a.level) == (
        Decimal("7.05"),
        Decimal("5.00"),
        "township",
    )
    assert town_a.since is not None and town_a.computed_on == AS_OF and not town_a.resumable
    events = set(
        BreakerEvent.objects.values_list("region_id", "kind", "npl_ratio", "threshold", "as_of", "actor")
    )
    assert events == {
        ("411722100202", "trip", Decimal("7.10"), Decimal("7.00"), AS_OF, None),
        ("411722100", "trip", Decimal("7.05"), Decimal("5.00"), AS_OF, None),
    }


def test_breakers_are_idempotent_and_never_reopen_by_themselves(npl_world):
    daily.compute_breakers(as_of=AS_OF)
    again = daily.compute_breakers(as_of=AS_OF)
    assert again["tripped_now"] == [] and again["updated"] == 0
    assert BreakerEvent.objects.count() == 2

    # A2's bad loan is classified back to normal: the ratios fall (A2 0 %, township A 3.5 %), the
    # breakers stay tripped.
    Loan.objects.filter(pk=npl_world["a2"].pk).update(classification=C.NORMAL)
    later = daily.compute_breakers(as_of=AS_OF + datetime.timedelta(days=1))
    a2 = breaker("411722100202")
    assert (a2.state, a2.npl_ratio, a2.resumable) == ("tripped", Decimal("0.00"), True)
    assert later["resumable"] == 2 and BreakerEvent.objects.count() == 2


def test_the_city_policy_row_sets_the_thresholds(regions, npl_world):
    """The regulators' numbers: the city's row, whatever an old county row holds."""
    approved_city_policy(city=regions["city"], effective_from=datetime.date(2018, 1, 1),
                         village_npl_threshold=Decimal("6.50"), township_npl_threshold=Decimal("8"))  # fmt: skip
    approved_policy(county=regions["shangcai"], effective_from=datetime.date(2019, 1, 1),
                    village_npl_threshold=Decimal("20"), township_npl_threshold=Decimal("20"))  # fmt: skip
    daily.compute_breakers(as_of=AS_OF)
    assert breaker("411722100201").state == "tripped"  # 7.00 > 6.50
    assert (breaker("411722100").state, breaker("411722100").threshold) == ("normal", Decimal("8.00"))


def test_an_enterprise_loan_counts_in_its_township_only(loan):
    loan("village_x1", amount="100000")
    loan("town_x", amount="20000", classification=C.DOUBTFUL)
    daily.compute_breakers(as_of=AS_OF)
    village, town = breaker("411721100201"), breaker("411721100")
    assert (village.principal_outstanding, village.npl_ratio, village.state) == (100000, 0, "normal")
    assert (town.principal_outstanding, town.npl_principal, town.npl_ratio) == (
        120000,
        20000,
        Decimal("16.67"),
    )
    assert town.state == "tripped"


def test_an_area_whose_loans_are_gone_keeps_its_row_at_zero(npl_world):
    daily.compute_breakers(as_of=AS_OF)
    Loan.objects.filter(area_id="411722101201").update(status=LoanStatus.CLOSED, principal_outstanding=0)
    daily.compute_breakers(as_of=AS_OF)
    b1 = breaker("411722101201")
    assert (b1.principal_outstanding, b1.npl_ratio, b1.state) == (0, 0, "normal")


def test_resume_is_refused_while_over_and_allowed_once_back_under(npl_world, personas, banks):
    daily.compute_breakers(as_of=AS_OF)
    staff = personas["county_staff"]
    error = refused("breaker_still_over", daily.breaker_resume, actor=staff, region_code="411722100")
    assert "7.05%" in error.message and "5.00%" in error.message
    refused("invalid_transition", daily.breaker_resume, actor=staff, region_code="411722100201")
    refused(
        "invalid_transition", daily.breaker_resume, actor=staff, region_code="411722101201"
    )  # no such row
    with pytest.raises(Forbidden):
        daily.breaker_resume(actor=personas["township_a"], region_code="411722100202")
    assert breaker("411722100").state == "tripped" and BreakerEvent.objects.filter(kind="resume").count() == 0

    # The bank recovers A2's bad loan in full: the loan closes, and the ratios are recomputed at
    # resumption (no need to wait for the next daily run).
    bad = npl_world["a2"]
    owed = sum(i.principal_due + i.interest_due for i in bad.instalments.all())
    repayment_post(actor=personas["bank_x"], loan=bad, amount=owed, paid_on=AS_OF)
    assert fresh(bad).status == LoanStatus.CLOSED
    with time_machine.travel(NOON, tick=False):
        town_a = daily.breaker_resume(actor=staff, region_code="411722100")
        a2 = daily.breaker_resume(actor=personas["admin"], region_code="411722100202")
    assert (town_a.state, town_a.npl_ratio, town_a.principal_outstanding) == (
        "normal",
        Decimal("3.63"),
        192900,
    )
    assert fresh(a2).state == "normal" and a2.npl_ratio == 0
    resumed = list(BreakerEvent.objects.filter(kind="resume").order_by("id").values_list(
        "region_id", "actor", "npl_ratio", "threshold", "as_of"))  # fmt: skip
    assert resumed == [
        ("411722100", staff.pk, Decimal("3.63"), Decimal("5.00"), NOON.date()),
        ("411722100202", personas["admin"].pk, Decimal("0.00"), Decimal("7.00"), NOON.date()),
    ]
    # Back to normal, the next run does not trip it again while under.
    assert daily.compute_breakers(as_of=AS_OF)["tripped_now"] == []


# --- warnings ----------------------------------------------------------------------------------


def test_maturity_warnings_are_scoped_and_follow_the_policy(regions, personas, loan):
    in_20 = loan("village_a1", maturity_date=AS_OF + datetime.timedelta(days=20))
    in_30 = loan("village_b1", maturity_date=AS_OF + datetime.timedelta(days=30))
    in_40 = loan("village_a1", maturity_date=AS_OF + datetime.timedelta(days=40))
    loan("village_a1", maturity_date=AS_OF - datetime.timedelta(days=1))  # already past
    loan("village_a1", maturity_date=AS_OF + datetime.timedelta(days=5), status=LoanStatus.CLOSED)
    xiping = loan("village_x1", maturity_date=AS_OF + datetime.timedelta(days=20))

    def seen(user):
        return {x.pk for x in daily.maturity_warnings(user=user, as_of=AS_OF)}

    assert seen(personas["county_staff"]) == {in_20.pk, in_30.pk}
    assert seen(personas["township_a"]) == {in_20.pk}
    assert seen(personas["bank_y"]) == {xiping.pk}
    assert seen(personas["nobody"]) == set()
    approved_policy(county=regions["shangcai"], effective_from=datetime.date(2018, 1, 1),
                                maturity_warning_days=45)  # fmt: skip
    assert seen(personas["county_staff"]) == {in_20.pk, in_30.pk, in_40.pk}
    assert seen(personas["admin"]) == {in_20.pk, in_30.pk, in_40.pk, xiping.pk}


def test_fund_leverage_warnings(regions, personas, loan):
    for county, amount in (("shangcai", "1000000"), ("xiping", "20000000")):
        FundEntry.objects.create(county=regions[county], kind=FundEntry.Kind.DEPOSIT, amount=Decimal(amount),
                                 received_on=datetime.date(2017, 1, 1), source="县财政", created_by=personas["admin"])  # fmt: skip
    loan("village_a1", amount="9000000")  # 90 % of the 10,000,000 cap: the warning line
    loan("village_x1", amount="100000")
    warnings = daily.fund_leverage_warnings(as_of=AS_OF)
    assert [(w["county"], w["used_percent"], w["over_cap"]) for w in warnings] == [("411722", "90.00", False)]


# --- the whole run -----------------------------------------


def test_run_daily_jobs_returns_json_ready_figures(npl_world):
    result = daily.run_daily_jobs(as_of=AS_OF)
    json.dumps(result)
    assert result["classification"]["by_class"]["substandard"] == 3
    assert sorted(result["breakers"]["tripped_now"]) == ["411722100", "411722100202"]
    assert set(result["seconds"]) == {"classification", "breakers", "leverage_warnings", "maturity_warnings"}
    assert "本次新熔断 2 个" in "\n".join(daily.summary_lines(result))


# The task, the beat entry, the command and POST /jobs/daily/ run reporting.jobs.run_all (these steps,
# then the region rollups): their tests are in reporting/tests/test_jobs.py.


API = "/api/v1"


@pytest.fixture
def computed(npl_world, loan):
    loan("village_x1", amount="1000", classification=C.LOSS)  # 西平: village X1 and township X trip
    daily.compute_breakers(as_of=AS_OF)


SHANGCAI_AREAS = {"411722100", "411722100201", "411722100202", "411722101", "411722101201"}


@pytest.mark.parametrize(
    "who, expected",
    [
        ("county_staff", SHANGCAI_AREAS),
        ("township_a", {"411722100", "411722100201", "411722100202"}),
        ("township_b", {"411722101", "411722101201"}),
        ("village_a1", {"411722100201"}),
        ("bank_x", SHANGCAI_AREAS),
        ("bank_y", {"411721100", "411721100201"}),
        ("city", SHANGCAI_AREAS | {"411721100", "411721100201"}),
        ("nobody", set()),
    ],
)
def test_the_breaker_list_is_scoped(api, personas, computed, who, expected):
    response = api(personas[who]).get(f"{API}/breakers/")
    assert response.status_code == 200
    assert {row["region_code"] for row in response.json()["results"]} == expected


def test_the_breaker_list_shape_and_filters(api, personas, computed, django_assert_num_queries):
    client = api(personas["admin"])
    with django_assert_num_queries(3):  # the caller's roles, the count, the page
        body = client.get(f"{API}/breakers/", {"state": "tripped"}).json()
    assert body["count"] == 4 and body["results"][0] == {
        "region_code": "411721100", "region_name": "西平丙镇", "level": "township", "npl_ratio": "100.00",
        "threshold": "5.00", "state": "tripped", "resumable": False, "since": body["results"][0]["since"],
        "principal_outstanding": "1000.00", "npl_principal": "1000.00", "computed_on": "2018-12-31",
    }  # fmt: skip
    assert body["results"][0]["since"]
    tripped_shangcai = client.get(f"{API}/breakers/", {"county": "411722", "state": "tripped"}).json()
    assert [r["region_code"] for r in tripped_shangcai["results"]] == ["411722100", "411722100202"]
    villages = client.get(f"{API}/breakers/", {"county": "411722", "level": "village"}).json()
    assert villages["count"] == 3
    assert client.get(f"{API}/breakers/", {"state": "open"}).json()["code"] == "invalid"


def test_resume_through_the_api(api, personas, computed, npl_world):
    url = f"{API}/breakers/411722100202/resume/"
    # Outside the caller's scope: 404 exactly like a missing breaker.
    for outsider in ("bank_y", "township_b", "village_a1", "nobody"):
        response = api(personas[outsider]).post(url)
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), outsider
    assert api(personas["county_staff"]).post(f"{API}/breakers/411722999201/resume/").status_code == 404
    # In scope but not county staff: 403.
    for viewer in ("township_a", "bank_x", "city"):
        assert api(personas[viewer]).post(url).status_code == 403, viewer
    still_over = api(personas["county_staff"]).post(url)
    assert (still_over.status_code, still_over.json()["code"]) == (400, "breaker_still_over")
    assert "7.10%" in still_over.json()["detail"]

    Loan.objects.filter(pk=npl_world["a2"].pk).update(classification=C.NORMAL)  # e.g. a classification run
    resumed = api(personas["county_staff"]).post(url)
    assert resumed.status_code == 200, resumed.json()
    assert (resumed.json()["state"], resumed.json()["npl_ratio"]) == ("normal", "0.00")
    again = api(personas["county_staff"]).post(url)
    assert (again.status_code, again.json()["code"]) == (400, "invalid_transition")
    assert BreakerEvent.objects.filter(kind="resume", actor=personas["county_staff"]).count() == 1
