"""Demo credit ratings for 驻马店市 (called by organization.demo_data.seed, i.e. `manage.py seed_demo`).

Every county gets DOMAIN.md's default scorecard (effective on the guidance's date) through
services.scorecard_publish_default. Then every demo household without a rating gets the ratings its
plan gives it, in every state: most poor and lifted households approved (approval dates spread so
that some lapse within 30 days of today and some have already lapsed, a few with an older
superseded rating behind them), some drafts (half of them only pre-rated), some submitted or
reviewed, a few rejected, and one household of 上蔡县's demo village with its credit line frozen.
In 上蔡县 one submitted rating is returned (退回修改) to its village with a reason, and the banks have
given their opinions (同步参与) on two ratings awaiting the county's approval, one agreeing and one
disagreeing; these go through the services (the workflow engine), as a user would do them.

Each household's plan comes from a random generator seeded with its household number, so it does
not depend on N or on the order of the run. Writes are set-based (bulk inserts, a few thousand
rows a statement); a household that already has any rating is left alone, so a second run adds
nothing.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone

from common.audit import audit_entry, audit_record_many
from common.bulk import insert_rows
from common.clock import today
from common.dates import add_months
from common.errors import ApplicationError
from households.models import Household
from organization.models import Region, User
from organization.scoping import prefix_q

from . import services
from .models import CreditLineFreeze, Rating, RatingEvent, RatingOpinion, RatingStatus, Scorecard

SEED = 20170719
SCORECARD_DATE = datetime.date(2017, 7, 19)  # 驻政〔2017〕40号
BATCH_SIZE = 2000
ELIGIBLE = ("poor", "lifted", "monitored")
REJECT_REASONS = (
    "“致富项目”评分依据不足，请补充说明后重新评分。",
    "家庭人口与档卡不一致，请先核实档卡。",
    "“履约保障”评分偏高，请村评议小组复核。",
)
FREEZE_REASON = "贷后检查发现贷款资金用于建房（非生产性用途），冻结授信。"
FREEZE_VILLAGE = "411722100201"  # 上蔡县 demo village clerk's village
RETURN_REASON = "“劳动能力”与档卡劳动力人数不符，请核实后修改评分再提交。"
OPINION_COUNTY = "411722"
OPINIONS = (  # (bank officer, agrees, comment)
    (f"bank_{OPINION_COUNTY}", True, "与我行掌握情况一致，同意。"),
    ("bank_411700", False, "该户在我社另有一笔逾期贷款未结清，建议复核“履约保障”评分。"),
)


@dataclass
class RatingSeedResult:
    scorecards_created: int = 0
    ratings_created: int = 0
    events_created: int = 0
    freezes_created: int = 0
    returns_created: int = 0
    opinions_created: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


def _moment(day: datetime.date, rng: random.Random) -> datetime.datetime:
    """A working-hours moment of `day`, in the project's time zone."""
    return datetime.datetime.combine(
        day, datetime.time(8 + rng.randrange(9), rng.randrange(60)), tzinfo=timezone.get_default_timezone()
    )


class _Actors:
    """Who did what in the seeded history. The demo has one clerk, one township officer and one
    county officer per county: the clerk drafts in its own village, the administrator stands in for
    the desks that have no demo user; the county's demo township officer reviews (standing in for
    the other stations); the county officer approves. Nobody checks work they did, so the four-eyes
    rule holds for seeded ratings too and the county can approve what waits for it."""

    def __init__(self) -> None:
        self.users = {u.username: u for u in User.objects.filter(username__contains="_")}
        self.admin = User.objects.filter(username="admin").first()
        self.by_pk = {u.pk: u for u in [*self.users.values(), self.admin] if u is not None}
        self.unit_of = dict(
            User.objects.filter(
                username__in=list(self.users), role_assignments__unit__isnull=False
            ).values_list("username", "role_assignments__unit__region_id")
        )

    def clerk(self, village: str):
        user = self.users.get(f"village_{village[:6]}")
        if user is not None and village.startswith(self.unit_of.get(user.username, "-")):
            return user
        return self.admin

    def township(self, village: str):
        return self.users.get(f"township_{village[:6]}") or self.admin

    def county(self, village: str):
        return self.users.get(f"county_{village[:6]}") or self.admin


def _plan(household_no: str, status: str) -> tuple[str, bool]:
    """(final state, with an older rating behind it) for one household."""
    rng = random.Random(f"{SEED}:rating:{household_no}")
    u = rng.random()
    if status in ELIGIBLE:
        state = (
            "approved" if u < 0.70 else "draft" if u < 0.76 else "submitted" if u < 0.81
            else "reviewed" if u < 0.86 else "rejected" if u < 0.89 else "none"
        )  # fmt: skip
    else:
        state = "approved" if u < 0.35 else "draft" if u < 0.40 else "none"
    return state, rng.random() < 0.12


def _approval_age(rng: random.Random) -> int:
    """Days since approval: most well within the 12 months, some lapsing within 30 days, some lapsed."""
    u = rng.random()
    if u < 0.85:
        return rng.randint(5, 330)
    if u < 0.93:
        return rng.randint(337, 362)
    return rng.randint(367, 450)


def seed_scorecards(result: RatingSeedResult, counties: list[str]) -> dict[str, Scorecard]:
    admin = User.objects.filter(username="admin").first()
    have = set(Scorecard.objects.filter(county_id__in=counties).values_list("county_id", flat=True))
    for county in Region.objects.filter(code__in=counties).exclude(code__in=have).order_by("code"):
        services.scorecard_publish_default(actor=admin, county=county, effective_from=SCORECARD_DATE)
        result.scorecards_created += 1
    current = {}
    for code in counties:
        scorecard = (
            Scorecard.objects.filter(county_id=code)
            .prefetch_related("indicators", "grades")
            .order_by("-version")
            .first()
        )
        if scorecard is not None:
            current[code] = scorecard
    return current


class _Scorer:
    """services.score_household's arithmetic for one scorecard, with the indicators and bands read
    once (the demo scores 20,000 households; a test checks both agree)."""

    def __init__(self, scorecard: Scorecard) -> None:
        self.scorecard = scorecard
        self.indicators = list(scorecard.indicators.all())
        self.bands = sorted(scorecard.grades.all(), key=lambda b: b.min_score, reverse=True)

    def score(self, row, rng: random.Random, *, complete: bool) -> tuple[dict, Decimal, str, Decimal]:
        _, _, _, labor, members, income = row
        quality = rng.uniform(7, 10.5)
        scores, total = {}, Decimal(0)
        for indicator in self.indicators:
            if indicator.is_computed:
                raw = services.computed_raw(indicator, labor_count=labor, member_count=members, income=income)
            elif complete:
                raw = Decimal(min(int(indicator.max_score), max(0, round(quality + rng.uniform(-1.5, 1)))))
                raw = raw.quantize(services.TWO_PLACES)
            else:
                continue
            scores[indicator.code] = str(raw)
            total += raw / indicator.max_score * indicator.weight
        total = total.quantize(services.TWO_PLACES, rounding=ROUND_HALF_UP)
        band = next(b for b in self.bands if total >= b.min_score)
        return scores, total, band.grade, band.credit_line


def _steps(state: str) -> list[str]:
    return {
        "draft": [],
        "submitted": ["submit"],
        "reviewed": ["submit", "review"],
        "approved": ["submit", "review", "approve"],
        "superseded": ["submit", "review", "approve", "supersede"],
        "rejected": ["submit", "reject"],
    }[state]


def seed_ratings(counties: list[str]) -> RatingSeedResult:
    result = RatingSeedResult()
    with transaction.atomic():
        scorecards = seed_scorecards(result, counties)
        actors = _Actors()
        day = today()
        rated = Rating.objects.values("household_id")
        rows = list(
            Household.objects.filter(prefix_q("village__code", counties))
            .exclude(pk__in=rated)
            .order_by("id")
            .values_list(
                "id", "household_no", "village_id", "labor_count", "member_count", "per_capita_income"
            )
            .iterator(chunk_size=BATCH_SIZE)
        )
        scorers = {code: _Scorer(scorecard) for code, scorecard in scorecards.items()}
        for start in range(0, len(rows), BATCH_SIZE):
            _seed_batch(rows[start : start + BATCH_SIZE], scorers, actors, day, result)
        _seed_freeze(actors, day, result)
        _seed_return(actors, result)
        _seed_opinions(actors, result)
    return result


RATING_COLUMNS = [
    "household_id", "scorecard_id", "status", "scores", "score", "grade", "credit_line", "drafted_by_id",
    "created_at", "approved_on", "valid_until", "reject_reason",
]  # fmt: skip
EVENT_COLUMNS = ["rating_id", "action", "actor_id", "at", "from_status", "to_status", "comment"]
TRANSITIONS = {
    "create": ("", "draft"), "prerate": ("", "draft"), "submit": ("draft", "submitted"),
    "review": ("submitted", "reviewed"), "approve": ("reviewed", "approved"),
    "supersede": ("approved", "superseded"), "reject": ("submitted", "rejected"),
}  # fmt: skip


def _seed_batch(rows, scorers, actors: _Actors, day: datetime.date, result: RatingSeedResult) -> None:
    statuses = dict(Household.objects.filter(pk__in=[r[0] for r in rows]).values_list("id", "status"))
    ratings: list[tuple] = []
    histories: list[list[tuple]] = []  # per rating: (action, actor id, at, comment)
    for row in rows:
        household_id, household_no, village = row[0], row[1], row[2]
        scorer = scorers.get(village[:6])
        if scorer is None:
            continue
        state, with_older = _plan(household_no, statuses[household_id])
        if state == "none":
            continue
        rng = random.Random(f"{SEED}:rating-detail:{household_no}")
        clerk, township, county = actors.clerk(village), actors.township(village), actors.county(village)
        chain: list[tuple[str, datetime.date | None]] = []  # (state, approved on), oldest first
        if state == "approved":
            approved = day - datetime.timedelta(days=_approval_age(rng))
            if with_older:
                older = add_months(approved, -12) - datetime.timedelta(days=rng.randint(0, 40))
                chain.append(("superseded", older))
            chain.append(("approved", approved))
        else:
            if with_older or state != "draft" and rng.random() < 0.25:
                # An earlier approval behind the work in progress (a renewal), still valid or lapsed.
                chain.append(("approved", day - datetime.timedelta(days=_approval_age(rng))))
            chain.append((state, None))
        first = len(histories)
        for final, approved_on in chain:
            complete = final != "draft" or rng.random() < 0.5
            scores, score, grade, line = scorer.score(row, rng, complete=complete)
            if approved_on is not None:
                started = approved_on - datetime.timedelta(days=rng.randint(8, 20))  # review done by then
                valid_until = add_months(approved_on, 12) - datetime.timedelta(days=1)
            else:
                # Started long enough ago that its steps (up to three, 1-3 days apart) are all in the past.
                started, valid_until = day - datetime.timedelta(days=rng.randint(12, 36)), None
            drafter = clerk if complete else county  # incomplete: a batch pre-rating by the county
            moment = _moment(started, rng)
            events = [
                ("create" if complete else "prerate", drafter.pk, moment, "" if complete else "批量预评级")
            ]
            reason = ""
            for step in _steps(final):
                if step == "approve":
                    moment = _moment(approved_on, rng)
                elif step != "supersede":
                    moment = moment + datetime.timedelta(days=rng.randint(1, 3), hours=rng.randint(0, 5))
                actor = {"submit": drafter, "review": township, "reject": township}.get(step, county)
                comment = ""
                if step == "reject":
                    comment = reason = rng.choice(REJECT_REASONS)
                events.append((step, actor.pk, moment, comment))
            ratings.append(
                (household_id, scorer.scorecard.pk, final, scores, score, grade, line, drafter.pk,
                 events[0][2], approved_on, valid_until, reason)
            )  # fmt: skip
            histories.append(events)
        if chain[0][0] == "superseded":  # superseded when the newer one was approved
            approve_at = next(at for action, _, at, _ in histories[first + 1] if action == "approve")
            histories[first] = [
                (a, who, approve_at if a == "supersede" else at, c) for a, who, at, c in histories[first]
            ]

    insert_rows(Rating, RATING_COLUMNS, ratings)
    # (household, status) is unique among the rows just written: read their ids back.
    ids = {
        (hid, status): pk
        for pk, hid, status in Rating.objects.filter(household_id__in={r[0] for r in ratings}).values_list(
            "id", "household_id", "status"
        )
    }
    events, entries = [], []
    where = {row[0]: (row[1], row[2]) for row in rows}  # household id -> (household no, village)
    for rating, history in zip(ratings, histories, strict=True):
        rating_id = ids[(rating[0], rating[2])]
        subject = services.rating_subject(rating_id, *where[rating[0]])
        for action, actor_id, at, comment in history:
            source, target = TRANSITIONS[action]
            events.append((rating_id, action, actor_id, at, source, target, comment))
            entries.append(audit_entry(
                actor=actors.by_pk[actor_id], action=action, **subject, from_state=source, to_state=target,
                detail={"comment": comment} if comment else None, at=at,
            ))  # fmt: skip
        result.by_status[rating[2]] = result.by_status.get(rating[2], 0) + 1
    insert_rows(RatingEvent, EVENT_COLUMNS, events)
    audit_record_many(entries)  # the history as the services would have recorded it
    result.ratings_created += len(ratings)
    result.events_created += len(events)


def _seed_freeze(actors: _Actors, day: datetime.date, result: RatingSeedResult) -> None:
    """One frozen credit line for the demo: the first household of 上蔡县's demo village with an
    effective rating (left alone if it was ever frozen, lifted or not)."""
    rating = (
        Rating.objects.filter(
            household__village_id=FREEZE_VILLAGE, status=RatingStatus.APPROVED, valid_until__gte=day
        )
        .select_related("household")
        .order_by("household__household_no")
        .first()
    )
    if rating is None or CreditLineFreeze.objects.filter(household=rating.household).exists():
        return
    county = actors.county(FREEZE_VILLAGE)
    if county is None:
        return
    services.credit_line_freeze(actor=county, household=rating.household, reason=FREEZE_REASON)
    result.freezes_created += 1


def _seed_return(actors: _Actors, result: RatingSeedResult) -> None:
    """One submitted rating of 上蔡县, in the demo township officer's township, returned to its
    village with a reason (through the service, so the engine writes its event and audit entry).
    Left alone once any rating is returned."""
    if Rating.objects.filter(status=RatingStatus.RETURNED).exists():
        return
    officer = actors.users.get(f"township_{OPINION_COUNTY}")
    township = actors.unit_of.get(officer.username) if officer is not None else None
    if township is None:
        return
    for rating in (
        Rating.objects.filter(status=RatingStatus.SUBMITTED, household__village__code__startswith=township)
        .select_related("household")
        .order_by("household__household_no")[:5]
    ):
        try:
            services.rating_return(actor=officer, rating=rating, reason=RETURN_REASON)
        except ApplicationError:  # four eyes: the officer worked on this one
            continue
        result.returns_created += 1
        return


def _seed_opinions(actors: _Actors, result: RatingSeedResult) -> None:
    """The banks' opinions on two ratings of 上蔡县 awaiting the county's approval: one agreeing, one
    disagreeing with its comment (through the service: event and audit entry). Left alone once any
    opinion exists."""
    if RatingOpinion.objects.exists():
        return
    waiting = list(
        Rating.objects.filter(
            status=RatingStatus.REVIEWED, household__village__code__startswith=OPINION_COUNTY
        )
        .select_related("household")
        .order_by("household__household_no")[: len(OPINIONS)]
    )
    for rating, (username, agrees, comment) in zip(waiting, OPINIONS, strict=False):
        officer = actors.users.get(username)
        if officer is None:
            continue
        services.rating_opinion_record(actor=officer, rating=rating, agrees=agrees, comment=comment)
        result.opinions_created += 1
